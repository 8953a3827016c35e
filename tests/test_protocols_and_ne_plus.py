"""Photo vs oracle protocol, the keyword probe, and the ne+ scorer (issue: scorers told apart by the benchmark)."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from engine.features.probe import KeywordProbe, topk_accuracy
from engine.features.table import FeatureTable
from engine.scorers.base import Query, Recommendation, Scorer, register_scorer
from engine.scorers.ne import NEScorer
from engine.scorers.ne_plus import NEPlusScorer, is_flat
from evaluation.stages.pipeline import train_keyword_probe
from evaluation.stages.protocol import evaluate_run
from evaluation.stages.run_inputs import load_training_set
from graph.common.errors import Img2SongError
from tests.scorer_contract import QUERY, ScorerContract, make_run, tiny_training_set


@register_scorer("test-keyword-spy")
class KeywordSpy(Scorer):
    """Raises when it is handed a query's keywords; fit checks that no query image reached the training set."""

    def fit(self, data):
        leaked = set(QUERY) & (set(data.train_image_ids) | set(data.image_keywords))
        if leaked:
            raise AssertionError(f"query images in the training set: {leaked}")
        self.songs_ = [s.id for s in data.corpus.songs]
        return self

    def recommend(self, query, k=10):
        if query.keywords:
            raise Img2SongError(f"read the keywords of image {query.image_id}")
        return [Recommendation(s, 1.0 / (j + 1), "first songs") for j, s in enumerate(self.songs_[:k])]


def test_photo_protocol_never_hands_a_scorer_the_query_keywords(tmp_path):
    run = make_run(tmp_path)
    rep = evaluate_run(run, scorers=("test-keyword-spy", "km"), cache_dir=tmp_path / "cn", n_boot=20,
                       progress=False, protocols=("photo",))
    assert rep.meta["queries_evaluated"] == len(QUERY) and not rep.meta["scorer_skips"]
    # the same spy under the oracle protocol reads them on every query: the check itself can fail
    rep = evaluate_run(run, scorers=("test-keyword-spy",), cache_dir=tmp_path / "cn", n_boot=20, progress=False,
                       protocols=("oracle",), write=False)
    assert sum(rep.meta["scorer_skips"]["oracle"]["test-keyword-spy"].values()) == len(QUERY)


def test_report_carries_both_protocols(tmp_path):
    run = make_run(tmp_path)
    evaluate_run(run, scorers=("ne", "km", "pop"), cache_dir=tmp_path / "cn", n_boot=20, progress=False)
    doc = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert set(doc["protocols"]) == {"photo", "oracle"} and doc["scorers_protocol"] == "photo"
    assert doc["scorers"] == doc["protocols"]["photo"]["scorers"]
    assert set(doc["protocols"]["oracle"]["scorers"]["km"]["hit_rate@10"]) == {"0", "5", "10", "50", "100"}
    assert doc["protocols"]["oracle"]["scorers"]["km"]["hit_rate@10"]["0"] == 1.0  # handed the keyword
    assert "ne_vs_pop" in doc["protocols"]["photo"]["paired_tests"]
    rows = [json.loads(ln) for ln in (run / "per_query.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["protocol"] for r in rows} == {"photo", "oracle"}
    assert all(r["keywords"] for r in rows)  # the metric knows them; the photo queries did not carry them
    md = (run / "report.md").read_text(encoding="utf-8")
    assert "## Protocol `photo`" in md and "## Protocol `oracle`" in md


def test_probe_beats_chance_on_a_separable_set():
    rng = np.random.default_rng(0)
    n, d, v = 300, 20, 6
    centres = rng.normal(size=(v, d)) * 3
    label = rng.integers(0, v, n)
    x = centres[label] + rng.normal(size=(n, d))
    y = np.eye(v)[label]
    probe = KeywordProbe(seed=0).fit(x[:200], y[:200])
    p = probe.predict_proba(x[200:])
    assert np.allclose(p.sum(1), 1, atol=1e-5)
    acc = topk_accuracy(p, [{int(t)} for t in label[200:]], 1)
    assert acc > 0.9 > 1.0 / v
    oof = probe.cross_val_predict(x[:200], y[:200])
    assert topk_accuracy(oof, [{int(t)} for t in label[:200]], 1) > 0.8
    assert probe.validation_["top1"] > 0.8 and probe.temperature_ > 0


def test_probe_on_noise_stays_near_chance_and_calibrated():
    rng = np.random.default_rng(1)
    x, label = rng.normal(size=(200, 10)), rng.integers(0, 4, 200)
    probe = KeywordProbe(seed=0).fit(x[:150], np.eye(4)[label[:150]])
    p = probe.predict_proba(x[150:])
    assert p.max(1).mean() < 0.6  # calibrated: no confident guesses on noise


def test_probe_round_trips(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(40, 5)), np.eye(3)[rng.integers(0, 3, 40)]
    probe = KeywordProbe(seed=0, vocabulary=["a", "b", "c"]).fit(x, y)
    back = KeywordProbe.load(probe.save(tmp_path / "p.npz"))
    assert np.array_equal(back.predict_proba(x), probe.predict_proba(x)) and back.vocabulary == ["a", "b", "c"]
    with pytest.raises(Img2SongError, match="dimension"):
        back.predict_proba(np.zeros((1, 4)))


def test_probe_stage_feeds_the_training_set_with_out_of_fold_rows(tmp_path):
    run = make_run(tmp_path)
    res = train_keyword_probe(run)
    assert res["training_images"] == 6
    ts = load_training_set(run)
    assert ts.tag_source == "keyword-probe"
    probs = FeatureTable.load(run / "features" / "keyword_probs.npz")
    assert sorted(probs.meta["out_of_fold"]) == sorted(ts.train_image_ids)
    assert all(q in ts.tags for q in QUERY)


def test_is_flat():
    assert is_flat(np.full(10, 0.1), 1.0) and not is_flat(np.eye(10)[3], 1.0) and is_flat(np.zeros(5), 1.0)


def test_ne_plus_falls_back_to_ne_when_the_prediction_is_flat(tmp_path):
    data = tiny_training_set(tmp_path)
    flat = FeatureTable(list(data.tags.ids), np.full(data.tags.matrix.shape, 1.0 / data.tags.dim, np.float32),
                        dict(data.tags.meta))
    data = replace(data, tags=flat)
    plus, ne = NEPlusScorer(n_images=2, alphas=(0.5,), val_fraction=0.5).fit(data), NEScorer(n_images=2).fit(data)
    assert plus.alpha_ == 0.5  # only candidate; the flat prediction must still leave NE's answer untouched
    for q in QUERY:
        query = Query(image_id=q, features=data.features[q], tag_probs=flat[q])
        assert [r.song_id for r in plus.recommend(query, 5)] == [r.song_id for r in ne.recommend(query, 5)]


class _QueryGuard(FeatureTable):
    def __contains__(self, image_id):
        if image_id in QUERY:
            raise AssertionError(f"fit looked at query image {image_id}")
        return super().__contains__(image_id)

    def __getitem__(self, image_id):
        if image_id in QUERY:
            raise AssertionError(f"fit looked at query image {image_id}")
        return super().__getitem__(image_id)


def test_ne_plus_chooses_alpha_without_touching_query_images(tmp_path):
    data = tiny_training_set(tmp_path)
    guarded = replace(data, tags=_QueryGuard(list(data.tags.ids), data.tags.matrix, dict(data.tags.meta)),
                      features=_QueryGuard(list(data.features.ids), data.features.matrix, dict(data.features.meta)))
    plus = NEPlusScorer(n_images=2, val_fraction=0.5).fit(guarded)
    assert str(plus.alpha_) in plus.validation_["by_alpha"]
    assert plus.validation_["images"] == 3


def test_ne_plus_follows_a_confident_prediction(tmp_path):
    """With a confident prediction of 花 and alpha 1, the songs are those whose NE vectors are nearest to the
    flower images' centroid: the keyword path alone."""
    data = tiny_training_set(tmp_path)
    plus = NEPlusScorer(n_images=2, alphas=(1.0,), val_fraction=0.5).fit(data)
    p = np.zeros(data.tags.dim, np.float32)
    p[data.tag_vocab.index("花")] = 1.0
    recs = plus.recommend(Query(image_id="q2", features=data.features["q2"], tag_probs=p), 3)
    c = plus.centroids_[data.tag_vocab.index("花")]
    order = np.argsort(((plus.song_vectors_ - c) ** 2).sum(1), kind="stable")[:3]
    assert [r.song_id for r in recs] == [plus.song_ids_[j] for j in order]
    assert "predicted keywords 花 (1.00)" in recs[0].explanation


class TestNEPlusContract(ScorerContract):
    name = "ne+"


def test_report_splits_query_figures_by_image_kind(tmp_path):
    """Query images' kinds come from the corpus (the scorers' view holds training images only)."""
    run = make_run(tmp_path)
    images = tmp_path / "corpus" / "images.jsonl"
    rows = [json.loads(ln) for ln in images.read_text(encoding="utf-8").splitlines()]
    for j, r in enumerate(rows):
        r["kind"] = "photo" if j % 2 else "drawing"
    images.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    rep = evaluate_run(run, scorers=("km", "pop"), cache_dir=tmp_path / "cn", n_boot=20, progress=False,
                       protocols=("photo",), write=False)
    by_kind = rep.meta["by_kind"]
    want = {"photo" if j % 2 else "drawing" for j, r in enumerate(rows) if r["id"] in QUERY}
    assert set(by_kind) == want
    assert sum(v["queries"] for v in by_kind.values()) == len(QUERY)
