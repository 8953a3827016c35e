"""On-disk feature cache: one .npy per (backbone, sha256 of the image file's bytes), written atomically."""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from graph.common.atomic import atomic_path
from graph.common.paths import cache_dir


def content_hash(data: bytes) -> str:
    """sha256 of the file content: renamed or copied images hit the cache, edited ones do not."""
    return hashlib.sha256(data).hexdigest()


class FeatureCache:
    """`root/<backbone tag>/<sha256>.npy`; a damaged entry reads as a miss and is rewritten."""

    def __init__(self, root: str | Path | None = None, tag: str = "default") -> None:
        self.dir = (Path(root) if root is not None else cache_dir("features")) / tag

    def path(self, key: str) -> Path:
        return self.dir / f"{key}.npy"

    def get(self, key: str, size: int | None = None) -> np.ndarray | None:
        p = self.path(key)
        if not p.is_file():
            return None
        try:
            vec = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError):
            return None
        if vec.ndim != 1 or (size is not None and vec.shape[0] != size):
            return None
        return vec

    def put(self, key: str, vec: np.ndarray) -> Path:
        with atomic_path(self.path(key)) as tmp, open(tmp, "wb") as fh:
            np.save(fh, np.asarray(vec, dtype=np.float32))
        return self.path(key)
