"""Frozen word vectors for the lyric LSTM: LINE on a lyric co-occurrence network, or a user's word2vec file."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.network import Kind, Network

PAD = "<pad>"


@dataclass
class WordVectors:
    """Row 0 is the all-zero padding vector; `index` maps a word to its row."""

    words: list[str]  # words[0] == PAD
    vectors: np.ndarray  # float32 [V, d]
    source: str = ""

    def __post_init__(self) -> None:
        self.vectors = np.asarray(self.vectors, dtype=np.float32)
        if not self.words or self.words[0] != PAD:
            self.words = [PAD] + list(self.words)
            self.vectors = np.vstack([np.zeros((1, self.vectors.shape[1]), np.float32), self.vectors])
        if len(self.words) != len(self.vectors):
            raise Img2SongError(f"word vectors: {len(self.words)} words but {len(self.vectors)} rows")
        self.index = {w: i for i, w in enumerate(self.words)}

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return word in self.index and self.index[word] != 0

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Row ids of the tokens that have a vector (out-of-vocabulary tokens are dropped; callers count them)."""
        return [self.index[t] for t in tokens if t in self.index and self.index[t] != 0]

    def save(self, path: str | Path) -> Path:
        """Atomic .npz write (temp file then rename)."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, words=np.array(self.words, dtype=str), vectors=self.vectors,
                                source=np.array(self.source))
        return path

    @classmethod
    def load_npz(cls, path: str | Path) -> WordVectors:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["words"].tolist(), z["vectors"], str(z["source"]))


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


def _line_vectors(network: Network, dim: int, samples: int, seed: int) -> np.ndarray | None:
    """LINE (our embedding engine) vectors in network vertex order, or None when the engine is unavailable."""
    try:
        from engine.line import LINE  # type: ignore[attr-defined]
    except ImportError:
        return None
    table = LINE(dim=dim, order=2, samples=samples, seed=seed).fit(network).embeddings_
    return _table_rows(table, network.ids)


def _table_rows(table, ids: Sequence[str]) -> np.ndarray:
    pos = {v: i for i, v in enumerate(table.ids)}
    missing = [v for v in ids if v not in pos]
    if missing:
        raise Img2SongError(f"embedding table lacks {len(missing)} network vertices, e.g. {missing[:3]}")
    return np.asarray(table.vectors, dtype=np.float32)[[pos[v] for v in ids]]


def train_word_vectors(token_lists: Sequence[Sequence[str]], dim: int = 64, window: int = 5, min_count: int = 2,
                       method: str = "line", samples: int | None = None, seed: int = 0,
                       vocabulary: Iterable[str] = ()) -> WordVectors:
    """Word vectors learned from the lyrics alone (never downloaded): LINE on the co-occurrence network.

    `method="ppmi"` (or LINE missing) uses a PPMI+SVD factorisation of the same network; `vocabulary` words
    (e.g. the tag vocabulary) are kept even when rarer than `min_count`.
    """
    net = cooccurrence_network(token_lists, window=window, min_count=min_count, vocabulary=vocabulary)
    vec, used = None, method
    if method == "line":
        samples = samples or max(2_000_000, 20 * net.num_edges)
        vec = _line_vectors(net, dim, samples, seed)
        if vec is None:
            used = "ppmi (LINE engine unavailable)"
    elif method != "ppmi":
        raise Img2SongError(f"unknown word-vector method {method!r}; expected 'line' or 'ppmi'")
    if vec is None:
        vec = _ppmi_svd(net, dim, seed)
    norms = np.linalg.norm(vec, axis=1, keepdims=True)
    vec = vec / np.maximum(norms, 1e-8)  # unit rows: the LSTM sees inputs on one scale whatever the method
    return WordVectors(list(net.ids), vec, source=f"{used}: {net.num_vertices} words, {net.num_edges} edges")


def _read_word2vec_text(path: Path) -> WordVectors:
    words, rows = [], []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                parts = raw.decode("utf-8").rstrip().split(" ")
            except UnicodeDecodeError:
                raise Img2SongError(f"{path}:{lineno}: bytes are not UTF-8") from None
            if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # header "count dim"
            if len(parts) < 2:
                raise Img2SongError(f"{path}:{lineno}: expected 'word v1 v2 ...'")
            try:
                rows.append(np.array(parts[1:], dtype=np.float32))
            except ValueError:
                raise Img2SongError(f"{path}:{lineno}: vector field is not numeric") from None
            if len(rows[-1]) != len(rows[0]):
                raise Img2SongError(f"{path}:{lineno}: expected {len(rows[0])} values, got {len(rows[-1])}")
            words.append(parts[0])
    if not rows:
        raise Img2SongError(f"{path}: no word vectors found")
    return WordVectors(words, np.vstack(rows), source=str(path))


def load_word_vectors(path: str | Path) -> WordVectors:
    """A user's word vectors: our .npz, or word2vec text/binary (via engine.embeddings when present)."""
    path = Path(path)
    if not path.is_file():
        raise Img2SongError(f"{path}: word-vector file not found")
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "words" in z and "vectors" in z:
                return WordVectors(z["words"].tolist(), z["vectors"], str(path))
    try:
        from engine.embeddings import EmbeddingTable  # type: ignore[attr-defined]
    except ImportError:
        return _read_word2vec_text(path)
    table = EmbeddingTable.load(path)
    return WordVectors(list(table.ids), np.asarray(table.vectors, np.float32), str(path))
