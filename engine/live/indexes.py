"""Retrieval indexes updated in place of a refit: rows added to and removed from the image kNN and the NE song lists.

Every function returns a NEW object sharing nothing it changes with the one it was given (copy-on-write: arrays
are rebuilt, never written), so a server can keep answering from the old state while the next one is built. The
answers equal those of the same index fitted on the changed tables: song lists are merged exactly (distances in
float64, ties by song row, as engine.knn), and rows whose list lost a song are recomputed by the exact kNN.
"""
from __future__ import annotations

import copy
import threading
import weakref

import faiss
import numpy as np

from engine.index.image import ImageIndex
from engine.index.song_lists import SongLists
from engine.knn import KnnTable, knn

_ARENA: dict[int, tuple[weakref.ref, int]] = {}  # id(buffer) -> (the buffer, rows handed out so far)
_ARENA_LOCK = threading.Lock()


def append_rows(a: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """`a` with `rows` appended, without copying `a` when it is the newest view of a growing buffer: rows are
    written past the end that every existing view sees (so older states, which see fewer rows, never change);
    otherwise (first growth, or `a` is not the newest view) a buffer with room to grow is allocated."""
    rows = np.asarray(rows, dtype=a.dtype).reshape((-1, *a.shape[1:]))
    n, k = len(a), len(rows)
    buf = a.base if isinstance(a.base, np.ndarray) else None
    with _ARENA_LOCK:
        rec = _ARENA.get(id(buf)) if buf is not None else None
        if (rec is not None and rec[0]() is buf and rec[1] == n and len(buf) >= n + k and buf.flags.c_contiguous
                and a.__array_interface__["data"][0] == buf.__array_interface__["data"][0]):
            buf[n:n + k] = rows
            _ARENA[id(buf)] = (rec[0], n + k)
            return buf[:n + k]
        buf = np.empty((max(16, (n + k) * 3 // 2), *a.shape[1:]), dtype=a.dtype)
        buf[:n], buf[n:n + k] = a, rows
        key = id(buf)
        _ARENA[key] = (weakref.ref(buf, lambda _, key=key: _ARENA.pop(key, None)), n + k)
        return buf[:n + k]


def extend_table(table: KnnTable, rows: np.ndarray, what: str) -> KnnTable:
    """A KnnTable with rows appended: only the new rows are validated and measured (KnnTable's checks)."""
    rows = np.asarray(rows, dtype=np.float32).reshape(-1, table.dim)
    check = KnnTable(rows, what=what)  # 2-D, finite
    new = object.__new__(KnnTable)
    new.vectors = append_rows(table.vectors, rows)
    new.max_sq_norm = max(table.max_sq_norm, check.max_sq_norm)
    new._faiss, new._torch_norms = None, None
    sq = getattr(table, "_live_sq", None)
    if sq is not None and len(sq) == len(table):  # carried over: only the new rows are measured
        new._live_sq = append_rows(sq, np.einsum("ij,ij->i", rows, rows))
    return new


def _sq_norms(table: KnnTable) -> np.ndarray:
    """The table's squared row norms (float32), measured once per table and carried over by extend_table."""
    sq = getattr(table, "_live_sq", None)
    if sq is None or len(sq) != len(table):
        sq = np.einsum("ij,ij->i", table.vectors, table.vectors)
        table._live_sq = sq
    return sq


def _keep(n: int, rows: np.ndarray) -> np.ndarray:
    keep = np.ones(n, dtype=bool)
    keep[np.asarray(rows, dtype=np.int64)] = False
    return keep


# ------------------------------------------------------------------------------------------- image index
def image_index_add(index: ImageIndex, features: np.ndarray) -> ImageIndex:
    """The index with rows appended (exact: the table grows; HNSW/IVF: a clone of the faiss index gains them)."""
    new = copy.copy(index)
    new.table_ = extend_table(index.table_, features, "image index")
    new.n_ = len(new.table_)
    if index.method_ != "exact":
        new.faiss_ = faiss.clone_index(index.faiss_)
        new.faiss_.add(index._project(np.asarray(features, np.float32)))
    return new


def image_index_remove(index: ImageIndex, rows: np.ndarray) -> ImageIndex:
    """The index without the given rows (exact: the table shrinks; HNSW/IVF cannot drop rows: rebuilt and
    recalibrated on the remaining rows, as a refit would)."""
    keep = _keep(index.n_, rows)
    vectors = index.table_.vectors[keep]
    if index.method_ != "exact":
        return ImageIndex(**index.get_params()).fit(vectors)
    new = copy.copy(index)
    new.table_ = KnnTable(vectors, what="image index")
    new.n_ = len(vectors)
    return new


# ------------------------------------------------------------------------------------------- song lists
def _merge(dist: np.ndarray, index: np.ndarray, d_new: np.ndarray, i_new: np.ndarray, m: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the m best of the stored list and the new candidates by (distance, song row)."""
    d = np.hstack([np.where(index >= 0, dist, np.inf), d_new])
    i = np.hstack([index.astype(np.int64), np.broadcast_to(i_new, d_new.shape)])
    i_key = np.where(i >= 0, i, np.iinfo(np.int64).max)
    order = np.lexsort((i_key, d), axis=-1)[:, :m]
    return np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)


def song_lists_add_songs(lists: SongLists, vectors: np.ndarray) -> SongLists:
    """Lists with new songs (rows appended to the song table) merged into every computed list they enter."""
    vectors = np.asarray(vectors, np.float32)
    new = copy.copy(lists)
    n_old = len(lists.songs_)
    new.songs_ = extend_table(lists.songs_, vectors, "song lists: song table")
    new.m_ = int(min(lists.m, len(new.songs_)))
    index, dist = lists.index_, lists.dist_
    if new.m_ > lists.m_:  # fewer songs than m so far: every list grows by the new songs
        index = np.hstack([index, np.full((len(index), new.m_ - lists.m_), -1, np.int32)])
        dist = np.hstack([dist, np.full((len(dist), new.m_ - lists.m_), np.inf)])
    done = np.flatnonzero(lists.done_)
    if len(done):
        img = lists.images_[done].astype(np.float64)
        diff = img[:, None, :] - vectors.astype(np.float64)[None, :, :]
        d_new = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
        last = np.where(index[done, -1] >= 0, dist[done, -1], np.inf)
        enter = np.flatnonzero((d_new < last[:, None]).any(1))  # ties go after the stored songs (higher rows)
        if len(enter):
            rows = done[enter]
            index, dist = index.copy(), dist.copy()
            d, i = _merge(dist[rows], index[rows], d_new[enter], n_old + np.arange(len(vectors)), new.m_)
            dist[rows], index[rows] = d, i
    new.index_, new.dist_ = index, np.where(np.isfinite(dist), dist, 0.0) if new.m_ > lists.m_ else dist
    new.done_ = lists.done_
    new._extra = {}
    return new


def song_lists_remove_songs(lists: SongLists, rows: np.ndarray) -> SongLists:
    """Lists without the given song rows: other rows renumbered, lists that held a removed song recomputed exactly."""
    n_old = len(lists.songs_)
    keep = _keep(n_old, rows)
    remap = np.cumsum(keep) - 1
    remap[~keep] = -1
    new = copy.copy(lists)
    new.songs_ = KnnTable(lists.songs_.vectors[keep], what="song lists: song table")
    new.m_ = int(min(lists.m, len(new.songs_)))
    idx = lists.index_.astype(np.int64)
    mapped = np.where(idx >= 0, remap[np.maximum(idx, 0)], -1)
    lost = ((idx >= 0) & (mapped < 0)).any(1)
    index = mapped[:, :new.m_].astype(np.int32)
    dist = lists.dist_[:, :new.m_].copy()
    redo = np.flatnonzero(lost & lists.done_)
    if len(redo) and len(new.songs_):
        d, i = knn(lists.images_[redo], new.songs_, new.m_, method=lists.knn_method)
        dist[redo], index[redo] = d, i
    new.index_, new.dist_, new.done_ = index, dist, lists.done_.copy()  # lists not computed yet stay so
    new._extra = {}
    return new


def song_lists_add_images(lists: SongLists, vectors: np.ndarray) -> SongLists:
    """Lists with new image rows appended, each computed now by the exact kNN."""
    vectors = np.asarray(vectors, np.float32)
    new = copy.copy(lists)
    d, i = nearest_rows(vectors, lists.songs_, lists.m_)
    new.images_ = append_rows(lists.images_, vectors)
    new.index_ = append_rows(lists.index_, i.astype(np.int32))
    new.dist_ = append_rows(lists.dist_, d)
    new.done_ = append_rows(lists.done_, np.ones(len(vectors), bool))
    new._extra = {}
    return new


def nearest_rows(queries: np.ndarray, table: KnnTable, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact m nearest table rows of a few queries by float64 distance, ties by row (engine.knn's order), on the
    calling thread: for one new image a thread team's start-up costs more than the product. A float32 pass over
    the table (no copy; squared norms cached on it) keeps every row within its rounding bound of the m-th; only
    those are measured in float64."""
    t, sq = table.vectors, _sq_norms(table)
    eps = float(np.finfo(np.float32).eps)
    d_out, i_out = np.empty((len(queries), m)), np.empty((len(queries), m), np.int64)
    for j, q in enumerate(np.asarray(queries, np.float32)):
        qq = float(np.dot(q, q))
        d2 = sq - 2.0 * np.einsum("ij,j->i", t, q) + np.float32(qq)  # einsum: one thread, no BLAS team
        # |float32 d2 - exact| <= (dim + 4) eps (|t| + |q|)^2 <= 2 (dim + 4) eps (max |t|^2 + |q|^2) per row
        tol = 2.0 * (t.shape[1] + 4) * eps * (table.max_sq_norm + qq)
        kth = np.partition(d2, m - 1)[m - 1] if len(d2) > m else np.inf
        cand = np.flatnonzero(d2 <= kth + 2.0 * tol)  # every row that can tie with (or beat) the m-th
        diff = t[cand].astype(np.float64) - q.astype(np.float64)  # exact distances of the candidates, then
        dc = np.sqrt(np.einsum("ij,ij->i", diff, diff))  # (distance, row) order
        order = np.lexsort((cand, dc))[:m]
        d_out[j], i_out[j] = dc[order], cand[order]
    return d_out, i_out


def song_lists_remove_images(lists: SongLists, rows: np.ndarray) -> SongLists:
    keep = _keep(len(lists.images_), rows)
    new = copy.copy(lists)
    new.images_ = lists.images_[keep]
    new.index_, new.dist_, new.done_ = lists.index_[keep], lists.dist_[keep], lists.done_[keep]
    new._extra = {}
    return new
