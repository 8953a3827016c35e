"""The kind back-off (graph.kinds): an image nothing else links reaches the keywords of its tags' nearest kinds."""
from __future__ import annotations

import pytest

from graph.bridge import Bridge
from graph.captions import image_keywords
from graph.kinds import KIND_BACKOFF, KIND_MAX_SPAN, KIND_WEIGHT, kind_reach, span
from graph.records import Image
from graph.senses import EDGE_THRESHOLD
from tests.bridge_fixtures import SENSE_LABELS, read_sense_labels


@pytest.fixture(scope="module")
def real() -> Bridge:
    return Bridge()


def tagged(*tags: str) -> Image:
    return Image("x", "x.jpg", tags=tags, caption="", language="en", tag_language="en")


def test_a_tag_reaches_its_nearest_kind_and_no_further(real):
    counts, why = kind_reach(tagged("penguin"), real, frozenset({"鸟", "兽", "车"}))
    assert dict(counts) == {"鸟": KIND_WEIGHT}  # penguin -> ... -> aquatic bird -> bird: 4 steps
    assert "bird" in why["鸟"][0] and "penguin" in why["鸟"][0]
    # a taxi is a car (1 step): the walk stops there and does not go on to vehicle
    counts, why = kind_reach(tagged("taxi"), real, frozenset({"车", "鸟"}))
    assert set(counts) == {"车"} and why["车"] == ["taxi (kind: taxi -> car)"]
    # the weakest edge drawn: never above a direct edge, and still drawn
    assert KIND_WEIGHT == EDGE_THRESHOLD


def test_the_walk_stops_below_kingdoms_and_abstract_roots(real):
    wn = real.wordnet.wn
    animal, bird = wn.noun_senses("animal")[0], wn.noun_senses("bird")[0]
    assert span(wn, animal) > KIND_MAX_SPAN > span(wn, bird)  # 4,016 > 1,200 > 871
    # bird -> vertebrate -> chordate -> animal 'beast' -> 兽 is the error the issue names: the walk never gets there
    assert not kind_reach(tagged("bird"), real, frozenset({"兽"}))[0]
    assert not kind_reach(tagged("flamingo"), real, frozenset({"兽", "物", "东西"}))[0]


def test_only_commonest_physical_senses_and_commonest_sense_lemmas(real):
    # pink the colour (not the flower), two the number (not the playing card): the tag's commonest sense decides
    assert not kind_reach(tagged("pink"), real, frozenset({"朵", "花"}))[0]
    assert not kind_reach(tagged("two"), real, frozenset({"纸"}))[0]
    # a hypernym's lemma counts only where the hypernym is what the word first means: 'arms' is looked up as 'arm'
    assert not kind_reach(tagged("shell"), real, frozenset({"臂"}))[0]
    # an act has no picture: cooking -> change of state -> change reaches nothing
    assert not kind_reach(tagged("cooking"), real, frozenset({"变化"}))[0]


def test_an_english_vocabulary_is_reached_by_the_kind_itself(real):
    counts, _ = kind_reach(tagged("flamingo"), real, frozenset({"bird", "fish"}))
    assert set(counts) == {"bird"}


def test_image_keywords_backs_off_to_kinds_only_when_nothing_else_links(real):
    vocab = frozenset({"鸟", "雪"})
    assert image_keywords(tagged("penguin"), real, vocab, kinds=True)[0] == {"鸟": KIND_WEIGHT}
    assert not image_keywords(tagged("penguin"), real, vocab, kinds=False)[0]  # off: the old behaviour
    assert image_keywords(tagged("penguin"), real, vocab)[0] == ({"鸟": KIND_WEIGHT} if KIND_BACKOFF else {})
    # one tag that reaches a keyword directly: no kind edge is added for the other
    counts, _ = image_keywords(tagged("penguin", "snow"), real, vocab, kinds=True)
    assert "雪" in counts and "鸟" not in counts


# ---------------------------------------------------------------- precision of the back-off's own edges
def build_precision(split: str) -> float:
    """The blind precision of a build's own edges (a sample drawn from it whole: fresh9 the default build, fresh5
    the encoder bridge's): the bar a source of edges must reach to be on by default in that build."""
    labels = [e.label for e in read_sense_labels() if e.split == split]
    return sum(labels) / len(labels)


@pytest.fixture(scope="module")
def encoded() -> Bridge:
    """The bridge of build-graph and keywords with --sense-encoder: CC-CEDICT, WordNet and the encoder's relatedness."""
    from engine.text.relatedness import E5Relatedness

    edges = [e for e in read_sense_labels() if e.split == "kinds1"]
    bridge = Bridge(relatedness=E5Relatedness())
    bridge.prepare([e.image for e in edges])
    return bridge


def kind_sample_counts(split: str, corpora: tuple[str, ...], bridge: Bridge, capsys) -> dict[str, list[int]]:
    """corpus or 'all' -> [wrong, right] labels of a kinds split's edges, each checked to be an edge of the back-off
    alone: not drawn without it; 'dropped': those no longer drawn with it (session 7's sense rules, branch sense7,
    changed the bridge after the splits were drawn)."""
    edges = [e for e in read_sense_labels() if e.split == split]
    vocab = {c: frozenset(SENSE_LABELS.with_name(f"sense_vocab_{split}_{c}.txt").read_text(encoding="utf-8").split())
             for c in corpora}
    assert {e.corpus for e in edges} == set(corpora) and all(len(v) == 72 for v in vocab.values())
    counts: dict[str, list[int]] = {}
    for e in edges:
        assert not image_keywords(e.image, bridge, vocab[e.corpus], kinds=False)[0], "linked without the back-off"
        drawn = e.keyword in image_keywords(e.image, bridge, vocab[e.corpus], kinds=True)[0]
        for key in (e.corpus, "all") if drawn else ("dropped",):
            counts.setdefault(key, [0, 0])[e.label] += 1
    with capsys.disabled():
        print(f"\nprecision of the kind back-off's own edges, {split}:")
        for key, (wrong, right) in sorted(counts.items()):
            print(f"  {key:8s} edges {wrong + right:3d} precision {right / (wrong + right):.3f}")
    return counts


def test_kind_edges_on_a_blind_sample_decide_the_default(encoded, capsys):
    """kinds1 (tests/fixtures/sense_labels.tsv, header): 65 edges of the frozen back-off alone, drawn from the
    build of each corpus with the encoder bridge (--sense-encoder) and labelled blind by the header's rule. They
    are 0.40 precise (starter 8/40: 26 are 境界 'realm' for a map's coastline; 元曲 18/25), far below the encoder
    build's own edges (fresh5, 0.742): off with an encoder."""
    counts = kind_sample_counts("kinds1", ("starter", "yuanqu"), encoded, capsys)
    # 0.400 ([39, 26]) when drawn; session 7's sense rules dropped 2 wrong (宝 for a diamond pattern) and 1 right
    assert counts["all"] == [37, 25] and counts["starter"] == [30, 8] and counts["yuanqu"] == [7, 17]
    assert counts["dropped"] == [2, 1]
    assert round(build_precision("fresh5"), 3) == 0.742
    assert counts["all"][1] / sum(counts["all"]) < build_precision("fresh5") and not KIND_BACKOFF  # 0.400


def test_kind_edges_of_the_default_bridge_on_a_blind_sample(real, capsys):
    """kinds2 (sense_labels.tsv header): EVERY edge the back-off adds with the default bridge (no encoder) against
    the default selection on four corpora, 59 (the starter and data/english have none), labelled blind: 0.847
    (元曲/emoji 9/15; 元曲 with the starter's images named by caption 41/44), above the default build's own edges
    (fresh9, 0.708) against session 6's candidates; but see kinds3."""
    counts = kind_sample_counts("kinds2", ("yuanqu", "named"), real, capsys)
    # 0.847 ([9, 50]) when drawn; session 7's sense rules dropped popcorn -> 粮食 (right): 0.845
    assert counts["all"] == [9, 49] and counts["named"] == [3, 41] and counts["yuanqu"] == [6, 8]
    assert counts["dropped"] == [0, 1]
    assert round(build_precision("fresh9"), 3) == 0.708 and counts["all"][1] / sum(counts["all"]) >= 0.708


def test_kind_edges_with_character_keywords_decide_the_default(real, capsys):
    """kinds3 (sense_labels.tsv): EVERY edge the back-off adds in the default build once graph.vocabulary's
    character candidates are in (车 鸟 轮 棍 are candidates now, reached through vehicle, bird, wheel, stick): 76 on
    four corpora (english none), labelled blind: 0.447 (starter 3/7, 元曲/emoji 27/52, named 4/17; ships, balloons
    and aircraft -> 车, Tux -> tuxedo -> 衣衫), below the default build's own edges (fresh9, 0.708): the back-off
    stays off by default (graph.kinds.KIND_BACKOFF)."""
    counts = kind_sample_counts("kinds3", ("starter", "yuanqu", "named"), real, capsys)
    # 0.447 ([42, 34]) when drawn; session 7's sense rules dropped one wrong edge (a rocket -> 车): 0.453
    assert counts["all"] == [41, 34] and counts["starter"] == [4, 3] and counts["yuanqu"] == [24, 27]
    assert counts["named"] == [13, 4] and counts["dropped"] == [1, 0]
    assert counts["all"][1] / sum(counts["all"]) < build_precision("fresh9") and not KIND_BACKOFF  # 0.447: off
