"""The starter lexicon pairs an English word with a keyword only through a real translation, never by containment."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from graph.starter.select import build_lexicon, sense_synonyms, translation_reach

STARTER = Path(__file__).resolve().parents[1] / "data" / "starter"

# A slice of CC-CEDICT's reverse map (english_to_chinese) and of Cilin, with the traps of the real data.
EN2ZH = {
    "moon": ["太阴", "月", "月亮"],
    "month": ["月"],
    "toad": ["蟾蜍"],  # in Cilin's moon group (Bd02B01) but shares no character with 月
    "overcast": ["阴"],  # ditto
    "calorie": ["卡路里"],  # contains 路
    "april": ["四月份"],  # contains 月
    "category": ["类"],  # shares 路's synonym group Dd06B01, which is abstract (class D)
    "ship": ["船只"],
    "boat": ["小船", "船"],
    "the moon": ["月亮"],  # several words: not a tag
}
CODES = {"月": ["Bd02B01", "Ca21A01"], "月亮": ["Bd02B01"], "太阴": ["Bd02B01"], "蟾蜍": ["Bd02B01", "Bi13A01"],
         "阴": ["Bd02B01"], "路": ["Bn11A01", "Dd06B01"], "类": ["Dd06B01"], "船": ["Bo22A01"], "船只": ["Bo22A01"]}
WORDS = {"Bd02B01": ["月", "月亮", "太阴", "蟾蜍", "阴"], "Ca21A01": ["月", "月份"], "Bi13A01": ["蟾蜍"],
         "Bn11A01": ["路", "道路"], "Dd06B01": ["路", "类"], "Bo22A01": ["船", "船只"]}


def test_sense_synonyms_need_a_concrete_group_and_a_shared_character():
    assert sense_synonyms("月", CODES, WORDS) == {"月亮"}  # not 太阴/蟾蜍/阴 (no shared character), not 月份 (class C)
    assert sense_synonyms("路", CODES, WORDS) == {"道路"}  # 类 only through the abstract group
    assert sense_synonyms("雪", CODES, WORDS) == set()


def test_build_lexicon_keeps_translations_and_synonyms_not_containment():
    pairs = build_lexicon(["月", "路", "船"], EN2ZH, CODES, WORDS)
    assert pairs == [("boat", "船"), ("month", "月"), ("moon", "月"), ("ship", "船")]
    reach = translation_reach(EN2ZH, ["月"], CODES, WORDS)
    assert "the moon" in reach and "april" not in reach  # the multiword filter is build_lexicon's, not reach's


def _shipped() -> list[tuple[str, str]]:
    lines = (STARTER / "lexicon.tsv").read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines]


needs_starter = pytest.mark.skipif(not (STARTER / "lexicon.tsv").is_file(), reason="starter corpus not built")


@needs_starter
def test_shipped_lexicon_has_no_containment_pairs():
    pairs = _shipped()
    english = {en for en, _ in pairs}
    # each of these reached a keyword only because its translation contains it (卡路里, 哈利路亚, 网路, 四月份, 市场,
    # 中路, 风车, 风筝, 樱桃...): none is a translation of any keyword
    for en in ("calorie", "hallelujah", "internet", "april", "market", "mediocre", "windmill", "kite"):
        assert en not in english, en
    assert ("cherry", "桃") not in pairs  # 樱桃 is cherry and contains 桃 (peach); cherry -> 樱桃 is a translation
    # the containment lexicon gave 路, 水, 花 hundreds of English words; a translation lexicon has a handful each
    per_keyword = Counter(zh for _, zh in pairs)
    assert max(per_keyword.values()) <= 20, per_keyword.most_common(3)


@needs_starter
def test_shipped_lexicon_keeps_real_translations():
    pairs = set(_shipped())
    keywords = set((STARTER / "keywords.txt").read_text(encoding="utf-8").split())
    assert {zh for _, zh in pairs} <= keywords
    for pair in (("fish", "鱼"), ("bird", "鸟"), ("drum", "鼓"), ("boat", "船"), ("ship", "船"), ("car", "车")):
        assert pair in pairs, pair
