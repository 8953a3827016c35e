"""KeyedTable: the one id -> vector table (in the manner of gensim's KeyedVectors) and every file format it has.

A table is `ids` (unique strings), a float32 matrix `vectors` with one row per id, the index `key_to_index`,
optional per-row `kinds` (vertex kinds, int8) and `labels`, and a `meta` dict saying how the rows were made.
The views other modules use keep their own names on this one storage: engine.embeddings.EmbeddingTable (vertex
kinds, kNN), engine.features.FeatureTable (image features and tags), engine.lstm.WordVectors (padding row 0,
token lookup). Files: engine.embedding_formats (npz, word2vec text and binary, TensorBoard projector).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from engine.embedding_formats import FORMATS, READERS, WRITERS, infer_format, write_projector
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError

__all__ = ["KeyedTable", "MissingKey"]


class MissingKey(Img2SongError, KeyError):
    """A key the table does not hold: a KeyError for mapping-style callers, a clean CLI error otherwise."""

    __str__ = Exception.__str__  # KeyError would print the message quoted


class KeyedTable:
    """Vectors of named rows: lookup, sub-tables, cosine/euclidean kNN and the file formats of FORMATS."""

    what: ClassVar[str] = "vector"  # names the table in messages: "<what> table: ...", "<path>: <what> file ..."
    key_name: ClassVar[str] = "key"  # what one id is, in messages

    def __init__(self, ids: Iterable[str], vectors: np.ndarray, kinds: np.ndarray | None = None,
                 labels: Sequence[str] | None = None, meta: dict[str, Any] | None = None) -> None:
        self.ids = [str(v) for v in ids]
        self.vectors = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
        n, what = len(self.ids), f"{self.what} table"
        if self.vectors.ndim != 2 or self.vectors.shape[0] != n:
            raise Img2SongError(f"{what}: {n} ids but vectors of shape {self.vectors.shape}")
        self.kinds = None if kinds is None else np.asarray(kinds, dtype=np.int8).reshape(-1)
        if self.kinds is not None and len(self.kinds) != n:
            raise Img2SongError(f"{what}: {n} ids but {len(self.kinds)} kinds")
        self.labels = None if labels is None else [str(x) for x in labels]
        if self.labels is not None and len(self.labels) != n:
            raise Img2SongError(f"{what}: {n} ids but {len(self.labels)} labels")
        self.meta: dict[str, Any] = dict(meta or {})
        self.key_to_index = {v: i for i, v in enumerate(self.ids)}
        if len(self.key_to_index) != n:
            dup = next(v for i, v in enumerate(self.ids) if self.key_to_index[v] != i)
            raise Img2SongError(f"{what}: duplicate {self.key_name} {dup!r}")

    @classmethod
    def from_fields(cls, ids: Sequence[str], vectors: np.ndarray, kinds: np.ndarray | None = None,
                    labels: Sequence[str] | None = None, meta: dict[str, Any] | None = None) -> Self:
        """A table of this class from the stored fields (what the readers return); views map them onto their own
        constructor, so `take`, `normalized` and `load` return the caller's class."""
        return cls(ids, vectors, kinds, labels, meta)

    # --- lookup ----------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, key: object) -> bool:
        return key in self.key_to_index

    def __getitem__(self, key: str) -> np.ndarray:
        return self.vectors[self.get_index(key)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} rows, dim={self.dim})"

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def get_index(self, key: str) -> int:
        """Row of `key`; MissingKey (a KeyError and an Img2SongError) when the table has none."""
        try:
            return self.key_to_index[key]
        except KeyError:
            raise MissingKey(f"{self.key_name} {key!r} not in the {self.what} table") from None

    def rows(self, keys: Sequence[str]) -> np.ndarray:
        """Row indices of `keys` in order; MissingKey naming how many (and which, first few) are absent."""
        missing = [k for k in keys if k not in self.key_to_index]
        if missing:
            raise MissingKey(f"{self.what} table lacks {len(missing)} of {len(keys)} {self.key_name}s asked for, "
                             f"e.g. {missing[:3]}")
        return np.array([self.key_to_index[k] for k in keys], dtype=np.int64)

    # --- sub-tables ------------------------------------------------------------------------------------
    def take(self, rows: Sequence[int] | np.ndarray) -> Self:
        """Sub-table of the given row indices (in that order), same class and metadata."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        return self.from_fields([self.ids[i] for i in rows], self.vectors[rows].reshape(len(rows), self.dim),
                                None if self.kinds is None else self.kinds[rows],
                                None if self.labels is None else [self.labels[i] for i in rows], dict(self.meta))

    def subset(self, keys: Iterable[str]) -> Self:
        """Rows for the `keys` the table has, in the given order (absent keys are left out)."""
        return self.take([self.key_to_index[k] for k in keys if k in self.key_to_index])

    def normalized(self) -> Self:
        """Copy with L2-normalised rows (zero rows stay zero), for cosine similarity by dot product."""
        x = self.vectors.astype(np.float64)  # float32 norms overflow for entries near 3e38
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        vecs = (x / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        return self.from_fields(self.ids, vecs, self.kinds, self.labels, dict(self.meta))

    def nearest(self, queries: np.ndarray, k: int = 10,
                metric: str = "euclidean") -> tuple[list[list[str]], np.ndarray]:
        """Brute-force kNN: ids [Q][k] and distances [Q,k] ascending (euclidean, or cosine distance 1-cos)."""
        q = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        if q.shape[1] != self.dim:
            raise Img2SongError(f"query vectors have dimension {q.shape[1]}, the table {self.dim}")
        x = self.vectors.astype(np.float64)
        q64 = q.astype(np.float64)
        if metric == "euclidean":
            dist = np.sqrt(np.maximum((q64**2).sum(1)[:, None] - 2 * q64 @ x.T + (x**2).sum(1)[None, :], 0.0))
        elif metric == "cosine":
            xn = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)
            qn = q64 / np.maximum(np.linalg.norm(q64, axis=1, keepdims=True), 1e-30)
            dist = 1.0 - qn @ xn.T
        else:
            raise Img2SongError(f"unknown metric {metric!r}; use 'euclidean' or 'cosine'")
        k = min(int(k), len(self))
        order = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return [[self.ids[j] for j in row] for row in order], np.take_along_axis(dist, order, 1)

    # --- files -----------------------------------------------------------------------------------------
    def save(self, path: str | Path, format: str | None = None, vertex_info: Any = None) -> Path:
        """Write the table atomically in `format` (inferred from the suffix when None); returns the path.
        `vertex_info` (engine.projector_sprite.VertexInfo): projector labels and the image sprite."""
        path = Path(path)
        fmt = format or infer_format(path)
        if fmt not in WRITERS:
            raise Img2SongError(f"unknown {self.what} format {fmt!r}; known: {', '.join(FORMATS)}")
        if fmt == "projector":
            return write_projector(self, path, vertex_info)
        with atomic_path(path) as tmp:
            WRITERS[fmt](self, str(tmp))
        return path

    @classmethod
    def load(cls, path: str | Path, format: str | None = None) -> Self:
        """Read a table in any of FORMATS (inferred from the suffix, or a directory = projector, when None)."""
        path = Path(path)
        fmt = format or infer_format(path)
        if fmt not in READERS:
            raise Img2SongError(f"unknown {cls.what} format {fmt!r}; known: {', '.join(FORMATS)}")
        if not path.exists():
            raise Img2SongError(f"{path}: {cls.what} file not found")
        fields = READERS[fmt](path)
        try:
            return cls.from_fields(*fields)
        except Img2SongError as e:  # a table that reads but does not hold together: name the file
            raise Img2SongError(f"{path}: {e}") from None
