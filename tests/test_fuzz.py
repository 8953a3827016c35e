"""Fuzz suite (issue 14): corrupted corpora, edge lists, npz files, dumps and images made from valid ones.

Invariant for every loader and CLI command (in-process through evaluation.app.cli.main): it succeeds with counts that
add up, or fails with the project's error naming the damaged file (CLI: exit 2); never a traceback or another
exception type, never a file outside the corpus opened (an audit hook records every open), never a half-written
output. Hypothesis runs derandomized (fixed seed) without deadlines; the case counts per loader are printed in
the terminal summary ("fuzz cases per loader / command").
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from evaluation.app.cli import main
from graph.common.atomic import temp_owner
from graph.common.errors import Img2SongError
from tests.conftest import TINY_IMAGES, TINY_SONGS, make_corpus
from tests.scorer_contract import make_run, write_dump


def fuzz(n: int):
    return settings(max_examples=n, derandomize=True, deadline=None, database=None, print_blob=False,
                    phases=(Phase.explicit, Phase.generate, Phase.shrink),
                    suppress_health_check=list(HealthCheck))


# --- what was opened ---------------------------------------------------------------------------------------
_RECORD: list[str] | None = None
_LOCK = threading.Lock()


def _audit(event: str, args: tuple) -> None:
    if _RECORD is None or event not in ("open", "sqlite3.connect"):
        return
    if args and isinstance(args[0], (str, bytes, os.PathLike)):
        with _LOCK:
            _RECORD.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # permanent for the process, inert unless a fuzz case records


class Opened:
    """Paths opened while the block runs (the audit hook sees builtins.open, os.open, PIL, numpy, sqlite)."""

    def __enter__(self) -> list[str]:
        global _RECORD
        _RECORD = []
        return _RECORD

    def __exit__(self, *exc) -> None:
        global _RECORD
        _RECORD = None


def assert_inside(opened: list[str], outside: Path) -> None:
    bad = [p for p in opened if p.startswith(str(outside)) or p in ("/etc/passwd", "/etc/hostname")
           or os.path.realpath(p).startswith(str(outside))]
    assert not bad, f"opened outside the corpus: {bad[:3]}"


def run_cli(capsys, *args) -> tuple[int, str, str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code in (0, 2), (code, err[-500:])
    leaked = [str(w.message) for w in caught if not issubclass(w.category, (DeprecationWarning, ResourceWarning))]
    assert not leaked, leaked
    return code, out, err


def assert_whole_outputs(directory: Path) -> None:
    """No temp file left, every JSON parses, every npz opens: nothing half-written."""
    if not directory.exists():
        return
    for p in directory.rglob("*"):
        assert temp_owner(p.name) is None, f"temp left behind: {p}"
        if p.suffix == ".json":
            json.loads(p.read_text(encoding="utf-8"))
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                for k in z.files:
                    z[k]


# --- mutations -----------------------------------------------------------------------------------------------
HOSTILE_VALUES = [float("nan"), float("inf"), -float("inf"), 1e308, -1, 0, 2**70, "", " ", None, [], {}, True,
                  "x" * 5000, "../outside/secret.png", "/etc/hostname", "images/../../outside/secret.png",
                  "images/../images/i1.png", "xx", "zh", "en", ["moon", 3], ["moon", "rain"], [None], 3.5,
                  "月", "\u0000", "images/", "images/missing.png"]


@st.composite
def byte_mutation(draw, data: bytes) -> bytes:
    """Truncation, byte flips, insertions, deletions, a repeated line, zero-filled spans, or nothing at all."""
    kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "dup_line", "zero", "empty", "same"]))
    n = len(data)
    if kind == "empty" or n == 0:
        return b""
    if kind == "same":
        return data
    i = draw(st.integers(0, n - 1))
    if kind == "truncate":
        return data[:i]
    if kind == "flip":
        flips = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 255)), min_size=1, max_size=4))
        b = bytearray(data)
        for pos, x in flips:
            b[pos] ^= x
        return bytes(b)
    if kind == "insert":
        return data[:i] + draw(st.sampled_from([b"\xff\xfe", b"\x00", b"\n", b"\t", b" NaN ", b"1e39", b'"',
                                                b"\r", b"{", b"\\"])) + data[i:]
    if kind == "delete":
        j = draw(st.integers(i, min(n, i + 64)))
        return data[:i] + data[j:]
    if kind == "zero":
        j = draw(st.integers(i, min(n, i + 256)))
        return data[:i] + b"\0" * (j - i) + data[j:]
    lines = data.split(b"\n")
    k = draw(st.integers(0, len(lines) - 1))
    return b"\n".join(lines[: k + 1] + [lines[k]] + lines[k + 1:])


@st.composite
def jsonl_mutation(draw, rows: list[dict]) -> bytes:
    """Structured damage of a JSON-lines file: a field set to a hostile value or removed, a line duplicated."""
    rows = [dict(r) for r in rows]
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["set", "set", "del", "dup", "drop_all"]))
        k = draw(st.integers(0, len(rows) - 1)) if rows else 0
        if not rows:
            break
        if kind == "set":
            field = draw(st.sampled_from(sorted({f for r in rows for f in r} | {"extra"})))
            rows[k][field] = draw(st.sampled_from(HOSTILE_VALUES))
        elif kind == "del":
            field = draw(st.sampled_from(sorted(rows[k])))
            rows[k].pop(field)
        elif kind == "dup":
            rows.insert(k, dict(rows[k]))
        else:
            rows = []
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")


def count(fuzz_counts: dict[str, dict[str, int]], name: str, outcome: str) -> None:
    per = fuzz_counts.setdefault(name, {})
    per[outcome] = per.get(outcome, 0) + 1


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A valid corpus, a secret file outside it, a valid run, valid npz / edge-list / dump files to corrupt."""
    from PIL import Image

    from engine.embeddings import EmbeddingTable

    root = tmp_path_factory.mktemp("fuzz")
    outside = root / "outside"
    outside.mkdir()
    Image.new("RGB", (8, 8)).save(outside / "secret.png")
    corpus = make_corpus(root / "corpus")
    (corpus / "images" / "link.png").symlink_to(outside / "secret.png")
    files = {p.name: p.read_bytes() for p in corpus.iterdir() if p.is_file()}
    table = EmbeddingTable([f"kw:w{i}" for i in range(6)] + ["song:s1"], np.arange(28, dtype=np.float32).reshape(7, 4),
                           np.array([1] * 6 + [2], np.int8), [f"w{i}" for i in range(6)] + ["s1"])
    valid = root / "valid"
    valid.mkdir()
    for name in ("t.npz", "t.txt", "t.bin"):
        table.save(valid / name)
    (valid / "edges.txt").write_text("a b 1\nb c 2.5\nc a 0.5\nd a 1\n", encoding="utf-8")
    write_dump(valid / "d.tsv.gz", [("/r/RelatedTo", "/c/zh/月", "/c/zh/月光", 2.0),
                                    ("/r/Synonym", "/c/zh/月", "/c/zh/月亮", 3.0),
                                    ("/r/RelatedTo", "/c/en/moon", "/c/en/night", 1.0)])
    d = valid / "d.tsv.gz"
    d.write_bytes(gzip.compress(gzip.decompress(d.read_bytes()), mtime=0))  # same bytes every session
    run = make_run(root / "r")
    return {"root": root, "outside": outside, "corpus": corpus, "files": files, "valid": valid, "run": run}


def _restore(corpus: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        (corpus / name).write_bytes(data)


# --- loaders -------------------------------------------------------------------------------------------------
CORPUS_TARGETS = ["songs.jsonl", "images.jsonl", "keywords.txt", "lexicon.tsv", "manifest.json"]


@fuzz(260)
@given(data=st.data())
def test_fuzz_corpus_loader(base, fuzz_counts, data):
    from graph.corpus import load_corpus

    corpus, files = base["corpus"], base["files"]
    name = data.draw(st.sampled_from(CORPUS_TARGETS))
    if name in ("songs.jsonl", "images.jsonl") and data.draw(st.booleans()):
        blob = data.draw(jsonl_mutation(TINY_SONGS if name == "songs.jsonl" else TINY_IMAGES))
    else:
        blob = data.draw(byte_mutation(files[name]))
    (corpus / name).write_bytes(blob)
    try:
        with Opened() as opened:
            try:
                c = load_corpus(corpus)
                outcome = "loaded"
            except Img2SongError as e:
                assert name in str(e) or "images" in str(e), str(e)
                outcome = "error"
            else:
                songs_lines = sum(1 for ln in (corpus / "songs.jsonl").read_bytes().split(b"\n") if ln.strip())
                image_lines = sum(1 for ln in (corpus / "images.jsonl").read_bytes().split(b"\n") if ln.strip())
                song_skips = sum(n for r, n in c.report.skipped.items() if r.startswith("song"))
                image_skips = sum(n for r, n in c.report.skipped.items() if r.startswith("image"))
                assert c.report.songs == len(c.songs) and songs_lines == len(c.songs) + song_skips
                assert c.report.images == len(c.images) and image_lines == len(c.images) + image_skips
                assert all(np.isfinite(s.popularity) for s in c.songs)
                assert len(set(c.keywords or [])) == len(c.keywords or [])
        assert_inside(opened, base["outside"])
    finally:
        _restore(corpus, files)
    count(fuzz_counts, "corpus (jsonl, txt, tsv, json)", outcome)


@fuzz(120)
@given(data=st.data())
def test_fuzz_image_files(base, fuzz_counts, data, tmp_path_factory):
    from graph.corpus_files import probe_image

    src = base["corpus"] / "images" / "i3.png"
    good = src.read_bytes()
    blob = data.draw(byte_mutation(good))
    p = base["root"] / "probe.png"
    p.write_bytes(blob)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            probe = probe_image(p, "images.jsonl", 3)
            assert probe.skip is None or "pixel limit" in probe.skip
            outcome = "skipped" if probe.skip else "ok"
        except Img2SongError as e:
            assert "images.jsonl:3: field 'file'" in str(e) and "object at 0x" not in str(e)
            outcome = "error"
    count(fuzz_counts, "image files (PIL probe)", outcome)


@fuzz(150)
@given(data=st.data())
def test_fuzz_edge_list_reader(base, fuzz_counts, data):
    from graph.network import read_edgelist

    good = (base["valid"] / "edges.txt").read_bytes()
    extra = data.draw(st.sampled_from([b"", b"a b NaN\n", b"a b 1e39\n", b"a b 1e-50\n", b"a b -1\n", b"a\n",
                                       b"a b c d\n", b"a b 0x10\n", b"\xff b 1\n", b"a b inf\n"]))
    p = base["root"] / "edges.txt"
    p.write_bytes(data.draw(byte_mutation(good)) + extra)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            net = read_edgelist(p)
            outcome = "loaded"
        except Img2SongError as e:
            assert str(p) in str(e)
            outcome = "error"
        else:
            assert net.num_edges > 0 and np.isfinite(net.weights).all() and (net.weights > 0).all()
            assert len(set(net.ids)) == net.num_vertices
    count(fuzz_counts, "edge lists (u v w)", outcome)


@fuzz(200)
@given(data=st.data())
def test_fuzz_npz_and_word2vec_loaders(base, fuzz_counts, data):
    from engine.embeddings import EmbeddingTable
    from engine.features.table import FeatureTable
    from graph.network import Network

    kind = data.draw(st.sampled_from(["emb.npz", "emb.txt", "emb.bin", "network", "features"]))
    src = {"emb.npz": base["valid"] / "t.npz", "emb.txt": base["valid"] / "t.txt", "emb.bin": base["valid"] / "t.bin",
           "network": base["run"] / "network.npz", "features": base["run"] / "features" / "features.npz"}[kind]
    p = base["root"] / f"m{src.suffix}"
    p.write_bytes(data.draw(byte_mutation(src.read_bytes())))
    load = {"network": Network.load, "features": FeatureTable.load}.get(kind, EmbeddingTable.load)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            obj = load(p)
            outcome = "loaded"
        except Img2SongError as e:
            assert str(p) in str(e), str(e)
            outcome = "error"
        else:
            assert len(obj.ids) == len(set(obj.ids))
            mat = getattr(obj, "vectors", getattr(obj, "matrix", getattr(obj, "weights", None)))
            assert np.isfinite(mat).all()
    count(fuzz_counts, f"npz / word2vec ({kind})", outcome)


@fuzz(200)
@given(data=st.data())
def test_fuzz_dump_lines(base, fuzz_counts, data):
    """Every line of a damaged dump is accepted, skipped and counted, or an error naming the dump and line."""
    from evaluation.measure.groundtruth import dump_line
    from graph.common.readers import iter_gzip_lines

    good = (base["valid"] / "d.tsv.gz").read_bytes()
    if data.draw(st.booleans()):  # damage the compressed bytes
        blob = data.draw(byte_mutation(good))
    else:  # damage the text, then compress it
        blob = gzip.compress(data.draw(byte_mutation(gzip.decompress(good))))
    p = base["root"] / "dump.tsv.gz"
    p.write_bytes(blob)
    kept, skipped = 0, {}
    try:
        for lineno, raw in iter_gzip_lines(p):
            if raw.strip():
                kept += dump_line(p, lineno, raw, skipped) is not None
        assert kept + sum(skipped.values()) == sum(1 for ln in gzip.decompress(blob).split(b"\n") if ln.strip())
        outcome = "read, lines skipped" if skipped else "read"
    except Img2SongError as e:
        assert str(p) in str(e), str(e)
        outcome = "error"
    count(fuzz_counts, "related-words dump (gzip TSV)", outcome)


@fuzz(20)
@given(data=st.data())
def test_fuzz_conceptnet_db_build_and_user_db(base, fuzz_counts, data, tmp_path_factory):
    """Whole DB builds from damaged dumps, and damaged SQLite files given as --conceptnet-db (never written)."""
    from evaluation.measure.groundtruth import RelatedWords, build_db_from_dump

    cache = tmp_path_factory.mktemp("cn")
    good = gzip.decompress((base["valid"] / "d.tsv.gz").read_bytes())
    p = base["root"] / "build.tsv.gz"
    p.write_bytes(gzip.compress(data.draw(byte_mutation(good))))
    try:
        db = build_db_from_dump(p, cache)
    except Img2SongError as e:
        assert str(p) in str(e)
        assert not list(cache.glob("*.db")) and not [x for x in cache.iterdir() if temp_owner(x.name)]
        count(fuzz_counts, "ConceptNet DB (build, user DB)", "build error")
        return
    damaged = base["root"] / "user.db"
    damaged.write_bytes(data.draw(byte_mutation(db.read_bytes())))
    before = damaged.read_bytes()
    rw = RelatedWords(db_path=damaged)
    try:
        words = rw.related("月")
        assert all(isinstance(w, str) for w in words)
        outcome = "user DB read"
    except Img2SongError as e:
        assert str(damaged) in str(e)
        outcome = "user DB error"
    finally:
        rw.close()
    assert damaged.read_bytes() == before
    count(fuzz_counts, "ConceptNet DB (build, user DB)", outcome)


# --- CLI commands, in-process --------------------------------------------------------------------------------
@fuzz(60)
@given(data=st.data())
def test_fuzz_cli_build_graph(base, fuzz_counts, data, capsys, tmp_path_factory):
    corpus, files = base["corpus"], base["files"]
    name = data.draw(st.sampled_from(["songs.jsonl", "images.jsonl", "keywords.txt", "lexicon.tsv"]))
    if name.endswith(".jsonl"):
        blob = data.draw(jsonl_mutation(TINY_SONGS if name == "songs.jsonl" else TINY_IMAGES))
    else:
        blob = data.draw(byte_mutation(files[name]))
    (corpus / name).write_bytes(blob)
    out = tmp_path_factory.mktemp("bg") / "out"
    try:
        with Opened() as opened:
            code, stdout, err = run_cli(capsys, "build-graph", "--corpus", corpus, "--out", out)
        assert_inside(opened, base["outside"])
    finally:
        _restore(corpus, files)
    if code == 2:
        assert name in err or "images" in err, err
        assert not out.exists()  # a refused corpus writes nothing
    else:
        stats = json.loads((out / "network_stats.json").read_text(encoding="utf-8"))
        split = json.loads((out / "split.json").read_text(encoding="utf-8"))
        assert stats["images"] == len(split["train"]) and stats["query_images"] == len(split["query"])
        assert stats["vertices"] == stats["images"] + stats["keywords"] + stats["songs"]
        assert stats["edges"] == stats["song_keyword_edges"] + stats["image_keyword_edges"]
    assert_whole_outputs(out)
    count(fuzz_counts, "cli build-graph", f"exit {code}")


@fuzz(50)
@given(data=st.data())
def test_fuzz_cli_train_edgelist(base, fuzz_counts, data, capsys, tmp_path_factory):
    good = (base["valid"] / "edges.txt").read_bytes()
    work = tmp_path_factory.mktemp("tr")
    p = work / "edges.txt"
    p.write_bytes(data.draw(byte_mutation(good)) + data.draw(st.sampled_from([b"", b"x y 1e39\n", b"x y NaN\n"])))
    out = work / "out"
    code, _, err = run_cli(capsys, "train", "--edgelist", p, "--out", out, "--samples", "2000", "--dim", "4",
                           "--threads", "1")
    if code == 2:
        assert str(p) in err, err
        assert not (out / "embeddings.npz").exists()
    else:
        rec = json.loads((out / "line.json").read_text(encoding="utf-8"))
        with np.load(out / "embeddings.npz") as z:
            assert len(z["ids"]) == rec["network"]["vertices"] and np.isfinite(z["vectors"]).all()
        assert rec["status"] == "complete"
    assert_whole_outputs(out)
    count(fuzz_counts, "cli train --edgelist", f"exit {code}")


@fuzz(60)
@given(data=st.data())
def test_fuzz_cli_export(base, fuzz_counts, data, capsys, tmp_path_factory):
    src = base["valid"] / data.draw(st.sampled_from(["t.npz", "t.txt", "t.bin"]))
    work = tmp_path_factory.mktemp("ex")
    p = work / src.name
    p.write_bytes(data.draw(byte_mutation(src.read_bytes())))
    fmt = data.draw(st.sampled_from(["npz", "word2vec", "word2vec-binary", "projector"]))
    out = work / {"npz": "o.npz", "word2vec": "o.txt", "word2vec-binary": "o.bin", "projector": "proj"}[fmt]
    code, stdout, err = run_cli(capsys, "export", "--embeddings", p, "--format", fmt, "--out", out)
    if code == 2:
        assert str(p) in err, err
        assert not out.exists()
    else:
        from engine.embeddings import EmbeddingTable

        n = int(stdout.split("wrote ")[1].split()[0])
        assert len(EmbeddingTable.load(out)) == n
    assert_whole_outputs(out if out.is_dir() else out.parent / "none")
    assert not [x for x in work.iterdir() if temp_owner(x.name) is not None]
    count(fuzz_counts, "cli export", f"exit {code}")


RUN_TARGETS = ["keywords.json", "split.json", "run.json", "network.npz", "embeddings.npz", "features/features.npz"]


@fuzz(60)
@given(data=st.data())
def test_fuzz_cli_recommend(base, fuzz_counts, data, capsys, tmp_path_factory):
    from engine.embeddings import EmbeddingTable

    run = tmp_path_factory.mktemp("rc") / "run"
    shutil.copytree(base["run"], run)
    EmbeddingTable(["song:s1", "song:s2", "kw:月"], np.eye(3, dtype=np.float32)).save(run / "embeddings.npz")
    name = data.draw(st.sampled_from(RUN_TARGETS))
    p = run / name
    p.write_bytes(data.draw(byte_mutation(p.read_bytes())))
    k = data.draw(st.sampled_from(["3", "1", "0", "-2", "10"]))
    with Opened() as opened:
        code, stdout, err = run_cli(capsys, "recommend", "q1", "--run", run, "--scorer", "pop", "--k", k)
    assert_inside(opened, base["outside"])
    if code == 2:
        assert name.split("/")[-1] in err or "--k" in err or "corpus" in err, err
    else:
        ranks = [ln for ln in stdout.splitlines() if ln[:4].strip().rstrip(".").isdigit()]
        assert 1 <= len(ranks) <= int(k)
    count(fuzz_counts, "cli recommend", f"exit {code}")


@fuzz(10)
@given(data=st.data())
def test_fuzz_cli_evaluate(base, fuzz_counts, data, capsys, tmp_path_factory):
    """evaluate with a damaged related-words dump: a report whose counts add up, or exit 2 naming the dump."""
    root = tmp_path_factory.mktemp("ev")
    run = make_run(root)
    dump = root / "corpus" / "related_words.tsv.gz"
    if data.draw(st.booleans()):
        dump.write_bytes(data.draw(byte_mutation(dump.read_bytes())))
    else:
        dump.write_bytes(gzip.compress(data.draw(byte_mutation(gzip.decompress(dump.read_bytes())))))
    with Opened() as opened:
        code, _, err = run_cli(capsys, "evaluate", "--run", run, "--scorers", "pop")
    assert_inside(opened, base["outside"])
    if code == 2:
        assert str(dump) in err, err
        assert not (run / "report.json").exists()
    else:
        rep = json.loads((run / "report.json").read_text(encoding="utf-8"))
        rows = [json.loads(x) for x in (run / "per_query.jsonl").read_text(encoding="utf-8").splitlines()]
        groups: dict[tuple, int] = {}
        for r in rows:  # every (protocol, scorer, n) holds one row per evaluated query
            key = (r.get("protocol"), r["scorer"], r["n"])
            groups[key] = groups.get(key, 0) + 1
        assert set(groups.values()) <= {rep["queries_evaluated"]} and len(groups) % len(rep["ns"]) == 0
        assert rep["queries_evaluated"] + sum(rep["queries_dropped"].values()) <= rep["queries_total"]
    assert_whole_outputs(run)
    count(fuzz_counts, "cli evaluate", f"exit {code}")
