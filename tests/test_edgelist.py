"""The vectorised edge-list reader equals the line-by-line one: same names, edges, weights and error messages."""
from __future__ import annotations

import numpy as np
import pytest

from graph import native
from graph.common.errors import Img2SongError
from graph.edgelist import parse_edgelist, parse_lines, parse_native, read_in_background


def _both(path, use_native=True):
    """(result or error text) of the fast reader and of the line-by-line reference."""
    out = []
    for fn in (lambda: parse_edgelist(path, use_native), lambda: parse_lines(path, path.read_bytes())):
        try:
            names, s, d, w = fn()
            out.append((names, s.tolist(), d.tolist(), w.tolist()))
        except Img2SongError as e:
            out.append(str(e))
    return out


def test_vectorised_reader_equals_line_by_line_on_random_files(tmp_path):
    rng = np.random.default_rng(0)
    names = ["a", "b", "节点", "x_1", "Ω", "n-2", "q"]
    seps = [" ", "\t", "  ", " \t ", "\x0b", "\x1f"]
    ends = ["\n", "\r\n", " \n", "\n\n"]
    faults = [b"a b NaN\n", b"a b 1e39\n", b"a b 1e-50\n", b"a b -1\n", b"a\n", b"a b c d\n", b"a b 0x10\n",
              b"\xff b 1\n", b"a b inf\n", b"a\x00b 1\n", b"a b 0\n"]
    loaded = errors = by_native = 0
    p = tmp_path / "e.txt"
    assert native.load("edgelist") is not None  # the C++ pass really builds here
    for trial in range(300):
        lines = []
        for _ in range(int(rng.integers(1, 30))):
            u, v = rng.choice(names, 2)
            sep = str(rng.choice(seps))
            w = "" if rng.random() < 0.3 else sep + str(rng.choice(["1", "2.5", "0.001", "3e2", "7"]))
            lines.append(f"{u}{sep}{v}{w}{rng.choice(ends)}")
        data = "".join(lines).encode("utf-8")
        if trial % 3 == 0:  # a fault at a random line
            cut = data.split(b"\n")
            j = int(rng.integers(len(cut)))
            data = b"\n".join(cut[:j] + [faults[trial // 3 % len(faults)].rstrip(b"\n")] + cut[j:])
        if trial % 17 == 0:
            data = b""
        p.write_bytes(data)
        fast, ref = _both(p)
        assert fast == ref, (trial, data)
        assert _both(p, use_native=False)[0] == ref, (trial, data)  # the numpy path, as before
        got = parse_native(data)
        if got is not None:  # what the C++ accepts, it reads exactly as the reference
            assert (got[0], got[1].tolist(), got[2].tolist(), got[3].tolist()) == ref, (trial, data)
            by_native += 1
        loaded += isinstance(fast, tuple)
        errors += isinstance(fast, str)
    assert loaded >= 150 and errors >= 100  # both paths exercised, counted
    assert by_native >= 150  # the C++ pass took the well-formed files (including non-ASCII names)


def test_native_reader_declines_what_it_cannot_read_exactly(tmp_path):
    """Spellings Python's float takes and the C++ grammar does not, faults, and Unicode whitespace go to Python."""
    for body in [b"a b 1_0\n", b"a b infinity\n", b"a b 0x1p3\n", b"a b 1e400\n", b"a b -0\n", b"a\x00b 1\n",
                 b"a b c d\n", b"a\n", b"", b"\n \n", "a\u00a0b 1\n".encode(), b"\xff b 1\n", b"a b 1e-46\n"]:
        assert parse_native(body) is None, body
    got = parse_native("x y +2.5\nz x .5e1\r\n\n\u8282 y 3.\n".encode())
    assert got is not None
    assert got[0] == ["x", "y", "z", "\u8282"] and got[1].tolist() == [0, 2, 3] and got[2].tolist() == [1, 0, 1]
    assert got[3].tolist() == [2.5, 5.0, 3.0]
    # weights round as Python's float then float32 do, on hard decimal cases
    ws = ["0.1", "1.00000005960464477539", "3.4028234663852886e38", "1.1754943508222875e-38", "123456789e-3",
          "9007199254740993", "0.3", "16777217", "1.40129846e-38"]
    body = "".join(f"a b {w}\n" for w in ws).encode()
    got = parse_native(body)
    assert got is not None and got[3].tolist() == np.array([float(w) for w in ws], np.float32).tolist()


def test_background_read_returns_the_result_or_raises_its_error(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("a b 2\nb c\n")
    assert read_in_background(p, lambda parsed: len(parsed[1])).result() == 2
    p.write_text("a b 2\nb c d e\n")
    with pytest.raises(Img2SongError, match=r"e.txt:2: expected 'u v w', got 4 fields"):
        read_in_background(p).result()


def test_without_a_working_compiler_the_python_reader_takes_over(tmp_path, monkeypatch):
    """A failed C++ build leaves no library and no error: the numpy reader reads the file, with the same result."""
    monkeypatch.setenv("IMG2SONG_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setattr(native, "_LIBS", {})
    monkeypatch.setattr(native, "BUILD_INFO", {})
    monkeypatch.setattr(native, "_compiler", lambda: "/bin/false")  # a compiler that fails
    assert native.load("edgelist") is None and native.BUILD_INFO["edgelist"]["compiled"] is False
    assert not list((tmp_path / "build" / "native").iterdir())  # no half-written library left behind
    p = tmp_path / "e.txt"
    p.write_text("a b 2\nb c\n")
    assert parse_native(p.read_bytes()) is None
    names, s, d, w = parse_edgelist(p)
    assert names == ["a", "b", "c"] and s.tolist() == [0, 1] and w.tolist() == [2.0, 1.0]


def test_unicode_whitespace_falls_back_to_the_exact_reader(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("a\u3000b 2\nb c\n", encoding="utf-8")
    names, s, d, w = parse_edgelist(p)
    assert names == ["a", "b", "c"] and s.tolist() == [0, 1] and d.tolist() == [1, 2] and w.tolist() == [2.0, 1.0]


@pytest.mark.parametrize("body,message", [(b"a b 1\nb\n", "e.txt:2: expected 'u v w', got 1 fields"),
                                          (b"a b 1\n\n\xff b 1\n", "e.txt:3: bytes are not UTF-8"),
                                          (b"a b 1\nb c -2\n", "e.txt:2: field 'w' must be positive, got -2"),
                                          (b"\n\n", "the edge list has no edges")])
def test_errors_name_file_line_and_field(tmp_path, body, message):
    p = tmp_path / "e.txt"
    p.write_bytes(body)
    with pytest.raises(Img2SongError, match=message):
        parse_edgelist(p)


def test_train_reports_the_kernel_build_apart_from_training(tmp_path):
    """`train --edgelist`: line.json and the printed lines keep the C++ kernel build out of the training time."""
    import json

    from evaluation.stages.pipeline import train_embeddings

    p = tmp_path / "e.txt"
    p.write_text("".join(f"a{i % 7} b{i % 5} 1\n" for i in range(60)), encoding="utf-8")
    lines: list[str] = []
    out = train_embeddings(out=tmp_path / "run", edgelist=p, echo=lines.append, impl="cpu", dim=8, samples=2000,
                threads=1, progress=False)
    timings = json.loads((out / "line.json").read_text())["timings"]
    assert {"load_s", "load_waited_s", "kernel_build_s", "kernel_compiled", "fit_s"} <= set(timings)
    assert timings["kernel_build_s"] >= 0 and isinstance(timings["kernel_compiled"], bool)
    assert timings["load_waited_s"] >= 0 and timings["load_s"] >= 0  # rounded to ms: a tiny file reads in 0
    assert any("apart from training: edge list read in" in x and "on a thread during start-up" in x for x in lines)
    ref = train_embeddings(out=tmp_path / "ref", edgelist=p, echo=lines.append, impl="reference", dim=8, samples=500,
                progress=False)
    assert json.loads((ref / "line.json").read_text())["timings"]["kernel_build_s"] == 0
