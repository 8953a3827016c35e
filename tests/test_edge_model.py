"""The edge model (graph.edge_model): the shipped coefficients are what the trainer gives, the committed feature
table is what today's bridge computes, P behaves as a probability, and the drop happens in image_keywords."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from graph import edge_model
from graph.bridge import Bridge
from graph.captions import image_keywords, readable_image
from graph.corpus import load_corpus
from graph.edge_model import FEATURES, EdgeModel, edge_features, load_model
from graph.records import Image
from tests.bridge_fixtures import SENSE_LABELS, read_sense_labels

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
import train_edge_model as trainer  # noqa: E402

CHECKED_SPLITS = ("fresh12", "fresh13")  # the table rows recomputed here (the corpora in the repo: starter, english)


@pytest.fixture(scope="module")
def table():
    return trainer.read_table()


@pytest.fixture(scope="module")
def bridges() -> dict[str, Bridge]:
    return {c: Bridge.for_corpus(load_corpus(ROOT / "data" / c, check_files=False)) for c in ("starter", "english")}


def test_retraining_reproduces_the_shipped_model():
    """A changed feature table (a changed bridge) must come with a retrained graph/edge_model.json."""
    shipped = load_model()
    got = trainer.train(out=None, verbose=False)
    assert got.features == shipped.features == FEATURES
    for name in ("mean", "scale", "coef"):
        np.testing.assert_allclose(getattr(got, name), getattr(shipped, name), rtol=0, atol=1e-6, err_msg=name)
    assert got.bias == pytest.approx(shipped.bias, abs=1e-6) and got.threshold == shipped.threshold


def test_feature_table_is_what_the_bridge_computes(table, bridges):
    """The committed rows of fresh12 and fresh13's starter and English edges, recomputed with the model off: the
    same edges drawn, the same features (a bridge change that moves them must rerun the trainer)."""
    meta, x, _ = table
    rows = {(m["split"], m["corpus"], m["image"], m["keyword"]): x[i] for i, m in enumerate(meta)}
    checked = 0
    for e in read_sense_labels():
        if e.split not in CHECKED_SPLITS or e.corpus not in bridges:
            continue
        bridge = bridges[e.corpus]
        vocab = frozenset(SENSE_LABELS.with_name(f"sense_vocab_{e.split}_{e.corpus}.txt").read_text(
            encoding="utf-8").split())
        counts, why = image_keywords(e.image, bridge, vocab, model=False)
        key = (e.split, e.corpus, e.image.id, e.keyword)
        assert (e.keyword in why) == (key in rows), key
        if e.keyword in why:
            f = edge_features(readable_image(e.image, bridge), bridge, counts, {e.keyword: why[e.keyword]})
            np.testing.assert_allclose(f[e.keyword], rows[key], atol=2e-6, err_msg=str(key))
            checked += 1
    assert checked >= 250  # 100 + 50 fresh13 edges, 150 of fresh12's starter and English ones


def test_probability_is_in_unit_interval_and_rises_with_weight():
    model = load_model()
    rng = np.random.default_rng(7)
    x = rng.uniform(-2, 5, size=(2000, len(FEATURES)))
    p = model.proba(x)
    assert np.all((p >= 0) & (p <= 1)) and np.all(np.isfinite(p))
    # the weight per text is meant to make an edge surer, all else equal (its coefficient is fitted, not forced)
    w = FEATURES.index("weight")
    assert model.coef[w] > 0
    lo, hi = x.copy(), x.copy()
    lo[:, w], hi[:, w] = 0.6, 1.0
    assert np.all(model.proba(hi) > model.proba(lo))


# fresh13 edges of the starter with the shipped model: wrong ones it drops (a map's region name -> 城市 'city', a
# robot -> 枪 'gun') and right ones it keeps
KNOWN = [("oca-geography-rios-de-espana-01", "城市", False), ("oca-electronics-saku-robot-anton-yu-01", "枪", False),
         ("bg-tuxpaint-template-sheep", "羊", True), ("tux-animals-birds-ostrich", "鸟", True)]


@pytest.mark.parametrize("image_id, keyword, kept", KNOWN)
def test_known_edges_dropped_and_kept(bridges, image_id, keyword, kept):
    e = next(e for e in read_sense_labels() if e.split == "fresh13" and e.image.id == image_id
             and e.keyword == keyword)
    vocab = frozenset({keyword})
    assert keyword in image_keywords(e.image, bridges["starter"], vocab, model=False)[0]  # the bridge draws it
    probs: dict[str, float] = {}
    got = image_keywords(e.image, bridges["starter"], vocab, model=True, probs=probs)[0]
    assert (keyword in got) == kept
    assert (keyword in probs) == kept and all(p >= load_model().threshold for p in probs.values())


def test_the_switch_turns_the_drop_off(bridges, monkeypatch):
    e = next(e for e in read_sense_labels() if e.image.id == KNOWN[0][0])
    vocab = frozenset({KNOWN[0][1]})
    monkeypatch.setattr(edge_model, "EDGE_MODEL", False)
    assert KNOWN[0][1] in image_keywords(e.image, bridges["starter"], vocab)[0]
    monkeypatch.setattr(edge_model, "EDGE_MODEL", True)
    assert KNOWN[0][1] not in image_keywords(e.image, bridges["starter"], vocab)[0]


def test_a_stale_or_broken_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "edge_model.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="edge_model.json: not an edge model"):
        load_model(bad)
    stale = EdgeModel(("weight",), np.zeros(1), np.ones(1), np.zeros(1), 0.0, 0.5)
    bad.write_text(json.dumps(stale.to_json()), encoding="utf-8")
    with pytest.raises(ValueError, match="differ from graph.edge_model.FEATURES"):
        load_model(bad)


def test_threshold_choice_follows_the_protocol():
    rows = [(0.5, 0.86, 1.0, 1.0), (0.6, 0.90, 0.9, 0.95), (0.7, 0.93, 0.8, 0.88), (0.8, 0.95, 0.6, 0.7)]
    assert trainer.choose_threshold(rows) == 0.7  # the lowest reaching the target precision, keeping >= 85% right
    rows = [(0.5, 0.86, 1.0, 1.0), (0.6, 0.90, 0.9, 0.95), (0.7, 0.91, 0.8, 0.86), (0.8, 0.95, 0.6, 0.7)]
    assert trainer.choose_threshold(rows) == 0.7  # none reaches it: the most precise that keeps 85% of right edges
    assert trainer.wilson(141, 164) == pytest.approx((0.798, 0.905), abs=1e-3)


def test_an_edge_the_corpus_lexicon_declares_is_never_dropped(tiny_corpus_dir):
    """tests/conftest.py's tiny corpus declares river -> 江 in lexicon.tsv: the model (trained on corpora without a
    lexicon) would give that edge of 'river' + caption 江上的船 about 0.76, below its threshold; a declaration is kept."""
    corpus = load_corpus(tiny_corpus_dir)
    bridge = Bridge.for_corpus(corpus)
    image = next(i for i in corpus.images if i.id == "i5")
    probs: dict[str, float] = {}
    counts, _ = image_keywords(image, bridge, frozenset(corpus.keywords), probs=probs)
    assert counts == {"江": 2.0, "船": 2.0} and probs == {"江": 1.0, "船": 1.0}
    counts, why = image_keywords(image, bridge, frozenset(corpus.keywords), model=False)
    raw = load_model().proba(edge_features(readable_image(image, bridge), bridge, counts, why)["江"][None])[0]
    assert raw < load_model().threshold  # what the model alone says: the exemption is what keeps it


def test_an_edge_a_chinese_tag_reaches_is_never_dropped():
    """A Chinese-tagged image (a user's own labels, no translation) keeps the edge its tag reaches: the model, trained
    on corpora with English tags, gives the untranslated edge about 0.7, below its threshold, and would drop most of
    a Chinese-tagged catalogue's edges; an English-tagged image's translated edge is still judged."""
    bridge = Bridge({})
    zh = Image("z", "z.jpg", tags=("月亮",), caption="", language="zh", tag_language="zh")
    probs: dict[str, float] = {}
    assert image_keywords(zh, bridge, frozenset({"月亮"}), probs=probs)[0] == {"月亮": 1.0} and probs == {"月亮": 1.0}
    counts, why = image_keywords(zh, bridge, frozenset({"月亮"}), model=False)
    raw = load_model().proba(edge_features(readable_image(zh, bridge), bridge, counts, why)["月亮"][None])[0]
    assert raw < load_model().threshold  # the exemption is what keeps it
    both = Image("b", "b.jpg", tags=("湖",), caption="a lake", language="en", tag_language="zh")
    assert set(image_keywords(both, bridge, frozenset({"湖"}))[0]) == {"湖"}  # the tag reaches it too: kept
    pine = Image("p", "p.jpg", tags=("pine",), caption="", language="en", tag_language="en")
    assert "针叶树" not in image_keywords(pine, bridge, frozenset({"松", "针叶树"}))[0]  # English: judged (P 0.77)


def test_a_keyword_that_is_the_whole_chinese_caption_is_never_dropped():
    """A stamp captioned '鹿。' and tagged 'deer' shows 鹿: the caption names the keyword whole, so the model, which
    only sees that a Chinese text reached the word (0.75 for this edge on the real dictionary, under the
    threshold), does not judge it; a caption that merely contains the keyword is still judged."""
    bridge = Bridge.for_corpus(load_corpus(ROOT / "data" / "starter", check_files=False))
    deer = Image("d", "d.jpg", tags=("animal", "mammal", "deer"), caption="鹿。", language="zh", tag_language="en")
    counts, why = image_keywords(deer, bridge, frozenset({"鹿"}), model=False)
    assert set(why) == {"鹿"} and set(why["鹿"]) == {"鹿。", "deer"}
    feats = edge_features(readable_image(deer, bridge), bridge, counts, why)
    assert load_model().proba(feats["鹿"][None])[0] < load_model().threshold  # the exemption is what keeps it
    probs: dict[str, float] = {}
    assert set(image_keywords(deer, bridge, frozenset({"鹿"}), probs=probs)[0]) == {"鹿"} and probs == {"鹿": 1.0}
    longer = Image("e", "e.jpg", tags=("animal", "mammal", "deer"), caption="一头鹿在吃草。", language="zh",
                   tag_language="en")
    assert "鹿" in image_keywords(longer, bridge, frozenset({"鹿"}), model=False)[1]  # drawn: the model judges it
    got: dict[str, float] = {}
    image_keywords(longer, bridge, frozenset({"鹿"}), probs=got)
    assert got.get("鹿", 0.0) < 1.0  # judged by the model (kept or not), not declared


def test_a_build_records_the_edge_model_it_ran_with(tiny_corpus_dir, monkeypatch):
    """build_network's params (the run manifest's build-graph entry) say whether the model dropped edges, at which
    threshold, and which coefficients file (its SHA-256): a run is reproducible and says what it measured."""
    import hashlib

    from graph.build import build_network

    corpus = load_corpus(tiny_corpus_dir)
    em = build_network(corpus, progress=False).params["edge_model"]
    assert em == {"on": True, "threshold": load_model().threshold,
                  "sha256": hashlib.sha256(edge_model.MODEL_FILE.read_bytes()).hexdigest()}
    monkeypatch.setattr(edge_model, "EDGE_MODEL", False)
    assert build_network(corpus, progress=False).params["edge_model"] == {"on": False}


def test_the_live_catalogue_warns_when_the_edge_model_changed_since_the_build(monkeypatch):
    """evaluation.stages.catalogue links new images with today's model: it says so when that is not the run's."""
    from evaluation.stages.catalogue import edge_model_drift

    now = edge_model.run_record()
    assert edge_model_drift({"edge_model": now}) is None and edge_model_drift({}) is None  # same, or a run before it
    other = dict(now, sha256="0" * 64)
    assert "build-graph ran with edge model" in edge_model_drift({"edge_model": other})
    monkeypatch.setattr(edge_model, "EDGE_MODEL", False)
    assert "'on': False" in edge_model_drift({"edge_model": now})
