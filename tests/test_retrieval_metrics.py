"""R@K and median rank on hand-computed rankings; the dataset†/§-style splits keep test data out of training."""
from __future__ import annotations

import numpy as np
import pytest

from engine.lstm.dataset import keyword_pairs
from evaluation.retrieval import (
    PAPER_TABLE2,
    both_directions,
    chance_recall,
    closest_ranks,
    image_disjoint_split,
    median_rank,
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
    assert detail["image2song_queries"] == 2 and set(res["image2song"]) == {"R@1", "R@5", "R@10", "med_r"}
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


def test_image_disjoint_split_holds_out_an_image_for_every_song():
    ps = _pairset()
    sp = image_disjoint_split(ps, seed=0)
    test = set(sp.test_images)
    assert all(test.intersection(ps.song_images[s]) for s in ps.songs)
    assert not test & {i for i, _ in sp.train_pairs}
    assert sp.test_songs == ps.songs
    assert len(sp.train_pairs) + len(sp.test_pairs) == len(ps.pairs)


def test_markdown_lists_ours_and_paper_numbers():
    res, _ = both_directions(np.eye(3), [(0, 0), (1, 1), (2, 2)])
    md = render_markdown({"song_disjoint": {"baseline": res, "attention": res}})
    assert "| ours-attention | image2song | 100.00 | 100.00 | 100.00 | 1.00 |" in md
    assert "41.50" in md and PAPER_TABLE2["dataset§ (image-disjoint, 586 songs)"]["Our-attention"]["med_r"] == 233.82
