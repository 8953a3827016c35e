"""Starter build steps on small inputs: the keyword rule, desktop-photo tags and licences, the trimmed Cilin hop."""
from __future__ import annotations

from pathlib import Path

from graph.starter.images import tag_phrases
from graph.starter.photos import licence_for, name_tags, parse_copyright
from graph.starter.related import CILIN_LEVELS, Cilin, zh_edges
from graph.starter.select import SelectionRule, select_keywords


def test_rule_caps_the_song_share_and_needs_images_songs_and_related_words():
    # 100 songs: 花 in 60 (too common), 梅花 in 4 and 柳 in 3 (within 5%), 雁 in 1 (too rare), 舟 in 4 (no images)
    lyrics = ["花" * (i < 60) + "梅花" * (i < 4) + "柳" * (3 <= i < 6) + "雁" * (i == 7) + "舟" * (i >= 96) + "。"
              for i in range(100)]
    reached = [{"花", "梅花"}] * 3 + [{"柳", "雁"}] * 3 + [{"舟"}]
    related = {"花": 500, "梅花": 200, "柳": 150, "雁": 300, "舟": 400}
    rule = SelectionRule(num=10, min_images=3, min_songs=2, max_song_share=0.05, min_related=100)
    sel = select_keywords(lyrics, reached, related.get, rule)
    assert sel.keywords == ["梅花", "柳"]  # most frequent first
    assert sel.song_df == {"梅花": 4, "柳": 3}
    assert "花" in sel.dropped["in > 5% of the songs"] and "雁" in sel.dropped["in < 2 songs"]
    assert "舟" in sel.dropped["reached by < 3 images"]
    assert select_keywords(lyrics, reached, {"梅花": 99, "柳": 150}.get, rule).keywords == ["柳"]  # < 100 related
    assert select_keywords(lyrics, reached, related.get, SelectionRule(1, 3, 2, 0.05, 100)).keywords == ["梅花"]


def test_substring_count_matches_how_a_hit_is_counted():
    sel = select_keywords(["明月几时有", "月明", "明月"], [{"明月"}], lambda w: 100,
                          SelectionRule(num=5, min_images=1, min_songs=1, max_song_share=1.0, min_related=1))
    assert sel.song_df == {"明月": 2}


def test_photo_tags_from_file_names():
    assert name_tags("sunset_by_Aitzol_Berasategi") == ["sunset"]
    assert name_tags("GreenMeadow") == ["green", "meadow"]
    assert name_tags("Elephants_3840x2160") == ["elephant"]
    assert name_tags("LadyBird") == ["lady", "bird"]  # without a dictionary that knows the compound
    assert name_tags("LadyBird", {"ladybird"}.__contains__) == ["ladybird"]  # not a lady and a bird
    assert name_tags("GreenMeadow", {"ladybird"}.__contains__) == ["green", "meadow"]
    assert tag_phrases("Plum Blossoms") == ["plum blossom"]
    assert tag_phrases("a bird in the tree") == []  # stopwords break phrases


def test_licence_per_file_from_dep5(tmp_path: Path):
    text = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2020 Some Team
License: GPL-2+

Files: 16.04/sunset_by_A.jpg
Copyright: A, 2018
License: CC-BY-4.0

Files: nature/*
Copyright: 2008, B
License: CC0-1.0
 Public domain dedication.
"""
    path = tmp_path / "copyright"
    path.write_text(text, encoding="utf-8")
    st = parse_copyright(path)
    assert licence_for(st, "usr/share/backgrounds/sunset_by_A.jpg") == ("GPL-2+", "2020 Some Team")  # no 16.04/
    assert licence_for(st, "usr/share/backgrounds/16.04/sunset_by_A.jpg") == ("CC-BY-4.0", "A, 2018")
    assert licence_for(st, "usr/share/backgrounds/mate/nature/Dune.jpg") == ("CC0-1.0", "2008, B")


def _tiny_cilin() -> Cilin:
    """月's group is concrete (Bd) with one neighbour 月亮; 月亮 also sits in an abstract group (Dd) full of words."""
    c = Cilin.__new__(Cilin)
    c.words = {"Bd02B01": ["月", "月亮", "玉兔"], "Bd02B02": ["太阴"], "Bd02A01": ["日", "太阳"],
               "Dd06B01": ["月亮", "类", "种", "样"], "Bd03A01": ["月亮", "明月"]}
    c.codes = {}
    for code, ws in c.words.items():
        for w in ws:
            c.codes.setdefault(w, []).append(code)
    c.by_prefix = {}
    for code, ws in c.words.items():
        for n, _, _ in CILIN_LEVELS[1:]:
            c.by_prefix.setdefault(code[:n], set()).update(ws)
    c.vectors = {}
    return c


def test_second_hop_stays_in_concrete_senses():
    edges = zh_edges(_tiny_cilin(), ["月"])
    pairs = {(e.start, e.end) for e in edges}
    assert ("/c/zh/月亮", "/c/zh/明月") in pairs or ("/c/zh/明月", "/c/zh/月亮") in pairs  # concrete second hop
    ends = {e.end for e in edges} | {e.start for e in edges}
    assert not ends & {"/c/zh/类", "/c/zh/种", "/c/zh/样"}  # 月亮's abstract group is not followed
