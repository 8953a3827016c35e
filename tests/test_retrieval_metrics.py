"""R@K and median rank on hand-computed rankings; the dataset†/§-style splits keep test data out of training."""
from __future__ import annotations

import numpy as np
import pytest

from engine.lstm.dataset import keyword_pairs
from evaluation.measure.retrieval import (
    PAPER_TABLE2,
    bootstrap_interval,
    both_directions,
    chance_recall,
    closest_ranks,
    image_disjoint_split,
    keyword_relevance,
    median_rank,
    metrics,
    recall_at_k,
    render_markdown,
    song_disjoint_split,
)


def test_closest_rank_hand_computed():
    scores = np.array([
        [0.9, 0.1, 0.5, 0.3],  # correct {2}: only item 0 scores higher -> rank 2
        [0.2, 0.8, 0.7, 0.1],  # correct {0, 3}: best correct 0.2; items 1, 2 higher -> rank 3
        [0.5, 0.5, 0.5, 0.5],  # correct {1}: all tied -> ties count against the model -> rank 4
        [0.1, 0.2, 0.3, 0.4],  # no correct item -> -1, ignored by the metrics
        [0.3, 0.9, 0.1, 0.2],  # correct {1}: rank 1
    ])
    ranks = closest_ranks(scores, [[2], [0, 3], [1], [], [1]])
    assert ranks.tolist() == [2, 3, 4, -1, 1]
    assert recall_at_k(ranks, 1) == pytest.approx(25.0)
    assert recall_at_k(ranks, 2) == pytest.approx(50.0)
    assert recall_at_k(ranks, 3) == pytest.approx(75.0)
    assert median_rank(ranks) == pytest.approx(2.5)


def test_both_directions_uses_columns_for_song2image():
    scores = np.array([[0.9, 0.2], [0.8, 0.1], [0.1, 0.3]])  # 3 images x 2 songs
    res, detail = both_directions(scores, [(0, 0), (2, 1)])
    assert res["image2song"]["R@1"] == 100.0 and res["image2song"]["med_r"] == 1.0
    # song 0: correct image 0 (0.9) is top; song 1: correct image 2 (0.3) beats 0.2, 0.1
    assert res["song2image"]["R@1"] == 100.0
    assert detail["image2song_queries"] == 2 and set(res["image2song"]) == {"R@1", "R@5", "R@10", "med_r",
                                                                                "ci", "chance", "queries"}
    res2, _ = both_directions(-scores, [(0, 0), (2, 1)])
    assert res2["image2song"]["med_r"] == 2.0 and res2["image2song"]["R@1"] == 0.0


def test_large_candidate_sets_add_r50_r100_and_chance():
    rng = np.random.default_rng(0)
    scores = rng.random((5, 150))
    res, _ = both_directions(scores, [(i, i) for i in range(5)])
    assert {"R@50", "R@100"} <= set(res["image2song"]) and "R@50" not in res["song2image"]
    assert chance_recall(100, 1, 10) == pytest.approx(10.0)
    assert chance_recall(4, 2, 1) == pytest.approx(50.0)
    assert chance_recall(4, 2, 2) == pytest.approx(100 * (1 - 1 / 6))


def _pairset():
    rng = np.random.default_rng(3)
    kws = [f"k{j}" for j in range(12)]
    images = {f"i{n}": {kws[j]: 1.0 for j in rng.choice(12, 2, replace=False)} for n in range(80)}
    songs = {f"s{n}": {kws[n % 12]: float(1 + n % 5)} for n in range(60)}
    return keyword_pairs(images, songs, songs_per_keyword=4, images_per_song=5, min_images=2)


def test_song_disjoint_split_keeps_test_songs_and_images_out_of_training():
    ps = _pairset()
    sp = song_disjoint_split(ps, n_test_songs=100, max_fraction=0.2, seed=0, strict_images=True)
    assert len(sp.test_songs) == round(0.2 * len(ps.songs))
    train_songs, train_images = {s for _, s in sp.train_pairs}, {i for i, _ in sp.train_pairs}
    assert not train_songs & set(sp.test_songs) and not train_images & set(sp.test_images)
    loose = song_disjoint_split(ps, n_test_songs=100, max_fraction=0.2, seed=0)
    assert loose.test_songs == sp.test_songs and not {s for _, s in loose.train_pairs} & set(sp.test_songs)
    assert len(loose.train_pairs) - len(sp.train_pairs) == loose.notes["train_pairs_with_test_images"] > 0
    assert {s for _, s in sp.test_pairs} == set(sp.test_songs)
    assert set(sp.train_pairs) | set(sp.test_pairs) <= set(ps.pairs)


def test_image_disjoint_split_holds_out_images_with_all_their_pairs():
    ps = _pairset()
    sp = image_disjoint_split(ps, seed=0, fraction=0.2, min_test=10)
    test = set(sp.test_images)
    assert len(test) == max(10, round(0.2 * len(ps.images)))
    assert not test & {i for i, _ in sp.train_pairs}
    assert sp.test_songs == ps.songs
    assert len(sp.train_pairs) + len(sp.test_pairs) == len(ps.pairs)
    big = image_disjoint_split(ps, seed=0, fraction=0.2, min_test=200)  # never more than half the images
    assert len(big.test_images) == len(ps.images) // 2


def test_keyword_relevance_is_every_candidate_sharing_a_keyword():
    img_kw = {"a": {"sea": 1.0}, "b": {"moon": 1.0, "sea": 0.5}, "c": {"snow": 1.0}}
    song_kw = {"s1": {"sea": 2.0}, "s2": {"moon": 1.0}, "s3": {"sea": 1.0, "moon": 1.0}, "s4": {}}
    rel = keyword_relevance(["a", "b", "c"], ["s1", "s2", "s3", "s4"], img_kw, song_kw)
    assert rel == [(0, 0), (0, 2), (1, 0), (1, 1), (1, 2)]


def test_chance_is_the_exact_hypergeometric_expectation():
    """The reported chance equals the mean R@K of random rankings (simulated, 4,000 per query size)."""
    rng = np.random.default_rng(0)
    n, sizes = 30, [1, 3, 7]
    scores = rng.random((len(sizes) * 4000, n))
    rel = [list(range(m)) for m in sizes for _ in range(4000)]
    res = metrics(closest_ranks(scores, rel), n, [len(r) for r in rel])
    for k in (1, 5, 10):
        assert res["chance"][f"R@{k}"] == pytest.approx(np.mean([chance_recall(n, m, k) for m in sizes]), abs=0.01)
        assert res[f"R@{k}"] == pytest.approx(res["chance"][f"R@{k}"], abs=1.5)  # simulation agrees
    lo, hi = res["ci"]["R@10"]
    assert lo < res["R@10"] < hi and hi - lo < 3  # 12,000 queries: a narrow interval


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_queries():
    rng = np.random.default_rng(1)
    small, large = rng.random(50) < 0.3, rng.random(5000) < 0.3
    a, b = bootstrap_interval(100.0 * small), bootstrap_interval(100.0 * large)
    assert a[0] <= 100 * small.mean() <= a[1] and b[0] <= 100 * large.mean() <= b[1]
    assert (b[1] - b[0]) < (a[1] - a[0]) / 5
    assert bootstrap_interval(100.0 * small) == a  # seeded


def test_markdown_lists_ours_and_paper_numbers():
    res, _ = both_directions(np.eye(3), [(0, 0), (1, 1), (2, 2)])
    md = render_markdown({"song_disjoint": {"baseline": res, "attention": res}})
    assert "| ours-attention | image2song | 100.00 [100.00–100.00] | 100.00 [100.00–100.00] | 100.00 [100.00–100.00]" in md
    assert "| chance (exact) | image2song | 33.33 | 100.00 | 100.00" in md
    assert "41.50" in md and PAPER_TABLE2["dataset§ (image-disjoint, 586 songs)"]["Our-attention"]["med_r"] == 233.82
