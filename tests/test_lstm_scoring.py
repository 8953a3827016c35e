"""Fast catalogue scoring (engine/lstm/scoring.py): the same scores and ranking as the model's own forward pass."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.lstm import LyricTagModel, train_word_vectors
from engine.lstm.scoring import LyricIndex, build_index
from tests.test_lstm_model import _synthetic

torch.set_num_threads(1)


def _fitted(attention: bool, readout: str = "pool", seed: int = 1, **arch) -> tuple[LyricTagModel, dict, dict]:
    topics, songs, images, pairs = _synthetic(seed)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    m = LyricTagModel(attention=attention, hidden=6, epochs=2, seed=0, progress=False, device="cpu",
                      readout=readout, center=True, **arch).fit(pairs, songs, images, topics, wv)
    return m, songs, images


PAPER = {"skip": False, "output": "mlp", "match": False}
ARCHS = [PAPER, {**PAPER, "skip": True}, {**PAPER, "output": "tied"}, {"skip": True, "output": "tied", "match": True},
         {}, {"pooling": "weighted"}, {"prior": True, "lexical": True, "negatives": 2, "negative_pool": "catalogue"},
         {"match_pool": "max", "attention_loss": 1.0}]


@pytest.mark.parametrize("arch", ARCHS, ids=["paper", "skip", "tied", "skip-tied-match", "default", "weighted",
                                             "prior", "max-match"])
@pytest.mark.parametrize("attention", [False, True])
def test_index_scores_equal_the_models_forward_pass(attention, arch):
    m, songs, images = _fitted(attention, **arch)
    lyr = [songs[f"s{s}"][:3 + (7 * s) % 16] for s in range(60)]  # lengths 3-18 in no order: sorted, cut, put back
    img = np.stack([images[f"i{i}"] for i in range(0, 120, 7)])
    img[3] = np.roll(img[3], 2)  # a tag set of its own
    index = LyricIndex(m, lyr, chunk=7)  # chunks that cut across the catalogue, each cut to its longest lyric
    got = index.score(img)
    want = m.score(img, lyr)  # the model's pairwise forward pass (from_states per image and song)
    assert got.shape == (len(img), 60)
    np.testing.assert_allclose(got, want, atol=1e-5)
    order_got = np.argsort(-got, axis=1, kind="stable")[:, :10]
    order_want = np.argsort(-want, axis=1, kind="stable")[:, :10]
    overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(order_got, order_want)])
    assert overlap >= 0.95  # float rounding may swap a near-tie, never the ranking
    if arch.get("prior"):  # the song terms (prior, lexical match) are in both, and really move the scores
        terms = m.add_terms(np.zeros_like(got), img, m.song_terms(lyr))
        assert np.abs(index.terms[0]).max() > 1e-4 and np.abs(terms - index.terms[0]).max() > 1e-4
        np.testing.assert_allclose(got - terms, m.cosines(img, lyr), atol=1e-5)


def test_attention_scores_depend_on_the_image_tags():
    m, songs, images = _fitted(True)
    index = build_index(m, [songs[f"s{s}"] for s in range(60)])
    a, b = index.score(np.stack([images["i0"], images["i1"]]))
    assert np.abs(a - b).max() > 1e-3


def test_second_lstm_readout_falls_back_to_the_exhaustive_path():
    m, songs, images = _fitted(True, readout="lstm", **PAPER)
    lyr = [songs[f"s{s}"] for s in range(20)]
    index = build_index(m, lyr)
    assert not index.fast
    img = np.stack([images["i0"], images["i5"]])
    np.testing.assert_allclose(index.score(img), m.score(img, lyr), atol=1e-6)


def test_retrieval_training_never_reads_held_out_test_lyrics(monkeypatch):
    """evaluate_split: with a catalogue negative pool, fit may draw negatives from every lyric it receives, so the
    song-disjoint split's test songs must not be among them (they are scored, never trained on)."""
    from engine.lstm.dataset import keyword_pairs
    from evaluation.measure import retrieval

    topics, songs, images, _ = _synthetic(7)
    wv = train_word_vectors(list(songs.values()), dim=8, method="ppmi", min_count=1)
    image_kw = {i: {topics[int(np.argmax(v))]: 1.0} for i, v in images.items()}
    song_kw = {s: {t: 1.0 for t in toks if t in topics} for s, toks in songs.items()}
    ps = keyword_pairs(image_kw, song_kw, 8, 3, 2)
    seen: list[set] = []
    real_fit = LyricTagModel.fit

    def spy(self, pairs, song_tokens, *a, **k):
        seen.append(set(song_tokens))
        return real_fit(self, pairs, song_tokens, *a, **k)

    monkeypatch.setattr(LyricTagModel, "fit", spy)
    split = retrieval.song_disjoint_split(ps, n_test_songs=6, seed=0)
    rel = retrieval.keyword_relevance(split.test_images, split.test_songs, image_kw, song_kw)
    retrieval.evaluate_split(split, songs, images, topics, wv, ["attention"], progress=False, relevance=rel,
                             hidden=6, epochs=1, device="cpu", negative_pool="catalogue")
    assert seen and not seen[0] & set(split.test_songs)
    assert seen[0] == set(songs) - set(split.test_songs)  # every other lyric stays available as a negative
