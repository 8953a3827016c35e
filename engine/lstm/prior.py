"""The LSTM's song prior: a bias per song from its lyric's own features, so it also scores songs never trained on.

Factorisation models give every item a learned bias; a bias per song id would not reach unseen songs, so here the
bias is w·f(song) with f read off the lyric: how long it is, how many distinct words it holds, and how many distinct
keywords (tag-vocabulary words) it contains. Keyword-rich lyrics share a keyword with more images, and the ranking
loss learns how much that is worth beside the lyric's match with one image (w starts at 0).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

PRIOR_FEATURES = ("log_tokens", "log_distinct_words", "log_distinct_keywords", "log_keyword_tokens")


def prior_features(song_tokens: Sequence[Sequence[str]], tag_vocab: Iterable[str]) -> np.ndarray:
    """[N, len(PRIOR_FEATURES)] raw features of each lyric's full token list (not cut to the LSTM's max_len)."""
    vocab = set(tag_vocab)
    out = np.zeros((len(song_tokens), len(PRIOR_FEATURES)), np.float64)
    for i, toks in enumerate(song_tokens):
        kw = [t for t in toks if t in vocab]
        out[i] = (len(toks), len(set(toks)), len(set(kw)), len(kw))
    return np.log1p(out).astype(np.float32)


def standardiser(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of training songs' features; a constant feature gets std 1 (it then contributes nothing)."""
    f = np.asarray(features, np.float64)
    if not len(f):
        return np.zeros(f.shape[1], np.float32), np.ones(f.shape[1], np.float32)
    std = f.std(0)
    return f.mean(0).astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32)


def keyword_presence(song_tokens: Sequence[Sequence[str]], tag_vocab: Sequence[str]) -> np.ndarray:
    """[N, len(tag_vocab)] 1.0 where the lyric holds the tag word (its full token list), for the lexical match."""
    col = {t: j for j, t in enumerate(tag_vocab)}
    out = np.zeros((len(song_tokens), len(col)), np.float32)
    for i, toks in enumerate(song_tokens):
        for t in set(toks):
            if t in col:
                out[i, col[t]] = 1.0
    return out


def query_mass(image_tags: np.ndarray) -> np.ndarray:
    """An image's tag vector as a distribution (negatives clipped, L1 = 1): lexical match = mass · presence."""
    p = np.clip(np.atleast_2d(np.asarray(image_tags, np.float32)), 0, None)
    return p / np.maximum(p.sum(1, keepdims=True), 1e-12)
