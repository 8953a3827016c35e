"""Every song reachable: song-word edges (graph.context) give songs without a keyword a place in the network."""
from __future__ import annotations

import pytest

from graph.build import build_network
from graph.common.errors import Img2SongError
from graph.context import ContextParams, context_edges
from graph.corpus import load_corpus
from graph.network import Kind
from tests.conftest import TINY_IMAGES, make_corpus

# 月/江/花 are keywords (tiny lexicon); s7..s12 hold none of them but share lyric words with s1..s6 and each other
SONGS = [{"id": f"s{k}", "title": "曲", "lyrics": text, "language": "zh", "popularity": float(k)} for k, text in
         enumerate(["明月照梧桐，秋风起。", "江上梧桐落叶。", "花开时节，秋风送爽。", "明月 杨柳 黄昏。", "江水 杨柳 依依。",
                    "花落 黄昏 时节。", "梧桐 秋风 冷。", "杨柳 黄昏 归。", "秋风 落叶 满地。", "梧桐 杨柳 深处。",
                    "黄昏 落叶 寂寞。", "寂寞 秋风 时节。", "孤身一人。"], start=1)]


def test_songs_without_keywords_get_word_edges():
    from graph.records import Song

    songs = [Song(artist="", **s) for s in SONGS]
    params = ContextParams(per_song=3, max_song_share=0.5)
    edges = context_edges(songs, {"月", "江", "花", "明月"}, params, progress=False)
    linked = {w for ws in edges.values() for w in ws}
    assert "梧桐" in linked and "杨柳" in linked and "秋风" in linked
    assert not linked & {"月", "江", "花", "明月"}, "keywords are not lyric-word vertices"
    assert "s13" not in edges  # 孤身一人 shares no word with any other song
    for ws in edges.values():
        assert len(ws) <= 3 and sum(ws.values()) == pytest.approx(params.weight)
    degree = {w: sum(w in ws for ws in edges.values()) for w in linked}
    assert min(degree.values()) >= 2, "a word linked to one song links nothing"
    assert context_edges(songs, set(), ContextParams(per_song=0), progress=False) == {}
    with pytest.raises(Img2SongError):
        ContextParams(max_song_share=0.0)


def test_network_reaches_every_song_that_shares_a_word(tmp_path):
    root = make_corpus(tmp_path / "c", songs=SONGS, images=TINY_IMAGES)
    built = build_network(load_corpus(root), holdout=0.0, progress=False,
                          context=ContextParams(max_song_share=0.5))
    reach = built.reachability()
    no_kw = {s["id"] for s in SONGS} - set(built.song_keywords)
    assert no_kw >= {"s7", "s8", "s9", "s10", "s11", "s12"}
    assert reach["songs_with_edges"] == 12 and reach["song_share_with_edges"] == pytest.approx(12 / 13, abs=1e-4)
    assert reach["songs_with_only_word_edges"] == len(no_kw) - 1  # all but s13
    net = built.network
    songs_in_net = {net.ids[i] for i in net.of_kind(Kind.SONG)}
    assert {f"song:{s}" for s in no_kw - {"s13"}} <= songs_in_net  # NE ranks every song vertex of the network
    s = built.stats()
    assert s["reachability"] == reach and s["song_word_edges"] > 0 and s["isolated_vertices"] == 0
    assert built.skipped["song with no keyword and no shared lyric word (no edge: never recommended)"] == 1
    assert "12/13 songs" in built.reach_line()
    plain = build_network(load_corpus(root), holdout=0.0, progress=False, context=ContextParams(per_song=0))
    assert plain.reachability()["songs_with_edges"] == len(plain.song_keywords) < 12
