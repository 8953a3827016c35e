"""One occurrence rule (graph.occurrences) for keyword selection, the network's edges, KM and the ground truth."""
from __future__ import annotations

import random

import numpy as np
import pytest

from engine.scorers.km import KMScorer, count_occurrences
from graph.build import build_network
from graph.corpus import load_corpus
from graph.occurrences import Matcher, contains_any, count, occurrences, probes
from graph.vocabulary import select_keywords
from tests.conftest import make_corpus


@pytest.mark.parametrize("text, word, n", [
    ("北方有佳人头上金钗", "人头", 0),  # 佳人|头: a match that cuts a token is not an occurrence
    ("北方有佳人头上金钗", "佳人", 1),
    ("人头落地，明月照人头", "人头", 2),  # whole tokens
    ("明月几时有", "月", 1),  # inside one token (明月)
    ("明月几时有", "明月几", 0),  # cuts 几时
    ("明月几时有", "明月几时", 1),  # a run of whole tokens
    ("哈哈哈哈", "哈哈", 2),  # non-overlapping
    ("The trees of my heart", "tree", 1),  # lemmas
    ("The trees of my heart", "art", 0),  # never inside a word
    ("Statue of Liberty at night", "statue of liberty", 1),
    ("w00012 w00013 w00012", "w00012", 2), ("w00012", "w0001", 0),  # digits belong to the word
    ("the people of two cities", "person", 1), ("the people of two cities", "city", 1),
    ("moon", "月", 0), ("明月", "moon", 0), ("", "月", 0), ("明月", "", 0), ("明月", "  ", 0),
])
def test_known_counts(text, word, n):
    assert count(text, word) == n
    assert contains_any(text, [word]) == (n > 0)
    assert count_occurrences(text.lower(), word) == n


def test_batch_counts_equal_word_by_word_counts():
    """Matcher (spans enumerated once per text) == count (word by word), on 400 seeded random texts."""
    rng = random.Random(17)
    pieces = ["佳人", "头", "人头", "明月", "月", "几时", "有", "，", "哈", "江", "上", "船", " ", "tree", "trees",
              "heart", "art", "statue of liberty", "A", "\n", "people", "Cities", "w00012", "boxes", "'s"]
    words = ["人头", "佳人", "头", "人", "月", "明月", "月几", "哈哈", "江上", "上船", "船", "tree", "art",
             "statue of liberty", "of", "Trees", "上", "江上船", "person", "city", "w00012", "w0001", "box",
             "cities"] + [f"w{i}" for i in range(30)]
    m = Matcher(words)
    checked = 0
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 25)))
        expect = {w: c for w in words if (c := count(text, w))}
        assert dict(m.counts(text)) == expect, text
        assert dict(occurrences(text, words)) == expect
        assert dict(occurrences(text, words[:5])) == {w: c for w, c in expect.items() if w in words[:5]}
        for w in expect:  # the index's pre-filter never misses a text that holds an occurrence
            assert any(p in text.lower() for p in probes(w)), (text, w)
        for w in expect:  # a valid Chinese match is a substring match: never more than str.count
            assert not any("\u4e00" <= ch <= "\u9fff" for ch in w) or expect[w] <= text.count(w)
        checked += 1
    assert checked == 400


def test_counts_do_not_depend_on_the_other_words():
    text = "北方有佳人头上金钗，人头落地，明月照人头"
    alone = {w: count(text, w) for w in ("人头", "佳人", "头", "人")}
    for vocab in (["人头"], ["人头", "佳人"], ["人头", "佳人", "头", "人"] + [f"x{i}" for i in range(40)]):
        got = occurrences(text, vocab)
        assert all(got.get(w, 0) == alone[w] for w in vocab if w in alone)


SONGS = [  # 人头 as a word in s1 and s3, only as a substring of 佳人|头 in s2 and s4
    {"id": "s1", "title": "甲", "lyrics": "人头落地，血染江山。", "language": "zh", "popularity": 1.0},
    {"id": "s2", "title": "乙", "lyrics": "北方有佳人头上金钗。", "language": "zh", "popularity": 2.0},
    {"id": "s3", "title": "丙", "lyrics": "人头攒动，明月照人头。", "language": "zh", "popularity": 3.0},
    {"id": "s4", "title": "丁", "lyrics": "佳人头白，江上月明。", "language": "zh", "popularity": 4.0},
    {"id": "s5", "title": "戊", "lyrics": "江上明月。", "language": "zh", "popularity": 5.0},
]
IMAGES = [{"id": f"i{k}", "file": f"images/i{k}.png", "tags": [t], "tag_language": "en"}
          for k, t in enumerate(["head", "head", "head", "moon", "moon", "river", "river"])]


def test_selection_network_km_and_ground_truth_agree(tmp_path):
    """人头 inside 佳人头: the same songs and counts in selection, network edges, KM postings and ground-truth hits."""
    root = make_corpus(tmp_path / "c", songs=SONGS, images=IMAGES)
    (root / "lexicon.tsv").write_text("head\t人头\nmoon\t月\nriver\t江\n", encoding="utf-8")
    (root / "keywords.txt").unlink()
    corpus = load_corpus(root)
    expected = {"人头": {"s1": 1, "s3": 2}, "月": {"s3": 1, "s4": 1, "s5": 1}, "江": {"s1": 1, "s4": 1, "s5": 1}}
    assert "人头" in SONGS[1]["lyrics"] and "人头" in SONGS[3]["lyrics"]  # substrings the old count took

    sel = select_keywords(corpus, min_images=1, min_songs=1, max_song_share=1.0, progress=False)
    assert {r.keyword: r.songs for r in sel.rows} == {w: len(v) for w, v in expected.items()}

    built = build_network(corpus, holdout=0.0, progress=False, vocabulary=list(expected))
    net = {w: {s: int(c[w]) for s, c in built.song_keywords.items() if w in c} for w in expected}
    assert net == expected

    ids, lyrics = [s["id"] for s in SONGS], [s["lyrics"] for s in SONGS]
    km = KMScorer().fit_arrays(ids, lyrics, [s["popularity"] for s in SONGS], list(expected))
    for w, by_song in expected.items():
        rows, counts = km.keyword_index_.postings(w)
        assert {ids[r]: int(c) for r, c in zip(rows, counts)} == by_song
        assert np.array_equal(km.keyword_index_.counts(w), [by_song.get(i, 0) for i in ids])
        assert {i for i, t in zip(ids, lyrics) if contains_any(t, [w])} == set(by_song)  # ground-truth hits


def test_keyword_index_postings_equal_the_rule_on_random_lyrics():
    """engine.index's one-pass postings (probes by Aho-Corasick, English surface-form scan) == count per lyric."""
    from engine.index.keywords import KeywordIndex

    rng = random.Random(23)
    pieces = ["佳人", "头", "人头", "明月", "哈", " ", "people", "Person", "cities", "city's", "w00012", "w000123",
              "rock'n'roll", "'n", "tree", "trees", "treetop", ", ", "\n", "art", "heart"]
    lyrics = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 18))) for _ in range(300)]
    words = ["人头", "头", "哈哈", "person", "city", "w00012", "n", "roll", "tree", "art", "statue of liberty",
             "rock'n'roll", "明月"]
    index = KeywordIndex().fit(lyrics, words[:7])
    for w in words:  # the last ones are indexed on first use
        expect = [count(t.lower(), w) for t in lyrics]
        assert index.counts(w).tolist() == expect, w
    assert sum(index.counts("person")) > 0 and sum(index.counts("人头")) > 0


BIRD_LYRICS = ["飞鸟归林，江上明月。", "宿鸟惊飞，归鸟入山。", "啄木鸟鸣翠柳，鸟语花香。", "江上明月。", "林中一鸟鸣。"]
# 鸟 never a token of its own: inside 飞鸟 宿鸟 啄木鸟 (the words it heads), 鸟鸣, 鸟语花香, or tagged zg (归|鸟)
BIRD_SONGS = [{"id": f"b{k}", "title": t, "lyrics": text, "language": "zh", "popularity": float(k)}
              for k, (t, text) in enumerate(zip("甲乙丙丁戊", BIRD_LYRICS), start=1)]
BIRD_IMAGES = [{"id": f"i{k}", "file": f"images/i{k}.png", "tags": [t], "tag_language": "en"}
               for k, t in enumerate(["bird", "bird", "bird", "moon", "moon"])]


def test_a_character_inside_compounds_counts_the_same_everywhere(tmp_path):
    """鸟 (a candidate only as a character heading 飞鸟 宿鸟 啄木鸟): selection, network, KM and ground truth see the
    same songs and counts, every occurrence inside a token (a single character never cuts one)."""
    from graph.keywords import content_words

    root = make_corpus(tmp_path / "c", songs=BIRD_SONGS, images=BIRD_IMAGES)
    (root / "keywords.txt").unlink()
    (root / "lexicon.tsv").unlink()
    corpus = load_corpus(root)
    assert not any("鸟" in content_words(s["lyrics"], "zh") for s in BIRD_SONGS)  # jieba never isolates it
    expected = {"b1": 1, "b2": 2, "b3": 2, "b5": 1}
    assert expected == {s["id"]: s["lyrics"].count("鸟") for s in BIRD_SONGS if "鸟" in s["lyrics"]}

    sel = select_keywords(corpus, min_images=1, min_songs=1, max_song_share=1.0, progress=False)
    assert sel.funnel["characters"] >= 1
    rows = {r.keyword: r for r in sel.rows}
    assert "鸟" in rows and (rows["鸟"].songs, rows["鸟"].images) == (4, 3)

    built = build_network(corpus, holdout=0.0, progress=False, vocabulary=["鸟"])
    assert {s: int(c["鸟"]) for s, c in built.song_keywords.items() if "鸟" in c} == expected
    ids, lyrics = [s["id"] for s in BIRD_SONGS], [s["lyrics"] for s in BIRD_SONGS]
    km = KMScorer().fit_arrays(ids, lyrics, [s["popularity"] for s in BIRD_SONGS], ["鸟"])
    found, counts = km.keyword_index_.postings("鸟")
    assert {ids[r]: int(c) for r, c in zip(found, counts)} == expected
    assert {i for i, t in zip(ids, lyrics) if contains_any(t, ["鸟"])} == set(expected)  # ground-truth hits
