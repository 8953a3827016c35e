"""Bilingual bridge: exact gloss/headword matches both ways, no containment, sense filter, lexicon override."""
from __future__ import annotations

import pytest

from evaluation.cli import main
from graph import bridge as bridge_mod
from graph.bridge import Bridge, image_reach, noun_phrases, parse_cedict, read_cedict_index
from graph.common.errors import CorpusError
from graph.records import Image
from tests.bridge_fixtures import write_mini_cedict


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
    assert main(["bridge", "calorie", "月"]) == 0
    out = capsys.readouterr().out
    assert "calorie: reaches 1 word(s) at weight >= 0.6: 卡路里" in out and "cedict sense" in out
    assert "月: reaches" in out and "moon" in out
    assert main(["bridge"]) == 2


def test_bridge_lexicon_lets_the_imagenet_tagger_reach_chinese_keywords(mini):
    from engine.features.tags import ImageNetTagger
    from graph.bridge import BridgeLexicon

    lex = BridgeLexicon(mini, ["船", "马", "卡路里"])
    assert lex.get("boat") == ["船"] and lex.get("calorie") == ["卡路里"] and lex.get("road") is None
    tagger = ImageNetTagger(["船", "马"], BridgeLexicon(mini, ["船", "马"]))
    assert set(tagger.covered_keywords) == {"船", "马"}  # canoe, gondola... -> boat -> 船; sorrel -> horse -> 马
    assert ImageNetTagger(["船", "马"], {}).covered_keywords == []  # without the bridge: nothing
