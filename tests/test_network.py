"""Tripartite network: typed vertices, no image-song edges, positive weights, round trips, edge-list reader."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from graph.build import build_network, split_queries
from graph.common.errors import Img2SongError
from graph.corpus import load_corpus
from graph.network import Kind, Network, read_edgelist


@pytest.fixture
def built(tiny_corpus_dir):
    return build_network(load_corpus(tiny_corpus_dir), holdout=0.0)


def test_known_edges(built):
    net = built.network
    assert built.song_keywords["s1"] == {"山": 1.0, "月": 2.0, "酒": 1.0}
    assert built.image_keywords["i5"] == {"江": 2.0, "船": 2.0}  # caption 江上的船 + tags boat, river
    assert built.image_keywords["i2"] == {"山": 1.0, "月": 1.0}
    # English lyrics never reach Chinese keywords: the ground truth and KM could not count such a link
    assert "s6" not in built.song_keywords
    pairs = {(net.ids[a], net.ids[b]): w for (a, b), w in zip(net.edges.tolist(), net.weights.tolist())}
    assert pairs[("song:s1", "kw:月")] == 2.0 and pairs[("img:i5", "kw:船")] == 2.0


def test_invariants(built):
    net = built.network
    kinds = net.kinds[net.edges]
    hub = (kinds == Kind.KEYWORD) | (kinds == Kind.WORD)
    assert (hub[:, 0] ^ hub[:, 1]).all(), "every edge touches one keyword or lyric word"
    assert not (((kinds == Kind.IMAGE).any(1)) & ((kinds == Kind.SONG).any(1))).any(), "no image-song edge"
    assert (net.weights > 0).all()
    assert len(set(net.ids)) == net.num_vertices
    s = net.stats()
    assert s["image_song_edges"] == 0
    assert s["songs"] == 5 and s["images"] == 8 and s["keywords"] == 7  # s6 (English) reaches no keyword
    assert s["song_keyword_edges"] + s["image_keyword_edges"] == net.num_edges
    assert s["isolated_vertices"] == 0


def test_networkx_round_trip(built):
    net = built.network
    g = net.to_networkx()
    assert g.number_of_nodes() == net.num_vertices and g.number_of_edges() == net.num_edges
    assert g.nodes["kw:月"]["kind"] == "keyword"
    back = Network.from_networkx(g)
    assert back.ids == net.ids and (back.kinds == net.kinds).all()
    as_set = lambda n: {(frozenset((n.ids[a], n.ids[b])), w) for (a, b), w in zip(n.edges.tolist(), n.weights.tolist())}
    assert as_set(back) == as_set(net)


def test_save_load_round_trip(built, tmp_path):
    net = built.network
    path = net.save(tmp_path / "n" / "network.npz")
    back = Network.load(path)
    assert back.ids == net.ids and back.labels == net.labels and (back.edges == net.edges).all()
    assert back.weights.dtype == np.float32 and not back.directed
    assert not list((tmp_path / "n").glob("*.tmp*")), "no temp file left behind"


def test_directed_edges_both_directions(built):
    src, dst, w = built.network.directed_edges()
    assert len(src) == 2 * built.network.num_edges
    assert set(zip(src.tolist(), dst.tolist())) == {(b, a) for a, b in zip(src.tolist(), dst.tolist())}


def test_holdout_keeps_keywords_trainable(tiny_corpus_dir):
    res = build_network(load_corpus(tiny_corpus_dir), holdout=0.25, seed=3)
    assert set(res.train_image_ids).isdisjoint(res.query_image_ids)
    assert len(res.query_image_ids) >= 1
    assert all(f"img:{q}" not in res.network.ids for q in res.query_image_ids), "queries are held out"
    for q in res.query_image_ids:
        for kw in res.image_keywords[q]:
            assert sum(kw in res.image_keywords[t] for t in res.train_image_ids) >= 2


def test_split_is_seeded_and_bounded():
    kws = {f"i{k}": {"a": 1.0} for k in range(20)}
    a = split_queries(kws, 0.3, seed=1)
    assert a == split_queries(kws, 0.3, seed=1) and len(a[1]) == 6
    with pytest.raises(Img2SongError, match="holdout"):
        split_queries(kws, 1.5, seed=1)


def test_bad_weights_rejected():
    with pytest.raises(Img2SongError, match="positive"):
        Network(["a", "b"], np.array([3, 3]), ["a", "b"], np.array([[0, 1]]), np.array([0.0]))


def test_read_edgelist(tmp_path):
    p = tmp_path / "g.txt"
    p.write_text("a b 1\nb a 1\nb c 2.5\n\n", encoding="utf-8")
    net = read_edgelist(p)
    assert net.directed and net.ids == ["a", "b", "c"]
    assert net.edges.tolist() == [[0, 1], [1, 0], [1, 2]] and net.weights.tolist() == [1.0, 1.0, 2.5]
    p.write_text("a b 1\nb c x\n", encoding="utf-8")
    with pytest.raises(Img2SongError, match=r"g\.txt:2: field 'w' is not a number"):
        read_edgelist(p)


def test_split_holds_out_each_kind_in_proportion():
    """A stratified split gives the small group (photos) its share of queries; one group = the plain split."""
    kws = {f"i{k:03d}": {"a": 1.0, "b" if k % 2 else "c": 1.0} for k in range(200)}
    strata = {i: ("photo" if int(i[1:]) % 10 == 0 else "drawing") for i in kws}  # 20 photos, 180 drawings
    for seed in range(5):
        train, query = split_queries(kws, 0.2, seed, strata=strata)
        by = Counter(strata[q] for q in query)
        assert by == {"photo": 4, "drawing": 36}, (seed, by)
        assert set(train).isdisjoint(query) and len(train) + len(query) == 200
        assert split_queries(kws, 0.2, seed, strata={i: "drawing" for i in kws}) == split_queries(kws, 0.2, seed)
    # the keyword floor still holds inside a group: 3 photos of a keyword leave 2 in training, 1 query
    kws2 = {f"p{k}": {"x": 1.0} for k in range(3)} | {f"d{k}": {"y": 1.0} for k in range(30)}
    train, query = split_queries(kws2, 0.5, 0, strata={i: "photo" if i[0] == "p" else "drawing" for i in kws2})
    assert sum(q[0] == "p" for q in query) == 1 and sum(q[0] == "d" for q in query) == 15
