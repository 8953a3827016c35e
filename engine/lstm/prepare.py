"""LSTM data preparation from a TrainingSet: lyric tokens, lyric word vectors, image tag vectors, signatures."""
from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.inputs import TrainingSet
from engine.lstm.wordvectors import WordVectors, load_word_vectors, train_word_vectors
from graph.common.errors import Img2SongError
from graph.records import Song


def song_tokens(data: TrainingSet) -> dict[str, list[str]]:
    """Content-word tokens of every lyric (jieba for zh), with the tag vocabulary kept as units."""
    return lyric_tokens(data.corpus.songs, list(data.tag_vocab))


def lyric_tokens(songs: Sequence[Song], tag_vocab: list[str]) -> dict[str, list[str]]:
    """song_tokens for any songs (a live catalogue's added ones too), by the one rule the LSTM was fitted with."""
    # deferred: jieba loads its dictionary (seconds) on first import
    from graph.keywords import tokenize

    return {s.id: tokenize(s.lyrics, s.language, vocabulary=tag_vocab) for s in songs}


def training_signature(pairs: list[tuple[str, str]], tag_vocab: list[str]) -> str:
    """Hash of what a checkpoint was trained on, so a stale one (other split or vocabulary) is never reused."""
    h = hashlib.sha256("\n".join(tag_vocab).encode())
    for i, s in sorted(pairs):
        h.update(f"{i}\t{s}\n".encode())
    return h.hexdigest()[:16]


def run_word_vectors(data: TrainingSet, tokens: dict[str, list[str]], path: str | Path | None = None,
                     method: str = "line", dim: int = 64, seed: int = 0) -> WordVectors:
    """A user's file when named; else the run's lyric vectors (TrainingSet.word_vectors); else trained on the
    lyrics now (the train-lstm stage keeps them in the run, so that later stages reuse them)."""
    if path:
        return load_word_vectors(path)
    if data.word_vectors is not None:
        return data.word_vectors
    return train_word_vectors(list(tokens.values()), dim=dim, method=method, seed=seed, vocabulary=data.tag_vocab)


def image_tag_matrix(data: TrainingSet, image_ids: list[str]) -> dict[str, np.ndarray]:
    """Tag vectors of the given images from TrainingSet.tags; an error naming the first image without one."""
    if data.tags is None:
        raise Img2SongError("scorer 'lstm' needs keyword-space tag vectors: run `img2song features --run DIR` first")
    missing = [i for i in image_ids if i not in data.tags]
    if missing:
        raise Img2SongError(f"scorer 'lstm': {len(missing)} images have no tag vector, e.g. {missing[0]!r}")
    return {i: np.asarray(data.tags[i], np.float32) for i in image_ids}
