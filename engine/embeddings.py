"""EmbeddingTable: vertex ids + vectors (+ kinds, labels) and every file format they are read from and written to.

Formats (``FORMATS``):

- ``npz``: one .npz with ids, vectors and, when known, kinds and labels (lossless).
- ``word2vec``: text, header ``"N d"``, then one ``"<key> v1 ... vd"`` line per vertex (9 significant digits,
  which round-trips float32 exactly).
- ``word2vec-binary``: the word2vec.c layout: header ``b"N d\\n"``, then per vertex ``key + b" "`` + d float32
  little-endian + ``b"\\n"``.
- ``projector``: a directory for the TensorBoard Embedding Projector: ``tensors.tsv`` (no header),
  ``metadata.tsv`` (header ``id\\tkind\\tlabel``) and ``projector_config.pbtxt``.

Key escaping (word2vec formats are whitespace-delimited): a key is the vertex id with ``%`` and every whitespace
character (``str.isspace``) percent-encoded as its UTF-8 bytes (``" "`` -> ``%20``, ``"\\u3000"`` ->
``%E3%80%80``, ``"%"`` -> ``%25``); everything else (Chinese included) is written as UTF-8. Loading undoes it, so
ids round-trip exactly, and gensim's ``KeyedVectors.load_word2vec_format`` reads the escaped keys with identical
vectors. word2vec files carry no kinds or labels: on load, kinds come from the id prefixes (``img:`` ``kw:``
``song:``, else OTHER). TSV cells escape backslash, tab, newline and carriage return as ``\\\\ \\t \\n \\r``.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.embedding_formats import (
    FORMATS,
    READERS,
    SUFFIXES,
    WRITERS,
    escape_key,
    infer_format,
    kinds_from_ids,
    unescape_key,
    write_projector,
)
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.network import Kind

__all__ = ["FORMATS", "SUFFIXES", "EmbeddingTable", "escape_key", "infer_format", "kinds_from_ids", "unescape_key"]


def _as_kind(k: Kind | str | int) -> int:
    if isinstance(k, str):
        try:
            return int(Kind[k.strip().upper()])
        except KeyError:
            raise Img2SongError(f"unknown vertex kind {k!r}; known: {', '.join(x.name.lower() for x in Kind)}") from None
    return int(Kind(int(k)))



# --- the table -------------------------------------------------------------------------------------------
class EmbeddingTable:
    """Vectors of named vertices (like gensim's KeyedVectors): lookup, selection by kind, kNN, file formats."""

    def __init__(self, ids: Sequence[str], vectors: np.ndarray, kinds: np.ndarray | None = None,
                 labels: Sequence[str] | None = None) -> None:
        self.ids = [str(v) for v in ids]
        self.vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.ids):
            raise Img2SongError(f"embedding table: {len(self.ids)} ids but vectors of shape {self.vectors.shape}")
        self.kinds = None if kinds is None else np.asarray(kinds, dtype=np.int8).reshape(-1)
        if self.kinds is not None and len(self.kinds) != len(self.ids):
            raise Img2SongError(f"embedding table: {len(self.ids)} ids but {len(self.kinds)} kinds")
        self.labels = None if labels is None else [str(x) for x in labels]
        if self.labels is not None and len(self.labels) != len(self.ids):
            raise Img2SongError(f"embedding table: {len(self.ids)} ids but {len(self.labels)} labels")
        self._index = {v: i for i, v in enumerate(self.ids)}
        if len(self._index) != len(self.ids):
            dup = next(v for i, v in enumerate(self.ids) if self._index[v] != i)
            raise Img2SongError(f"embedding table: duplicate vertex id {dup!r}")

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, vid: object) -> bool:
        return vid in self._index

    def __getitem__(self, vid: str) -> np.ndarray:
        return self.vectors[self.index(vid)]

    def __repr__(self) -> str:
        return f"EmbeddingTable({len(self)} vertices, dim={self.dim})"

    def index(self, vid: str) -> int:
        try:
            return self._index[vid]
        except KeyError:
            raise KeyError(f"vertex id {vid!r} not in the embedding table") from None

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def take(self, rows: np.ndarray) -> EmbeddingTable:
        """Sub-table of the given row indices (in that order)."""
        rows = np.asarray(rows, dtype=np.int64)
        return EmbeddingTable([self.ids[i] for i in rows], self.vectors[rows],
                              None if self.kinds is None else self.kinds[rows],
                              None if self.labels is None else [self.labels[i] for i in rows])

    def select(self, kind: Kind | str | int | Sequence[Kind | str | int]) -> EmbeddingTable:
        """Only the vertices of the given kind(s), e.g. select("song") for the song vectors."""
        if self.kinds is None:
            raise Img2SongError("embedding table has no vertex kinds; cannot select by kind")
        wanted = [kind] if isinstance(kind, (str, int, Kind)) else list(kind)
        return self.take(np.flatnonzero(np.isin(self.kinds, [_as_kind(k) for k in wanted])))

    def normalized(self) -> EmbeddingTable:
        """Copy with L2-normalised rows (zero rows stay zero), for cosine similarity by dot product."""
        x = self.vectors.astype(np.float64)  # float32 norms overflow for entries near 3e38
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        vecs = (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return EmbeddingTable(self.ids, vecs, self.kinds, self.labels)

    def nearest(self, queries: np.ndarray, k: int = 10, metric: str = "euclidean",
                kind: Kind | str | Sequence | None = None) -> tuple[list[list[str]], np.ndarray]:
        """Brute-force kNN: ids [Q][k] and distances [Q,k] ascending (euclidean, or cosine distance 1-cos)."""
        table = self if kind is None else self.select(kind)
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.shape[1] != self.dim:
            raise Img2SongError(f"query vectors have dimension {q.shape[1]}, the table {self.dim}")
        x = table.vectors.astype(np.float64)
        q64 = q.astype(np.float64)
        if metric == "euclidean":
            dist = np.sqrt(np.maximum((q64**2).sum(1)[:, None] - 2 * q64 @ x.T + (x**2).sum(1)[None, :], 0.0))
        elif metric == "cosine":
            xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
            qn = q64 / np.maximum(np.linalg.norm(q64, axis=1, keepdims=True), 1e-30)
            dist = 1.0 - qn @ xn.T
        else:
            raise Img2SongError(f"unknown metric {metric!r}; use 'euclidean' or 'cosine'")
        k = min(int(k), len(table))
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return [[table.ids[j] for j in row] for row in order], np.take_along_axis(dist, order, 1)

    # --- files ---------------------------------------------------------------------------------------
    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write the table atomically in `format` (inferred from the suffix when None); returns the path."""
        path = Path(path)
        fmt = format or infer_format(path)
        if fmt not in WRITERS:
            raise Img2SongError(f"unknown embedding format {fmt!r}; known: {', '.join(FORMATS)}")
        if fmt == "projector":
            return write_projector(self, path)
        with atomic_path(path) as tmp:
            WRITERS[fmt](self, str(tmp))
        return path

    @classmethod
    def load(cls, path: str | Path, format: str | None = None) -> EmbeddingTable:
        """Read a table in any of FORMATS (inferred from the suffix, or a directory = projector, when None)."""
        path = Path(path)
        fmt = format or infer_format(path)
        if fmt not in READERS:
            raise Img2SongError(f"unknown embedding format {fmt!r}; known: {', '.join(FORMATS)}")
        if not path.exists():
            raise Img2SongError(f"{path}: embedding file not found")
        return cls(*READERS[fmt](path))


