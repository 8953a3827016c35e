"""Exact Euclidean k-nearest neighbours: chunked torch for small tables, faiss IndexFlatL2 for large ones.

Both paths pick candidates in float32, re-rank them by float64 distances computed directly (sum of squared
differences) and break ties by base index, so they return the same neighbours wherever both apply; a row whose
ties may reach past the candidate list is settled over the whole table.
"""
from __future__ import annotations

import numpy as np
import torch

from graph.common.errors import Img2SongError

DEFAULT_FAISS_THRESHOLD = 200_000  # base rows x queries above which faiss is used by method="auto"
METHODS = ("auto", "torch", "faiss")


def _rerank(q: np.ndarray, base: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 distances to candidate rows, sorted by (distance, index); keep k."""
    diff = base[cand].astype(np.float64) - q[None, :]
    d2 = np.einsum("ij,ij->i", diff, diff)
    order = np.lexsort((cand, d2))[:k]
    return np.sqrt(d2[order]), cand[order]


def _torch_candidates(q: np.ndarray, base: np.ndarray, kc: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
    bt = torch.from_numpy(base)
    bn = (bt * bt).sum(1)
    idx = np.empty((len(q), kc), dtype=np.int64)
    d2_out = np.empty((len(q), kc), dtype=np.float64)
    for s in range(0, len(q), chunk):
        qt = torch.from_numpy(np.ascontiguousarray(q[s:s + chunk], dtype=np.float32))
        d2 = (qt * qt).sum(1, keepdim=True) - 2.0 * qt @ bt.T + bn[None, :]
        # a stable sort keeps index order among equal distances (topk does not promise that)
        srt = torch.sort(d2, dim=1, stable=True)
        idx[s:s + chunk] = srt.indices[:, :kc].numpy()
        d2_out[s:s + chunk] = srt.values[:, :kc].double().numpy()
    return d2_out, idx


def _faiss_candidates(q: np.ndarray, base: np.ndarray, kc: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexFlatL2(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))
    d2, idx = index.search(np.ascontiguousarray(q, dtype=np.float32), kc)
    return d2.astype(np.float64), idx.astype(np.int64)


def knn(queries: np.ndarray, base: np.ndarray, k: int, *, method: str = "auto",
        faiss_threshold: int = DEFAULT_FAISS_THRESHOLD, chunk: int = 512,
        margin: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """(distances [q, k'], indices [q, k']) of the k nearest base rows, k' = min(k, len(base)); ties by index."""
    if method not in METHODS:
        raise Img2SongError(f"unknown knn method {method!r}; known: {', '.join(METHODS)}")
    q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    b = np.ascontiguousarray(np.atleast_2d(np.asarray(base, dtype=np.float32)))  # float64 only on candidates
    if b.shape[0] == 0 or k <= 0:
        return np.zeros((len(q), 0)), np.zeros((len(q), 0), dtype=np.int64)
    if q.shape[1] != b.shape[1]:
        raise Img2SongError(f"knn: query dimension {q.shape[1]} differs from table dimension {b.shape[1]}")
    if not (np.isfinite(q).all() and np.isfinite(b).all()):
        raise Img2SongError("knn: vectors contain NaN or infinity")
    k = min(k, len(b))
    kc = min(len(b), k + margin)
    if method == "auto":
        method = "faiss" if len(b) * len(q) > faiss_threshold else "torch"
    dist = np.empty((len(q), k))
    idx = np.empty((len(q), k), dtype=np.int64)
    fd2, cand = _torch_candidates(q, b, kc, chunk) if method == "torch" else _faiss_candidates(q, b, kc)
    # bound on the float32 error of a squared distance: a row whose k-th exact distance comes within it of the
    # last candidate's may have (tied) neighbours outside the candidate list, so settle it over the whole table
    tol = 1e-4 * ((q * q).sum(1) + float(np.einsum("ij,ij->i", b, b).max())) + 1e-9
    for r in range(len(q)):
        dist[r], idx[r] = _rerank(q[r], b, cand[r], k)
        if kc < len(b) and dist[r, -1] ** 2 >= fd2[r, -1] - tol[r]:
            dist[r], idx[r] = _rerank(q[r], b, np.arange(len(b)), k)
    return dist, idx
