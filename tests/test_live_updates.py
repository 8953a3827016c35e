"""Live catalogue, engine side: fold-in with the run's tables, and every scorer updated in place of a refit
answering as the same scorer fitted on the changed catalogue (parity with a refit on the changed tables)."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from engine.index.keywords import KeywordIndex
from engine.index.song_lists import SongLists
from engine.line.foldin import LineTables, fold_in_vertex
from engine.live import indexes as ix
from engine.live.edges import Edges
from engine.live.updates import (
    Change,
    Context,
    ImageEntry,
    SongEntry,
    update_km,
    update_ne,
    update_pop,
    update_zs,
)
from engine.scorers.base import Query
from engine.scorers.km import KMScorer
from engine.scorers.ne import NEScorer
from engine.scorers.pop import POPScorer
from engine.scorers.zs import ZeroShotScorer
from graph.common.errors import Img2SongError
from graph.records import Image, Song
from tests.test_foldin import GROUPS, song_rows, tiny_line, tripartite


def ctx(songs=()) -> Context:
    return Context(lambda: list(songs), lambda i: {})


def song(i: str, lyrics: str = "月", pop: float = 1.0) -> Song:
    return Song(i, f"t{i}", "a", lyrics, "zh", pop)


# --------------------------------------------------------------------------------------------- fold-in
@pytest.fixture(scope="module")
def tables():
    net = tripartite()
    V2, C2 = tiny_line(net, 2)
    V1, _ = tiny_line(net, 1, seed=1)
    return net, LineTables(net.ids, {1: V1, 2: V2}, C2, net.degrees(), samples=40_000, negative=5, lr=0.025)


def test_embed_lands_among_its_group_with_both_orders_normalised(tables):
    net, t = tables
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)  # noqa: E731
    table = np.concatenate([unit(t.vertex[1]), unit(t.vertex[2])], 1)
    for gi, (x, y) in enumerate(GROUPS):
        t.min_steps = 2000  # far more than the matched count: the direction converges
        v = t.embed([(f"kw:{x}", 2.0), (f"kw:{y}", 1.0)], seed=gi)
        assert v.shape == (32,) and np.allclose(np.linalg.norm(v[:16]), 1) and np.allclose(np.linalg.norm(v[16:]), 1)
        rows = song_rows(net)
        best = [net.ids[r] for r in rows[np.argsort(-(table[rows] @ v))[:4]]]
        assert all(b.startswith(f"song:g{gi}-") for b in best), (gi, best)
    t.min_steps = 8


def test_embed_is_seeded_and_steps_match_training_draws(tables):
    _, t = tables
    e = [("kw:a", 1.0), ("kw:b", 3.0)]
    assert np.array_equal(t.embed(e, 5), t.embed(e, 5)) and not np.array_equal(t.embed(e, 5), t.embed(e, 6))
    w = 4.0  # a trained vertex with edges of total weight 4 was drawn samples * 4 / total times as a source
    assert t.steps(w, 2) == max(8, round(40_000 * w / t.degrees.sum()))
    assert t.steps(w, 1) == max(8, round(2 * 40_000 * w / t.degrees.sum()))
    with pytest.raises(Img2SongError, match="not in the trained network"):
        t.embed([("kw:zzz", 1.0)])


def test_fold_in_vertex_equals_a_scalar_loop():
    rng = np.random.default_rng(3)
    targets = rng.normal(size=(20, 4)).astype(np.float32)
    pos, w = np.array([2, 5]), np.array([1.0, 2.0])
    cdf = np.cumsum(np.ones(20) / 20)
    got = fold_in_vertex(targets, pos, w, cdf, 50, 3, 0.05, np.random.default_rng(1), 4)
    r = np.random.default_rng(1)  # the same draws, in the same order, applied one scalar update at a time
    u = ((r.random(4) - 0.5) / 4).astype(np.float32)
    pick = np.minimum(np.searchsorted(np.cumsum(w) / w.sum(), r.random(50), side="right"), 1)
    neg = np.minimum(np.searchsorted(cdf, r.random((50, 3)), side="right"), 19)
    for s in range(50):  # each step: every target scored with u as it was, then one update
        rho = 0.05 * max(1 - s / 50, 1e-4)
        step = [(pos[pick[s]], 1.0)] + [(n, 0.0) for n in neg[s]]
        xs = [float(np.clip(targets[t] @ u, -6, 6)) for t, _ in step]
        u = (u + sum((label - 1 / (1 + np.exp(-x))) * rho * targets[t] for (t, label), x in zip(step, xs))
             ).astype(np.float32)
    assert np.allclose(got, u, atol=1e-5)


# --------------------------------------------------------------------------------------------- song lists
def test_song_lists_add_and_remove_equal_a_fit_on_the_changed_table_ties_included():
    rng = np.random.default_rng(1)
    imgs = rng.integers(0, 3, (30, 3)).astype(np.float32)  # integer grids: many exact ties
    songs = rng.integers(0, 3, (40, 3)).astype(np.float32)
    base = SongLists(m=7).fit(imgs, songs[:32])
    grown = ix.song_lists_add_songs(base, songs[32:])
    ref = SongLists(m=7).fit(imgs, songs)
    assert np.array_equal(grown.index_, ref.index_) and np.allclose(grown.dist_, ref.dist_)
    assert base.index_.shape == (30, 7) and len(base.songs_) == 32  # the old object is untouched
    drop = np.array([0, 5, 33])
    shrunk = ix.song_lists_remove_songs(grown, drop)
    ref2 = SongLists(m=7).fit(imgs, np.delete(songs, drop, 0))
    assert np.array_equal(shrunk.index_, ref2.index_) and np.allclose(shrunk.dist_, ref2.dist_)
    more_imgs = ix.song_lists_add_images(shrunk, rng.integers(0, 3, (6, 3)).astype(np.float32))
    ref3 = SongLists(m=7).fit(more_imgs.images_, np.delete(songs, drop, 0))
    assert np.array_equal(more_imgs.index_, ref3.index_) and np.allclose(more_imgs.dist_, ref3.dist_)
    few = SongLists(m=7).fit(imgs, songs[:4])  # fewer songs than m: the lists grow as songs come
    more = ix.song_lists_add_songs(few, songs[4:9])
    assert np.array_equal(more.index_, SongLists(m=7).fit(imgs, songs[:9]).index_)


# ------------------------------------------------------------------------------------------------- NE
def ne_tables(n_img=25, n_song=30, d_feat=5, d=6, seed=2):
    r = np.random.default_rng(seed)
    return ([f"i{j}" for j in range(n_img)], r.normal(size=(n_img, d_feat)), r.normal(size=(n_img, d)),
            [f"s{j}" for j in range(n_song)], r.normal(size=(n_song, d)))


def answers(scorer, feats, k=8):
    return [[(r.song_id, r.explanation) for r in recs]
            for recs in scorer.recommend_batch([Query(features=f) for f in feats], k)]


def test_ne_updated_answers_as_ne_fitted_on_the_changed_tables():
    iids, f, iv, sids, sv = ne_tables()
    base = NEScorer(max_k=10).fit_arrays(iids[:20], f[:20], iv[:20], sids[:24], sv[:24])
    change = Change(tuple(SongEntry(song(s), Edges({}), sv[j]) for j, s in enumerate(sids) if j >= 24),
                    tuple(ImageEntry(Image(i, ""), Edges({}), iv[j], f[j]) for j, i in enumerate(iids) if j >= 20))
    upd = update_ne(base, change, ctx())
    ref = NEScorer(max_k=10).fit_arrays(iids, f, iv, sids, sv)
    q = np.random.default_rng(9).normal(size=(12, 5))
    assert answers(upd, q) == answers(ref, q)
    before = answers(base, q)
    gone = update_ne(upd, Change(remove_songs=frozenset({"s3", "s27"}), remove_images=frozenset({"i4", "i22"})), ctx())
    keep_i = [j for j, i in enumerate(iids) if i not in ("i4", "i22")]
    keep_s = [j for j, s in enumerate(sids) if s not in ("s3", "s27")]
    ref2 = NEScorer(max_k=10).fit_arrays([iids[j] for j in keep_i], f[keep_i], iv[keep_i],
                                         [sids[j] for j in keep_s], sv[keep_s])
    assert answers(gone, q) == answers(ref2, q)
    assert all(s not in ("s3", "s27") for row in answers(gone, q, 30) for s, _ in row)
    assert answers(base, q) == before  # copy-on-write: the state a server still answers from never moved


# ------------------------------------------------------------------------------------------------- KM
LYRICS = ["明月几时有 月光", "大江东去 江上小船", "花落满地 细雨", "海棠花依旧 雨", "月下山", "浓睡不消残酒",
          "山间明月 清风", "小船 江水", "the moon and the trees", "月 月 月 花"]
VOCAB = ["月", "山", "花", "雨", "船", "江", "酒", "moon", "tree"]


def test_km_updated_postings_equal_a_fresh_index_and_answers_follow_its_own_key():
    pops = [9.0, 8, 7, 6, 5, 4, 3, 2, 1, 5]
    ids = [f"s{j}" for j in range(len(LYRICS))]
    base = KMScorer(n_tag_keywords=2).fit_arrays(ids[:6], LYRICS[:6], pops[:6], VOCAB)
    change = Change(tuple(SongEntry(song(ids[j], LYRICS[j], pops[j]), Edges({}), np.zeros(1)) for j in range(6, 10)))
    upd = update_km(base, change, ctx())
    fresh = KeywordIndex().fit(LYRICS, VOCAB)
    for w in VOCAB:
        for a, b in zip(upd.keyword_index_.postings(w), fresh.postings(w)):
            assert np.array_equal(a, b), w
    assert upd.keyword_index_.postings("清风")[0].tolist() == [6]  # a word first asked for after the change
    assert sorted(upd.tie_.tolist()) == list(range(10))
    for kws in (("月",), ("花", "雨"), ("船",), ("moon",), ("zzz",)):
        got = [r.song_id for r in upd.recommend(Query(keywords=kws), 6)]
        total = sum(upd.keyword_index_.counts(w) for w in kws)
        assert got == [upd.song_ids_[r] for r in upd._top(total, 6)], kws  # the sparse path = the dense reference
    gone = update_km(upd, Change(remove_songs=frozenset({"s0", "s9"})), ctx())
    assert all(r.song_id not in ("s0", "s9") for r in gone.recommend(Query(keywords=("月",)), 10))
    fresh2 = KeywordIndex().fit([t for j, t in enumerate(LYRICS) if j not in (0, 9)], VOCAB)
    for w in VOCAB:
        assert np.array_equal(gone.keyword_index_.postings(w)[0], fresh2.postings(w)[0]), w
    assert sorted(gone.tie_.tolist()) == list(range(8)) and base.song_ids_ == ids[:6]


# ------------------------------------------------------------------------------------------------- POP, zs
def test_pop_pool_equals_a_refit_after_adds_and_removals():
    songs = [song(f"s{j}", pop=float(p)) for j, p in enumerate([5, 9, 1, 7, 7, 3])]
    base = POPScorer(pool=3)
    base.pool_ids_ = ["s1", "s3", "s4"]
    base.pool_popularity_ = np.array([9.0, 7.0, 7.0])
    new = [song("n1", pop=8.0), song("n2", pop=0.5)]
    live = songs + new
    upd = update_pop(base, Change(tuple(SongEntry(s, Edges({}), np.zeros(1)) for s in new)), ctx(live))
    assert upd.pool_ids_ == ["s1", "n1", "s3"]
    live = [s for s in live if s.id != "s1"]
    upd2 = update_pop(upd, Change(remove_songs=frozenset({"s1"})), ctx(live))
    assert upd2.pool_ids_ == ["n1", "s3", "s4"] and base.pool_ids_ == ["s1", "s3", "s4"]


def test_zs_updated_answers_as_zs_with_the_new_lyric_vectors():
    r = np.random.default_rng(4)
    vec = r.normal(size=(8, 5)).astype(np.float32)
    zs = ZeroShotScorer(top=2)
    zs.song_ids_, zs.song_vectors_ = [f"s{j}" for j in range(6)], vec[:6]
    zs.tag_vocab_, zs.tags_, zs.phrases_ = ["a", "b", "c"], None, ["a", "b", "c"]
    zs.phrase_vectors_ = r.normal(size=(3, 5)).astype(np.float32)
    ref = copy.copy(zs)
    ref.song_ids_, ref.song_vectors_ = [f"s{j}" for j in range(8) if j != 2], np.delete(vec, 2, 0)
    upd = update_zs(zs, Change(tuple(SongEntry(song(f"s{j}"), Edges({}), np.zeros(1), vec[j]) for j in (6, 7)),
                               remove_songs=frozenset({"s2"})), ctx())
    q = [Query(tag_probs=np.array(p)) for p in ([0.7, 0.2, 0.1], [0.1, 0.1, 0.8])]
    assert [[x.song_id for x in row] for row in upd.recommend_batch(q, 7)] == \
           [[x.song_id for x in row] for row in ref.recommend_batch(q, 7)]
    with pytest.raises(Img2SongError, match="text embedding"):
        update_zs(zs, Change((SongEntry(song("x"), Edges({}), np.zeros(1)),)), ctx())


def test_a_scorer_without_an_exact_update_is_wrapped_removed_songs_filtered_k_kept():
    from engine.live.updates import FilteredScorer, wrap

    class Lister(POPScorer):  # stands for the LSTM: a fixed ranking over its own songs
        def recommend(self, query, k=10):
            from engine.scorers.base import Recommendation
            return [Recommendation(s, 1.0, "") for s in self.pool_ids_[:k]]

    inner = Lister()
    inner.pool_ids_ = [f"s{j}" for j in range(8)]
    w = wrap(inner, Change(remove_songs=frozenset({"s0", "s2"})), ctx())
    w = wrap(w, Change((SongEntry(song("new"), Edges({}), np.zeros(1)),), remove_songs=frozenset({"s5"})), ctx())
    assert isinstance(w, FilteredScorer) and w.inner is inner and w.missing == 1
    assert [r.song_id for r in w.recommend(Query(image_id="x"), 4)] == ["s1", "s3", "s4", "s6"]
