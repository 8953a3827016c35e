"""Exact Euclidean k-nearest neighbours: a blocked torch top-k (any device) or faiss IndexFlatL2.

The torch path is one blocked top-k: queries in blocks of `query_block`, the table in blocks of `base_block` rows,
one matrix product per pair of blocks and a running top-k of the candidates, so memory stays bounded by the blocks
(query_block x base_block floats) whatever the table size, and the same code runs on 'cpu' or 'cuda'. Both paths
pick candidates in float32, re-rank them by float64 distances computed directly (sum of squared
differences) and break ties by base index, so they return the same neighbours wherever both apply; a row whose
ties may reach past the candidate list is settled over the whole table.

A table searched many times is wrapped once in `KnnTable` (validated, float32 C-contiguous, squared norms and the
faiss index kept), so a query costs the search alone; a plain array is validated on every call.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from graph.common.errors import Img2SongError

QUERY_BLOCK = 2048  # queries per matrix product of the blocked top-k
BASE_BLOCK = 32_768  # table rows per matrix product: query_block x base_block x 4 bytes (256 MB) per block
DEFAULT_FAISS_THRESHOLD = 200_000  # base rows x queries above which a small batch goes to faiss (method="auto")
METHODS = ("auto", "torch", "faiss")
SMALL_BATCH = 64  # faiss parallelises over queries: below this many, one thread (no OpenMP team to wake)
MERGE_MIN_PAIRS = 1 << 26  # query x table pairs from which the CPU top-k uses the C++ running merge (if it builds)


@contextmanager
def faiss_threads_for(n_queries: int) -> Iterator[None]:
    """Run a faiss search on one OpenMP thread when the batch is small.

    faiss and torch bring separate OpenMP runtimes; after torch has run, waking faiss's thread team for a
    one-query search costs ~10 ms on a busy 2-core machine, against ~0.1 ms for the search itself.
    """
    if n_queries >= SMALL_BATCH:
        yield
        return
    import faiss  # deferred: the torch path never needs faiss (nor its OpenMP runtime)

    old = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(old)


class KnnTable:
    """A base table checked once: 2-D, finite, float32 C-contiguous (a float32 contiguous input is not copied).

    Keeps what every search needs: the largest squared row norm (error bound), torch row norms and a faiss
    IndexFlatL2 over the rows, the latter two built on first use.
    """

    def __init__(self, vectors: Any, *, faiss_index: Any = None, what: str = "knn table") -> None:
        v = np.asarray(vectors, dtype=np.float32)
        if v.ndim == 1:
            v = v.reshape(1, -1) if v.size else v.reshape(0, 0)
        if v.ndim != 2:
            raise Img2SongError(f"{what}: expected a 2-D table, got shape {v.shape}")
        self.vectors = np.ascontiguousarray(v)
        if not np.isfinite(self.vectors).all():
            raise Img2SongError(f"{what}: vectors contain NaN or infinity")
        sq = np.einsum("ij,ij->i", self.vectors, self.vectors) if len(self.vectors) else np.zeros(0, np.float32)
        self.max_sq_norm = float(sq.max()) if len(sq) else 0.0
        self._faiss = faiss_index
        self._torch_norms: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def faiss_index(self):
        if self._faiss is None:
            import faiss  # deferred: the torch path never needs faiss (nor its OpenMP runtime)

            self._faiss = faiss.IndexFlatL2(self.dim)
            self._faiss.add(self.vectors)
        return self._faiss

    def torch_norms(self) -> torch.Tensor:
        if self._torch_norms is None:
            bt = torch.from_numpy(self.vectors)
            self._torch_norms = (bt * bt).sum(1)
        return self._torch_norms


def resolve_device(device: str | torch.device) -> torch.device:
    """A torch device for the blocked top-k; a clear error for an unknown one or CUDA where there is none."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise Img2SongError(f"knn: unknown device {device!r} ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise Img2SongError(f"knn: device {device!r} asked for, but torch.cuda.is_available() is False here")
    return dev


def as_table(base: Any) -> KnnTable:
    """`base` itself when it is a KnnTable, else a KnnTable over it (validated now)."""
    return base if isinstance(base, KnnTable) else KnnTable(base)


def _rerank(q: np.ndarray, base: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact float64 distances to candidate rows, sorted by (distance, index); keep k."""
    diff = base[cand].astype(np.float64) - q[None, :]
    d2 = np.einsum("ij,ij->i", diff, diff)
    order = np.lexsort((cand, d2))[:k]
    return np.sqrt(d2[order]), cand[order]


def _torch_candidates(q: np.ndarray, table: KnnTable, kc: int, *, device: str | torch.device = "cpu",
                      query_block: int = QUERY_BLOCK, base_block: int = BASE_BLOCK,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Blocked top-kc by float32 squared distance: one addmm per (query block, table block), running top-k."""
    dev = resolve_device(device)
    if dev.type == "cuda":  # TF32 products (10-bit mantissa) would exceed the re-rank's error bound
        with _full_fp32_matmul():
            return _blocked(q, table, kc, dev, query_block, base_block, progress)
    return _blocked(q, table, kc, dev, query_block, base_block, progress)


@contextmanager
def _full_fp32_matmul() -> Iterator[None]:
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


class _CpuProducts:
    """|b|^2 - 2 q.b for a query block against each table block on the CPU, by numpy's BLAS on augmented rows
    [-2q, 1] . [b, |b|^2] (the norms ride in the product: no extra pass over the block). numpy's OpenBLAS sgemm
    ran at 69-74 GFLOP per CPU-second here against 42 for torch's MKL (which takes a slower path on AMD CPUs)."""

    def __init__(self, table: KnnTable, query_block: int, base_block: int):
        self.b, self.bn = table.vectors, table.torch_norms().numpy()
        d = table.dim
        rows = min(base_block, len(table))
        self.qa = np.empty((query_block, d + 1), np.float32)
        self.ba = np.empty((rows, d + 1), np.float32)
        self.out = np.empty(query_block * rows, np.float32)

    def set_queries(self, qt: torch.Tensor) -> None:
        m, d = qt.shape
        np.multiply(qt.numpy(), np.float32(-2.0), out=self.qa[:m, :d])  # exact: a power of two
        self.qa[:m, d] = 1.0

    def block(self, m: int, lo: int, hi: int) -> torch.Tensor:
        d, nb = self.b.shape[1], hi - lo
        self.ba[:nb, :d] = self.b[lo:hi]
        self.ba[:nb, d] = self.bn[lo:hi]
        out = self.out[: m * nb].reshape(m, nb)
        np.matmul(self.qa[:m], self.ba[:nb].T, out=out)
        return torch.from_numpy(out)


def _merge_op():
    """torch.ops.img2song.knn_merge (engine/line/csrc/topk_cpu.cpp, built with the LINE kernel), or None when the
    kernel cannot be built here (then torch.topk does the running top-k: same candidates, slower)."""
    from engine.line.cpu import load_kernel

    try:
        load_kernel()
    except Img2SongError:
        return None
    return torch.ops.img2song.knn_merge


def _blocked(q: np.ndarray, table: KnnTable, kc: int, dev: torch.device, query_block: int, base_block: int,
             progress: bool) -> tuple[np.ndarray, np.ndarray]:
    cpu = _CpuProducts(table, query_block, base_block) if dev.type == "cpu" else None
    merge = _merge_op() if cpu and len(q) * len(table) >= MERGE_MIN_PAIRS else None
    bt = None if cpu else torch.from_numpy(table.vectors).to(dev)
    bn = None if cpu else table.torch_norms().to(dev)
    n = len(table)
    idx = np.empty((len(q), kc), dtype=np.int64)
    d2_out = np.empty((len(q), kc), dtype=np.float64)
    bar = tqdm(total=len(q), desc="exact knn", unit="q", disable=not progress, leave=False)
    for s in range(0, len(q), query_block):
        qt = torch.from_numpy(np.ascontiguousarray(q[s:s + query_block], dtype=np.float32)).to(dev)
        if cpu:
            cpu.set_queries(qt)
        if merge:
            best_v, best_i = _heap_topk(merge, cpu, len(qt), n, kc, base_block)
        else:
            best_v, best_i = _torch_topk(cpu, qt, bt, bn, n, kc, base_block)
        best_v, j = best_v.sort(dim=1)
        best_i = best_i.gather(1, j)
        idx[s:s + len(qt)] = best_i.cpu().numpy()
        d2_out[s:s + len(qt)] = (best_v + (qt * qt).sum(1, keepdim=True)).double().cpu().numpy()
        bar.update(len(qt))
    bar.close()
    return d2_out, idx


def _heap_topk(merge, cpu: _CpuProducts, m: int, n: int, kc: int, base_block: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The kc smallest per row over every table block, as a max-heap per row filled in C++ (unsorted)."""
    best_v = torch.full((m, kc), float("inf"))
    best_i = torch.full((m, kc), -1, dtype=torch.int64)
    for b in range(0, n, base_block):
        merge(cpu.block(m, b, min(n, b + base_block)), best_v, best_i, b)
    return best_v, best_i


def _torch_topk(cpu: _CpuProducts | None, qt: torch.Tensor, bt, bn, n: int, kc: int, base_block: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The kc smallest per row over every table block by torch.topk per block and a running merge (unsorted)."""
    best_v = torch.empty((len(qt), 0), dtype=torch.float32, device=qt.device)
    best_i = torch.empty((len(qt), 0), dtype=torch.int64, device=qt.device)
    for b in range(0, n, base_block):
        # |b|^2 - 2 q.b: the squared distance less |q|^2, which is the same along a row
        part = cpu.block(len(qt), b, min(n, b + base_block)) if cpu else torch.addmm(
            bn[b:b + base_block].unsqueeze(0), qt, bt[b:b + base_block].T, alpha=-2.0)
        v, i = part.topk(min(kc, part.shape[1]), dim=1, largest=False, sorted=False)
        best_v, pos = torch.cat([best_v, v], 1), torch.cat([best_i, i + b], 1)
        if best_v.shape[1] > kc:
            best_v, j = best_v.topk(kc, dim=1, largest=False, sorted=False)
            pos = pos.gather(1, j)
        best_i = pos
    return best_v, best_i


def _faiss_candidates(q: np.ndarray, table: KnnTable, kc: int) -> tuple[np.ndarray, np.ndarray]:
    with faiss_threads_for(len(q)):
        d2, idx = table.faiss_index().search(np.ascontiguousarray(q, dtype=np.float32), kc)
    return d2.astype(np.float64), idx.astype(np.int64)


def _rerank_rows(q: np.ndarray, base: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """_rerank for a block of rows at once: exact float64 distances to the candidates, sorted by (distance, index)."""
    diff = base[cand].astype(np.float64) - q[:, None, :]
    d2 = np.einsum("ijk,ijk->ij", diff, diff)
    order = np.lexsort((cand, d2), axis=1)[:, :k]
    return np.sqrt(np.take_along_axis(d2, order, 1)), np.take_along_axis(cand, order, 1)


def knn(queries: np.ndarray, base: np.ndarray | KnnTable, k: int, *, method: str = "auto",
        faiss_threshold: int = DEFAULT_FAISS_THRESHOLD, chunk: int = QUERY_BLOCK, margin: int = 8,
        device: str | torch.device = "cpu", base_block: int = BASE_BLOCK,
        progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(distances [q, k'], indices [q, k']) of the k nearest base rows, k' = min(k, len(base)); ties by index.

    Pass a KnnTable as `base` to search a table many times without re-checking or re-indexing it. `device`
    places the blocked torch top-k (method 'torch'; 'auto' picks it whenever the device is not the CPU);
    `chunk` x `base_block` bounds its working memory; `progress` shows a bar over the queries.
    """
    if method not in METHODS:
        raise Img2SongError(f"unknown knn method {method!r}; known: {', '.join(METHODS)}")
    q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    table = as_table(base)
    b = table.vectors  # float32; float64 only on candidates
    if b.shape[0] == 0 or k <= 0:
        return np.zeros((len(q), 0)), np.zeros((len(q), 0), dtype=np.int64)
    if q.shape[1] != b.shape[1]:
        raise Img2SongError(f"knn: query dimension {q.shape[1]} differs from table dimension {b.shape[1]}")
    if not np.isfinite(q).all():
        raise Img2SongError("knn: vectors contain NaN or infinity")
    if chunk < 1 or base_block < 1:
        raise Img2SongError(f"knn: block sizes must be >= 1 (got chunk={chunk}, base_block={base_block})")
    k = min(k, len(b))
    kc = min(len(b), k + margin)
    if method == "auto":  # faiss for a few queries against a large table on the CPU (serving), else blocked
        on_cpu = resolve_device(device).type == "cpu"
        method = "faiss" if on_cpu and len(q) < SMALL_BATCH and len(b) * len(q) > faiss_threshold else "torch"
    dist = np.empty((len(q), k))
    idx = np.empty((len(q), k), dtype=np.int64)
    if method == "torch":
        fd2, cand = _torch_candidates(q, table, kc, device=device, query_block=chunk, base_block=base_block,
                                      progress=progress)
    else:
        fd2, cand = _faiss_candidates(q, table, kc)
    # bound on the float32 error of a squared distance: a row whose k-th exact distance comes within it of the
    # last candidate's may have (tied) neighbours outside the candidate list, so settle it over the whole table
    tol = 1e-4 * ((q * q).sum(1) + table.max_sq_norm) + 1e-9
    for s in range(0, len(q), 1024):
        e = min(len(q), s + 1024)
        dist[s:e], idx[s:e] = _rerank_rows(q[s:e], b, cand[s:e], k)
    if kc < len(b):
        for r in np.flatnonzero(dist[:, -1] ** 2 >= fd2[:, -1] - tol).tolist():
            dist[r], idx[r] = _rerank(q[r], b, np.arange(len(b)), k)
    return dist, idx
