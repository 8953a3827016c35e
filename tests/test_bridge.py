"""Bilingual bridge: exact gloss/headword matches both ways, no containment, sense filter, lexicon override."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from evaluation.app.cli import main
from graph import cedict_index as bridge_mod
from graph import edge_model
from graph.bridge import Bridge, image_reach, noun_phrases, parse_cedict, read_cedict_index
from graph.common.errors import CorpusError
from graph.records import Image
from graph.senses import EDGE_THRESHOLD, KIND_DECAY, bag
from tests.bridge_fixtures import SENSE_LABELS, read_sense_labels, sense_scores, write_mini_cedict

ROOT = Path(__file__).resolve().parents[1]
# splits that measure the default build (no text encoder) on corpora the encoder tests do not load
DEFAULT_BUILD_SPLITS = ("fresh12", "fresh13", "fresh14", "fresh15", "fresh16", "fresh17", "photos11")
FRESH5_FLOOR = 0.82  # fresh5 0.742 (89/120) when drawn; 0.847 (83/98) after sessions 6 and 7's rules
FRESH11_FLOOR = 0.74  # fresh11, the default build's edges after session 7: 0.722 (151/209) as drawn, 0.778 (151/194) now
# [wrong, right] edges of each default-build sample the final method still draws: fresh6 0.814, fresh7 0.784,
# fresh8 0.859, fresh9 0.760, fresh10 0.725 (0.664 as drawn), fresh11 0.722; fresh6-10 are tuning data now
DEFAULT_KEPT = {"fresh6": [15, 82], "fresh7": [17, 77], "fresh8": [11, 110], "fresh9": [17, 78],  # kinds9: back-off on,
                "fresh10": [33, 143], "fresh11": [40, 151]}  # sessions 9 and 10's sense rules (tests/test_sense_rules.py)


@pytest.fixture
def mini(tmp_path) -> Bridge:
    return Bridge(cedict=parse_cedict(write_mini_cedict(tmp_path / "cedict.txt")))


def targets(reach) -> set[str]:
    return {r.target for r in reach}


def test_english_reaches_chinese_by_exact_gloss_never_by_containment(mini):
    assert targets(mini.english_to_chinese("calorie")) == {"卡路里"}  # not 路 (inside 卡路里), not 卡 (abbr.)
    assert targets(mini.english_to_chinese("April")) == {"四月"}  # not 月
    assert targets(mini.english_to_chinese("road")) == {"路"}
    assert targets(mini.english_to_chinese("Plum Blossoms")) == {"梅花"}  # lemmatised phrase
    assert targets(mini.english_to_chinese("boats")) == {"船"}


def test_sense_filter(mini):
    assert targets(mini.english_to_chinese("moon")) == {"月"}  # 蟾's '(literary) the moon' is dropped
    assert targets(mini.chinese_to_english("路")) == {"road", "journey", "route"}  # 'surname Lu' dropped
    assert targets(mini.english_to_chinese("food")) == {"食"}
    assert mini.english_to_chinese("eclipse") == []  # past the first three senses
    assert mini.english_to_chinese("eat") == [] and mini.english_to_chinese("worry about") == []  # verbs
    assert targets(mini.english_to_chinese("willow")) == {"柳"}
    assert targets(mini.english_to_chinese("heart")) == {"心"}  # not 颗 ('classifier for ... hearts')
    assert "柳" not in {k for k, _, _ in mini.cedict.zh("栁")}  # 'old variant of' sense gives nothing


def test_chinese_tag_reaches_english_keyword_and_english_tag_chinese(mini):
    zh_tagged = Image("a", "a.png", tags=("船",), tag_language="zh")
    assert image_reach(zh_tagged, mini, {"boat", "horse"})[0] == {"boat": 1}
    en_tagged = Image("b", "b.png", tags=("plum blossom",), tag_language="en")
    counts, why = image_reach(en_tagged, mini, {"梅花", "花", "月"})
    # the whole phrase is 梅花's first sense; 'blossom' is 花's second sense: a weaker edge
    assert set(counts) == {"梅花", "花"} and counts["梅花"] == 1.0 and 0.6 <= counts["花"] < 1.0
    assert why["梅花"] == ["plum blossom"]


def test_tag_reaches_through_phrase_heads_not_modifiers(mini):
    assert noun_phrases("Sun behind a Cloud") == [["sun"], ["cloud"]]
    # what follows 'without' is absent and what follows 'for' is a purpose: neither is shown
    assert noun_phrases("face without mouth") == [["face"]]
    assert noun_phrases("recycling symbol for generic materials") == [["recycling", "symbol"]]
    assert noun_phrases("trigram for lake with a boat") == [["trigram"], ["boat"]]
    assert set(mini.english_reach("black boat", {"船", "黑"})) == {"船"}  # the head, not the modifier
    assert set(mini.english_reach("black", {"船", "黑"})) == {"黑"}
    assert set(mini.english_reach("a horse and a boat", {"船", "马"})) == {"马", "船"}
    # lyrics (phrase=False) count every content word
    assert set(mini.english_reach("black boat", {"船", "黑"}, phrase=False)) == {"船", "黑"}


def test_lexicon_overrides_and_extends(tmp_path):
    idx = parse_cedict(write_mini_cedict(tmp_path / "cedict.txt"))
    b = Bridge({"moon": ["月亮"], "sampan": ["船"]}, cedict=idx)
    moon = b.english_to_chinese("moon")
    assert targets(moon) == {"月亮"} and moon[0].rule == "lexicon.tsv"  # overrides CC-CEDICT's 月
    assert targets(b.english_to_chinese("sampan")) == {"船"}  # extends
    assert targets(b.english_to_chinese("horse")) == {"马", "馬"}  # the rest from CC-CEDICT (simplified + traditional)
    assert targets(b.chinese_to_english("船")) == {"sampan"}


def test_malformed_dictionary_line_names_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("月 月 [yue4] /moon/\nthis is not an entry\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.txt:2"):
        parse_cedict(p)


def test_parsed_index_is_cached_by_content_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("IMG2SONG_CACHE", str(tmp_path / "cache"))
    path = write_mini_cedict(tmp_path / "cedict.txt")
    first = read_cedict_index(path)
    cached = list((tmp_path / "cache" / "bridge").glob("cedict-*.pkl"))
    assert len(cached) == 1
    monkeypatch.setattr(bridge_mod, "parse_cedict", lambda p: pytest.fail("parsed again despite the cache"))
    assert read_cedict_index(path).en_packed == first.en_packed
    path.write_text(path.read_text(encoding="utf-8") + "雪 雪 [xue3] /snow/\n", encoding="utf-8")
    with pytest.raises(pytest.fail.Exception):  # new content, new hash: parsed again
        read_cedict_index(path)


def test_real_cedict_traps():
    b = Bridge()
    assert "月" in targets(b.english_to_chinese("moon")) and "moon" in targets(b.chinese_to_english("月"))
    assert "路" not in targets(b.english_to_chinese("calorie"))
    assert "卡" not in targets(b.english_to_chinese("calorie"))
    assert "月" not in targets(b.english_to_chinese("april"))
    assert "梅花" in targets(b.english_to_chinese("plum blossom"))


def test_bridge_cli_explains(capsys):
    assert main(["bridge", "calorie", "月", "--no-encoder"]) == 0
    out = capsys.readouterr().out
    assert "bridge relatedness: none given" in out
    assert "calorie: reaches 1 word(s) at weight >= 0.6: 卡路里" in out and "cedict sense" in out
    assert "月: reaches" in out and "moon" in out
    assert main(["bridge"]) == 2
    # with the encoder (the default): each kept candidate's why ends with its relatedness and factor
    assert main(["bridge", "vehicle", "--context", "boat trawler", "--limit", "3"]) == 0
    out = capsys.readouterr().out
    assert "bridge relatedness: multilingual-e5-small" in out
    kept = [line for line in out.splitlines() if line.startswith("  * ")]
    assert kept and all(re.search(r"relatedness [+-]\d\.\d{3} \(word .* x\d\.\d\d$", line) for line in kept)


def test_bridge_cli_shows_the_edge_models_verdict(capsys):
    """`img2song bridge` prints, under the drawn candidates, the edge model's P(right) of each edge and whether the
    build keeps it; the same P graph.captions.image_keywords thresholds (so kept/dropped agree with the build)."""
    from graph.captions import image_keywords

    assert main(["bridge", "pine", "--no-encoder", "--edge-model"]) == 0
    out = capsys.readouterr().out.splitlines()
    line = [x for x in out if x.startswith("  edge model P(right)")]
    assert len(line) == 1
    kept = {k for k, _ in re.findall(r"(\S+) (0\.\d\d)", line[0].split("; dropped")[0].split("kept ", 1)[1])}
    dropped = {k for k, _ in re.findall(r"(\S+) (0\.\d\d)", line[0].split("; dropped")[1])} if "; dropped" in line[0] else set()
    assert "松" in kept and kept.isdisjoint(dropped)
    # the encoder's two features of every judged edge, as graph.edge_model.related_features gives them
    related = [x for x in out if x.startswith("  text encoder's relatedness to 'pine'")]
    assert len(related) == 1
    shown = dict(re.findall(r"(\S+) word ([+-]\d\.\d{3}) gloss [+-]\d\.\d{3}", related[0]))
    assert set(shown) == kept | dropped
    assert float(shown["松"]) == pytest.approx(edge_model.related_features(Bridge({}), "pine", ["松"])[0][0], abs=5e-4)
    img = Image("p", "p.jpg", tags=("pine",), caption="", language="en", tag_language="en")
    built = set(image_keywords(img, Bridge({}), frozenset(kept | dropped))[0])
    assert built == kept  # the build keeps exactly the edges the command calls kept
    assert set(image_keywords(img, Bridge({}, edge_model=False), frozenset(kept | dropped))[0]) == kept | dropped
    assert main(["bridge", "pine", "--no-encoder", "--no-edge-model"]) == 0
    assert "  edge model: off (--no-edge-model): every edge drawn above is kept" in capsys.readouterr().out


def test_bridge_lexicon_lets_the_imagenet_tagger_reach_chinese_keywords(mini):
    from engine.features.tags import ImageNetTagger
    from graph.bridge import BridgeLexicon

    lex = BridgeLexicon(mini, ["船", "马", "卡路里"])
    assert lex.get("boat") == ["船"] and lex.get("calorie") == ["卡路里"] and lex.get("road") is None
    tagger = ImageNetTagger(["船", "马"], BridgeLexicon(mini, ["船", "马"]))
    assert set(tagger.covered_keywords) == {"船", "马"}  # canoe, gondola... -> boat -> 船; sorrel -> horse -> 马
    assert ImageNetTagger(["船", "马"], {}).covered_keywords == []  # without the bridge: nothing


# ---------------------------------------------------------------- senses and kinds (real CC-CEDICT and WordNet)
@pytest.fixture(scope="module")
def real() -> Bridge:
    """The bridge's drawing rules on the labelled samples as they were drawn: graph.edge_model's drop on top is
    tested in tests/test_edge_model.py and asked for explicitly (model=True) on fresh13 below."""
    return Bridge(edge_model=False)


def weight(bridge: Bridge, text: str, target: str, context: str = "") -> float:
    r = bridge.weighted_reach(text, bag(context)).get(target)
    return r.weight if r else 0.0


@pytest.mark.parametrize("tag, wrong, right", [
    ("nature", ["性", "质", "造化", "天生"], "自然"),
    ("person", ["民", "东西", "世人", "人头"], "人"),
    ("fish", ["鲜"], "鱼"),  # 鲜 only through 鱻, an old variant
    ("basketball court", ["朝廷"], "篮球场"),  # the compound fixes court's sense: a sports court
    ("statue of liberty", ["自由"], "自由女神像"),  # a name WordNet knows is not split into statue + liberty
    ("train tracks", ["踪"], "轨道"),
    ("memorial", ["呈"], None),  # 呈 is first a verb (to present to a superior); memorial its 2nd sense
])
def test_wrong_senses_of_the_issue_draw_no_edge(real, tag, wrong, right):
    for w in wrong:
        assert weight(real, tag, w) < EDGE_THRESHOLD, (tag, w)
    if right:
        assert weight(real, tag, right) >= EDGE_THRESHOLD, (tag, right)


def test_a_simplified_headword_through_a_merged_traditional_entry_means_its_own_entry(real):
    """誌 /sign/mark/ is written 志 in simplified text, whose own entry means aspiration: 志 is no sign; 云 (雲
    'cloud') keeps its edge, because its own entry's only sense is register-marked."""
    for tag in ("sign", "road sign", "mark"):
        r = real.weighted_reach(tag).get("志")
        assert r is None or (not r.kept and "merged into it" in r.why), (tag, r)
    assert real.weighted_reach("cloud")["云"].kept
    idx = real.cedict
    assert "志" in idx.own_nouns and "云" not in idx.own_nouns
    merged = {s.head: s.merged for s in idx.en_senses("sign")}
    assert merged["志"] and not merged["誌"]  # the traditional headword itself is not discounted


@pytest.mark.parametrize("tags, wrong, right", [
    # another meaning of 职 is duty, a synonym of the office that is a function: 职 is no office building
    (("office", "pencil"), "职", "办公室"),
    # a group sense (household as a family, party as a political party) is shown only by its members
    (("household", "dish", "cup"), "人家", "杯"),
    (("party", "balloon", "festive"), "党", "气球"),
    # a kind's candidate that does not fit the hypernym's sense: bottle -> vessel (a container), not 船 'ship'
    (("baby", "bottle"), "船", "瓶"),
])
def test_sense_rules_of_session_6(real, tags, wrong, right):
    img = Image("t", "t.png", tags=tags, tag_language="en")
    got = image_reach(img, real, frozenset({wrong, right}))[0]
    assert wrong not in got and right in got, got


@pytest.mark.parametrize("text, wrong, right", [
    # a kind's lemma counts only in its commonest sense: weapon's 'arm' is first the limb, male person's 'male' the
    # animal; kingfisher -> bird still reaches 鸟
    ("crossed swords", "臂", None), ("atomic bomb", "臂", None), ("man", "雄", None), ("kingfisher", None, "鸟"),
    # a compound WordNet names is one concept: a magnifying glass is a lens, no glass; a baseball cap no ball
    ("magnifying glass", "玻璃", "放大镜"), ("left-pointing magnifying glass", "玻璃", "放大镜"),
    ("baseball cap", "球", None),
    # a sense whose definition names the word (raccoon: the fur of the racoon) needs context to be chosen
    ("raccoon", "裘", None), ("beaver", "裘", None),
    # a later sense of a word whose other meanings name another sense of the tag (中心 /center/heart/core/)
    ("white heart", "中心", "心"),
    # a sense after the ones WordNet ranks by tagged frequency is not lifted for being a thing: kiss the act, not
    # the cookie; Easter the feast, not the east wind
    ("kiss", "饼", None), ("easter", "天气", None), ("cat", "大人", "猫"),
    # a made thing's material hypernym is not its kind: a card is no 纸; paper itself is
    ("card", "纸", None), ("playing card", "纸", None), ("paper", None, "纸"),
])
def test_sense_rules_of_session_7(real, text, wrong, right):
    if wrong:
        assert weight(real, text, wrong) < EDGE_THRESHOLD, (text, wrong)
    if right:
        assert weight(real, text, right) >= EDGE_THRESHOLD, (text, right)


def test_a_derived_sense_is_chosen_when_the_context_names_it(real):
    assert weight(real, "raccoon", "裘", "fur coat") >= EDGE_THRESHOLD  # the pelt, where the image says fur


@pytest.mark.parametrize("tags, wrong, right", [
    (("dessert", "ice", "cream", "cone", "serve ice", "ice cream"), "冰", "冰淇淋"),  # 'ice' is a piece of a name
    (("clothes", "blue", "jean", "blue jean"), None, "蓝"),  # a colour is shown, whatever compound it names
    (("animal", "mammal", "sea", "lion", "sea lion"), "海", None),  # 海 from 'sea lion' is a piece of a name
    (("office", "tool", "magnifying", "glass", "magnifying glass"), "玻璃", "放大镜"),
    (("game", "chess", "piece", "chess piece"), None, "棋"),  # a chess piece: a figure used in playing chess
    (("ice", "winter"), None, "冰"),  # no compound: the bare word means itself
])
def test_a_tag_that_is_a_piece_of_a_compound_the_image_names_draws_no_edge(real, tags, wrong, right):
    img = Image("t", "t.png", tags=tags, tag_language="en")
    got = image_reach(img, real, frozenset({wrong, right} - {None}))[0]
    assert wrong not in got and (right is None or right in got), got


@pytest.mark.parametrize("name, vocab, want", [
    ("ice skate", {"水晶", "冰"}, set()),  # no 'ice' cut off a compound WordNet names
    ("soft ice cream", {"水晶", "冰"}, set()),
    ("clock face eight oclock", {"钟", "面"}, {"钟", "面"}),  # a cut that names the thing still reaches it
])
def test_the_back_off_never_cuts_a_compound(real, name, vocab, want):
    from graph.captions import image_keywords

    img = Image("t", "t.png", tags=(name,), tag_language="en")
    assert set(image_keywords(img, real, frozenset(vocab), kinds=False)[0]) == want


def test_a_group_sense_keeps_its_edge_where_people_are_named(real):
    alone = real.english_weighted("household", bag("dish cup"))
    with_people = real.english_weighted("household", bag("person woman"))
    w = {r.target: r.weight for r in alone}["人家"]
    assert not w >= EDGE_THRESHOLD and {r.target: r.weight for r in with_people}["人家"] >= EDGE_THRESHOLD
    assert "no person or animal" in {r.target: r.why for r in alone}["人家"]


def test_kinds_reach_hypernym_keywords_with_decaying_weight(real):
    r = real.weighted_reach("kingfisher")["鸟"]
    assert r.rule == "wordnet kind" and "kingfisher -> coraciiform bird -> bird" in r.why
    assert r.kept and r.weight <= KIND_DECAY ** 2 + 1e-9  # two steps up
    assert real.weighted_reach("bird")["鸟"].weight > r.weight  # the word itself beats its kind
    # the walk stops at synsets too general to describe a picture
    assert not any("-> organism" in s.why or "-> object" in s.why for s in real.kinds("kingfisher"))


def test_context_chooses_the_sense(real):
    # 'pop' alone: WordNet's first sense (dad -> father -> 老子); beside a drink: soda (汽水)
    assert weight(real, "pop", "老子") >= EDGE_THRESHOLD
    assert weight(real, "pop", "老子", "food beverage can") < EDGE_THRESHOLD
    assert weight(real, "pop", "汽水", "food beverage can") >= EDGE_THRESHOLD
    img = Image("p", "p.png", tags=("pop", "beverage", "food"), caption="Pop Can", tag_language="en")
    assert set(image_reach(img, real, frozenset({"老子", "汽水"}))[0]) == {"汽水"}


def test_chinese_caption_piece_inside_a_longer_word_draws_no_edge(real):
    img = Image("o", "o.png", caption="猫头鹰", language="zh")
    assert image_reach(img, real, frozenset({"头", "猫头鹰"}))[0] == {"猫头鹰": 1.0}


def test_lexicon_word_keeps_weight_one_and_has_no_kinds():
    b = Bridge({"kingfisher": ["翠鸟"]})
    assert [(r.target, r.weight, r.rule) for r in b.english_weighted("kingfisher")] == [("翠鸟", 1.0, "lexicon.tsv")]
    assert b.kinds("kingfisher") == []


def test_wordnet_index_is_cached_by_content_hash(tmp_path, monkeypatch):
    import shutil

    from graph import wordnet as wn_mod

    monkeypatch.setenv("IMG2SONG_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "dict"
    folder.mkdir()
    for name in (*wn_mod.WN_FILES["n"], wn_mod.WN_INDEX["n"]):
        shutil.copy(wn_mod.wordnet_dir() / name, folder / name)
    first = wn_mod.read_noun_wordnet(folder)
    assert len(list((tmp_path / "cache" / "bridge").glob("wordnet-n-*.pkl"))) == 1
    monkeypatch.setattr(wn_mod.WordNetData, "__init__", lambda *a, **k: pytest.fail("parsed again despite the cache"))
    assert wn_mod.read_noun_wordnet(folder).noun_senses("bird") == first.noun_senses("bird")
    with open(folder / "index.noun", "a", encoding="utf-8") as fh:
        fh.write("zzzz n 1 0 1 0 00001740\n")
    with pytest.raises(pytest.fail.Exception):  # new content, new key: parsed again
        wn_mod.read_noun_wordnet(folder)


def test_sense_precision_on_hand_labelled_edges(real, capsys):
    """The bridge without an encoder (the documented fallback) on tests/fixtures/sense_labels.tsv (rule in its
    header): the first sample (tune + holdout, drawn and labelled before this bridge existed) and fresh2 (edges this
    bridge kept when it was drawn, labelled blind)."""
    edges = read_sense_labels()
    assert len(edges) >= 600 and {e.corpus for e in edges} == {"starter", "yuanqu", "named", "third", "english",
                                                               "photos", "photos_named"}  # named: kinds2; third,
    # english: fresh12; photos, photos_named: photos11 (graph.secondcorpus.photos)
    scores = sense_scores(edges, real)
    first = [e for e in edges if e.split in ("tune", "holdout")]
    before = sum(e.label for e in first if e.how == "direct") / sum(e.how == "direct" for e in first)
    rows = {k: v for k, v in scores.items() if k[1] in ("tune", "holdout", "fresh2", "all")}
    with capsys.disabled():
        print(f"\nsense precision: the exact-gloss bridge before: {before:.3f} on the first sample's direct edges")
        for (corpus, split), c in sorted(rows.items()):
            p = c["kept_correct"] / c["kept"] if c["kept"] else float("nan")
            print(f"  {corpus:8s} {split:8s} edges {c['edges']:3d} kept {c['kept']:3d} precision {p:.3f} "
                  f"correct kept {c['kept_correct']}/{c['correct']}")

    def precision(corpus: str, split: str) -> float:
        c = scores[(corpus, split)]
        return c["kept_correct"] / c["kept"]

    fresh = scores[("all", "fresh2")]
    # fresh2 was drawn from the edges this (dictionary-only) bridge kept; since then the caption rule (numerals
    # and positions draw no edge: 一个 twice, 左) and the unshown-phrase rule (nothing after 'for' or 'without':
    # 料 from 'recycling symbol for generic materials') removed 4 of them, all 4 labelled wrong; session 6's rules
    # (志 through 誌, 职 'duty', group senses, kinds that do not fit) 14 more, 13 of them wrong; session 7's
    # (compounds, kind lemmas in their commonest sense, untagged senses, materials) 12 more, 6 of them wrong
    # session 9's rules 4 more, all wrong ('vehicle' -> 车 for a sledge, a tugboat and a trawler; a kind of a rare
    # sense of 'bust' -> 胸); session 10's 2 more, both wrong (玻璃 for a cocktail glass, 鼻 for a bullet nose: the
    # noun before the head picks its sense)
    assert fresh["edges"] == 200 and fresh["kept"] == 164, "the weights changed since fresh2 was drawn"
    assert precision("all", "fresh2") >= 0.82  # measured 0.848 (139/164); 0.837 before session 10, 0.745 before 6
    assert min(precision("starter", "fresh2"), precision("yuanqu", "fresh2")) >= 0.8  # 0.843, 0.852 (0.843, 0.831)
    assert precision("all", "holdout") >= before + 0.15  # measured 0.718 vs 0.506 before
    # recall-ish: the first sample's correct edges that are still drawn
    assert scores[("all", "tune")]["kept_correct"] + scores[("all", "holdout")]["kept_correct"] >= 45


@pytest.fixture(scope="module")
def encoded() -> Bridge:
    """The bridge the build stage uses: CC-CEDICT senses, WordNet, and the text encoder's relatedness."""
    from graph.text.relatedness import E5Relatedness

    bridge = Bridge(relatedness=E5Relatedness(), edge_model=False)
    bridge.prepare([e.image for e in read_sense_labels()])
    return bridge


def print_precision(scores, title: str) -> None:
    print(f"\n{title}")
    for (corpus, split), c in sorted(scores.items()):
        p = c["kept_correct"] / c["kept"] if c["kept"] else float("nan")
        print(f"  {corpus:8s} {split:8s} edges {c['edges']:3d} kept {c['kept']:3d} precision {p:.3f} "
              f"correct kept {c['kept_correct']}/{c['correct']}")


@pytest.fixture(scope="module")
def encoded_scores(encoded):
    """Every split up to session 7's (the later ones measure the default build, without the encoder, on other
    corpora)."""
    return sense_scores([e for e in read_sense_labels() if e.split not in DEFAULT_BUILD_SPLITS], encoded)


def test_encoder_relatedness_raises_sense_precision(encoded_scores, real, capsys):
    """Every hand-labelled edge (tuning sample: tune, holdout, fresh1, fresh2; fresh3: drawn at random from the
    edges the final, frozen bridge keeps, labelled by the header's rule, never tuned on), weighed by the bridge
    the build stage uses (with the text encoder) against the same bridge without it."""
    scores = encoded_scores
    with capsys.disabled():
        print_precision(scores, "sense precision with the text encoder's relatedness (build-graph's bridge):")
    fresh = scores[("all", "fresh3")]
    # session 6's rules (tuned on later samples) dropped 7 of fresh3's 110 edges, 4 of them wrong; session 7's one
    # more, wrong
    assert fresh["edges"] == 110 and fresh["kept"] == 102 and fresh["kept_correct"] == 89, "the method changed"
    assert {c for c, _ in scores if c != "all"} == {"starter", "yuanqu", "named"}
    assert scores[("all", "all")]["kept"] >= 200

    def precision(c):
        return c["kept_correct"] / c["kept"]

    assert precision(fresh) >= 0.84  # 0.873 (89/102): starter 0.900, yuanqu 0.846; 0.836 (92/110) before session 6
    assert min(precision(scores[(c, "fresh3")]) for c in ("starter", "yuanqu")) >= 0.82
    tuning = [e for e in read_sense_labels() if e.split not in ("fresh3", *DEFAULT_BUILD_SPLITS)]
    plain = sense_scores(tuning, real)[("all", "all")]
    with_encoder = {k: scores[("all", "all")][k] - fresh[k] for k in fresh}
    # 0.887 (875/987) against 0.831 after session 9's rules (which raise both, the plain bridge more); 0.883 against
    # 0.800 before them
    assert precision(with_encoder) >= precision(plain) + 0.05
    # joined; with them the encoder's side is 0.815 (400/491)


def build_edge_precision(bridge, split: str, capsys) -> dict[tuple[str, str], list[int]]:
    """(corpus or 'all', how or 'all') -> [wrong, right] counts of a network sample's edges that the build's image
    linking (graph.captions.image_keywords with `bridge`) draws now, against the sample's vocabularies;
    ('dropped', how) counts the sample's edges it no longer draws."""
    from graph.captions import image_keywords

    edges = [e for e in read_sense_labels() if e.split == split]
    vocab = {c: frozenset(SENSE_LABELS.with_name(f"sense_vocab_{split}_{c}.txt").read_text(encoding="utf-8").split())
             for c in {e.corpus for e in edges}}
    assert len(edges) >= 100 and set(vocab) == {"starter", "yuanqu"} and all(len(v) == 72 for v in vocab.values())
    counts: dict[tuple[str, str], list[int]] = {}
    for e in edges:
        drawn = e.keyword in image_keywords(e.image, bridge, vocab[e.corpus])[0]
        keys = {(e.corpus, e.how), (e.corpus, "all"), ("all", e.how), ("all", "all")} if drawn else {("dropped", e.how)}
        for key in keys:
            counts.setdefault(key, [0, 0])[e.label] += 1
    with capsys.disabled():
        print(f"\nsense precision of the build's image-keyword edges, {split} "
              f"({'text encoder' if bridge.relatedness is not None else 'no encoder: the default'}):")
        for (corpus, how), (wrong, right) in sorted(counts.items()):
            print(f"  {corpus:8s} {how:8s} edges {wrong + right:3d} precision {right / (wrong + right):.3f}")
    return counts


def ratio(c: list[int]) -> float:
    return c[1] / (c[0] + c[1])


def test_build_edges_on_fresh_samples(encoded, capsys):
    """fresh4 and fresh5 (session 5): edges build-graph draws with the encoder bridge against each corpus's 72
    keywords, drawn from images of no earlier sample after the method was frozen, labelled by the header's rule
    before any verdict was seen (tests/fixtures/make_sense_sample.py --network). fresh4 was drawn with a rule that
    gave an image whose every edge the encoder discounted its best one (how=best): 6 of those 26 were right, so
    the rule was dropped, and the build no longer draws them. fresh5 was drawn from the method of session 5, with
    the vocabulary the default selection makes with the encoder bridge; sessions 6 and 7's rules dropped some of both."""
    f4 = build_edge_precision(encoded, "fresh4", capsys)
    assert ("all", "best") not in f4 and f4[("dropped", "best")] == [20, 6]  # the dropped rule's edges
    # kept: 0.889; 0.738 ([21, 59]) before session 6's rules dropped 10 wrong edges (职 'office', 志 'sign'...),
    # session 7's 4 wrong and 3 right more, session 9's 1 wrong more
    assert f4[("all", "kept")] == [6, 56] and f4[("dropped", "kept")] == [15, 3]
    assert f4[("yuanqu", "kept")] == [1, 29]  # 0.967 with the vocabulary the encoder bridge selected
    f11 = build_edge_precision(encoded, "fresh11", capsys)  # the encoder's choice on the default build's sample
    f5 = build_edge_precision(encoded, "fresh5", capsys)
    # sessions 6 and 7 dropped 22 of fresh5's edges, 16 of them wrong: 0.847 (83/98), from 0.742 (89/120); session 9
    # the kind back-off (kinds9) draws two right ones of them again, the sense rules drop one right ('ferry' -> ...
    # boat -> 船: 'ferry' is chiefly a verb in SemCor) and one wrong more: 0.857 (84/98); session 10's drop two wrong
    # more (玻璃 for a wine glass, a back-off 电影 from 'musical') and draw one right again (灯 for an electric light
    # bulb, whose back-off cut no longer ends on 'light'): 0.875 (84/96)
    assert f5[("dropped", "kept")] == [18, 4] and f5[("all", "all")] == [12, 84]
    assert ratio(f5[("all", "all")]) >= FRESH5_FLOOR
    assert ratio(f5[("yuanqu", "all")]) >= 0.9 and ratio(f5[("starter", "all")]) >= 0.7  # 0.942 and 0.739
    # the encoder on the default build's fresh11 (against the default selection's words, so indicative only): it
    # keeps 126 of the 209 edges at 0.857 (108/126; session 9: +1 right by the kind back-off, -1 wrong by the 林
    # /woods/ rule), against 0.722 for all 209, and drops 43 of the 151 right ones; session 10: three wrong less (纸
    # cut from 'linked paper clips', 球 from 'baseball' and 'football' beside the bat and helmet they name): 0.878
    # (108/123)
    # the encoder is 4-bit ONNX: on an Intel Xeon with AVX-512 (session 12) its cosines round differently from the
    # AMD EPYC's that set these counts, and one wrong edge at the threshold (衙 for 'office', weight 0.602 there
    # against EDGE_THRESHOLD 0.6) is drawn: either CPU's count is accepted, nothing else
    assert (f11[("all", "all")], f11[("dropped", "kept")]) in (([15, 108], [42, 43]), ([16, 108], [41, 43]))


DEFAULT_SPLITS = ("fresh6", "fresh7", "fresh8", "fresh9", "fresh10", "fresh11")  # the default build (no encoder)


def test_default_build_edges_on_fresh_samples(real, capsys):
    """fresh6..fresh11 (sessions 6 and 7): edges of the DEFAULT build (no text encoder, evaluation.stages.pipeline's
    SENSE_ENCODER is False) against the vocabulary its default selection makes, each drawn after the method of the
    time was frozen and labelled blind (tests/fixtures/make_sense_sample.py --network --select --plain). fresh6-10
    were tuned on afterwards (their errors led to the rules since); fresh11 was drawn from the final method: its
    precision was the figure to quote until fresh12, and every right one of its edges must still be drawn (session
    9's rules no longer draw 15 of its wrong ones)."""
    got = {split: build_edge_precision(real, split, capsys) for split in DEFAULT_SPLITS}
    final = got["fresh11"]
    assert [sum(final.get(("dropped", h), [0, 0])[i] for h in ("kept", "backoff")) for i in (0, 1)] == [18, 0], \
        "the method changed since fresh11 was drawn: draw anew"
    assert sum(final[("all", "all")]) == 191
    assert {c for c, _ in final if c not in ("all", "dropped")} == {"starter", "yuanqu"}
    assert ratio(final[("all", "all")]) >= FRESH11_FLOOR  # 0.791 (151/191); 0.722 (151/209) as drawn
    # session 10: 'herringbone' is no longer split as 'herring bone', so its 'herringbone pattern' (a WordNet
    # compound) draws 饰 again (wrong, one of the 15 dropped before), and the back-off no longer cuts 纸 'paper' from
    # 'linked paper clips' (wrong), and a one-word tag that modifies a thing another tag names draws no edge of its
    # own (球 from 'ball' beside 'ball point pen', from 'baseball' beside 'baseball bat', from 'football' beside
    # 'football helmet': 3 wrong): 18 wrong dropped
    assert ratio(final[("starter", "all")]) >= 0.74 and final[("yuanqu", "all")] == [2, 6]  # 145/183 0.792; 6/8
    # the rules since each earlier sample only remove its edges: none is drawn that was not, the wrong go first
    dropped = {split: [sum(counts.get(("dropped", h), [0, 0])[i] for h in ("kept", "backoff")) for i in (0, 1)]
               for split, counts in got.items()}
    # session 9: the kind back-off, on by default (kinds9), draws again fresh6's 1 wrong + 1 right and fresh9's 1
    # right; the sense rules (rules9) drop [2, 1], [2, 0], [3, 0], [4, 2], [9, 0] and [15, 0] more; session 10's
    # (heads10) [3, 1], [3, 3], [4, 0], [4, 0], [13, 2] and [3, 0] more (wrong: 玻璃 for drinking glasses, 重 and 电影
    # cut from 'heavy' and 'musical', 火 from 'fire extinguisher', 石 via 'sham rock', 球 from 'baseball' beside a
    # baseball glove...; right: 糕 for shortcake, 环 cut from 'ring buoy', 朵 from 'flower' beside 'flower pot', 手 for
    # the emoji 'backhand index' three times, which WordNet names as a stroke, so it is no longer split into back hand)
    assert dropped == {"fresh6": [26, 7], "fresh7": [29, 7], "fresh8": [19, 0], "fresh9": [18, 7],
                       "fresh10": [41, 3], "fresh11": [18, 0]}
    assert sum(d[0] for d in dropped.values()) >= 5 * sum(d[1] for d in dropped.values())  # 151 wrong, 24 right
    assert {split: counts[("all", "all")] for split, counts in got.items()} == DEFAULT_KEPT


# fresh12 (session 8): [wrong, right] per corpus, as labelled blind by an annotator who saw only the header's rule
FRESH12 = {"starter": [8, 92], "third": [19, 81], "english": [10, 40]}


def fresh12_edges() -> list:
    return [e for e in read_sense_labels() if e.split == "fresh12"]


def fresh12_vocab(corpus: str) -> frozenset[str]:
    return frozenset(SENSE_LABELS.with_name(f"sense_vocab_fresh12_{corpus}.txt").read_text(encoding="utf-8").split())


def test_default_build_edges_on_fresh12(capsys):
    """fresh12 (session 8): edges of the DEFAULT build after select8 and usage8 were merged and frozen, drawn from the
    starter, from a third catalogue no session had seen and from the English corpus, labelled blind (fixture
    header). Its precision is the figure to quote. The third catalogue is not in the repo (its usage profile needs its
    lyrics), so the check that the method has not changed since the draw runs on the starter's and English edges:
    each corpus's own bridge (Bridge.for_corpus, as build-graph uses) must draw every right one of them still, and
    session 9's rules (tests/test_sense_rules.py) no longer draw the wrong ones counted below. The one exception is
    stated: the rule that a rarer WordNet sense no image word names draws no kinds drops 'pattern' -> design ->
    decoration -> 饰 for the geometric pattern swatches, an edge fresh12's annotator labelled right 5 times and
    every earlier annotator wrong (26 of the earlier splits' 27 such edges): the fixture header's rule does not
    settle it (lead/s8/closing.md)."""
    from graph.captions import image_keywords
    from graph.corpus import load_corpus

    edges = fresh12_edges()
    counts: dict[str, list[int]] = {}
    for e in edges:
        counts.setdefault(e.corpus, [0, 0])[e.label] += 1
    chinese = [counts["starter"][i] + counts["third"][i] for i in (0, 1)]
    with capsys.disabled():
        print("\nfresh12 sense precision (default build, blind):",
              {c: f"{ratio(v):.3f} ({v[1]}/{sum(v)})" for c, v in counts.items()},
              f"starter+third {ratio(chinese):.3f} ({chinese[1]}/{sum(chinese)})")
    assert counts == FRESH12
    assert sum(chinese) == 200 and ratio(chinese) >= 0.85  # 0.865 (173/200), Wilson 95% [0.811, 0.906]
    gone: dict[str, list] = {}
    for name in ("starter", "english"):  # the rules alone (the edge model's drop: fresh13 below)
        bridge = Bridge.for_corpus(load_corpus(ROOT / "data" / name, check_files=False), edge_model=False)
        vocab = fresh12_vocab(name)
        gone[name] = [e for e in edges if e.corpus == name and e.keyword not in image_keywords(e.image, bridge, vocab)[0]]
    wrong = {name: sorted(e.image.id for e in g if not e.label) for name, g in gone.items()}
    right = sorted((e.image.id, e.keyword) for g in gone.values() for e in g if e.label)
    with capsys.disabled():
        print("fresh12 edges no longer drawn (sessions 9 and 10's rules):", {n: len(w) for n, w in wrong.items()},
              "wrong,", len(right), "right (the disputed pattern -> 饰; 纸 for a paper bag, English light and left)")
    # wrong edges session 9's rules no longer draw: 'vehicle' -> 车 for an airplane (a category tag), a kind of
    # 'pattern' read as a design for a software pattern, 锥 for the cone of an ice-cream cone (WordNet's hyphenated
    # compound), 'red' read off 'covered' split as 'cove red'
    assert wrong == {"starter": ["oca-food-desserts-cone-alt1-bw", "oca-food-desserts-cone-alt2-bw",
                                 "oca-special-patterns-model-view-controller-ia-01", "tux-vehicles-flight-planes-plane"],
                     "english": ["tux-plants-flowers-flower9"]}
    # session 10 drops three right edges: 纸 cut from 'paper bag' (the back-off no longer ends on a modifier of a
    # thing WordNet names, which also drops 纸 for paper clips and 火 for fire engines), and the English 'light' beside
    # 'lightbulb' and 'left' beside 'left hand' (a one-word tag that modifies a thing another tag names draws no edge
    # of its own, which also drops 火 for 'fire' beside 'fire truck')
    assert right == [("oca-containers-paperbag1-juliane-krug", "纸"),
                     ("oca-electronics-bulb-lightbulb-jon-phillips-03", "light"),
                     ("oca-people-bodypart-left-hand-print-benji-pa-01", "left")] + [
        (f"oca-special-patterns-pattern-{name}", "饰") for name in (
            "diamond-squares-4", "square-and-diamonds-1", "square-and-diamonds-2", "squares-angled-2",
            "triangle-squares-3")]


# fresh13 (session 9): [wrong, right] per corpus, labelled blind as fresh12 was
FRESH13 = {"starter": [15, 85], "third": [24, 76], "yuanqu": [1, 9], "english": [8, 42]}
DEFAULT_NUM = 72  # the default selection's count since fresh13: the first 72 words the greedy picks


def fresh13_edges() -> list:
    return [e for e in read_sense_labels() if e.split == "fresh13"]


def fresh13_vocab(corpus: str) -> list[str]:
    """The vocabulary fresh13 was drawn against, in the order the greedy picked it (starter, third)."""
    return SENSE_LABELS.with_name(f"sense_vocab_fresh13_{corpus}.txt").read_text(encoding="utf-8").split()


def default_build_split(edges: list) -> tuple[list[int], list[int]]:
    """[wrong, right] of the starter's and third catalogue's fresh13 edges to the first DEFAULT_NUM words of their
    vocabulary (the default selection) and to the words `--num auto` added past them."""
    first, later = [0, 0], [0, 0]
    for e in edges:
        if e.corpus in ("starter", "third"):
            rank = fresh13_vocab(e.corpus).index(e.keyword)
            (first if rank < DEFAULT_NUM else later)[e.label] += 1
    return first, later


def test_default_build_edges_on_fresh13(capsys):
    """fresh13 (session 9): edges of the build frozen with session 9's rules, the kind back-off and `--num auto`,
    labelled blind (fixture header). The default count went back to the fixed 72 after it: the words auto adds past
    72 drew 20 right of 36 edges, the first 72 (the default selection: the same words) 141 of 164. Since the draw
    session 10's rules (tests/test_sense_rules.py) changed the bridge: each corpus's own bridge must still draw every
    starter and English edge of it but three, all wrong: the shamrock's 石 and 'rock' through 'sham rock' (WordNet
    names the shamrock, a clover, so it is no longer split) and 火 for 'fire' beside 'fire truck'; the third
    catalogue's usage profile needs lyrics the repo lacks (there, session 10 drops 途 for a tramway, wrong, and 灯
    for a 'light' tag beside a light bulb's, right)."""
    from graph.captions import image_keywords
    from graph.corpus import load_corpus

    edges = fresh13_edges()
    counts: dict[str, list[int]] = {}
    for e in edges:
        counts.setdefault(e.corpus, [0, 0])[e.label] += 1
    first, later = default_build_split(edges)
    with capsys.disabled():
        print("\nfresh13 sense precision (blind):", {c: f"{ratio(v):.3f} ({v[1]}/{sum(v)})" for c, v in counts.items()},
              f"default 72: {ratio(first):.3f} ({first[1]}/{sum(first)}), auto's added words: "
              f"{ratio(later):.3f} ({later[1]}/{sum(later)})")
    assert counts == FRESH13 and first == [23, 141] and later == [16, 20]
    assert ratio(first) > 0.85 > ratio(later)  # 0.860 (Wilson 95% 0.798-0.905) against 0.556
    gone, dropped = [], {}
    for name in ("starter", "english"):
        bridge = Bridge.for_corpus(load_corpus(ROOT / "data" / name, check_files=False))
        vocab = frozenset(fresh13_vocab(name))
        for e in edges:
            if e.corpus != name:
                continue
            if e.keyword not in image_keywords(e.image, bridge, vocab, model=False)[0]:
                gone.append((e.corpus, e.image.id, e.keyword, e.label))
            elif e.keyword not in image_keywords(e.image, bridge, vocab, model=True)[0]:
                dropped.setdefault(name, [0, 0])[e.label] += 1
    shamrock = "oca-recreation-holiday-shamrock-symbol-jonadab-01"
    assert sorted(gone) == [("english", shamrock, "rock", False), ("starter", shamrock, "石", False),
                            ("starter", "tux-vehicles-iso-fireengine", "火", False)]
    # the edge model (graph.edge_model, trained on every split, fresh13 included) drops [wrong, right] of the rest;
    # trained without fresh13 it keeps 0.905 (133/147) of the default selection's edges right, against 0.875
    # (140/160) drawn (tests/fixtures/train_edge_model.py, after session 10's compound rules); since session 11
    # fresh13 is training data (fresh14 is held out) and the model is retrained with the photos11 rows: in-sample
    # it dropped 7 wrong and 4 right starter edges and 1 right English one (session 10's: 8 and 10, 2 and 3); session
    # 13's model, which reads the text encoder's relatedness, drops 5 wrong and 4 right starter edges, 1 wrong and
    # 2 right English ones
    assert dropped == {"starter": [5, 4], "english": [1, 2]}


# fresh14 (session 10): [wrong, right] per corpus, labelled blind as fresh13 was
FRESH14 = {"starter": [1, 99], "third": [8, 92], "yuanqu": [3, 13], "english": [3, 47]}
# fresh15 (session 11): [wrong, right] per corpus, labelled blind as fresh14 was
FRESH15 = {"starter": [8, 92], "third": [16, 84], "english": [10, 40], "photos_named": [1, 6]}
# fresh16 (session 12, the same build as fresh15): [wrong, right] per corpus, labelled blind as fresh15 was
FRESH16 = {"starter": [10, 90], "third": [19, 81], "english": [6, 11]}
# the blind samples of session 11's build (its edge model without the text encoder), and of session 13's (shipped)
EARLIER_BUILD = {"fresh14": FRESH14, "fresh15": FRESH15, "fresh16": FRESH16}
# fresh17 (session 13): the shipped build, its edge model reading the text encoder's relatedness
FRESH17 = {"starter": [3, 147], "third": [7, 143], "english": [10, 32]}


def wilson_low(k: int, n: int, z: float = 1.96) -> float:
    """Lower end of the Wilson 95% interval of k right out of n."""
    p = k / n
    return (p + z * z / (2 * n) - z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)


def blind_counts(split: str) -> dict[str, list[int]]:
    """corpus -> [wrong, right] of one labelled split."""
    counts: dict[str, list[int]] = {}
    for e in read_sense_labels():
        if e.split == split:
            counts.setdefault(e.corpus, [0, 0])[e.label] += 1
    return counts


def test_sense_precision_on_blind_samples_of_the_default_build(capsys):
    """Issue 17 asks sense precision >= 0.9 on >= 200 hand-labelled edges across two corpora. Session 11's build
    (fixture header): fresh14 0.955 (191/200), fresh15 0.880 (176/200), fresh16 0.855 (171/200) of the starter's and
    the third catalogue's edges, pooled 538/600 = 0.897, under it. Session 13's build (the edge model reads the text
    encoder's relatedness; the starter and English catalogues rebuilt with it): fresh17 0.967 (290/300, Wilson 95%
    0.940-0.982). Every starter and English fresh17 edge is drawn by the shipped default build against the
    vocabulary it was drawn from, so the sample is of what ships."""
    from graph.captions import image_keywords
    from graph.corpus import load_corpus

    for split, want in {**EARLIER_BUILD, "fresh17": FRESH17}.items():
        assert blind_counts(split) == want, split
    labels = read_sense_labels()
    earlier = [e.label for e in labels if e.split in EARLIER_BUILD and e.corpus in ("starter", "third")]
    shipped = [e.label for e in labels if e.split == "fresh17" and e.corpus in ("starter", "third")]
    with capsys.disabled():
        print(f"\nsense precision, blind samples of the default build, starter + third: session 11's build (fresh14-16) "
              f"{sum(earlier) / len(earlier):.3f} ({sum(earlier)}/{len(earlier)}); the shipped build (fresh17) "
              f"{sum(shipped) / len(shipped):.3f} ({sum(shipped)}/{len(shipped)}), Wilson 95% low "
              f"{wilson_low(sum(shipped), len(shipped)):.3f}")
    assert (len(earlier), sum(earlier)) == (600, 538) and (len(shipped), sum(shipped)) == (300, 290)
    edges = [e for e in labels if e.split == "fresh17"]
    for name in ("starter", "english"):  # the shipped catalogues: the default build draws every such edge
        bridge = Bridge.for_corpus(load_corpus(ROOT / "data" / name, check_files=False))
        vocab = frozenset(SENSE_LABELS.with_name(f"sense_vocab_fresh17_{name}.txt").read_text("utf-8").split())
        missing = [(e.image.id, e.keyword) for e in edges
                   if e.corpus == name and e.keyword not in image_keywords(e.image, bridge, vocab)[0]]
        assert missing == [], (name, missing)


def test_sense_precision_reaches_the_issue_target():
    """The shipped build's blind sample (fresh17): >= 200 edges across two corpora, precision >= 0.9, and so is the
    low end of its Wilson 95% interval (0.940)."""
    shipped = [e.label for e in read_sense_labels() if e.split == "fresh17" and e.corpus in ("starter", "third")]
    assert len(shipped) >= 200 and sum(shipped) / len(shipped) >= 0.9 and wilson_low(sum(shipped), len(shipped)) >= 0.9


def agreement(fixture: str, splits: tuple[str, ...]) -> dict[str, tuple[int, int, int, int]]:
    """split -> (rows, rows both annotators label alike, first annotator's label-1 count, second's) of an agreement
    fixture, after checking that every row's first label is the one sense_labels.tsv holds."""
    import csv

    rows = [r for r in csv.DictReader((line for line in SENSE_LABELS.with_name(fixture).open(encoding="utf-8")
                                       if not line.startswith("#")), delimiter="\t", quoting=csv.QUOTE_NONE)]
    labels = {(e.split, e.corpus, e.image.id, e.keyword): int(e.label) for e in read_sense_labels()}
    assert all(labels[(r["split"], r["corpus"], r["image"], r["keyword"])] == int(r["first"]) for r in rows)
    assert {r["split"] for r in rows} == set(splits)
    got = {}
    for split in splits:
        pairs = [(int(r["first"]), int(r["second"])) for r in rows if r["split"] == split]
        got[split] = (len(pairs), sum(a == b for a, b in pairs), sum(a for a, _ in pairs), sum(b for _, b in pairs))
    return got


def test_two_annotators_agree_on_fresh15():
    """A second blind annotator relabelled fresh15's 200 starter and third edges with 100 of fresh14's, shuffled
    together (tests/fixtures/sense_agreement_fresh15.tsv): it agrees on 198 of fresh15's (176 right for both), so
    fresh15's lower precision is the sample's, not a stricter annotator's; on fresh14's it finds 91 right of 100
    where the first annotator found 94."""
    assert agreement("sense_agreement_fresh15.tsv", ("fresh14", "fresh15")) == {
        "fresh14": (100, 95, 94, 91), "fresh15": (200, 198, 176, 176)}


def test_two_annotators_agree_on_fresh16():
    """A second blind annotator relabelled fresh16's 200 starter and third edges with 100 of fresh15's, shuffled
    together (tests/fixtures/sense_agreement_fresh16.tsv): it agrees on 196 of fresh16's (kappa 0.92) and finds 167
    right where the first found 171, so fresh16's 0.855 is the sample's, not a stricter first annotator's; on
    fresh15's 100 it agrees on 96 (87 and 85 right)."""
    assert agreement("sense_agreement_fresh16.tsv", ("fresh15", "fresh16")) == {
        "fresh15": (100, 96, 87, 85), "fresh16": (200, 196, 171, 167)}


def test_two_annotators_agree_on_fresh17():
    """A second fresh annotator labelled all 342 fresh17 rows, blind and independently
    (tests/fixtures/sense_agreement_fresh17.tsv): it agrees on 334, and on the starter's and third catalogue's 300
    finds 289 right where the first found 290, so the shipped build's 0.967 does not hang on one annotator."""
    got = agreement("sense_agreement_fresh17.tsv", ("fresh17",))
    assert got == {"fresh17": (342, 334, 322, 318)}
    rows = [line.split("\t") for line in SENSE_LABELS.with_name("sense_agreement_fresh17.tsv").read_text(
        encoding="utf-8").splitlines() if line.startswith("fresh17\t")]
    two = [r for r in rows if r[1] in ("starter", "third")]
    assert (len(two), sum(int(r[4]) for r in two), sum(int(r[5]) for r in two)) == (300, 290, 289)


def test_a_third_annotator_sees_the_rise_from_fresh16_to_fresh17():
    """Is fresh17's 0.967 against fresh16's 0.855 the build, or a kinder annotator? A third fresh annotator labelled
    100 starter and third rows of each, drawn at random and shuffled together, not told two samples were mixed
    (tests/fixtures/sense_agreement_calib13.tsv): 88/100 of fresh16's right and 98/100 of fresh17's, where the first
    annotators (session 12's and session 13's) found 87 and 98."""
    assert agreement("sense_agreement_calib13.tsv", ("fresh16", "fresh17")) == {
        "fresh16": (100, 97, 87, 88), "fresh17": (100, 98, 98, 98)}


def test_two_annotators_agree():
    """A second blind annotator relabelled 100 edges of fresh14 and 100 of fresh13 (tests/fixtures/
    sense_agreement.tsv): the rise from fresh13 (0.80) to fresh14 (0.95) is in both annotators' labels (96%
    agreement on each sample), and each row's first label is the one sense_labels.tsv holds."""
    assert agreement("sense_agreement.tsv", ("fresh13", "fresh14")) == {
        "fresh13": (100, 96, 80, 78), "fresh14": (100, 96, 95, 95)}


# ---------------------------------------------------------------- relatedness from a caller's encoder
class TableRelatedness:
    """A Relatedness with known cosines: (description, candidate) -> value, `default` otherwise; counts calls."""

    name = "table"

    def __init__(self, table: dict[tuple[str, str], float], default: float = 0.5):
        self.table, self.default, self.calls = table, default, []

    def __call__(self, descriptions, candidates):
        import numpy as np

        self.calls.append((list(descriptions), list(candidates)))
        return np.array([[self.table.get((d, c), self.default) for c in candidates] for d in descriptions])


def test_relatedness_discounts_a_kept_candidate_far_below_the_pool_and_never_raises(tmp_path):
    from graph.senses import RELATED_MARGIN, related_factor

    idx = parse_cedict(write_mini_cedict(tmp_path / "cedict.txt"))
    desc = "boat, flower"  # what describe() makes of the image below
    # 船 fits the description (word and gloss above the pool's default 0.5); 梅花 and 花 do not
    rel = TableRelatedness({(desc, "船"): 0.9, (desc, "boat; vessel; ship"): 0.9,
                            (desc, "花"): 0.3, (desc, "flower; blossom"): 0.3})
    plain, weighed = Bridge(cedict=idx), Bridge(cedict=idx, relatedness=rel)
    assert "none given" in plain.relatedness_line() and "table" in weighed.relatedness_line()
    boat = {r.target: r for r in weighed.explain("boat", description=desc)}["船"]
    ref_w, ref_g = weighed._calibration[desc]  # the pool's best cosines (the mini dictionary's words)
    assert boat.weight == {r.target: r for r in plain.explain("boat")}["船"].weight  # never raised above 1x
    assert f"relatedness {0.9 - ref_w + 0.9 - ref_g:+.3f}" in boat.why and "x1.00" in boat.why
    flower = {r.target: r for r in weighed.explain("flower", description=desc)}["花"]
    rho = 0.3 - ref_w + 0.3 - ref_g
    assert flower.weight == pytest.approx(1.0 * related_factor(rho), abs=1e-4) and not flower.kept
    assert related_factor(RELATED_MARGIN) == 1.0 and related_factor(RELATED_MARGIN - 0.05) < 1.0
    # one pool calibration per description, then only the candidates that were kept without the encoder
    asked = [c for d, c in rel.calls[1:]]
    assert all(len(c) == 2 for c in asked)  # (word, gloss) of one kept candidate each
    img = Image("x", "x.png", tags=("boat", "flower"), caption="", tag_language="en")
    assert set(image_reach(img, weighed, {"船", "花"})[0]) == {"船"}
    assert set(image_reach(img, plain, {"船", "花"})[0]) == {"船", "花"}


def test_graph_never_imports_the_encoder():
    import ast
    from pathlib import Path

    for name in ("bridge", "senses", "wordnet", "cedict_index"):
        tree = ast.parse((Path(__file__).resolve().parents[1] / "graph" / f"{name}.py").read_text(encoding="utf-8"))
        mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not any(m.split(".")[0] in ("engine", "evaluation") for m in mods), (name, mods)
