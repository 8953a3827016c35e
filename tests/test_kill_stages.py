"""kill -9 inside each long stage, timed on what the process itself reports, then a rerun that gives exactly the
uninterrupted result: mid-order `train --resume`, mid-`features`, mid-`fit-scorers`, mid-`evaluate`, mid-`add`.

Each kill is prepared by `frozen_when`: the real CLI runs as a subprocess; its output (and the files it writes) are
watched; the moment it reports being inside the stage it is stopped with SIGSTOP, the test asserts that the state
it left at that instant is partial (so a kill that lands before the stage or after its end fails the test instead
of passing vacuously), and only then is it sent SIGKILL. The world is one small real run built in-process
(build-graph, C++ LINE, the real default CNN, scorers, evaluate); every test works on a copy of it.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from graph.common.atomic import temp_owner
from tests.conftest import own_cache

ROOT = Path(__file__).resolve().parents[1]
SCORERS = "ne,slow-pop,km"  # slow-pop (tests/kill_plugins.py) gives the fit-scorers and evaluate kills a window
PLUGINS = ["--scorer-module", "tests.kill_plugins"]
LINE_ARGS = ["--dim", "16", "--samples", "2M", "--threads", "1", "--seed", "3"]  # 8 chunks of 262144 per order
LINE_CONFIG = {"dim": 16, "samples": 2_000_000, "threads": 1, "seed": 3}
CHUNKS = 8
QUIET = lambda *_: None  # noqa: E731


@pytest.fixture(scope="module")
def world(tmp_path_factory, dictionary_cache):
    """A small real run, every stage done once, uninterrupted: the reference each killed-and-rerun stage must equal."""
    import tests.kill_plugins  # noqa: F401 - registers slow-pop
    from engine.features.backbones import DEFAULT_BACKBONE
    from evaluation.stages import pipeline
    from tests.live_run import make_live_corpus
    from tests.scorer_contract import write_dump

    tmp = tmp_path_factory.mktemp("killworld")
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test cache fixture
        mp.setenv("IMG2SONG_CACHE", str(own_cache(tmp / "cache", dictionary_cache)))
        corpus = make_live_corpus(tmp / "corpus")
        write_dump(corpus / "related_words.tsv.gz", [("/r/RelatedTo", "/c/zh/月", "/c/zh/清风", 2.0),
                                                     ("/r/RelatedTo", "/c/zh/花", "/c/zh/芳草", 1.0)])
        run = tmp / "run"
        pipeline.build_graph(corpus, run, holdout=0.15, seed=0, echo=QUIET)
        pipeline.train_embeddings(run, echo=QUIET, dim=16, samples=200_000, threads=1, seed=3, progress=False)
        pipeline.features(run, backbone=DEFAULT_BACKBONE, echo=QUIET)  # the real CNN, 32 images a forward
        pipeline.fit_scorers(run, SCORERS.split(","), echo=QUIET)
        pipeline.evaluate(run, SCORERS.split(","), echo=QUIET, progress=False, scorer_modules=["tests.kill_plugins"])
        yield {"tmp": tmp, "run": run, "cache": tmp / "cache", "backbone": DEFAULT_BACKBONE}


def copy_run(world, tmp_path: Path) -> Path:
    return Path(shutil.copytree(world["run"], tmp_path / "run", symlinks=True))


def env_for(cache: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "IMG2SONG_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}


def cli(*args: str) -> list[str]:
    """The img2song CLI, as a process of its own."""
    return [sys.executable, "-m", "evaluation.app.cli", *args]


class Frozen:
    """A CLI process stopped (SIGSTOP) where it stood when `ready` first held; `kill()` then sends SIGKILL."""

    def __init__(self, proc: subprocess.Popen, chunks: list[bytes], reader: threading.Thread):
        self.proc, self.chunks, self.reader = proc, chunks, reader

    @property
    def output(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")

    def kill(self) -> str:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.reader.join(timeout=10)
        assert self.proc.returncode == -signal.SIGKILL
        return self.output


def frozen_when(argv: list[str], ready: Callable[[str], bool], env: dict[str, str], timeout: float = 180.0) -> Frozen:
    """Start argv (stdout and stderr merged); poll ready(output so far) every 2 ms; when it holds, SIGSTOP the
    process and return it frozen. Fails when the process ends first: the kill would have landed after the stage."""
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: proc.stdout.read1(65536), b"")), daemon=True)
    reader.start()
    t_end = time.monotonic() + timeout
    while True:
        text = b"".join(chunks).decode("utf-8", "replace")
        if ready(text):
            proc.send_signal(signal.SIGSTOP)
            return Frozen(proc, chunks, reader)
        if proc.poll() is not None:
            reader.join(timeout=10)
            pytest.fail(f"the process ended (exit {proc.returncode}) before it reported being inside the stage:\n"
                        + b"".join(chunks).decode("utf-8", "replace")[-3000:])
        if time.monotonic() > t_end:
            proc.kill()
            pytest.fail("the process never reported being inside the stage")
        time.sleep(0.002)


def finish(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "Traceback" not in done.stderr
    return done.stdout + done.stderr


def leftovers(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if temp_owner(p.name) is not None)


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k].copy() for k in z.files}


def assert_same_arrays(got: Path, want: Path) -> None:
    a, b = npz_arrays(got), npz_arrays(want)
    assert sorted(a) == sorted(b), (got, sorted(a), sorted(b))
    for key in a:
        assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, (got, key)
        np.testing.assert_array_equal(a[key], b[key], err_msg=f"{got}: {key}")


# --- train: mid-order checkpoints, a kill inside order 1 and one inside order 2 -----------------------------------
def _checkpoint(path: Path) -> dict | None:
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (FileNotFoundError, RuntimeError, EOFError):
        return None


class CheckpointWatch:
    """ready(): a new line.ckpt whose progress satisfies `want(next_chunk)`; reads the file only when it changed."""

    def __init__(self, path: Path, want: Callable[[dict[str, int]], bool]):
        self.path, self.want, self.seen, self.state = path, want, None, None

    def __call__(self, _output: str) -> bool:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if key == self.seen:
            return False
        self.seen = key
        self.state = _checkpoint(self.path)
        return self.state is not None and self.want(self.state["next_chunk"])


@pytest.mark.slow
def test_kill9_mid_order_train_then_resume_is_bit_identical(world, tmp_path):
    from evaluation.stages import pipeline

    run = copy_run(world, tmp_path)
    ref = Path(shutil.copytree(run, tmp_path / "ref"))  # uninterrupted, no checkpoints, in this process
    pipeline.train_embeddings(ref, echo=QUIET, progress=False, **LINE_CONFIG)
    for name in ("embeddings.npz", "line.json", "line_tables.npz", "line.ckpt"):
        (run / name).unlink(missing_ok=True)
    env = env_for(world["cache"])
    argv = cli("train", "--run", str(run), *LINE_ARGS, "--resume", "--checkpoint-every", "262144")
    ckpt = run / "line.ckpt"

    # kill 1: inside order 1 (its first mid-order checkpoint is on disk, order 2 not begun)
    watch = CheckpointWatch(ckpt, lambda nc: 0 < nc.get("1", 0) < CHUNKS)
    frozen = frozen_when(argv, watch, env)
    state = _checkpoint(ckpt)  # the file as the process left it at the kill
    assert set(state["next_chunk"]) == {"1"} and 0 < state["next_chunk"]["1"] < CHUNKS
    assert set(state["tables"]) == {"1"} and len(state["history"]) == state["next_chunk"]["1"]
    assert not (run / "embeddings.npz").exists() and not (run / "line.json").exists()
    frozen.kill()

    # kill 2: the rerun resumes order 1 and is killed inside order 2
    watch = CheckpointWatch(ckpt, lambda nc: 0 < nc.get("2", 0) < CHUNKS)
    frozen = frozen_when(argv, watch, env)
    state = _checkpoint(ckpt)
    assert state["next_chunk"]["1"] == CHUNKS and 0 < state["next_chunk"]["2"] < CHUNKS
    assert not (run / "embeddings.npz").exists()
    first = re.search(r"LINE order 1 \[cpu\]:\s+(\d+)%", frozen.output)
    assert first and int(first.group(1)) > 0, "the rerun did not resume order 1 from its checkpoint"
    frozen.kill()

    out = finish(argv, env)
    first = re.search(r"LINE order 2 \[cpu\]:\s+(\d+)%", out)
    assert first and int(first.group(1)) > 0, "the last run did not resume order 2 from its checkpoint"
    assert leftovers(run) == []
    record = json.loads((run / "line.json").read_text(encoding="utf-8"))
    assert record["status"] == "complete"
    # bit-identical to the uninterrupted run (trained without checkpoints, in one go)
    assert_same_arrays(run / "embeddings.npz", ref / "embeddings.npz")
    assert_same_arrays(run / "line_tables.npz", ref / "line_tables.npz")


def test_checkpoint_every_and_samples_are_validated_before_anything_runs(tmp_path, capsys):
    from evaluation.app.cli import main

    run = tmp_path / "run"  # never reached: the values are refused first
    for extra, message in ((["--checkpoint-every", "1M"], "needs --resume"),
                           (["--resume", "--checkpoint-every", "0"], "positive"),
                           (["--resume", "--checkpoint-every", "-5"], "positive"),
                           (["--resume", "--checkpoint-every", "nan"], "--checkpoint-every"),
                           (["--resume", "--checkpoint-every", "infM"], "--checkpoint-every"),
                           (["--samples", "infM"], "--samples")):  # an OverflowError, exit 1, before
        assert main(["train", "--run", str(run), *LINE_ARGS, *extra]) == 2, extra
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, (extra, err)
    assert not run.exists()


# --- features: a kill after some images' features are cached, before all are -------------------------------------
@pytest.mark.slow
def test_kill9_mid_features_then_rerun_reuses_the_cache_and_is_bit_identical(world, tmp_path):
    run = copy_run(world, tmp_path)
    shutil.rmtree(run / "features")
    cache = tmp_path / "cache"  # empty: what the killed run cached is all there is
    env = env_for(cache)
    argv = cli("features", "--run", str(run), "--backbone", world["backbone"], "--batch-size", "1")
    images = len(npz_arrays(world["run"] / "features" / "features.npz")["ids"])
    cached = lambda: [p for p in cache.rglob("*.npy") if temp_owner(p.name) is None]  # noqa: E731 - one an image
    frozen = frozen_when(argv, lambda _out: len(cached()) >= 3, env)
    at_kill = len(cached())
    assert 3 <= at_kill < images, (at_kill, images)  # some images done, not all
    assert not (run / "features" / "features.npz").exists()
    frozen.kill()

    out = finish(argv, env)
    assert f"{images} images: {images - at_kill} computed, {at_kill} from cache" in out, out[-2000:]
    assert leftovers(run) == [] and leftovers(cache) == []
    for name in ("features.npz", "logits.npz", "tags.npz", "keyword_probe.npz", "keyword_probs.npz"):
        assert_same_arrays(run / "features" / name, world["run"] / "features" / name)


# --- fit-scorers: a kill after the first scorer is saved, before the others ---------------------------------------
def saved_scorer(path: Path) -> tuple:
    """What a saved scorer is, less when it was saved: params.json's fields, state.json, every array."""
    params = json.loads((path / "params.json").read_text(encoding="utf-8"))
    params.pop("saved_at")
    params.pop("files")  # sha256 of the files' bytes: np.savez stamps the zip entries with the time
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    arrays = npz_arrays(path / "arrays.npz")
    return params, state, sorted(arrays), [arrays[k].tobytes() for k in sorted(arrays)]


@pytest.mark.slow
def test_kill9_mid_fit_scorers_then_rerun_keeps_the_saved_and_fits_the_rest(world, tmp_path):
    from evaluation.stages.rundir import RunDir

    run = copy_run(world, tmp_path)
    shutil.rmtree(run / "scorers")
    env = env_for(world["cache"])
    argv = cli("fit-scorers", "--run", str(run), "--scorers", SCORERS, *PLUGINS)
    saved = lambda: sorted(p.parent.name for p in (run / "scorers").glob("*/params.json"))  # noqa: E731
    frozen = frozen_when(argv, lambda out: "ne: fitted" in out, env)  # ne saved; slow-pop is fitting
    assert saved() == ["ne"], saved()
    RunDir(run).load_scorer("ne")  # complete and loadable (its files' hashes checked)
    frozen.kill()

    out = finish(argv, env)
    assert re.search(r"^ne: kept", out, re.M) and re.search(r"^slow-pop: fitted", out, re.M), out
    assert re.search(r"^km: fitted", out, re.M), out
    assert leftovers(run) == []
    for name in SCORERS.split(","):
        assert saved_scorer(run / "scorers" / name) == saved_scorer(world["run"] / "scorers" / name), name


# --- evaluate: a kill while it rewrites its report files --------------------------------------------------------
def evaluate_mark(run: Path) -> dict | None:
    try:
        return json.loads((run / "run.json").read_text(encoding="utf-8")).get("stages", {}).get("evaluate")
    except (FileNotFoundError, ValueError):
        return None


def outputs_of(run: Path) -> dict:
    """report.json, per_query.jsonl and recommendations.jsonl, less the evaluation id and the run's own path."""
    def clean(text: str) -> str:
        return re.sub(r'"evaluation_id": ?"[0-9a-f]+"', '"evaluation_id": "-"', text.replace(str(run), "<run>"))

    report = json.loads(clean((run / "report.json").read_text(encoding="utf-8")))
    return {"report": report, **{name: clean((run / name).read_text(encoding="utf-8"))
                                 for name in ("per_query.jsonl", "recommendations.jsonl")}}


@pytest.mark.slow
def test_kill9_mid_evaluate_is_refused_by_report_then_rerun_is_identical(world, tmp_path, capsys):
    from evaluation.app.cli import main

    run = copy_run(world, tmp_path)
    before = evaluate_mark(run)
    assert before and not before.get("incomplete")
    env = env_for(world["cache"])
    argv = cli("evaluate", "--run", str(run), "--scorers", SCORERS, *PLUGINS)
    frozen = frozen_when(argv, lambda _out: bool((evaluate_mark(run) or {}).get("incomplete")), env)
    mark = evaluate_mark(run)
    assert mark["incomplete"] and mark["evaluation_id"] != before.get("outputs", {}).get("evaluation_id")
    frozen.kill()

    capsys.readouterr()
    assert main(["report", "--run", str(run)]) == 2  # the half-rewritten set is refused, not rendered as a mix
    err = capsys.readouterr().err
    assert "did not finish" in err and "Traceback" not in err, err
    finish(argv, env)
    assert not evaluate_mark(run).get("incomplete")
    assert outputs_of(run) == outputs_of(world["run"])
    assert main(["report", "--run", str(run)]) == 0


# --- add: a kill after a few songs are journalled, before the commit --------------------------------------------
ADD_SONGS = 30  # enough fold-ins (~0.2 s CPU each) that the stop lands mid-add even when the "(2/N)" line reaches
# the test late on a loaded machine (with 12, one CI run under load saw all 12 journalled before the stop)
@pytest.mark.slow
def test_kill9_mid_add_then_rerun_equals_an_uninterrupted_add(world, tmp_path):
    from evaluation.stages import catalogue, pipeline
    from evaluation.stages.catalogue_journal import CatalogueStore
    from tests.live_run import song_row

    rng = np.random.default_rng(5)
    rows = [song_row(500 + i, rng) for i in range(ADD_SONGS)]
    songs = tmp_path / "new.jsonl"
    songs.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    ref = Path(shutil.copytree(world["run"], tmp_path / "ref", symlinks=True))
    catalogue.add(ref, songs, echo=QUIET, progress=False)  # uninterrupted, in this process

    run = copy_run(world, tmp_path)
    env = env_for(world["cache"])
    argv = cli("add", "--run", str(run), "--songs", str(songs))
    frozen = frozen_when(argv, lambda out: f"(2/{ADD_SONGS})" in out, env)  # a fold-in takes ~0.2 s CPU here
    journal = CatalogueStore(run).journal
    kinds = [json.loads(x)["kind"] for x in journal.read_text(encoding="utf-8").splitlines() if x.endswith("}")]
    assert kinds[0] == "begin" and "commit" not in kinds and 2 <= kinds.count("song") < ADD_SONGS, kinds
    frozen.kill()

    out = finish(argv, env)
    assert "discarded an unfinished change" in out and f"committed {ADD_SONGS} addition(s)" in out, out[-2000:]
    got, want = CatalogueStore(run).recover(), CatalogueStore(ref).recover()
    assert len(got) == len(want) == 1
    drop_time = lambda recs: [(k, {f: v for f, v in d.items() if f != "at"}) for k, d in recs]  # noqa: E731
    assert drop_time(got[0].records) == drop_time(want[0].records)  # every fold-in vector, bit for bit
    for scorer in ("ne", "km"):
        for image in ("p002", "p010"):
            assert ([r.song_id for r in pipeline.recommend(run, [image], scorer, 20, echo=QUIET)[0]]
                    == [r.song_id for r in pipeline.recommend(ref, [image], scorer, 20, echo=QUIET)[0]])
