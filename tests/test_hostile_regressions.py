"""Issue 14: one named regression test per hostile-input defect (cases 01-16), run through the CLI's entry point.

Every CLI call goes through `evaluation.app.cli.main` in-process; `cli()` asserts that no traceback reached the
user and that no warning escaped. Exit statuses: 2 bad input, 3 OS error, 4 out of memory, 130 interrupted.
"""
from __future__ import annotations

import errno
import gzip
import hashlib
import json
import shutil
import sqlite3
import struct
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest

from evaluation.app.cli import main
from graph.common.errors import Img2SongError
from graph.network import Kind, Network
from tests.conftest import make_corpus, write_jsonl
from tests.scorer_contract import make_run, write_dump


def cli(capsys, *args) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one in-process CLI call; no traceback, no leaked warning."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    leaked = [f"{w.category.__name__}: {w.message}" for w in caught
              if not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))]
    assert not leaked, leaked
    return code, out, err


def digest(path: Path) -> tuple[int, str]:
    data = path.read_bytes()
    return len(data), hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A corpus, and a run made from it by build-graph + train (tiny LINE), kept pristine for copying."""
    root = tmp_path_factory.mktemp("built")
    corpus = make_corpus(root / "corpus")
    write_dump(corpus / "related_words.tsv.gz", [("/r/RelatedTo", "/c/zh/月", "/c/zh/月光", 1.0)])
    run = root / "run"
    assert main(["build-graph", "--corpus", str(corpus), "--out", str(run)]) == 0
    assert main(["train", "--graph", str(run), "--out", str(run), "--samples", "20000", "--impl", "cpu",
                 "--threads", "1", "--dim", "8"]) == 0
    return root


@pytest.fixture
def run(built, tmp_path):
    """A fresh copy of the built run (its run.json still names the pristine corpus)."""
    dst = tmp_path / "run"
    shutil.copytree(built / "run", dst)
    return dst


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(tmp_path / "corpus")


def patch_line(path: Path, lineno: int, **fields) -> None:
    rows = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    rows[lineno - 1].update(fields)
    write_jsonl(path, rows)


# --- 01 -------------------------------------------------------------------------------------------------------
def test_case01_user_conceptnet_db_is_read_only_and_schema_checked(capsys, tmp_path):
    run = make_run(tmp_path)
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()  # a zero-byte file
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE notes (x TEXT)")
    con.commit()
    con.close()
    for db, why in ((empty, "not a SQLite database"), (other, "lacks table")):
        before = digest(db)
        code, _, err = cli(capsys, "evaluate", "--run", run, "--scorers", "pop", "--conceptnet-db", db)
        assert code == 2 and str(db) in err and why in err
        assert digest(db) == before  # nothing was written into the user's file
        assert sorted(p.name for p in db.parent.glob(db.name + "*")) == [db.name]  # no journal either
    # a real conceptnet-lite DB is used read-only: the answers come, the file stays byte-identical
    from evaluation.measure.groundtruth import RelatedWords, build_db_from_dump

    good = build_db_from_dump(write_dump(tmp_path / "d.tsv.gz", [("/r/Synonym", "/c/zh/月", "/c/zh/月亮", 2.0)]),
                              tmp_path / "cache")
    before = digest(good)
    rw = RelatedWords(db_path=good)
    assert rw.related("月") == ["月亮"]
    rw.close()
    assert digest(good) == before


# --- 02 -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("trick", ["/etc/hostname", "../../../../etc/passwd", "../outside.png", "symlink",
                                   "images/../../outside.png"])
def test_case02_image_paths_are_confined_to_the_corpus(capsys, corpus, tmp_path, trick):
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "outside.png")
    file = trick
    if trick == "symlink":
        (corpus / "images" / "link.png").symlink_to(tmp_path / "outside.png")
        file = "images/link.png"
    patch_line(corpus / "images.jsonl", 3, file=file)
    opened: list[str] = []
    hook_on = [True]

    def hook(event, args):
        if hook_on[0] and event == "open" and isinstance(args[0], (str, bytes, Path)):
            opened.append(str(args[0]))

    sys.addaudithook(hook)
    try:
        code, _, err = cli(capsys, "build-graph", "--corpus", corpus, "--out", tmp_path / "out")
    finally:
        hook_on[0] = False
    assert code == 2 and "images.jsonl:3: field 'file'" in err
    assert not any(p.endswith(("outside.png", "hostname", "passwd")) for p in opened), opened
    assert not (tmp_path / "out").exists()


# --- 03 -------------------------------------------------------------------------------------------------------
def test_case03_duplicate_keywords_are_dropped_and_counted_and_network_refuses_duplicates(capsys, corpus, tmp_path):
    (corpus / "keywords.txt").write_text("月\n酒\n月\n山\n月\n", encoding="utf-8")
    code, out, _ = cli(capsys, "build-graph", "--corpus", corpus, "--out", tmp_path / "out")
    assert code == 0 and "skipped 2 (duplicate keyword in keywords.txt), e.g. keywords.txt:3" in out
    net = Network.load(tmp_path / "out" / "network.npz")
    assert len(set(net.ids)) == len(net.ids) and int((net.kinds == Kind.KEYWORD).sum()) == 3
    with pytest.raises(Img2SongError, match="duplicate vertex id 'kw:月'"):
        Network(["kw:月", "kw:月"], np.array([1, 1]), ["月", "月"], np.array([[0, 1]]), np.array([1.0]))


# --- 04 -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_case04_non_finite_numbers_are_errors_with_file_line_field(capsys, corpus, tmp_path, raw):
    lines = (corpus / "songs.jsonl").read_text(encoding="utf-8").splitlines()
    lines[1] = lines[1].replace('"popularity": 8.0', f'"popularity": {raw}')
    (corpus / "songs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = cli(capsys, "build-graph", "--corpus", corpus, "--out", tmp_path / "out")
    assert code == 2 and "songs.jsonl:2: field 'popularity' must be a finite number" in err


def test_case04_non_finite_numbers_in_run_json_files(capsys, tmp_path):
    run = make_run(tmp_path)
    doc = json.loads((run / "keywords.json").read_text(encoding="utf-8"))
    text = json.dumps(doc).replace('"i1": {"\\u6708": 1.0}', '"i1": {"\\u6708": NaN}')
    assert "NaN" in text
    (run / "keywords.json").write_text(text, encoding="utf-8")
    code, _, err = cli(capsys, "recommend", "q1", "--run", run, "--scorer", "pop")
    assert code == 2 and "keywords.json" in err and "field 'images.i1" in err and "finite" in err


# --- 05 -------------------------------------------------------------------------------------------------------
def _not_gzip(p: Path) -> None:
    p.write_text("/a/x\t/r/RelatedTo\t/c/zh/月\t/c/zh/月光\t{}\n", encoding="utf-8")


def _corrupt_gzip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 8] = b"\xff" * 8  # inside the deflate stream
    p.write_bytes(bytes(data))


def _bad_start_uri(p: Path) -> None:
    p.write_bytes(gzip.compress(b"/a/x\t/r/RelatedTo\tmoon\t/c/en/night\t{\"weight\": 1}\n"))


@pytest.mark.parametrize("damage, message", [
    (_not_gzip, "not gzip-compressed"),
    (_corrupt_gzip, "corrupt or truncated gzip data"),
    (_bad_start_uri, "related_words.tsv.gz:1: field 'start' is not a ConceptNet concept URI"),
])
def test_case05_evaluate_input_faults_exit_2(capsys, tmp_path, damage, message):
    run = make_run(tmp_path)
    damage(tmp_path / "corpus" / "related_words.tsv.gz")
    code, _, err = cli(capsys, "evaluate", "--run", run, "--scorers", "pop")
    assert code == 2 and message in err


def test_case05_missing_dump_is_checked_before_it_is_hashed(tmp_path):
    """(evaluate itself now falls back to the open-thesauri DB when the corpus has no dump: main's design.)"""
    from evaluation.measure.groundtruth import RelatedWords

    rw = RelatedWords(dump=tmp_path / "related_words.tsv.gz", cache_dir=tmp_path / "c")
    with pytest.raises(Img2SongError, match="related_words.tsv.gz: related-words dump not found"):
        _ = rw.source_id
    with pytest.raises(Img2SongError, match="related_words.tsv.gz: related-words dump not found"):
        rw.related("月")


def test_case05_missing_or_non_sqlite_conceptnet_db(capsys, tmp_path):
    run = make_run(tmp_path)
    code, _, err = cli(capsys, "evaluate", "--run", run, "--conceptnet-db", tmp_path / "none.db")
    assert code == 2 and "none.db: ConceptNet DB not found" in err
    (tmp_path / "text.db").write_text("hello, not sqlite\n", encoding="utf-8")
    code, _, err = cli(capsys, "evaluate", "--run", run, "--conceptnet-db", tmp_path / "text.db")
    assert code == 2 and "text.db: not a SQLite database" in err


# --- 06 -------------------------------------------------------------------------------------------------------
def test_case06_truncated_gzip_dump_and_zero_byte_network_name_the_file(capsys, tmp_path):
    run = make_run(tmp_path)
    dump = tmp_path / "corpus" / "related_words.tsv.gz"
    write_dump(dump, [("/r/RelatedTo", "/c/zh/月", f"/c/zh/月{i}", 1.0) for i in range(300)])
    dump.write_bytes(dump.read_bytes()[: len(dump.read_bytes()) // 2])
    code, _, err = cli(capsys, "evaluate", "--run", run, "--scorers", "pop")
    assert code == 2 and "related_words.tsv.gz:" in err and "truncated" in err and "aborted" not in err
    (run / "network.npz").write_bytes(b"")
    code, _, err = cli(capsys, "train", "--graph", run, "--out", tmp_path / "o", "--samples", "1000")
    assert code == 2 and "network.npz: network file is empty" in err and "aborted" not in err


# --- 07 -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, argv", [
    ("network.npz", ["train", "--graph", "{run}", "--out", "{tmp}/o", "--samples", "1000"]),
    ("embeddings.npz", ["export", "--embeddings", "{run}/embeddings.npz", "--format", "word2vec", "--out",
                        "{tmp}/e.txt"]),
    ("embeddings.npz", ["recommend", "i1", "--run", "{run}", "--scorer", "pop"]),
    ("features/features.npz", ["recommend", "i1", "--run", "{run}", "--scorer", "pop"]),
])
def test_case07_truncated_npz_names_the_file(capsys, tmp_path, name, argv):
    from engine.embeddings import EmbeddingTable

    run = make_run(tmp_path)
    EmbeddingTable(["song:s1", "kw:月"], np.ones((2, 4))).save(run / "embeddings.npz")
    p = run / name
    p.write_bytes(p.read_bytes()[: p.stat().st_size * 2 // 3])
    code, _, err = cli(capsys, *[a.format(run=run, tmp=tmp_path) for a in argv])
    assert code == 2 and f"{p}: unreadable" in err and "BadZipFile" not in err


# --- 08 -------------------------------------------------------------------------------------------------------
def test_case08_cuda_without_gpu_is_a_clean_error(capsys, run, tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _, err = cli(capsys, "train", "--graph", run, "--out", tmp_path / "o", "--device", "cuda",
                       "--samples", "1000")
    assert code == 2 and "no CUDA GPU is available" in err
    code, _, err = cli(capsys, "train-lstm", "--run", run, "--device", "cuda")
    assert code == 2 and "no CUDA GPU is available" in err


# --- 09 -------------------------------------------------------------------------------------------------------
def test_case09_unwritable_outputs(capsys, run, corpus, tmp_path, monkeypatch):
    (tmp_path / "adir").mkdir()
    code, _, err = cli(capsys, "export", "--embeddings", run / "embeddings.npz", "--format", "word2vec", "--out",
                       tmp_path / "adir")
    assert code == 2 and "adir: is a directory" in err
    (tmp_path / "afile").write_text("mine", encoding="utf-8")
    code, _, err = cli(capsys, "build-graph", "--corpus", corpus, "--out", tmp_path / "afile")
    assert code == 2 and "afile: --out exists and is not a directory" in err
    assert (tmp_path / "afile").read_text(encoding="utf-8") == "mine"
    # a read-only file system (root ignores chmod, so the OS refusal is simulated where files are created)
    import tempfile

    def refuse(*a, dir=None, **k):
        raise OSError(errno.EROFS, "Read-only file system", str(dir))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, _, err = cli(capsys, "export", "--embeddings", run / "embeddings.npz", "--format", "npz", "--out",
                       tmp_path / "ro" / "e.npz")
    assert code == 3 and err.strip() == f"error: {tmp_path / 'ro'}: Read-only file system"


def test_case09_memory_error_and_interrupt_have_their_own_status(capsys, run, monkeypatch):
    import evaluation.stages.pipeline as rc

    for exc, status, text in ((MemoryError(), 4, "out of memory"), (KeyboardInterrupt(), 130, "interrupted")):
        def boom(*a, _e=exc, **k):
            raise _e
        monkeypatch.setattr(rc, "recommend", boom)
        code, _, err = cli(capsys, "recommend", "i1", "--run", run)
        assert code == status and text in err and "aborted" not in err


# --- 10 -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["keywords.txt", "lexicon.tsv"])
def test_case10_invalid_utf8_in_text_files_names_file_and_line(capsys, corpus, tmp_path, name):
    p = corpus / name
    p.write_bytes(p.read_bytes() + b"\xff\xfebad\n")
    code, _, err = cli(capsys, "build-graph", "--corpus", corpus, "--out", tmp_path / "out")
    n = len(p.read_bytes().splitlines())
    assert code == 2 and f"{name}:{n}: bytes are not UTF-8" in err


# --- 11 -------------------------------------------------------------------------------------------------------
def huge_png(path: Path, width: int, height: int) -> Path:
    """A valid small PNG whose header claims width x height (PIL refuses it before allocating anything)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("pixels", [(20000, 20000), (11000, 10000)])  # 400 MP (PIL error), 110 MP (PIL warning)
def test_case11_huge_png_is_a_counted_skip_without_leaked_warnings(capsys, corpus, tmp_path, pixels):
    huge_png(corpus / "images" / "i2.png", *pixels)
    code, out, err = cli(capsys, "build-graph", "--corpus", corpus, "--out", tmp_path / "out")
    assert code == 0 and "skipped 1 (image over the pixel limit" in out and "images.jsonl:2" in out
    assert "DecompressionBomb" not in err
    split = json.loads((tmp_path / "out" / "split.json").read_text(encoding="utf-8"))
    assert "i2" not in split["train"] + split["query"]
    from engine.features.extract import extract_features

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ext = extract_features([("big", corpus / "images" / "i2.png")], _mean_color(), cache_dir=None,
                               progress=False)
    assert ext.report.skipped == {"image over the pixel limit (PIL MAX_IMAGE_PIXELS)": 1} and not len(ext.features)


def _mean_color():
    import torch

    from engine.features.backbones import Backbone

    class MeanColor(Backbone):
        feature_dim, num_classes, name, cache_tag = 3, 0, "mean-color", "mean-color"

        def preprocess(self, img):
            return torch.from_numpy(np.asarray(img.convert("RGB").resize((4, 4)), np.float32)).permute(2, 0, 1)

        def forward(self, x):
            return x.mean(dim=(2, 3)), None

    return MeanColor()


# --- 12 -------------------------------------------------------------------------------------------------------
def test_case12_bad_tag_language_names_file_line_field(capsys, corpus, tmp_path):
    patch_line(corpus / "images.jsonl", 4, tag_language="xx")
    code, _, err = cli(capsys, "build-graph", "--corpus", corpus, "--out", tmp_path / "out")
    assert code == 2 and "images.jsonl:4: field 'tag_language' must be one of" in err


@pytest.mark.parametrize("text, message", [
    ("", "the edge list has no edges"),
    ("a b 1\nb c 1e39\n", "e.txt:2: field 'w' is outside the float32 range"),
    ("a b 1e-50\n", "e.txt:1: field 'w' is outside the float32 range"),
])
def test_case12_edge_list_messages_carry_the_location(capsys, tmp_path, text, message):
    (tmp_path / "e.txt").write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow warning on the way
        code, _, err = cli(capsys, "train", "--edgelist", tmp_path / "e.txt", "--out", tmp_path / "o",
                           "--samples", "1000")
    assert code == 2 and message in err and str(tmp_path / "e.txt") in err


def test_case12_empty_network_names_the_file_and_photo_errors_name_the_photo(capsys, run, tmp_path):
    net = Network.load(run / "network.npz")
    Network(net.ids, net.kinds, net.labels, np.zeros((0, 2)), np.zeros(0)).save(run / "network.npz")
    code, _, err = cli(capsys, "train", "--graph", run, "--out", tmp_path / "o", "--samples", "1000")
    assert code == 2 and f"{run / 'network.npz'}: the network has no edges" in err
    bad = tmp_path / "photo.png"
    bad.write_bytes(b"not an image at all")
    from engine.features.extract import extract_features

    report = extract_features([("p", bad)], _mean_color(), cache_dir=None, progress=False).report
    line = " ".join(report.lines())  # what `recommend PHOTO` prints after "cannot read photo:"
    assert f"{bad}: not a recognised image format" in line and "object at 0x" not in line


# --- 13 -------------------------------------------------------------------------------------------------------
def test_case13_empty_songs_file_exits_2_at_build_graph(capsys, corpus, tmp_path):
    (corpus / "songs.jsonl").write_text("", encoding="utf-8")
    code, _, err = cli(capsys, "build-graph", "--corpus", corpus, "--out", tmp_path / "out")
    assert code == 2 and "songs.jsonl: no songs" in err and not (tmp_path / "out").exists()


def test_case13_dump_lines_with_non_json_last_field_are_counted(tmp_path):
    from evaluation.measure.groundtruth import NON_JSON_ETC, RelatedWords

    dump = tmp_path / "d.tsv.gz"
    good = "/a/x\t/r/RelatedTo\t/c/zh/月\t/c/zh/月光\t{\"weight\": 2}\n"
    lines = good + "/a/y\t/r/RelatedTo\t/c/zh/月\t/c/zh/星\tnot json\n" + \
        "/a/z\t/r/RelatedTo\t/c/zh/月\t/c/zh/云\t[1, 2]\n" + "/a/w\t/r/RelatedTo\t/c/zh/月\t/c/zh/风\t{\"weight\": NaN}\n"
    dump.write_bytes(gzip.compress(lines.encode("utf-8")))
    rw = RelatedWords(dump=dump, cache_dir=tmp_path / "cache")
    assert rw.related("月") == ["月光"]  # the skipped lines never enter with an invented weight
    assert rw.skipped == {NON_JSON_ETC: 2, "dump line whose weight is not a finite number": 1}
    record = json.loads(next((tmp_path / "cache").glob("*.json")).read_text(encoding="utf-8"))
    assert record["lines"] == 4 and record["edges"] == 1 and sum(record["skipped"].values()) == 3


# --- 14 -------------------------------------------------------------------------------------------------------
def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_case14_leftover_temps_of_dead_writers_are_cleaned_live_ones_kept(capsys, run, tmp_path):
    import os

    dead, live = dead_pid(), os.getppid()
    stale = [run / f".embeddings.npz.{dead}-abcdefgh.tmp.npz", run / f".line.json.{dead}-a1b2c3d4.tmp.json"]
    for p in stale:
        p.write_bytes(b"x" * 100)
    keep = run / f".embeddings.npz.{live}-zzzzzzzz.tmp.npz"
    keep.write_bytes(b"y")
    code, _, _ = cli(capsys, "train", "--graph", run, "--out", run, "--samples", "2000", "--impl", "cpu",
                     "--dim", "8", "--threads", "1")
    assert code == 0 and not any(p.exists() for p in stale) and keep.exists()
    # the ConceptNet cache: `.build-<pid>-*` folders of killed builds go, a running build's stays
    from evaluation.measure.groundtruth import build_db_from_dump

    cache = tmp_path / "cache"
    (cache / f".build-{dead}-abcdefgh").mkdir(parents=True)
    (cache / f".build-{dead}-abcdefgh" / "dump.tsv").write_bytes(b"x" * 1000)
    (cache / f".build-{live}-abcdefgh").mkdir()
    build_db_from_dump(write_dump(tmp_path / "d.tsv.gz", [("/r/RelatedTo", "/c/zh/月", "/c/zh/光", 1.0)]), cache)
    assert sorted(p.name for p in cache.iterdir() if p.name.startswith(".")) == [f".build-{live}-abcdefgh"]


def test_case14_killed_train_never_leaves_embeddings_without_a_finished_record(capsys, run, tmp_path, monkeypatch):
    import evaluation.stages.rundir_graph as lt  # the module that writes line.json

    calls = []
    real = lt.write_json

    def killed_at_final_record(path, doc, indent=1):
        calls.append(doc.get("status"))
        if doc.get("status") == "complete":
            raise KeyboardInterrupt  # stands for kill -9 between embeddings.npz and the final line.json
        return real(path, doc, indent)

    monkeypatch.setattr(lt, "write_json", killed_at_final_record)
    out = tmp_path / "fresh"
    shutil.copy(run / "network.npz", tmp_path / "network.npz")
    code, _, err = cli(capsys, "train", "--graph", tmp_path / "network.npz", "--out", out, "--samples", "2000",
                       "--impl", "cpu", "--dim", "8", "--threads", "1")
    assert code == 130 and calls == ["incomplete", "complete"]
    assert (out / "embeddings.npz").is_file() and (out / "line.json").is_file()  # never one without the other
    code, _, err = cli(capsys, "export", "--embeddings", out / "embeddings.npz", "--format", "npz", "--out",
                       tmp_path / "x.npz")
    assert code == 2 and "line.json: the train that wrote embeddings.npz did not finish" in err
    monkeypatch.setattr(lt, "write_json", real)
    code, _, _ = cli(capsys, "train", "--graph", tmp_path / "network.npz", "--out", out, "--samples", "2000",
                     "--impl", "cpu", "--dim", "8", "--threads", "1")
    assert code == 0 and json.loads((out / "line.json").read_text(encoding="utf-8"))["status"] == "complete"


# --- 15 -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", ["0", "-3"])
def test_case15_recommend_k_must_be_positive(capsys, run, k):
    code, _, err = cli(capsys, "recommend", "i1", "--run", run, "--scorer", "pop", "--k", k)
    assert code == 2 and "--k must be at least 1" in err
    code, out, _ = cli(capsys, "recommend", "i1", "--run", run, "--scorer", "pop", "--k", "2")
    assert code == 0 and "  2. " in out and "  3. " not in out


# --- 16 -------------------------------------------------------------------------------------------------------
def test_case16_seeded_lstm_training_repeats(tmp_path):
    """Word vectors (LINE on the lyric network: was Hogwild on every core) and the bi-LSTM fit repeat exactly."""
    import torch


    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # speed only (2 busy cores): the word vectors' LINE threads are the product's own
    try:
        _twice_identical()
    finally:
        torch.set_num_threads(threads)


def _twice_identical():
    from engine.lstm import LyricTagModel, train_word_vectors

    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(120)]
    songs = {f"s{s}": [vocab[j] for j in rng.integers(0, 120, 20)] for s in range(24)}
    images = {f"i{i}": rng.uniform(0, 1, 4).astype(np.float32) for i in range(24)}
    pairs = [(f"i{i}", f"s{(i * 7) % 24}") for i in range(24)] + [(f"i{i}", f"s{i}") for i in range(24)]
    tags = ["w1", "w2", "w3", "w4"]

    def once():
        wv = train_word_vectors(list(songs.values()), dim=8, samples=200_000, seed=3)
        m = LyricTagModel(hidden=4, epochs=2, seed=3, device="cpu", progress=False).fit(pairs, songs, images, tags, wv)
        return wv.vectors, m.score(np.stack(list(images.values())), list(songs.values()))

    (wv1, s1), (wv2, s2) = once(), once()
    np.testing.assert_array_equal(wv1, wv2)
    np.testing.assert_array_equal(s1, s2)
