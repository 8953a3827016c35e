"""SongLists: each training image's m nearest songs in NE space, computed once (batched, exact) and stored.

A table [n_images, m] of song rows (int32) and exact distances (float64), filled by engine.knn's blocked top-k
(queries in blocks of `batch`, songs in blocks of `song_block`: memory bounded by batch x song_block floats, on
`device`, 'cpu' or 'cuda') over a KnnTable of the song vectors (validated once). Rows left out of fit (`rows=`) and requests for more than m songs are computed
on demand with the same exact kNN, so every answer equals a per-query exact kNN's: the top-n by (distance, row)
is a prefix of the top-m.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.knn import BASE_BLOCK, KnnTable, knn
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError

FILE = "song_lists.npz"


class SongLists:
    """After fit: index_ [n_images, m_] int32 song rows, dist_ [n_images, m_] float64, done_ [n_images] bool."""

    def __init__(self, m: int = 22, batch: int = 2048, knn_method: str = "auto", device: str = "cpu",
                 song_block: int = BASE_BLOCK) -> None:
        self.m, self.batch, self.knn_method = m, batch, knn_method
        self.device, self.song_block = device, song_block  # where and in what blocks: never change an answer

    def fit(self, image_vectors: Any, song_vectors: Any, rows: Sequence[int] | np.ndarray | None = None,
            progress: bool = False) -> SongLists:
        """Compute the lists of `rows` (default: every image) now; the others stay to be filled on demand."""
        self.songs_ = KnnTable(song_vectors, what="song lists: song table")
        self.images_ = KnnTable(image_vectors, what="song lists: image table").vectors
        if len(self.songs_) == 0:
            raise Img2SongError("song lists: no song vectors")
        if self.images_.shape[1] != self.songs_.dim:
            raise Img2SongError(f"song lists: image vectors have dimension {self.images_.shape[1]}, songs "
                                f"{self.songs_.dim}")
        self.m_ = int(min(self.m, len(self.songs_)))
        n = len(self.images_)
        self.index_ = np.full((n, self.m_), -1, dtype=np.int32)
        self.dist_ = np.zeros((n, self.m_), dtype=np.float64)
        self.done_ = np.zeros(n, dtype=bool)
        self._extra: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        todo = np.arange(n) if rows is None else np.unique(np.asarray(rows, dtype=np.int64))
        self.fill(todo, progress=progress)
        return self

    def fill(self, rows: np.ndarray, progress: bool = False) -> None:
        """Compute (batched, exact) the lists of the given image rows that are not done yet."""
        todo = np.asarray(rows, dtype=np.int64)
        todo = todo[~self.done_[todo]]
        if not len(todo):
            return
        d, i = knn(self.images_[todo], self.songs_, self.m_, method=self.knn_method, chunk=self.batch,
                   device=self.device, base_block=self.song_block, progress=progress)
        self.index_[todo], self.dist_[todo], self.done_[todo] = i, d, True

    def get(self, rows: Sequence[int] | np.ndarray, n: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """{image row: (distances [n'], song rows [n'])} with n' = min(n, songs): the row's n nearest songs."""
        if not hasattr(self, "index_"):
            raise Img2SongError("song lists are not fitted: call fit() first")
        uniq = np.unique(np.asarray(rows, dtype=np.int64).reshape(-1))
        n = int(min(n, len(self.songs_)))
        if n <= self.m_:
            self.fill(uniq)
            return {int(r): (self.dist_[r, :n], self.index_[r, :n].astype(np.int64)) for r in uniq}
        missing = [int(r) for r in uniq if (int(r), n) not in self._extra]
        if missing:  # longer than the stored lists: exact on demand, kept per (row, n)
            d, i = knn(self.images_[missing], self.songs_, n, method=self.knn_method, chunk=self.batch,
                       device=self.device, base_block=self.song_block)
            self._extra.update({(r, n): (d[j], i[j]) for j, r in enumerate(missing)})
        return {int(r): self._extra[(int(r), n)] for r in uniq}

    def save(self, directory: str | Path) -> Path:
        """<dir>/song_lists.npz (lists, distances, the NE vectors they came from), written atomically."""
        if not hasattr(self, "index_"):
            raise Img2SongError("song lists are not fitted: nothing to save")
        path = Path(directory) / FILE
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, index=self.index_, dist=self.dist_, done=self.done_, images=self.images_,
                     songs=self.songs_.vectors, params=np.array([self.m, self.batch]),
                     knn_method=np.array(self.knn_method))
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path) -> SongLists:
        path = Path(directory) / FILE
        if not path.is_file():
            raise Img2SongError(f"{path}: saved song lists not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                m, batch = (int(v) for v in z["params"])
                self = cls(m=m, batch=batch, knn_method=str(z["knn_method"]))
                self.songs_ = KnnTable(z["songs"], what=f"{path}: songs")
                self.images_ = np.ascontiguousarray(z["images"], dtype=np.float32)
                self.index_, self.dist_, self.done_ = z["index"], z["dist"], z["done"]
        except (KeyError, ValueError, OSError) as e:
            raise Img2SongError(f"{path}: unreadable song lists ({e})") from None
        if self.index_.shape != self.dist_.shape or len(self.index_) != len(self.images_):
            raise Img2SongError(f"{path}: lists {self.index_.shape}, distances {self.dist_.shape} and "
                                f"{len(self.images_)} images do not match")
        self.m_ = int(self.index_.shape[1])
        self._extra = {}
        return self
