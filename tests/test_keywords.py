"""Keyword extraction: jieba POS/stoplist filtering, vocabulary matching, English lemmas, weights."""
from __future__ import annotations

import math
from collections import Counter

import jieba
import pytest

from graph.common.errors import Img2SongError
from graph.keywords import (
    extract_keywords,
    lemmatize_en,
    stopwords,
    tokenize,
    weigh,
)
from graph.occurrences import contains_any

SHUIDIAO = "明月几时有，把酒问青天。不知天上宫阙，今夕是何年。"


def test_zh_tokenize_keeps_content_words_and_drops_function_words():
    toks = tokenize(SHUIDIAO, "zh")
    assert toks == ["明月", "把酒", "问青天", "天上", "宫阙", "今夕"]
    # 几时 (adverb, also a stopword), 有/是 (1-char, stop), 不知 (stopword), 何年 (pronoun tag r) are gone
    for gone in ("几时", "有", "不知", "是", "何年", "，", "。"):
        assert gone not in toks


def test_zh_stopword_list_is_applied_even_to_content_tags():
    assert "不知" in stopwords("zh")
    assert tokenize("不知", "zh") == []
    assert "月" not in stopwords("zh")


def test_zh_vocabulary_counts_exact():
    vocab = {"月", "酒", "青天", "天"}
    # 明月 -> 月, 把酒 -> 酒, 青天 segments as a unit once it is in the vocabulary, 天上 -> 天
    assert extract_keywords(SHUIDIAO, "zh", vocab) == Counter({"月": 1, "酒": 1, "青天": 1, "天": 1})


def test_zh_vocabulary_longest_match_and_repeats():
    text = "杨柳岸，晓风残月。梅花落尽春风里，飞鸟归山，小船摇过绿水"
    vocab = {"月", "柳", "风", "梅", "花", "鸟", "山", "船", "水", "杨柳", "梅花"}
    assert extract_keywords(text, "zh", vocab) == Counter(
        {"风": 2, "杨柳": 1, "月": 1, "梅花": 1, "鸟": 1, "山": 1, "船": 1, "水": 1}
    )
    # with only the single characters, the compounds give their parts
    assert extract_keywords("杨柳梅花", "zh", {"柳", "梅", "花"}) == Counter({"柳": 1, "梅": 1, "花": 1})


def test_zh_vocabulary_does_not_touch_global_jieba():
    before = dict(jieba.dt.FREQ) if jieba.dt.initialized else None
    extract_keywords("问青天", "zh", {"青天", "问青"})
    after = dict(jieba.dt.FREQ) if jieba.dt.initialized else None
    assert before == after
    # a different vocabulary gets its own segmentation, not the previous one's words
    assert extract_keywords("问青天", "zh", {"天"}) == Counter({"天": 1})


def test_zh_empty_vocabulary_and_text():
    assert extract_keywords(SHUIDIAO, "zh", set()) == Counter()
    assert extract_keywords("", "zh", {"月"}) == Counter()
    assert tokenize("", "zh") == []


def test_en_tokenize_lemmatises_and_drops_stopwords():
    text = "The children were watching the foxes and the ponies; leaves fall on the trees by the glass!"
    assert tokenize(text, "en") == ["child", "watching", "fox", "pony", "leaf", "fall", "tree", "glass"]


@pytest.mark.parametrize(
    "word,lemma",
    [("cities", "city"), ("boxes", "box"), ("churches", "church"), ("dishes", "dish"), ("cats", "cat"),
     ("grass", "grass"), ("bus", "bus"), ("wolves", "wolf"), ("tomatoes", "tomato"), ("moon", "moon"),
     ("sea", "sea"), ("stars", "star"), ("scarves", "scarf"), ("hooves", "hoof"), ("elves", "elf")],
)
def test_en_lemmas(word, lemma):
    assert lemmatize_en(word) == lemma


def test_en_vocabulary_counts():
    text = "Two cats sat under the trees; a cat slept. The Moon rose."
    assert extract_keywords(text, "en", {"cat", "moon", "dog"}) == Counter({"cat": 2, "moon": 1})
    assert extract_keywords(text, "en") == Counter(
        {"two": 1, "cat": 2, "sat": 1, "tree": 1, "slept": 1, "moon": 1, "rose": 1}
    )


def test_weigh_count_and_tfidf_known_values():
    docs = [Counter(a=2, b=1), Counter(a=1), Counter(c=3, z=0)]
    assert weigh(docs, "count") == [{"a": 2.0, "b": 1.0}, {"a": 1.0}, {"c": 3.0}]
    w = weigh(docs, "tfidf")
    idf_a = math.log(4 / 3) + 1  # df(a) = 2 of N = 3
    idf_1 = math.log(4 / 2) + 1  # df = 1
    assert w[0] == pytest.approx({"a": 2 * idf_a, "b": idf_1})
    assert w[1] == pytest.approx({"a": idf_a})
    assert w[2] == pytest.approx({"c": 3 * idf_1})
    # a word present in every document still has a positive weight
    assert all(v > 0 for v in weigh([Counter(x=1), Counter(x=1)], "tfidf")[0].values())


def test_weigh_unknown_scheme_and_language():
    with pytest.raises(Img2SongError, match="bm25"):
        weigh([Counter(a=1)], "bm25")
    with pytest.raises(Img2SongError, match="fr"):
        tokenize("bonjour", "fr")


def test_contains_any():
    assert contains_any("明月几时有", ["酒", "明月"])
    assert not contains_any("明月几时有", ["酒", ""])
    assert contains_any("The MOON rose", ["moon"])
    assert not contains_any("anything", [])
