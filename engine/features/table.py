"""FeatureTable: image id -> vector (CNN features or keyword-space tags), saved as one .npz."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError


@dataclass
class FeatureTable:
    """Rows of `matrix` belong to `ids` in order; `meta` records how the rows were made (backbone, vocabulary)."""

    ids: list[str]
    matrix: np.ndarray  # float32 [n, d]
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ids = [str(i) for i in self.ids]
        self.matrix = np.asarray(self.matrix, dtype=np.float32)
        if self.matrix.ndim != 2 or self.matrix.shape[0] != len(self.ids):
            raise Img2SongError(f"feature table: {len(self.ids)} ids but matrix of shape {self.matrix.shape}")
        self._index = {v: i for i, v in enumerate(self.ids)}
        if len(self._index) != len(self.ids):
            raise Img2SongError("feature table: duplicate ids")

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, image_id: object) -> bool:
        return image_id in self._index

    def __getitem__(self, image_id: str) -> np.ndarray:
        try:
            return self.matrix[self._index[image_id]]
        except KeyError:
            raise Img2SongError(f"no feature row for image {image_id!r}") from None

    def subset(self, ids: Sequence[str]) -> FeatureTable:
        """Rows for `ids` that the table has, in the given order (missing ids are left out)."""
        keep = [i for i in ids if i in self._index]
        rows = [self._index[i] for i in keep]
        return FeatureTable(keep, self.matrix[rows].reshape(len(rows), self.dim), dict(self.meta))

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file then rename); returns the path."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, ids=np.array(self.ids, dtype=str), matrix=self.matrix,
                                meta=np.array(json.dumps(self.meta, ensure_ascii=False)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> FeatureTable:
        path = Path(path)
        if not path.is_file():
            raise Img2SongError(f"{path}: feature table not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                ids = z["ids"].tolist()
                matrix = z["matrix"].reshape(len(ids), -1) if len(ids) else z["matrix"]
                return cls(ids, matrix, json.loads(str(z["meta"])))
        except (KeyError, ValueError, OSError) as e:
            raise Img2SongError(f"{path}: unreadable feature table ({e})") from None
