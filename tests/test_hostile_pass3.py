"""Regression tests for issue 22's second hostile pass, the causes the first two batches left (test_hostile_pass2.py,
test_hostile_pass2b.py): a thin PNG's resize (1), a truncated or copied saved scorer (8), a signature that depends
on how the run's path is spelled (13), EXIF orientation (16), option values (9, 14) and a disk-full message (21)."""
from __future__ import annotations

import errno
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.features.backbones import DEFAULT_BACKBONE, get_backbone
from evaluation.app.cli import main
from tests.test_serve import served  # noqa: F401  (the module-scoped server fixture)

REAL = DEFAULT_BACKBONE  # the shipped CNN (its preprocessing is the one under test)


def png(w: int, h: int, color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def lite0():
    return get_backbone(REAL)


# --- 1: a 114-byte 10000 x 1 PNG made the server allocate 2.6 GB ------------------------------------------------
@pytest.fixture
def resize_budget(monkeypatch):
    """PIL's resize refuses any output over 5 M pixels (20 MB) before allocating it; the sizes asked are kept."""
    asked: list[tuple[int, int]] = []
    original = Image.Image.resize

    def resize(self, size, *args, **kwargs):
        asked.append(tuple(size))
        if size[0] * size[1] > 5_000_000:
            raise AssertionError(f"resize to {size[0]} x {size[1]} = {size[0] * size[1]} pixels requested")
        return original(self, size, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "resize", resize)
    return asked


@pytest.mark.parametrize("size", [(10000, 1), (40000, 1), (1, 40000), (3000, 7)])
def test_case01_thin_images_never_resize_beyond_the_crop_in_features_and_serve(lite0, resize_budget, tmp_path, size):
    from engine.features.extract import extract_features
    from engine.features.photo import decode_photo

    data = png(*size)
    assert len(data) < 300  # a few hundred bytes
    x = lite0.preprocess(decode_photo(data, 50_000_000, "thin.png"))  # the service's decode + preprocessing
    assert tuple(x.shape) == (3, 224, 224) and np.isfinite(x.numpy()).all()
    # a uniform colour stays that colour (the crop resampled from the right pixels)
    want = (np.array([200, 30, 30], np.float32) / 255 - 127 / 255) / (128 / 255)
    assert np.allclose(x.numpy().reshape(3, -1).mean(1), want, atol=1e-5)
    (tmp_path / "thin.png").write_bytes(data)  # the features stage: the same decode and preprocessing
    out = extract_features([("thin", tmp_path / "thin.png")], lite0, cache_dir=tmp_path / "cache", progress=False)
    assert out.report.computed == 1 and not out.report.skipped
    assert max(w * h for w, h in resize_budget) <= 224 * 224 * 64 * 1.2


def test_case01_box_resize_equals_the_reference_for_ordinary_shapes(lite0):
    """Only elongated images take the crop-only resize: a photo's tensor is the reference path's, bit for bit
    (a guard: passes before and after the fix, so cached features of ordinary images stay valid)."""
    rgb = np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    im = Image.fromarray(rgb)
    ref = im.resize((341, 256), Image.Resampling.BILINEAR).crop((58, 16, 282, 240))
    want = (np.asarray(ref, np.float32) / np.float32(255) - np.float32(127 / 255)) / np.float32(128 / 255)
    assert np.array_equal(lite0.preprocess(im).permute(1, 2, 0).numpy(), want)


def _vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs /proc (Linux) to read the server's peak")
def test_case01_server_answers_a_thin_png_without_a_memory_spike(served):  # noqa: F811
    """The real server (tests/serve_main: the shipped resize and centre crop): 4000 x 1 and 1 x 4000 strips are
    answered 200, and the server's peak memory (VmHWM) grows by less than 150 MB (1 GB each before)."""
    run, client, _ = served
    pid = server_pid(client)
    ok = client.post("/recommend", [("k", "3")], [("image", "q.png", png(64, 48))])
    assert ok.status == 200, ok.body
    peak = _vm(pid, "VmHWM")
    for size in ((4000, 1), (1, 4000)):
        r = client.post("/recommend", [("k", "3")], [("image", "thin.png", png(*size))])
        assert r.status == 200, r.body
        assert len(r.json()["songs"]) == 3
    grew = _vm(pid, "VmHWM") - peak
    assert grew < 150 * 2**20, f"server peak memory grew by {grew / 2**20:.0f} MB"


def server_pid(client) -> int:
    """The pid of the process listening on the client's loopback port (from /proc/net/tcp and the fds)."""
    port = client.port
    inodes = {line.split()[9] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
              if int(line.split()[1].split(":")[1], 16) == port and line.split()[3] == "0A"}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{i}]" in links for i in inodes):
            return int(proc.name)
    raise AssertionError(f"no process listens on port {port}")


# --- 16: EXIF orientation ----------------------------------------------------------------------------------------
def _rotated_jpeg() -> tuple[bytes, Image.Image, Image.Image]:
    """A JPEG whose EXIF says 'rotate 90 degrees clockwise to display' (orientation 6), its stored pixels and
    the upright picture a viewer shows."""
    rng = np.random.default_rng(1)
    rgb = np.zeros((120, 200, 3), np.uint8)
    rgb[:, :100] = (250, 20, 20)  # left half red, right half noise: rotation changes what the CNN sees
    rgb[:, 100:] = rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=95, exif=exif)
    data = buf.getvalue()
    stored = Image.open(io.BytesIO(data))
    stored.load()
    stored = stored.convert("RGB")
    return data, stored, stored.transpose(Image.Transpose.ROTATE_270)


def test_case16_exif_orientation_is_applied_in_features_and_serve(lite0, tmp_path):
    from engine.features.extract import extract_features
    from engine.features.photo import decode_photo

    data, stored, upright = _rotated_jpeg()
    im = decode_photo(data, 50_000_000, "rotated.jpg")  # the service's decode
    assert im.size == (120, 200) and np.array_equal(np.asarray(im.convert("RGB")), np.asarray(upright))
    (tmp_path / "rotated.jpg").write_bytes(data)
    upright.save(tmp_path / "upright.png")
    stored.save(tmp_path / "stored.png")
    out = extract_features([("r", tmp_path / "rotated.jpg"), ("u", tmp_path / "upright.png"),
                            ("s", tmp_path / "stored.png")], lite0, cache_dir=tmp_path / "cache", progress=False)
    f = dict(zip(out.features.ids, out.features.vectors))
    assert np.array_equal(f["r"], f["u"])  # the features stage sees the picture upright
    assert not np.allclose(f["r"], f["s"], atol=1e-3)  # ... not as stored (they were equal before)


def test_case16_a_cache_filled_before_orientation_counted_is_not_reused(lite0, tmp_path):
    """The feature-cache key of an image whose EXIF turns it names the turn: an entry stored under the bare
    content hash (as before this fix) is never served for it."""
    from engine.features.cache import FeatureCache, content_hash
    from engine.features.extract import extract_features
    from engine.features.runtime import Forward

    data, _, _ = _rotated_jpeg()
    (tmp_path / "rotated.jpg").write_bytes(data)
    fwd = Forward(lite0, "eager", "cpu")
    stale = np.full(lite0.feature_dim + lite0.num_classes, 7.0, np.float32)
    FeatureCache(tmp_path / "cache", fwd.cache_tag).put(content_hash(data), stale)
    out = extract_features([("r", tmp_path / "rotated.jpg")], runtime=fwd, cache_dir=tmp_path / "cache",
                           progress=False)
    assert out.report.computed == 1 and out.report.cached == 0
    assert not np.allclose(out.features.vectors[0], 7.0)


# --- 8: a truncated saved scorer, a song-list or keyword index copied from another run -----------------------
@pytest.fixture
def fitted_run(tmp_path):
    """A tiny real run (tests/scorer_contract.make_run) with NE, KM and POP fitted and saved."""
    from evaluation.stages.fitted import load_or_fit
    from tests.scorer_contract import make_run

    run = make_run(tmp_path / "a")
    for name in ("ne", "km", "pop"):
        load_or_fit(run, name)
    return run


def _answers(scorer, run) -> list[list[str]]:
    from evaluation.stages.run_inputs import known_image_query, load_training_set
    from tests.scorer_contract import QUERY

    data = load_training_set(run)
    return [[r.song_id for r in scorer.recommend(known_image_query(data, q, data.corpus), k=4)] for q in QUERY]


def test_case08_truncated_arrays_npz_is_an_error_naming_it_and_is_refitted(fitted_run, capsys):
    from engine.scorers.persist import load_scorer
    from evaluation.stages.fitted import load_or_fit

    arrays = fitted_run / "scorers" / "km" / "arrays.npz"
    want = _answers(load_scorer(arrays.parent), fitted_run)
    arrays.write_bytes(arrays.read_bytes()[: arrays.stat().st_size // 2])  # cut in half (a full disk, a kill)
    with pytest.raises(Exception) as e:
        load_scorer(arrays.parent)
    assert e.type.__name__ == "Img2SongError" and str(arrays) in str(e.value)  # not zipfile.BadZipFile
    f = load_or_fit(fitted_run, "km")
    assert f.status.startswith("fitted (unreadable") and str(arrays) in f.status
    assert _answers(f.scorer, fitted_run) == want and load_scorer(arrays.parent)  # rewritten, whole again
    arrays.write_bytes(arrays.read_bytes()[:100])
    code = main(["recommend", "--run", str(fitted_run), "--scorer", "km", "q2"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in out + err, err


@pytest.mark.parametrize("scorer, params, file", [
    ("ne", {"songs_per_image": 1, "max_k": 1}, "song_lists_/song_lists.npz"),
    ("km", None, "keyword_index_/keyword_index.npz"),
])
def test_case08_an_index_copied_from_another_run_is_refused_and_refitted(fitted_run, tmp_path, scorer, params, file):
    from engine.scorers.base import get_scorer
    from engine.scorers.persist import load_scorer
    from evaluation.stages.fitted import load_or_fit
    from tests.scorer_contract import make_run, tiny_training_set

    other = make_run(tmp_path / "b", seed=1)
    data = tiny_training_set(tmp_path / "b" / "corpus2", seed=1)
    if scorer == "km":  # another run's catalogue: one song fewer
        from dataclasses import replace
        data = replace(data, corpus=replace(data.corpus, songs=data.corpus.songs[1:]))
    get_scorer(scorer, **(params or {})).fit(data).save(other / "scorers" / scorer)
    mine = fitted_run / "scorers" / scorer
    want = _answers(load_scorer(mine), fitted_run)
    assert (mine / file).is_file()
    shutil.copyfile(other / "scorers" / scorer / file, mine / file)
    with pytest.raises(Exception) as e:
        load_scorer(mine)
    assert e.type.__name__ == "Img2SongError" and str(mine / file) in str(e.value) and "another run" in str(e.value)
    f = load_or_fit(fitted_run, scorer)
    assert f.status.startswith("fitted") and _answers(f.scorer, fitted_run) == want


# --- 13: the saved-scorer signature depended on how the run's path is spelled ---------------------------------
def test_case13_a_copied_run_or_another_spelling_of_its_path_loads_its_scorers(fitted_run, tmp_path, monkeypatch):
    from evaluation.stages.fitted import load_or_fit, run_signature

    copy = tmp_path / "copied-run"
    shutil.copytree(fitted_run, copy)
    monkeypatch.chdir(fitted_run.parent)
    spellings = [fitted_run, Path("run"), Path("./run/"), Path("../a/run"), copy]
    assert len({run_signature(p) for p in spellings}) == 1
    for p in spellings:
        for name in ("ne", "km", "pop"):
            params = p / "scorers" / name / "params.json"
            before = params.stat().st_mtime_ns
            f = load_or_fit(p, name)
            assert f.status == "loaded", (p, name, f.status)
            assert params.stat().st_mtime_ns == before  # nothing rewritten
    (copy / "split.json").write_text((copy / "split.json").read_text(encoding="utf-8").replace("q2", "q2x"),
                                     encoding="utf-8")
    assert run_signature(copy) != run_signature(fitted_run)  # content still counts


# --- 9 / 14: option values --------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv, option", [
    (["features", "--batch-size", "0"], "--batch-size"),
    (["features", "--batch-size", "-3"], "--batch-size"),
    (["train-lstm", "--epochs", "0"], "--epochs"),
    (["lstm-retrieval", "--epochs", "-1"], "--epochs"),
])
def test_case09_case14_batch_size_and_epochs_must_be_positive(capsys, tmp_path, argv, option):
    code = main([*argv, "--run", str(tmp_path / "no-run")])
    err = capsys.readouterr().err
    assert code == 2 and option in err and "Traceback" not in err, err


def test_case09_case14_library_calls_refuse_them_too(tmp_path):
    from engine.features.extract import extract_features
    from engine.lstm.train import LyricTagModel
    from graph.common.errors import Img2SongError

    with pytest.raises(Img2SongError, match="batch size"):
        extract_features([("a", tmp_path / "a.png")], "efficientnet-lite0", batch_size=0, progress=False)
    with pytest.raises(Img2SongError, match="epochs"):
        LyricTagModel(epochs=0, progress=False).fit([("i", "s")], {"s": ["月"]}, {"i": np.ones(2)}, ["a", "b"], None)


# --- 21: a disk-full error named no file ------------------------------------------------------------------------
def _full_disk(written: bytes = b"PK\x03\x04 partial"):
    """A writer that gets part of its bytes out, then meets a full disk (a write's OSError names no file)."""
    def write(file, *args, **kwargs):
        with open(file, "wb") as fh:
            fh.write(written)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return write


def test_case21_disk_full_while_writing_an_output_names_the_output(capsys, tmp_path, monkeypatch):
    import graph.network
    from tests.conftest import make_corpus

    corpus = make_corpus(tmp_path / "corpus")
    monkeypatch.setattr(graph.network.np, "savez_compressed", _full_disk())
    code = main(["build-graph", "--corpus", str(corpus), "--out", str(tmp_path / "run"), "--holdout", "0.2"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"{tmp_path / 'run' / 'network.npz'}: No space left on device" in err and "Traceback" not in err
    assert not list((tmp_path / "run").glob(".network*"))  # the temp went; nothing half-written is left


def test_case21_disk_full_in_json_and_directory_writers_names_the_output(tmp_path, monkeypatch):
    import json

    from graph.common import atomic

    def full(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic.json, "dump", full)
    with pytest.raises(OSError) as e:
        atomic.write_json(tmp_path / "out.json", {"a": 1})
    assert e.value.errno == errno.ENOSPC and e.value.filename == str(tmp_path / "out.json")
    monkeypatch.setattr(atomic.json, "dump", json.dump)
    with pytest.raises(OSError) as e, atomic.atomic_dir(tmp_path / "scorer") as tmp:
        with open(tmp / "arrays.npz", "wb") as fh:
            fh.write(b"x")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp / "arrays.npz"))  # named inside the temp
    assert e.value.filename == str(tmp_path / "scorer" / "arrays.npz")
    assert list(tmp_path.iterdir()) == []  # neither output nor temp left


# --- a scorer that fails on a query: reported per scorer, the query stays in the others' sets ---------------------
class _FailsOnQ1:
    """POP that raises on query image q1 (a plug-in's bug, or a query it cannot serve)."""

    error: type = ValueError

    def recommend(self, query, k=10):
        if query.image_id == "q1":
            raise self.error("cannot score image q1 today")
        return super().recommend(query, k)

    def recommend_batch(self, queries, k=10):
        return [self.recommend(q, k) for q in queries]


def _flaky_scorers():
    from engine.scorers.base import SCORERS, register_scorer
    from engine.scorers.pop import POPScorer
    from graph.common.errors import Img2SongError

    if "flaky-value" not in SCORERS.names():
        register_scorer("flaky-value")(type("FlakyValue", (_FailsOnQ1, POPScorer), {"error": ValueError}))
        register_scorer("flaky-own")(type("FlakyOwn", (_FailsOnQ1, POPScorer), {"error": Img2SongError}))


@pytest.mark.parametrize("flaky", ["flaky-value", "flaky-own"])
def test_failing_scorer_is_reported_per_scorer_and_the_query_stays_in_the_others_sets(tmp_path, flaky):
    import json

    from evaluation.stages.protocol import evaluate_run
    from tests.scorer_contract import QUERY, make_run

    _flaky_scorers()
    run = make_run(tmp_path)
    kw = dict(cache_dir=tmp_path / "cn", k=3, n_boot=50, progress=False, protocols=("photo",))
    alone = evaluate_run(run, scorers=("ne", "pop"), write=False, **kw)
    rep = evaluate_run(run, scorers=("ne", "pop", flaky), **kw)
    q = len(QUERY)
    assert rep.scorers["ne"]["queries"] == q and rep.scorers["pop"]["queries"] == q  # q1 kept for the others
    assert rep.scorers[flaky]["queries"] == q - 1 and rep.scorers[flaky]["queries_failed"] == 1
    (reason, count), = rep.scorers[flaky]["failure_reasons"].items()
    assert count == 1 and "cannot score image <id> today" in reason
    assert rep.scorers["ne"]["queries_failed"] == 0
    for s in ("ne", "pop"):  # the others' figures are what they are without the failing scorer
        assert rep.scorers[s]["hit_rate@3"] == alone.scorers[s]["hit_rate@3"]
    assert rep.paired_tests["ne_vs_pop"]["0"]["queries"] == q
    assert rep.paired_tests[f"ne_vs_{flaky}"]["0"]["queries"] == q - 1  # only the queries both answered
    assert rep.paired_tests["ne_vs_pop"]["0"]["diff"] == alone.paired_tests["ne_vs_pop"]["0"]["diff"]
    rows = [json.loads(x) for x in (run / "per_query.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["image"] for r in rows if r["scorer"] == "ne"} == set(QUERY)
    assert {r["image"] for r in rows if r["scorer"] == flaky} == set(QUERY) - {"q1"}
    md = (run / "report.md").read_text(encoding="utf-8")
    assert f"{flaky} 1 (1 x " in md and "cannot score image <id> today" in md
    doc = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert doc["queries_answered"]["photo"] == {"ne": q, "pop": q, flaky: q - 1}
    assert main(["report", "--run", str(run)]) == 0


def test_a_scorer_that_answers_no_query_has_null_figures_and_the_report_still_reads(tmp_path, monkeypatch):
    import json

    from evaluation.stages.protocol import evaluate_run
    from graph.common.readers import read_json
    from tests.scorer_contract import QUERY, make_run

    _flaky_scorers()
    run = make_run(tmp_path)
    monkeypatch.setattr(_FailsOnQ1, "recommend", lambda self, q, k=10: (_ for _ in ()).throw(KeyError(q.image_id)))
    rep = evaluate_run(run, scorers=("ne", "flaky-value"), cache_dir=tmp_path / "cn", k=3, n_boot=20,
                       progress=False, protocols=("photo",))
    m = rep.scorers["flaky-value"]
    assert m["queries"] == 0 and m["queries_failed"] == len(QUERY) and m["hit_rate@3"]["0"] is None
    assert rep.scorers["ne"]["queries"] == len(QUERY) and "ne_vs_flaky-value" not in rep.paired_tests
    read_json(run / "report.json")  # null, never NaN: the guarded reader takes it
    assert "no query answered" in (run / "report.md").read_text(encoding="utf-8")
    assert main(["report", "--run", str(run)]) == 0
    assert json.loads((run / "report.json").read_text(encoding="utf-8"))["queries_answered"]["photo"]["ne"] == 3
