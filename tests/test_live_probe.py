"""The live catalogue's keyword probe: a warm refit lands where a cold fit does and changes the probe; a keyword seen
only in added images becomes predictable; `img2song add` / `remove` refit it once per batch and journal it (a fresh
open installs the same probe); a kill -9 during the refit leaves the add committed and the probe as before, and the
next change refits it."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.features.probe import KeywordProbe, _fit_softmax, _log_softmax
from evaluation.stages import catalogue, pipeline
from evaluation.stages.catalogue_journal import CatalogueStore
from tests.conftest import own_cache
from tests.live_run import TAGS, committed_probe_seen, make_live_run, photo

REPO = Path(__file__).resolve().parents[1]
QUIET = lambda _: None  # noqa: E731
K = "花"  # the keyword the run-level tests make the probe forget, then learn again from added photos


def clusters(rng: np.random.Generator, centres: np.ndarray, classes: list[int], per: int) -> tuple[np.ndarray, np.ndarray]:
    """`per` points around each class centre, one-hot targets over every class."""
    x = np.vstack([centres[c] + rng.normal(0, 1.0, (per, centres.shape[1])) for c in classes])
    y = np.zeros((len(x), len(centres)))
    y[np.arange(len(x)), np.repeat(classes, per)] = 1.0
    return x, y


def test_refit_lands_where_a_cold_fit_at_the_same_l2_does_and_changes_the_probe():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 0.7, (4, 8))  # overlapping keywords: probabilities well inside (0, 1)
    x0, y0 = clusters(rng, centres, [0, 1, 2, 3], 30)
    probe = KeywordProbe(seed=0, vocabulary=list("abcd"), calibration="validation").fit(x0, y0)
    coef0 = probe.coef_.copy()
    shift = np.zeros_like(centres)
    shift[:, :4] = 1.2 * rng.normal(0, 1, (4, 4))
    x1, y1 = clusters(rng, centres + shift, [0, 1, 2, 3], 25)  # the added images: moved, so the optimum moves
    x, y = np.vstack([x0, x1]), np.vstack([y0, y1])
    new = probe.refit(x, y)
    # the reference: a cold start on the same standardised rows and L2, converged far tighter
    z = (x - x.mean(0)) / (x.std(0) + 1e-6)
    w, b = _fit_softmax(z, y, probe.l2_, 2000, 0, tol=1e-12)
    xt, _ = clusters(np.random.default_rng(1), centres + shift / 2, [0, 1, 2, 3], 10)
    zt = (xt - x.mean(0)) / (x.std(0) + 1e-6)
    cold = np.exp(_log_softmax((zt @ w + b) / probe.temperature_))
    got = new.predict_proba(xt)
    assert np.abs(got - cold).max() < 5e-3, np.abs(got - cold).max()  # measured 0.0009 (L-BFGS stops at tol)
    assert np.abs(got - probe.predict_proba(xt)).max() > 0.3  # the refit changed what the probe says (0.86)
    assert (new.l2_, new.temperature_) == (probe.l2_, probe.temperature_)  # chosen at fit, kept (as NE+'s alpha)
    assert new.validation_["refit"] == {"images": len(x), "refits": 1}
    assert new.refit(x, y).validation_["refit"]["refits"] == 2
    np.testing.assert_array_equal(probe.coef_, coef0)  # the live probe is a new object: the old one still answers


def test_a_keyword_seen_only_in_added_images_becomes_predictable():
    rng = np.random.default_rng(3)
    centres = rng.normal(0, 3.0, (4, 8))
    x0, y0 = clusters(rng, centres, [0, 1, 2], 30)  # keyword 3: no training image has it
    probe = KeywordProbe(seed=0, vocabulary=list("abcd"), calibration="validation").fit(x0, y0)
    xt, _ = clusters(np.random.default_rng(4), centres, [3], 20)
    assert (probe.predict_proba(xt).argmax(1) != 3).all()
    x1, y1 = clusters(rng, centres, [3], 12)  # added images of keyword 3
    new = probe.refit(np.vstack([x0, x1]), np.vstack([y0, y1]))
    assert (new.predict_proba(xt).argmax(1) == 3).all()
    xo, yo = clusters(np.random.default_rng(5), centres, [0, 1, 2], 10)  # the other keywords are still right
    assert (new.predict_proba(xo).argmax(1) == yo.argmax(1)).mean() >= 0.95


# ------------------------------------------------------------------------------------------------ a real run
@pytest.fixture(scope="module")
def base_run(tmp_path_factory, dictionary_cache, live_base):
    tmp = tmp_path_factory.mktemp("live-probe")
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test cache fixture
        mp.setenv("IMG2SONG_CACHE", str(own_cache(tmp / "cache", dictionary_cache)))
        yield make_live_run(tmp, ("ne", "km"), base=live_base)


@pytest.fixture
def run(base_run, tmp_path):
    """A copy of the trained run per test (its corpus stays where it is)."""
    return Path(shutil.copytree(base_run, tmp_path / "run"))


def k_photos(tmp: Path, n: int, seed: int) -> Path:
    rows = []
    for j in range(n):
        photo(tmp / f"k{seed}-{j}.png", K, seed + j)
        rows.append({"id": f"new-{K}-{seed}-{j}", "file": f"k{seed}-{j}.png", "tags": [TAGS[K]], "kind": "photo"})
    path = tmp / f"k{seed}.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def top_keyword(cat, tags: np.ndarray) -> str:
    return cat.probe.vocabulary[int(np.argmax(tags))]


def committed_refits(run: Path) -> list[dict]:
    return [d for t in CatalogueStore(run).recover() if t.op == "refit" for k, d in t.records if k == "probe"]


def test_remove_then_add_refits_once_per_batch_and_a_fresh_open_installs_the_same_probe(run, tmp_path):
    from evaluation.stages.run_inputs import load_run_corpus, load_training_set

    data, corpus = load_training_set(run), load_run_corpus(run)
    forget = sorted(i for i in data.train_image_ids if K in data.image_keywords.get(i, {}))
    query_k = next(i.id for i in corpus.images if i.id not in data.train_image_ids and TAGS[K] in i.tags)
    assert len(forget) >= 3
    photo(tmp_path / "q.png", K, 9999)
    trained = catalogue.live_queries(run, [tmp_path / "q.png"], catalogue._open(run, QUIET)[4], corpus)[0]
    lines: list[str] = []
    cat = catalogue.remove(run, images=forget, echo=lines.append)  # every training image of K: the probe forgets K
    assert sum("keyword probe: refitted on" in x for x in lines) == 1, lines
    assert (cat.image_changes, cat.probe_seen, cat.probe_behind) == (len(forget), len(forget), 0)
    q = catalogue.live_queries(run, [tmp_path / "q.png"], cat, corpus)[0]
    assert top_keyword(cat, trained.tag_probs) == K and top_keyword(cat, q.tag_probs) != K
    assert top_keyword(cat, cat.data.tags[query_k]) != K  # a query image of the corpus is tagged again too
    lines.clear()
    cat = catalogue.add(run, None, k_photos(tmp_path, 5, 100), echo=lines.append)  # photos of K come back
    assert sum("keyword probe: refitted on" in x for x in lines) == 1, lines  # once for the batch of 5
    assert (cat.image_changes, cat.probe_behind) == (len(forget) + 5, 0)
    q = catalogue.live_queries(run, [tmp_path / "q.png"], cat, corpus)[0]
    assert top_keyword(cat, q.tag_probs) == K and top_keyword(cat, cat.data.tags[query_k]) == K
    # KM for the photo: its top keyword is K again, so every song it returns holds K
    lyrics = {s.id: s.lyrics for s in corpus.songs}
    recs = pipeline.recommend(run, [str(tmp_path / "q.png")], "km", 10, echo=QUIET)[0]
    assert len(recs) == 10 and all(K in lyrics[r.song_id] for r in recs)
    # the journal names each refit's file; a fresh open (a restart) installs exactly the last one
    refits = committed_refits(run)
    assert [r["seen"] for r in refits] == [len(forget), len(forget) + 5]
    cat2 = catalogue._open(run, QUIET)[4]
    np.testing.assert_array_equal(cat2.probe.coef_, cat.probe.coef_)
    np.testing.assert_array_equal(cat2.data.tags[query_k], cat.data.tags[query_k])
    assert cat2.probe_behind == 0 and "refitted after" in cat2.summary()


SLOW_KEEP = """
import sys, time
from evaluation.stages.catalogue_journal import CatalogueStore
keep = CatalogueStore.store_probe
def slow(self, probe):  # the refitted probe is on disk, its journal record not yet: stop here
    out = keep(self, probe)
    print("TEST: probe kept, not committed", flush=True)
    time.sleep(600)
    return out
CatalogueStore.store_probe = slow
sys.argv[0] = "img2song"
from tests.serve_main import main
sys.exit(main())
"""


def test_kill_9_during_the_refit_leaves_the_add_committed_and_the_probe_as_before(run, tmp_path):
    store = CatalogueStore(run)
    before = catalogue._open(run, QUIET)[4]
    env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-c", SLOW_KEEP, "add", "--run", str(run), "--images",
                             str(k_photos(tmp_path, 3, 300))], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    deadline = time.monotonic() + 180
    for line in proc.stdout:
        seen.append(line)
        if "TEST: probe kept" in line or time.monotonic() > deadline:
            break
    assert "TEST: probe kept" in seen[-1], "".join(seen[-10:])
    proc.send_signal(signal.SIGKILL)  # the process is asleep between its probe file and the journal record
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert len(list(store.probes.glob("*.npz"))) == 1  # the probe file was kept...
    assert committed_refits(run) == []  # ...but no refit is committed
    lines: list[str] = []
    cat = catalogue._open(run, lines.append)[4]  # the next command: the add is there, the probe as it was
    assert len(cat.images) == 3 and cat.probe_behind == 3 and "refit pending" in cat.summary()
    np.testing.assert_array_equal(cat.probe.coef_, before.probe.coef_)
    q = next(i for i in cat.all_images if i not in cat.data.train_image_ids)
    np.testing.assert_array_equal(cat.data.tags[q], before.data.tags[q])
    recs = pipeline.recommend(run, [f"new-{K}-300-0"], "km", 10, echo=QUIET)[0]  # answers are served meanwhile
    assert len(recs) == 10
    lines.clear()
    cat = catalogue.remove(run, songs=[cat.song_ids[0]], echo=lines.append)  # the next change refits it
    assert any("keyword probe: refitted on" in x for x in lines) and cat.probe_behind == 0
    assert [r["seen"] for r in committed_refits(run)] == [3]
    assert np.abs(cat.probe.coef_ - before.probe.coef_).max() > 1e-4


def test_live_edges_use_the_bridge_build_graph_recorded(run, monkeypatch):
    import graph.text.relatedness as relatedness
    from evaluation.stages.run_inputs import load_run_corpus, load_training_set
    from evaluation.stages.rundir import RunDir, Stage
    from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_KIND_BACKOFF, Bridge

    rd = RunDir(run)
    stage = rd.stage(Stage.BUILD_GRAPH)
    assert stage["params"]["sense_encoder"] is False  # build-graph records what its bridge used (the default)
    data, corpus = load_training_set(run), load_run_corpus(run)
    assert stage["params"]["edge_model"]["on"] is DEFAULT_EDGE_MODEL  # and whether the edge model dropped edges
    plain = catalogue.make_folder(rd, data, corpus, {}).edger.bridge
    assert plain.relatedness is None and plain.edge_model is DEFAULT_EDGE_MODEL
    assert stage["params"]["kind_backoff"] is DEFAULT_KIND_BACKOFF is plain.kind_backoff  # and the kind back-off's
    rd.record(Stage.BUILD_GRAPH, {**stage["params"], "kind_backoff": False}, stage["outputs"])  # --no-kind-backoff
    assert catalogue.make_folder(rd, data, corpus, {}).edger.bridge.kind_backoff is False
    old = {k: v for k, v in stage["params"].items() if k != "kind_backoff"}  # a run built before the record
    rd.record(Stage.BUILD_GRAPH, old, stage["outputs"])
    assert catalogue.make_folder(rd, data, corpus, {}).edger.bridge.kind_backoff is DEFAULT_KIND_BACKOFF
    rd.record(Stage.BUILD_GRAPH, {**stage["params"], "edge_model": {"on": False}}, stage["outputs"])  # --no-edge-model
    assert catalogue.make_folder(rd, data, corpus, {}).edger.bridge.edge_model is False
    calls, sentinel = [], Bridge(corpus.lexicon)
    monkeypatch.setattr(relatedness, "encoder_bridge",
                        lambda c, echo, edge_model, kind_backoff, **_: calls.append((edge_model, kind_backoff))
                        or sentinel)
    rd.record(Stage.BUILD_GRAPH, {**stage["params"], "sense_encoder": True, "edge_model": {"on": False},
                                  "kind_backoff": False}, stage["outputs"])
    assert catalogue.make_folder(rd, data, corpus, {}).edger.bridge is sentinel and calls == [(False, False)]
    rd.record(Stage.BUILD_GRAPH, {**stage["params"], "sense_encoder": True}, stage["outputs"])
    assert catalogue.make_folder(rd, data, corpus, {}).edger.bridge is sentinel
    assert calls == [(False, False), (True, True)]


def test_a_damaged_probe_file_falls_back_to_the_one_before_and_the_next_change_refits(run):
    data = catalogue._open(run, QUIET)[4].data
    gone = sorted(data.train_image_ids)[:2]
    cat = catalogue.remove(run, images=gone[:1], echo=QUIET)
    [rec] = committed_refits(run)
    path = run / rec["file"]
    path.write_bytes(path.read_bytes()[:-40] + b"\0" * 40)  # the bytes the journal's sha256 names are gone
    lines: list[str] = []
    again = catalogue._open(run, lines.append)[4]
    assert any("missing or damaged" in x for x in lines), lines
    assert again.probe_behind == 1 and again.probe_seen == 0  # the run's trained probe, the removal not learnt
    assert np.abs(again.probe.coef_ - cat.probe.coef_).max() > 0
    cat = catalogue.remove(run, images=gone[1:], echo=QUIET)
    assert cat.probe_behind == 0 and [r["seen"] for r in committed_refits(run)] == [1, 2]


def test_served_photos_are_tagged_by_the_probe_refitted_in_the_background(run, tmp_path):
    """A real server: DELETE every training image of K, then POST photos of K; after each background refit a
    photo upload is tagged by the new probe (KM answers with songs holding K only once K is learnt again)."""
    from evaluation.bench.client import Client, start_server, stop_server
    from evaluation.stages.run_inputs import load_run_corpus, load_training_set

    data, corpus = load_training_set(run), load_run_corpus(run)
    forget = sorted(i for i in data.train_image_ids if K in data.image_keywords.get(i, {}))
    lyrics = {s.id: s.lyrics for s in corpus.songs}
    photo(tmp_path / "q.png", K, 9999)
    proc, url = start_server(run, ["--scorers", "km"], module="tests.serve_main", log=tmp_path / "server.log")
    try:
        c = Client(url)

        def km_holding_k() -> int:
            r = c.post("/recommend", [("scorer", "km"), ("k", "10")], [("image", "q.png",
                                                                         (tmp_path / "q.png").read_bytes())])
            assert r.status == 200, r.body
            return sum(K in lyrics[s["id"]] for s in r.json()["songs"])

        assert km_holding_k() == 10
        for i in forget:
            assert c.request("DELETE", f"/images/{i}").status == 200
        assert committed_probe_seen(run, len(forget), timeout=120) == len(forget)
        assert km_holding_k() < 10  # the served probe no longer says K for the photo
        for j in range(5):
            photo(tmp_path / f"a{j}.png", K, 500 + j)
            r = c.post("/images", [("id", f"again-{j}"), ("tags", TAGS[K]), ("kind", "photo")],
                       [("image", f"a{j}.png", (tmp_path / f"a{j}.png").read_bytes())])
            assert r.status == 201, r.body
        assert committed_probe_seen(run, len(forget) + 5, timeout=120) == len(forget) + 5
        assert km_holding_k() == 10
        c.close()
    finally:
        stop_server(proc)
