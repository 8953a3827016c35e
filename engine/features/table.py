"""FeatureTable: the KeyedTable view of image id -> vector (CNN features, ImageNet logits, keyword-space tags)."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Self

import numpy as np

from engine.vectors import KeyedTable


class FeatureTable(KeyedTable):
    """Rows of `matrix` belong to `ids` in order; `meta` records how the rows were made (backbone, vocabulary).

    Saved like every table (`save(path)`: .npz by default, any of engine.embeddings.FORMATS on request).
    """

    what = "feature"
    key_name = "image id"

    def __init__(self, ids: Iterable[str], matrix: np.ndarray, meta: dict[str, Any] | None = None, *,
                 kinds: np.ndarray | None = None, labels: Sequence[str] | None = None) -> None:
        super().__init__(ids, matrix, kinds, labels, meta)

    @classmethod
    def from_fields(cls, ids: Sequence[str], vectors: np.ndarray, kinds: np.ndarray | None = None,
                    labels: Sequence[str] | None = None, meta: dict[str, Any] | None = None) -> Self:
        return cls(ids, vectors, meta, kinds=kinds, labels=labels)

    @property
    def matrix(self) -> np.ndarray:
        """float32 [n, d]: the table's vectors (the same array, not a copy)."""
        return self.vectors
