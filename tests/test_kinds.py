"""The kind back-off (graph.kinds): an image nothing else links reaches the keywords of its tags' nearest kinds."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import graph.kinds
from graph.bridge import DEFAULT_KIND_BACKOFF, Bridge
from graph.captions import image_keywords
from graph.kinds import KIND_MAX_SPAN, KIND_WEIGHT, kind_reach, span
from graph.records import Image
from graph.senses import EDGE_THRESHOLD
from tests.bridge_fixtures import SENSE_LABELS, read_sense_labels
from tests.option_runs import builds_per_flag, help_line, keywords_per_flag, switch_corpus, tagged_rows


@pytest.fixture(scope="module")
def real() -> Bridge:
    """The bridge's drawing rules alone: graph.edge_model's drop on top of them is tested in tests/test_edge_model.py
    (and its effect on fresh13 in tests/test_bridge.py)."""
    return Bridge(edge_model=False)


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
    assert image_keywords(tagged("penguin"), real, vocab)[0] == {"鸟": KIND_WEIGHT}  # the bridge's setting: on
    off = Bridge(edge_model=False, kind_backoff=False)
    assert not off.kind_backoff and not image_keywords(tagged("penguin"), off, vocab)[0]
    assert image_keywords(tagged("penguin"), off, vocab, kinds=True)[0] == {"鸟": KIND_WEIGHT}  # kinds= overrides
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
    from graph.text.relatedness import E5Relatedness

    edges = [e for e in read_sense_labels() if e.split == "kinds1"]
    bridge = Bridge(relatedness=E5Relatedness(), edge_model=False)
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


def test_kind_edges_of_the_encoder_bridge_on_kinds1(encoded, capsys):
    """kinds1 (tests/fixtures/sense_labels.tsv, header): 65 edges of the back-off alone with the encoder bridge
    (--sense-encoder), labelled blind: 0.400 as drawn (starter 8/40: 26 are 境界 'realm' for a map's coastline).
    Tuning data since session 9 (branch kinds9), whose rules keep 27 of them at 0.704 (28 at 0.714 since session 10:
    peanuts -> 果)."""
    counts = kind_sample_counts("kinds1", ("starter", "yuanqu"), encoded, capsys)
    # session 8's back-off drew [37, 25] (0.403; session 7 had dropped [2, 1]); session 9's rules drop 29 wrong
    # and 6 more right:
    # - caption first: the 26 境界 'realm' edges (the English caption 'Australian Maps' names no kind; 'coastline', a
    #   tag, was walked before), 2 器 of jigsaw pattern swatches, 1 书 of a folder; and 4 right 果 of juice boxes
    #   (the caption 'Apple Juice Box' is a box);
    # - 星 'star' first names a star: a ringed planet is no star; peanuts read as the food; a card is made of paper.
    # session 10 (branch kinds10) draws 1 right edge again: peanuts -> edible nut -> nut -> seed -> fruit -> 果, as a
    # word filed first as the seed and then as the plant (both noun.plant) now reads as the food (kinds.commonest)
    assert counts["all"] == [8, 20] and counts["starter"] == [1, 4] and counts["yuanqu"] == [7, 16]
    assert counts["dropped"] == [31, 6]
    # still below the encoder build's own edges (fresh5, 0.742): the encoder build's 食用 'edible' for bread (6)
    assert counts["all"][1] / sum(counts["all"]) < build_precision("fresh5")


def test_kind_edges_of_the_default_bridge_on_kinds2(real, capsys):
    """kinds2 (sense_labels.tsv header): EVERY edge the back-off added with the default bridge against session 6's
    default selection, 59, labelled blind: 0.847. Tuning data since session 9: its rules keep 53 at 0.906."""
    counts = kind_sample_counts("kinds2", ("yuanqu", "named"), real, capsys)
    # session 8: [9, 49] (popcorn -> 粮食 dropped by session 7); session 9 drops 4 wrong and 1 more right:
    # mango and peach -> 树 (a fruit named alone is the fruit: they reach 果 now, which is not a labelled edge),
    # push pin and round push pin -> 饰 (read as WordNet's closed 'pushpin', not the jewelry pin); Planet -> 星 (1 right)
    assert counts["all"] == [5, 48] and counts["named"] == [3, 40] and counts["yuanqu"] == [2, 8]
    assert counts["dropped"] == [4, 2]
    assert counts["all"][1] / sum(counts["all"]) >= build_precision("fresh12")  # 0.906 >= 0.852


def test_kind_edges_with_character_keywords_on_kinds3(real, capsys):
    """kinds3 (sense_labels.tsv): EVERY edge the back-off added in session 7's default build with character
    candidates (车 鸟 轮 棍), 76, labelled blind: 0.447 (ships, balloons and aircraft -> 车, Tux -> tuxedo -> 衣衫).
    Tuning data since session 9, whose rules keep 53 at 0.585: the families left are Tux -> 衣衫 (6), garments ->
    衫 'garment' (4: jeans, necktie, bow tie, sweater), bread -> 食用 'food product; edible' (4), a scuba tank and a
    skateboard -> 车 (3), a pin -> 饰 (2), none of which the default builds of session 9 draw more than twice
    (README, kind back-off)."""
    counts = kind_sample_counts("kinds3", ("starter", "yuanqu", "named"), real, capsys)
    # session 8: [41, 34] (a rocket -> 车 dropped by session 7); session 9 drops 20 wrong and 3 right:
    # - 车 'car; vehicle' first names a car, a wheeled vehicle: 13 ships, boats, aircraft, balloons and a sled;
    # - kinds are things (THING_FILES): 4 媒 of radio, television and newspapers, 书 and 册 of a directory;
    # - roasted sweet potato is read as 'sweet potato' (-> 菜, kept), not potato -> starches -> 食用 (1 wrong);
    # - caption first: a Tux drawing captioned 'tux' no longer reaches 鸟 through its 'penguin' tag (3 right).
    assert counts["all"] == [22, 31] and counts["starter"] == [4, 0] and counts["yuanqu"] == [9, 27]
    assert counts["named"] == [9, 4] and counts["dropped"] == [20, 3]


def test_the_back_off_is_on_by_default(real):
    """On since session 9 (graph.bridge.DEFAULT_KIND_BACKOFF): its rules lifted every labelled split (kinds1 0.400 -> 0.704,
    kinds2 0.847 -> 0.906, kinds3 0.447 -> 0.585, all tuning data now), and in the default builds of session 9 it
    draws few edges, mostly right by the header's rule (README: starter 0, english 2/2, emoji 元曲 47/56, third
    catalogue 24/34, photos named one by one 36/37; labelled by the engineer who wrote the rules, not blind)."""
    empty = SimpleNamespace(lexicon={}, songs=[])  # Bridge.for_corpus passes the setting on; its default is on
    assert DEFAULT_KIND_BACKOFF and real.kind_backoff and Bridge.for_corpus(empty).kind_backoff
    assert not Bridge.for_corpus(empty, kind_backoff=False).kind_backoff
    assert not hasattr(graph.kinds, "KIND_BACKOFF")  # a Bridge setting (--kind-backoff), no settable module global
    # the issue's photos named one by one: a lark reaches 鸟 through the default image_keywords, a ship reaches no 车
    vocab = frozenset({"鸟", "车", "兽"})
    assert image_keywords(tagged("lark"), real, vocab)[0] == {"鸟": KIND_WEIGHT}
    assert not image_keywords(tagged("ship"), real, vocab)[0]


# ---------------------------------------------------------------- the --kind-backoff/--no-kind-backoff option
def hornet_corpus(root: Path) -> Path:
    """Three images tagged only 'hornet' (no sense of the word reaches 虫 'insect; worm' within the bridge's own
    KIND_STEPS: only the back-off's walk hornet -> ... -> insect does) and four horses; six songs sing of a 虫, six
    of a 马. (The issue's kingfisher is reached by the bridge itself now, and 鸟 is on the stoplist.)"""
    images = tagged_rows("hornet", 3, tags=["hornet"]) + tagged_rows("horse", 4, tags=["horse"])
    return switch_corpus(root, ("一只虫。", "一匹马。"), images, ["虫", "马"])


def test_no_kind_backoff_on_keywords_and_build_graph_drops_the_kind_edge(tmp_path, capsys):
    """`img2song keywords` and `build-graph` with --no-kind-backoff draw no kind edge: the hornets, which reach
    虫 only through WordNet's insect, lose it (虫 is not selected, not linked), keywords.txt's header and the printed
    lines say the back-off is off, and run.json records kind_backoff false; the default draws and records it."""
    root = hornet_corpus(tmp_path / "c")
    flags = ("--kind-backoff", "--no-kind-backoff")
    (on_words, on_head, on_out), (off_words, off_head, off_out) = keywords_per_flag(root, tmp_path, flags,
                                                                                    capsys).values()
    assert (on_words, off_words) == (["马", "虫"], ["马"])
    assert "kind back-off" not in on_head and "kind back-off off (--no-kind-backoff)" in off_head
    assert "kind back-off (graph/kinds.py): an image whose texts reach no keyword reaches" in on_out
    assert "kind back-off: off (--no-kind-backoff)" in off_out and "kind back-off (graph/kinds.py)" not in off_out

    (p_on, kw_on, out_on), (p_off, kw_off, out_off) = builds_per_flag(root, tmp_path, flags, capsys).values()
    assert p_on["kind_backoff"] is True and p_off["kind_backoff"] is False
    assert p_on["edge_model"] == p_off["edge_model"]  # the other setting untouched
    assert all(kw_on[f"hornet{k}"] == ["虫"] for k in range(3)) and not any(i.startswith("hornet") for i in kw_off)
    assert all(kw_on[f"horse{k}"] == kw_off[f"horse{k}"] == ["马"] for k in range(4))
    assert "kind back-off (graph/kinds.py)" in out_on and "kind back-off: off (--no-kind-backoff)" in out_off


def test_the_kind_backoff_option_is_in_the_help_and_the_bridge_command(tmp_path, capsys):
    """keywords, build-graph and bridge each show the option, what it does and its default in --help; `bridge
    hornet --corpus` says what the back-off draws for a word reaching none of the corpus's keywords (and the edge
    model's verdict), and that --no-kind-backoff draws nothing."""
    from evaluation.app.cli import main

    for command in ("keywords", "build-graph", "bridge"):
        out = help_line(command, capsys)
        assert "--kind-backoff" in out and "--no-kind-backoff" in out, command
        assert "nearest WordNet kind" in out and "default: kind-backoff" in out, command
    root = hornet_corpus(tmp_path / "c")
    for flag, want in (("--kind-backoff", "kind back-off: 虫 via hornet (kind: hornet -> vespid -> wasp -> "
                                          "hymenopterous insect -> insect), edge model P(right) "),
                       ("--no-kind-backoff", "kind back-off: off (--no-kind-backoff): an image tagged only "
                                             "'hornet' gets no edge")):
        assert main(["bridge", "hornet", "--corpus", str(root), "--no-encoder", flag]) == 0
        assert want in capsys.readouterr().out, flag


def test_a_live_add_links_new_images_with_the_runs_kind_backoff(tmp_path, live_base):
    """The live catalogue links an added photo as build-graph linked the run's own images: on the default run a
    photo tagged 'kayak' reaches 船 through its kind (kayak -> canoe -> small boat -> boat) and is added; on a run
    built with --no-kind-backoff the same photo reaches no keyword and is refused, nothing written."""
    import shutil

    from evaluation.stages import catalogue
    from evaluation.stages.catalogue_journal import CatalogueStore
    from evaluation.stages.rundir import RunDir, Stage
    from graph.common.errors import Img2SongError
    from tests.live_run import make_live_run, photo

    photo(tmp_path / "kayak.png", "船", 4712)
    rows = tmp_path / "i.jsonl"
    rows.write_text(json.dumps({"id": "kayak-photo", "file": "kayak.png", "tags": ["kayak"]}) + "\n",
                    encoding="utf-8")
    quiet = lambda _: None  # noqa: E731

    run = make_live_run(tmp_path / "off", ("ne",), kind_backoff=False)  # build-graph --no-kind-backoff, train, ...
    assert RunDir(run).stage(Stage.BUILD_GRAPH)["params"]["kind_backoff"] is False
    with pytest.raises(Img2SongError, match="'kayak-photo': fields 'tags' / 'caption' reach none of the run's"):
        catalogue.add(run, images=rows, echo=quiet, progress=False)
    assert not CatalogueStore(run).exists() or "kayak-photo" not in CatalogueStore(run).journal.read_text()

    default = Path(shutil.copytree(live_base, tmp_path / "default" / "run", symlinks=True))
    assert RunDir(default).stage(Stage.BUILD_GRAPH)["params"]["kind_backoff"] is True
    lines: list[str] = []
    cat = catalogue.add(default, images=rows, echo=lines.append, progress=False)
    assert any("committed 1 addition(s)" in x for x in lines) and "kayak-photo" in cat.known_images
    journal = [json.loads(line) for line in CatalogueStore(default).journal.read_text(encoding="utf-8").splitlines()]
    added = [r["data"] for r in journal if r["kind"] == "image"]
    assert [(d["image"]["id"], d["keywords"]) for d in added] == [("kayak-photo", {"船": KIND_WEIGHT})]


def test_a_run_without_the_record_links_with_the_default():
    """A run built before the record (session 11) says nothing of the back-off: the live catalogue uses the default."""
    from evaluation.stages.catalogue import built_kind_backoff

    assert built_kind_backoff({}) is DEFAULT_KIND_BACKOFF
    assert built_kind_backoff({"kind_backoff": False}) is False and built_kind_backoff({"kind_backoff": True}) is True
