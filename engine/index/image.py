"""ImageIndex: kNN over the training images' CNN features, exact up to `exact_max` rows, HNSW or IVF above.

The table is validated and converted once at fit (KnnTable), never per query. The approximate methods search a
faiss index over a PCA projection (randomized, fitted on a sample) of the features to `reduce_dim` dimensions (HNSW build and search cost scale
with the dimension; 1280-d CNN features carry most of their variance in far fewer), fetch max(2k, k + `margin`)
candidates and re-rank them by exact float64 distance over the full vectors (ties by row), so their answers are
ordered exactly like the exact path's; efSearch (HNSW) or nprobe (IVF) is the smallest value on a grid whose
recall@`calibration_k` (of the re-ranked answers) on `n_calibration` held-out-like queries (midpoints of table
rows and their nearest neighbours) reaches `target_recall`. Midpoints are easier than new photos (bench retrieval,
100k images: 0.988 on midpoints vs 0.955 on new queries at efSearch 16), hence the 0.99 default.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from engine.knn import KnnTable, faiss_threads_for, knn
from graph.common.atomic import atomic_path, write_json
from graph.common.errors import Img2SongError

METHODS = ("auto", "exact", "hnsw", "ivf")
EF_GRID = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
NPROBE_GRID = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
INDEX_FILE = "image_index.faiss"
META_FILE = "image_index.json"
VECTORS_FILE = "image_index.vectors.npy"
PCA_FILE = "image_index.pca.npz"
FORMAT = "img2song-image-index"


def exact_knn_ids(queries: np.ndarray, base: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k row ids, ties by row (engine.knn's blocked top-k, no index copy of `base`); the recall reference."""
    return knn(queries, base, k, method="torch")[1]


def recall_at(approx: np.ndarray, exact: np.ndarray) -> float:
    """Mean share of each row's exact neighbours found among its approximate ones."""
    k = exact.shape[1]
    return float(np.mean([len(set(a.tolist()) & set(e.tolist())) / k for a, e in zip(approx, exact)]))


class ImageIndex:
    """kNN over image CNN features. After fit: method_, n_, dim_, ef_search_ / nprobe_ (approximate methods),
    calibration_recall_, build_seconds_."""

    def __init__(self, method: str = "auto", exact_max: int = 50_000, hnsw_m: int = 32, ef_construction: int = 40,
                 ef_search: int | None = None, nlist: int | None = None, nprobe: int | None = None,
                 reduce_dim: int | None = 128, target_recall: float = 0.99, calibration_k: int = 10,
                 n_calibration: int = 256, margin: int = 8, knn_method: str = "auto", seed: int = 0) -> None:
        self.method, self.exact_max, self.hnsw_m, self.ef_construction = method, exact_max, hnsw_m, ef_construction
        self.reduce_dim = reduce_dim
        self.ef_search, self.nlist, self.nprobe, self.target_recall = ef_search, nlist, nprobe, target_recall
        self.calibration_k, self.n_calibration, self.margin = calibration_k, n_calibration, margin
        self.knn_method, self.seed = knn_method, seed

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("method", "exact_max", "hnsw_m", "ef_construction", "ef_search",
                                              "nlist", "nprobe", "reduce_dim", "target_recall", "calibration_k", "n_calibration",
                                              "margin", "knn_method", "seed")}

    @classmethod
    def build(cls, features: Any, method: str = "auto", **params: Any) -> ImageIndex:
        return cls(method=method, **params).fit(features)

    # --- fit ---------------------------------------------------------------------------------------------
    def fit(self, features: Any) -> ImageIndex:
        if self.method not in METHODS:
            raise Img2SongError(f"image index: unknown method {self.method!r}; known: {', '.join(METHODS)}")
        tic = time.perf_counter()
        table = KnnTable(features, what="image index")
        if len(table) == 0:
            raise Img2SongError("image index: no image features to index")
        self.n_, self.dim_ = len(table), table.dim
        method = self.method
        if method == "auto":
            method = "exact" if self.n_ <= self.exact_max else "hnsw"
        self.method_ = method
        self.ef_search_ = self.nprobe_ = self.calibration_recall_ = None
        self.pca_mean_ = self.pca_components_ = self.pca_variance_kept_ = None
        self.table_, self.faiss_ = table, None
        if method != "exact":
            self.faiss_ = self._build(table.vectors)
            self._calibrate(table.vectors)
        self.build_seconds_ = time.perf_counter() - tic
        return self

    def _project(self, x: np.ndarray, chunk: int = 16_384) -> np.ndarray:
        """Rows in the index's space: (x - mean) @ components (PCA), or x itself without a projection."""
        if self.pca_components_ is None:
            return np.ascontiguousarray(x, dtype=np.float32)
        out = np.empty((len(x), self.pca_components_.shape[1]), dtype=np.float32)
        for s in range(0, len(x), chunk):
            out[s:s + chunk] = (np.asarray(x[s:s + chunk], dtype=np.float32) - self.pca_mean_) @ self.pca_components_
        return out

    def _fit_pca(self, x: np.ndarray, rng: np.random.Generator) -> None:
        """Top `reduce_dim` principal axes of a sample, by randomized subspace iteration (Halko et al. 2011): a few
        products with the sample instead of a full 1280 x 1280 eigendecomposition (tens of seconds on a busy box)."""
        self.pca_mean_ = self.pca_components_ = None
        self.pca_variance_kept_ = None
        r = int(self.reduce_dim or 0)
        if not r or x.shape[1] <= r:
            return
        sample = _sample(x, max(16 * r, 2048), rng).astype(np.float64)
        mean = sample.mean(0)
        xc = sample - mean
        # one BLAS thread: on a loaded machine a spinning OpenBLAS team made this 10x slower (2 s -> 21 s)
        with threadpool_limits(limits=1, user_api="blas"):
            y = xc @ rng.standard_normal((x.shape[1], min(x.shape[1], r + 16)))
            for _ in range(4):
                y = xc @ (xc.T @ np.linalg.qr(y)[0])
            q = np.linalg.qr(y)[0]
            _, sv, vt = np.linalg.svd(q.T @ xc, full_matrices=False)
        self.pca_mean_ = mean.astype(np.float32)
        self.pca_components_ = np.ascontiguousarray(vt[:r].T, dtype=np.float32)
        self.pca_variance_kept_ = float((sv[:r] ** 2).sum() / max(float((xc * xc).sum()), 1e-30))

    def _build(self, x: np.ndarray):
        """faiss index over the (PCA-projected) rows: HNSW-Flat, or IVF-Flat with a k-means coarse quantiser."""
        rng = np.random.default_rng(self.seed)
        self._fit_pca(x, rng)
        xp = self._project(x)
        d = xp.shape[1]
        if self.method_ == "hnsw":
            inner = faiss.IndexHNSWFlat(d, int(self.hnsw_m))
            inner.hnsw.efConstruction = int(self.ef_construction)
        else:
            nlist = int(self.nlist or max(1, min(len(x) // 39, int(4 * np.sqrt(len(x))))))
            inner = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, nlist)
            inner.cp.seed = int(self.seed)
        if self.method_ == "ivf":
            inner.train(_sample(xp, 64 * inner.nlist, rng))
        inner.add(xp)
        return inner

    def _set_knob(self, value: int) -> None:
        if self.method_ == "hnsw":
            self.faiss_.hnsw.efSearch = int(value)
        else:
            self.faiss_.nprobe = int(value)

    def _calibrate(self, x: np.ndarray) -> None:
        """Smallest efSearch / nprobe on the grid whose recall@k reaches the target on held-out-like queries.

        A table row is an easy query (the search lands on it exactly), so each calibration query is the midpoint
        of a sampled row and its nearest other row: a new point at the table's own neighbour spacing.
        """
        fixed = self.ef_search if self.method_ == "hnsw" else self.nprobe
        grid = EF_GRID if self.method_ == "hnsw" else tuple(p for p in NPROBE_GRID if p <= self.faiss_.nlist) or (1,)
        k = min(self.calibration_k, self.n_)
        if self.n_ < 2:
            self._store_knob(fixed or grid[0], None)
            return
        rng = np.random.default_rng(self.seed)
        rows = np.sort(rng.choice(self.n_, min(self.n_calibration, self.n_), replace=False))
        nearest = _drop_self(exact_knn_ids(x[rows], x, 2), rows, 1)[:, 0]
        q = 0.5 * (x[rows] + x[nearest])
        truth = exact_knn_ids(q, x, k)
        choice, recall = None, None
        for value in ([fixed] if fixed else grid):
            self._set_knob(value)
            recall = recall_at(self.search(q, k)[1], truth)
            choice = value
            if recall >= self.target_recall:
                break
        self._store_knob(choice, recall)

    def _store_knob(self, value: int, recall: float | None) -> None:
        self._set_knob(value)
        if self.method_ == "hnsw":
            self.ef_search_ = int(value)
        else:
            self.nprobe_ = int(value)
        self.calibration_recall_ = recall

    # --- search ------------------------------------------------------------------------------------------
    def search(self, queries: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances float64 [q, k'], rows int64 [q, k']) of the k nearest images, k' = min(k, n); ties by row."""
        if not hasattr(self, "method_"):
            raise Img2SongError("image index is not fitted: call fit() or build() first")
        if self.method_ == "exact":
            return knn(queries, self.table_, k, method=self.knn_method)
        q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
        if q.shape[1] != self.dim_:
            raise Img2SongError(f"image index: query dimension {q.shape[1]} differs from the index's {self.dim_}")
        if not np.isfinite(q).all():
            raise Img2SongError("image index: query vectors contain NaN or infinity")
        k = min(int(k), self.n_)
        if k <= 0:
            return np.zeros((len(q), 0)), np.zeros((len(q), 0), dtype=np.int64)
        kc = min(self.n_, max(2 * k, k + self.margin))
        with faiss_threads_for(len(q)):
            _, cand = self.faiss_.search(self._project(q), kc)
        dist = np.full((len(q), k), np.inf)
        idx = np.full((len(q), k), -1, dtype=np.int64)
        x = self.table_.vectors
        for r in range(len(q)):
            c = cand[r][cand[r] >= 0]
            diff = x[c].astype(np.float64) - q[r][None, :]
            d2 = np.einsum("ij,ij->i", diff, diff)
            order = np.lexsort((c, d2))[:k]
            dist[r, :len(order)], idx[r, :len(order)] = np.sqrt(d2[order]), c[order]
        return dist, idx

    # --- persistence -------------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> Path:
        """<dir>/image_index.faiss (faiss.write_index), image_index.json and, for the approximate methods, the full
        vectors of the re-rank (image_index.vectors.npy); each file written atomically."""
        if not hasattr(self, "method_"):
            raise Img2SongError("image index is not fitted: nothing to save")
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        index = self.table_.faiss_index() if self.method_ == "exact" else self.faiss_
        with atomic_path(d / INDEX_FILE) as tmp:
            faiss.write_index(index, str(tmp))
        if self.method_ != "exact":
            with atomic_path(d / VECTORS_FILE) as tmp:
                np.save(tmp, self.table_.vectors)
            with atomic_path(d / PCA_FILE, suffix=".npz") as tmp:
                np.savez(tmp, **({} if self.pca_components_ is None else
                                 {"mean": self.pca_mean_, "components": self.pca_components_}))
        meta = {"format": FORMAT, "version": 1, "params": self.get_params(), "method_": self.method_,
                "n_": self.n_, "dim_": self.dim_, "ef_search_": self.ef_search_, "nprobe_": self.nprobe_,
                "calibration_recall_": self.calibration_recall_, "build_seconds_": self.build_seconds_,
                "pca_variance_kept_": self.pca_variance_kept_}
        write_json(d / META_FILE, meta)
        return d

    @classmethod
    def load(cls, directory: str | Path) -> ImageIndex:
        d = Path(directory)
        meta_path, index_path = d / META_FILE, d / INDEX_FILE
        if not meta_path.is_file() or not index_path.is_file():
            raise Img2SongError(f"{d}: no saved image index ({META_FILE} and {INDEX_FILE} expected)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise Img2SongError(f"{meta_path}: malformed JSON ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise Img2SongError(f"{meta_path}: not an image index description (field 'format')")
        try:
            index = faiss.read_index(str(index_path))
        except RuntimeError as e:
            raise Img2SongError(f"{index_path}: unreadable faiss index ({str(e).splitlines()[0]})") from None
        self = cls(**meta["params"])
        for key in ("method_", "n_", "dim_", "ef_search_", "nprobe_", "calibration_recall_", "build_seconds_",
                    "pca_variance_kept_"):
            setattr(self, key, meta.get(key))
        self.pca_mean_ = self.pca_components_ = None
        if index.ntotal != self.n_:
            raise Img2SongError(f"{index_path}: holds {index.ntotal} rows, {meta_path} says {self.n_}")
        if self.method_ == "exact":
            if index.d != self.dim_:
                raise Img2SongError(f"{index_path}: dimension {index.d}, {meta_path} says {self.dim_}")
            xb = faiss.rev_swig_ptr(index.get_xb(), self.n_ * self.dim_).reshape(self.n_, self.dim_)
            self.table_, self.faiss_ = KnnTable(xb, faiss_index=index, what=str(index_path)), None
        else:
            vpath = d / VECTORS_FILE
            try:
                vectors = np.load(vpath, allow_pickle=False)
            except (OSError, ValueError) as e:
                raise Img2SongError(f"{vpath}: unreadable image vectors ({e})") from None
            if vectors.shape != (self.n_, self.dim_):
                raise Img2SongError(f"{vpath}: shape {vectors.shape}, the index holds {self.n_} x {self.dim_}")
            try:
                with np.load(d / PCA_FILE, allow_pickle=False) as z:
                    if "components" in z:
                        self.pca_mean_, self.pca_components_ = z["mean"], z["components"]
            except (OSError, ValueError, KeyError) as e:
                raise Img2SongError(f"{d / PCA_FILE}: unreadable projection ({e})") from None
            width = self.dim_ if self.pca_components_ is None else self.pca_components_.shape[1]
            if index.d != width:
                raise Img2SongError(f"{index_path}: dimension {index.d}, the projection gives {width}")
            self.table_, self.faiss_ = KnnTable(vectors, what=str(vpath)), index
            self._set_knob(self.ef_search_ if self.method_ == "hnsw" else self.nprobe_)
        return self


def _sample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """At most n rows of x (seeded, in row order), contiguous float32: a training set for PCA / k-means."""
    return np.ascontiguousarray(x if len(x) <= n else x[np.sort(rng.choice(len(x), n, replace=False))])


def _drop_self(ids: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """Each row's neighbour list without the query row itself, cut to k."""
    out = np.empty((len(ids), k), dtype=np.int64)
    for j, (row, r) in enumerate(zip(ids, rows)):
        out[j] = [i for i in row.tolist() if i != r][:k]
    return out
