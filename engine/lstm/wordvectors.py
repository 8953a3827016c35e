"""Frozen word vectors for the lyric LSTM: LINE on a lyric co-occurrence network, or a user's word2vec file."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
from tqdm import tqdm

from engine.line import LINE
from engine.vectors import KeyedTable
from graph.common.errors import Img2SongError
from graph.network import Kind, Network

PAD = "<pad>"


class WordVectors(KeyedTable):
    """Row 0 is the all-zero padding vector; `index` maps a word to its row (the table's key_to_index)."""

    what = "word-vector"
    key_name = "word"

    def __init__(self, words: Iterable[str], vectors: np.ndarray, source: str = "",
                 meta: dict[str, Any] | None = None) -> None:
        words, vectors = list(words), np.asarray(vectors, dtype=np.float32)
        if (not words or words[0] != PAD) and vectors.ndim == 2:
            words = [PAD, *words]
            vectors = np.vstack([np.zeros((1, vectors.shape[1]), np.float32), vectors])
        meta = dict(meta or {})
        if source:
            meta["source"] = source
        super().__init__(words, vectors, meta=meta)

    @classmethod
    def from_fields(cls, ids: Sequence[str], vectors: np.ndarray, kinds: np.ndarray | None = None,
                    labels: Sequence[str] | None = None, meta: dict[str, Any] | None = None) -> Self:
        return cls(ids, vectors, meta=meta)  # words have no vertex kinds or labels

    @property
    def words(self) -> list[str]:
        return self.ids

    @property
    def index(self) -> dict[str, int]:
        return self.key_to_index

    @property
    def source(self) -> str:
        """Where the vectors come from (a file, or how they were trained)."""
        return str(self.meta.get("source", ""))

    def __contains__(self, word: object) -> bool:
        return self.key_to_index.get(word, 0) != 0  # type: ignore[call-overload]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Row ids of the tokens that have a vector (out-of-vocabulary tokens are dropped; callers count them)."""
        index = self.key_to_index
        return [index[t] for t in tokens if index.get(t, 0) != 0]

    @classmethod
    def load_npz(cls, path: str | Path) -> Self:
        return cls.load(path, "npz")


def cooccurrence_network(token_lists: Sequence[Sequence[str]], window: int = 5, min_count: int = 2,
                         vocabulary: Iterable[str] = ()) -> Network:
    """Words (Kind.OTHER) joined by edges weighted with their co-occurrence count within `window` tokens."""
    counts: Counter[str] = Counter()
    for toks in token_lists:
        counts.update(toks)
    keep = {w for w, c in counts.items() if c >= min_count} | {w for w in vocabulary if w in counts}
    words = sorted(keep)
    index = {w: i for i, w in enumerate(words)}
    pairs: Counter[tuple[int, int]] = Counter()
    for toks in tqdm(token_lists, desc="co-occurrence", unit="lyric", leave=False, mininterval=1.0):
        ids = [index[t] for t in toks if t in index]
        for i, a in enumerate(ids):
            for b in ids[i + 1: i + 1 + window]:
                if a != b:
                    pairs[(a, b) if a < b else (b, a)] += 1
    if not pairs:
        raise Img2SongError("lyric co-occurrence network is empty: too few tokens (lower min_count or add lyrics)")
    edges = np.array(list(pairs.keys()), dtype=np.int64)
    weights = np.array(list(pairs.values()), dtype=np.float32)
    return Network(words, np.full(len(words), int(Kind.OTHER), np.int8), words, edges, weights, directed=False)


def _ppmi_svd(network: Network, dim: int, seed: int) -> np.ndarray:
    """Fallback embedding of a co-occurrence network: truncated SVD of its positive PMI matrix."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import svds

    n = network.num_vertices
    src, dst, w = network.directed_edges()
    m = coo_matrix((w.astype(np.float64), (src, dst)), shape=(n, n)).tocsr()
    total = m.sum()
    row = np.asarray(m.sum(1)).ravel()
    col = np.asarray(m.sum(0)).ravel() ** 0.75
    col = col / col.sum() * total
    m = m.tocoo()
    pmi = np.log(m.data * total / (row[m.row] * col[m.col]))
    keep = pmi > 0
    ppmi = coo_matrix((pmi[keep], (m.row[keep], m.col[keep])), shape=(n, n)).tocsr()
    k = min(dim, n - 1)
    rng = np.random.default_rng(seed)
    u, s, _ = svds(ppmi, k=k, v0=rng.standard_normal(n))
    vec = u * np.sqrt(s)
    if k < dim:
        vec = np.hstack([vec, np.zeros((n, dim - k))])
    return vec.astype(np.float32)


def _line_vectors(network: Network, dim: int, samples: int, seed: int) -> np.ndarray:
    """LINE (our embedding engine) vectors in network vertex order."""
    # threads=1: Hogwild updates from several threads race, and seeded word vectors must repeat (issue 14 case 16)
    table = LINE(dim=dim, order=2, samples=samples, seed=seed, threads=1, progress=False).fit(network).embeddings_
    return table.vectors[table.rows(network.ids)]


def train_word_vectors(token_lists: Sequence[Sequence[str]], dim: int = 64, window: int = 5, min_count: int = 2,
                       method: str = "line", samples: int | None = None, seed: int = 0,
                       vocabulary: Iterable[str] = ()) -> WordVectors:
    """Word vectors learned from the lyrics alone (never downloaded): LINE on the co-occurrence network.

    `method="ppmi"` uses a PPMI+SVD factorisation of the same network; `vocabulary` words
    (e.g. the tag vocabulary) are kept even when rarer than `min_count`.
    """
    net = cooccurrence_network(token_lists, window=window, min_count=min_count, vocabulary=vocabulary)
    if method == "line":
        vec = _line_vectors(net, dim, samples or max(2_000_000, 20 * net.num_edges), seed)
    elif method == "ppmi":
        vec = _ppmi_svd(net, dim, seed)
    else:
        raise Img2SongError(f"unknown word-vector method {method!r}; expected 'line' or 'ppmi'")
    norms = np.linalg.norm(vec, axis=1, keepdims=True)
    vec = vec / np.maximum(norms, 1e-8)  # unit rows: the LSTM sees inputs on one scale whatever the method
    return WordVectors(list(net.ids), vec, source=f"{method}: {net.num_vertices} words, {net.num_edges} edges")


def load_word_vectors(path: str | Path) -> WordVectors:
    """A user's word vectors in any table format (word2vec text or binary, our .npz, a projector folder)."""
    wv = WordVectors.load(path)
    wv.meta["source"] = str(path)
    return wv
