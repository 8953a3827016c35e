"""Retrieval indexes: exact parity with engine.knn, calibrated ANN recall, save/load round trips, postings counts."""
from __future__ import annotations

import numpy as np
import pytest

from engine.index import ImageIndex, KeywordIndex, SongLists
from engine.knn import KnnTable, knn
from engine.scorers.base import Query, get_scorer
from engine.scorers.km import KMScorer, count_occurrences
from graph.common.errors import Img2SongError


def clustered(n: int, d: int, seed: int, clusters: int = 20, latent: int = 8) -> np.ndarray:
    """Gaussian clusters in a low-dimensional latent space mapped to d dimensions (like CNN features)."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(latent, d))
    centres = rng.normal(scale=3.0, size=(clusters, latent))
    z = centres[rng.integers(clusters, size=n)] + rng.normal(size=(n, latent))
    return (z @ w + 0.05 * rng.normal(size=(n, d))).astype(np.float32)


def test_knn_table_is_checked_once_and_not_copied():
    x = clustered(500, 16, 0)
    t = KnnTable(x)
    assert t.vectors is x  # float32 C-contiguous: used as is
    a = knn(x[:7] + 0.01, t, 5, method="faiss")
    index = t.faiss_index()
    b = knn(x[:7] + 0.01, t, 5, method="faiss")
    assert t.faiss_index() is index  # built once, reused by every call
    ref = knn(x[:7] + 0.01, x, 5, method="torch")  # plain array: validated per call, same answer
    for got in (a, b):
        np.testing.assert_array_equal(got[1], ref[1])
        np.testing.assert_allclose(got[0], ref[0], rtol=1e-12)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(Img2SongError, match="NaN"):
        KnnTable(bad)


def test_exact_image_index_equals_knn():
    x, q = clustered(800, 24, 1), clustered(30, 24, 2)
    index = ImageIndex.build(x)  # below exact_max: exact
    assert index.method_ == "exact"
    d, i = index.search(q, 9)
    rd, ri = knn(q, x, 9)
    np.testing.assert_array_equal(i, ri)
    np.testing.assert_array_equal(d, rd)


@pytest.mark.parametrize("method,reduce_dim", [("hnsw", None), ("ivf", None), ("hnsw", 12)])
def test_approximate_index_reaches_recall_and_orders_exactly(method, reduce_dim, tmp_path):
    x = clustered(4000, 32, 3)
    q = clustered(200, 32, 3)[:100] + np.random.default_rng(9).normal(scale=0.2, size=(100, 32)).astype(np.float32)
    index = ImageIndex.build(x, method=method, target_recall=0.95, n_calibration=200, reduce_dim=reduce_dim)
    assert index.method_ == method and index.calibration_recall_ >= 0.95
    knob = index.ef_search_ if method == "hnsw" else index.nprobe_
    assert knob is not None
    d, i = index.search(q, 10)
    _, exact = knn(q, x, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(i.tolist(), exact.tolist())])
    assert recall >= 0.9, recall
    # re-ranked: the distances are the exact float64 distances of the returned rows, ascending
    true = np.sqrt(((x[i].astype(np.float64) - q[:, None, :].astype(np.float64)) ** 2).sum(-1))
    np.testing.assert_allclose(d, true, rtol=1e-12)
    assert (np.diff(d, axis=1) >= 0).all()
    index.save(tmp_path / "ix")
    loaded = ImageIndex.load(tmp_path / "ix")
    assert loaded.method_ == method and (loaded.ef_search_, loaded.nprobe_) == (index.ef_search_, index.nprobe_)
    d2, i2 = loaded.search(q, 10)
    np.testing.assert_array_equal(i2, i)
    np.testing.assert_array_equal(d2, d)


def test_image_index_save_load_exact_and_bad_files(tmp_path):
    x = clustered(300, 8, 4)
    index = ImageIndex(method="exact").fit(x)
    index.save(tmp_path / "ix")
    loaded = ImageIndex.load(tmp_path / "ix")
    for a, b in zip(index.search(x[:5] + 0.1, 4), loaded.search(x[:5] + 0.1, 4)):
        np.testing.assert_array_equal(a, b)
    (tmp_path / "ix" / "image_index.faiss").write_bytes(b"not an index")
    with pytest.raises(Img2SongError, match="image_index.faiss"):
        ImageIndex.load(tmp_path / "ix")
    with pytest.raises(Img2SongError, match="no saved image index"):
        ImageIndex.load(tmp_path / "nothing")
    with pytest.raises(Img2SongError, match="dimension"):
        index.search(np.zeros((1, 3)), 2)
    with pytest.raises(Img2SongError, match="unknown method"):
        ImageIndex(method="lsh").fit(x)


def test_song_lists_are_prefixes_of_exact_knn(tmp_path):
    rng = np.random.default_rng(5)
    images = rng.integers(0, 3, size=(60, 4)).astype(np.float32)  # many ties: order must follow (distance, row)
    songs = rng.integers(0, 3, size=(200, 4)).astype(np.float32)
    lists = SongLists(m=6, batch=7, song_block=11).fit(images, songs, rows=[0, 5, 9])
    assert lists.done_.sum() == 3
    for n in (3, 6, 15):  # 15 > m: computed on demand
        got = lists.get(np.arange(60), n)
        rd, ri = knn(images, songs, n)
        for r in range(60):
            np.testing.assert_array_equal(got[r][1], ri[r])
            np.testing.assert_array_equal(got[r][0], rd[r])
    assert lists.done_.all()
    lists.save(tmp_path)
    loaded = SongLists.load(tmp_path)
    np.testing.assert_array_equal(loaded.index_, lists.index_)
    np.testing.assert_array_equal(loaded.get([4], 10)[4][1], knn(images[4:5], songs, 10)[1][0])


def test_song_lists_full_blocked_build_equals_a_full_sort():
    """Every row built in blocks (7 images x 13 songs) equals a float64 full sort by (distance, song row)."""
    rng = np.random.default_rng(7)
    images = rng.integers(0, 3, size=(40, 3)).astype(np.float32)
    songs = rng.integers(0, 3, size=(90, 3)).astype(np.float32)
    lists = SongLists(m=9, batch=7, song_block=13, device="cpu").fit(images, songs, progress=True)
    d2 = ((images[:, None, :].astype(np.float64) - songs[None]) ** 2).sum(-1)
    expect = np.stack([np.lexsort((np.arange(len(songs)), row))[:9] for row in d2])
    np.testing.assert_array_equal(lists.index_, expect)
    np.testing.assert_allclose(lists.dist_, np.sqrt(np.take_along_axis(d2, expect, 1)))


def test_keyword_index_counts_equal_substring_counts(tmp_path):
    rng = np.random.default_rng(6)
    alphabet = list("aab月明花 \x00") + ["哈哈", "Ab"]
    lyrics = ["".join(rng.choice(alphabet, size=rng.integers(0, 30))) for _ in range(300)] + ["", "AAAA"]
    words = ["a", "aa", "aaa", "月", "明月", "哈哈哈", " AB ", "b\x00a", "", "zz"]
    index = KeywordIndex().fit(lyrics, words[:5])
    lower = [t.lower() for t in lyrics]
    for w in words + ["花a"]:  # the last one is indexed on first use
        expect = np.array([count_occurrences(t, w) for t in lower])
        np.testing.assert_array_equal(index.counts(w), expect, err_msg=repr(w))
        rows, counts = index.postings(w)
        assert (counts > 0).all() and (np.diff(rows) > 0).all()
    index.save(tmp_path)
    loaded = KeywordIndex.load(tmp_path)
    assert loaded.vocabulary == index.vocabulary
    for w in words + ["ab", "b"]:
        np.testing.assert_array_equal(loaded.counts(w), np.array([count_occurrences(t, w) for t in lower]))


def test_ne_scorer_answers_equal_the_per_call_exact_path():
    """NE with its indexes gives what a per-query engine.knn over the raw tables gives (the pre-index code)."""
    rng = np.random.default_rng(7)
    feats, vecs, songs = clustered(120, 12, 8), rng.normal(size=(120, 6)), rng.normal(size=(300, 6))
    ne = get_scorer("ne", n_images=5, songs_per_image=2, max_k=10)
    ne.fit_arrays([f"i{j}" for j in range(120)], feats, vecs, [f"s{j}" for j in range(300)], songs)
    queries = clustered(8, 12, 9)
    for k in (3, 10, 25):  # 25 > max_k: longer lists on demand
        n_fetch, n_songs = 5 + k, 2 + k
        d_img, i_img = ne.image_index_.search(queries, n_fetch)
        rd, ri = knn(queries, feats, n_fetch)
        np.testing.assert_array_equal(i_img, ri)
        np.testing.assert_array_equal(d_img, rd)
        lists = ne.song_lists_.get(i_img, n_songs)
        sd, si = knn(vecs[ri.reshape(-1)].astype(np.float32), songs.astype(np.float32), n_songs)
        for j, r in enumerate(ri.reshape(-1)):
            np.testing.assert_array_equal(lists[int(r)][1], si[j])
        recs = ne.recommend_batch([Query(features=q) for q in queries], k)
        assert all(len(r) == k and len({x.song_id for x in r}) == k for r in recs)
    # the HNSW index answers the same when its recall is perfect on such a small table
    approx = get_scorer("ne", index="hnsw", max_k=10)
    approx.fit_arrays([f"i{j}" for j in range(120)], feats, vecs, [f"s{j}" for j in range(300)], songs)
    a = [[x.song_id for x in r] for r in approx.recommend_batch([Query(features=q) for q in queries], 10)]
    b = [[x.song_id for x in r] for r in ne.recommend_batch([Query(features=q) for q in queries], 10)]
    assert approx.image_index_.method_ == "hnsw" and a == b


def test_keyword_index_one_pass_equals_str_count_on_random_vocabularies():
    """count_postings (one Aho-Corasick pass; nested, overlapping and self-overlapping keywords) == str.count."""
    from engine.index.keywords import count_postings, joined, self_overlapping

    rng = np.random.default_rng(12)
    checked = 0
    for trial in range(20):
        alphabet = list("abc月明 ") if trial % 2 else list("ab")
        lyrics = ["".join(rng.choice(alphabet, size=rng.integers(0, 40))) for _ in range(60)]
        words = {"".join(rng.choice(alphabet, size=rng.integers(1, 5))) for _ in range(25)}
        text, starts = joined([t.lower() for t in lyrics])
        got = count_postings(text, starts, words)
        for w in words:
            expect = np.array([count_occurrences(t.lower(), w) for t in lyrics])
            dense = np.zeros(len(lyrics), np.int64)
            dense[got[w.strip().lower()][0]] = got[w.strip().lower()][1]
            np.testing.assert_array_equal(dense, expect, err_msg=repr(w))
            checked += 1
    assert checked >= 300
    assert self_overlapping("aba") and self_overlapping("哈哈") and not self_overlapping("ab")


def test_km_tie_break_is_drawn_once_at_fit():
    """Two queries with the same keyword rank tied songs identically; another seed draws another order."""
    lyrics = ["love"] * 50 + ["rain"] * 50
    pop = np.zeros(100)
    a = KMScorer(seed=0).fit_arrays([f"s{j}" for j in range(100)], lyrics, pop, ["love"])
    r1 = [r.song_id for r in a.recommend(Query(image_id="q1", keywords=("love",)), 10)]
    r2 = [r.song_id for r in a.recommend(Query(image_id="q2", keywords=("love",)), 10)]
    assert r1 == r2 and all(int(x[1:]) < 50 for x in r1)
    b = KMScorer(seed=1).fit_arrays([f"s{j}" for j in range(100)], lyrics, pop, ["love"])
    assert [r.song_id for r in b.recommend(Query(image_id="q1", keywords=("love",)), 10)] != r1
    assert sorted(a.tie_.tolist()) == list(range(100))


def test_km_sparse_ranking_equals_the_dense_sort_key():
    """KM ranks only the matching songs; the answer must equal _top over every song (backfill on and off)."""
    rng = np.random.default_rng(11)
    lyrics = ["".join(rng.choice(list("月花雨山江 "), size=rng.integers(1, 12))) for _ in range(400)]
    pop = rng.integers(0, 5, size=400).astype(float)  # many popularity ties: the seeded tie break decides
    for backfill in (True, False):
        km = KMScorer(backfill=backfill).fit_arrays([f"s{j}" for j in range(400)], lyrics, pop, ["月", "花"])
        for j, (kws, k) in enumerate([(("月",), 10), (("花", "雨"), 25), (("月花雨山",), 10), (("江",), 400)]):
            q = Query(image_id=f"q{j}", keywords=kws)
            total = sum(np.array([count_occurrences(t, w) for t in km.lyrics_]) for w in kws)
            ref = km._top(total, k)
            got = km.recommend(q, k)
            assert [r.song_id for r in got] == [f"s{i}" for i in ref], (kws, k, backfill)
            assert [r.score for r in got] == [float(total[i]) for i in ref]
