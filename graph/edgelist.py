"""A vectorised reader of the reference LINE C++ input (`u v w` per line, whitespace-separated, directed).

First choice: one pass in C++ (graph/csrc/edgelist.cpp through graph.native; it runs without the GIL, so a
caller can read while it imports torch: `read_in_background`). It declines any file it cannot take exactly (a
fault, an unusual weight spelling), and a file with non-ASCII bytes is accepted only when it is UTF-8 without
Unicode whitespace. Then numpy: one read of the file, one UTF-8 decode, fields located per line by numpy over the
bytes, tokens split by str.split (C speed), names numbered in order of first appearance by a dict built in C,
weights parsed by float in one map: no Python loop per line. Every error names the file, line and field exactly as
the line-by-line reader did (`parse_lines`, kept for the rare file holding Unicode whitespace other than ASCII's,
and as the reference of the tests).
"""
from __future__ import annotations

import ctypes
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import numpy as np

from graph import native
from graph.common.errors import Img2SongError

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_TINY = float(np.finfo(np.float32).tiny)  # smallest normal float32: smaller weights vanish in training
_OTHER_WS = re.compile(r"[^\S\t\n\x0b\x0c\r\x1c-\x1f ]")  # Unicode whitespace beyond ASCII's

Parsed = tuple[list[str], np.ndarray, np.ndarray, np.ndarray]  # names, src int64, dst int64, weights float32


def _check_weight(path: Path, lineno: int, w: float, field: str) -> None:
    if not np.isfinite(w) or w <= 0:
        raise Img2SongError(f"{path}:{lineno}: field 'w' must be positive, got {field}")
    if not FLOAT32_TINY <= w <= FLOAT32_MAX:
        raise Img2SongError(f"{path}:{lineno}: field 'w' is outside the float32 range "
                            f"[{FLOAT32_TINY:.3g}, {FLOAT32_MAX:.3g}] of the weights, got {field}")


def parse_lines(path: Path, data: bytes) -> Parsed:
    """Line by line (the reader before the vectorised one): exact str.split semantics for any whitespace."""
    ids: dict[str, int] = {}
    src, dst, wts = [], [], []
    for lineno, raw in enumerate(data.split(b"\n"), start=1):  # as iterating the binary file did
        if b"\x00" in raw:
            raise Img2SongError(f"{path}:{lineno}: NUL byte (a binary file?)")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Img2SongError(f"{path}:{lineno}: bytes are not UTF-8") from None
        parts = line.split()
        if not parts:
            continue
        if len(parts) not in (2, 3):
            raise Img2SongError(f"{path}:{lineno}: expected 'u v w', got {len(parts)} fields")
        try:
            w = float(parts[2]) if len(parts) == 3 else 1.0
        except ValueError:
            raise Img2SongError(f"{path}:{lineno}: field 'w' is not a number: {parts[2]!r}") from None
        _check_weight(path, lineno, w, parts[2] if len(parts) == 3 else "1")
        for v in parts[:2]:
            if v not in ids:
                ids[v] = len(ids)
        src.append(ids[parts[0]])
        dst.append(ids[parts[1]])
        wts.append(w)
    return _nonempty(path, (list(ids), np.array(src, np.int64), np.array(dst, np.int64), np.array(wts, np.float32)))


def _nonempty(path: Path, out: Parsed) -> Parsed:
    if not len(out[1]):
        raise Img2SongError(f"{path}: the edge list has no edges (expected 'u v w' lines)")
    return out


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def parse_edgelist(path: str | Path, use_native: bool = True) -> Parsed:
    """(names, src, dst, weights) of an edge-list file; a clear error naming file, line and field."""
    path = Path(path)
    data = path.read_bytes()
    fast = parse_native(data) if use_native else None
    if fast is not None:
        return fast
    nul = data.find(b"\x00")
    if nul >= 0:
        raise Img2SongError(f"{path}:{_line_at(data, nul)}: NUL byte (a binary file?)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Img2SongError(f"{path}:{_line_at(data, e.start)}: bytes are not UTF-8") from None
    if not data.isascii() and _OTHER_WS.search(text):
        return parse_lines(path, data)
    return _nonempty(path, _parse_vectorised(path, data, text))


def parse_native(data: bytes) -> Parsed | None:
    """The C++ pass (GIL released); None when the library is unavailable or the file needs the Python reader."""
    lib = native.load("edgelist")
    if lib is None:
        return None
    lib.el_parse.restype = ctypes.c_void_p
    lib.el_parse.argtypes = [ctypes.c_char_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_int)]
    status = ctypes.c_int(0)
    handle = lib.el_parse(data, len(data), ctypes.byref(status))
    if not handle:
        raise MemoryError("edge list: out of memory in the C++ reader")
    try:
        if status.value == 2:
            raise MemoryError("edge list: out of memory in the C++ reader")
        if status.value != 0:
            return None
        counts = (ctypes.c_int64 * 5)()
        lib.el_counts(ctypes.c_void_p(handle), counts)
        n_edges, n_names, n_bytes, flags = counts[0], counts[1], counts[2], counts[3]
        if flags & 1:  # non-ASCII bytes: only UTF-8 without Unicode whitespace splits as the C++ did
            try:
                if _OTHER_WS.search(data.decode("utf-8")):
                    return None
            except UnicodeDecodeError:
                return None
        src, dst = np.empty(n_edges, np.int64), np.empty(n_edges, np.int64)
        wts = np.empty(n_edges, np.float32)
        blob = ctypes.create_string_buffer(max(n_bytes, 1))
        lib.el_copy(ctypes.c_void_p(handle), src.ctypes.data_as(ctypes.c_void_p), dst.ctypes.data_as(ctypes.c_void_p),
                    wts.ctypes.data_as(ctypes.c_void_p), blob)
        names = blob.raw[:n_bytes].decode("utf-8").split("\n")[:-1]
        if len(names) != n_names:  # cannot happen (names hold no newline); never trust it silently
            return None
        return names, src, dst, wts
    finally:
        lib.el_free(ctypes.c_void_p(handle))


def read_in_background(path: str | Path, make: Callable[[Parsed], Any] | None = None) -> Future:
    """Start parse_edgelist(path) (then `make` on its result) on a daemon thread; .result() gives it or raises its
    error, and .seconds says how long the job took.

    The C++ pass holds no GIL, so the caller can import torch meanwhile: start-up and reading overlap. A daemon
    thread, so a caller that fails first (a bad option) exits without waiting for the read.
    """
    future: Future = Future()

    def job() -> None:
        tic = time.perf_counter()
        try:
            parsed = parse_edgelist(path)
            result = make(parsed) if make is not None else parsed
        except BaseException as e:  # noqa: BLE001 - handed to the caller's .result(), which raises it
            future.seconds = time.perf_counter() - tic
            future.set_exception(e)
        else:
            future.seconds = time.perf_counter() - tic
            future.set_result(result)

    threading.Thread(target=job, name="edgelist-reader", daemon=True).start()
    return future


def _parse_vectorised(path: Path, data: bytes, text: str) -> Parsed:
    arr = np.frombuffer(data, dtype=np.uint8)
    ws = (arr == 32) | ((arr >= 9) & (arr <= 13)) | ((arr >= 28) & (arr <= 31))  # what str.split() splits on
    starts = np.flatnonzero(~ws[1:] & ws[:-1]) + 1  # first byte of every token
    if len(arr) and not ws[0]:
        starts = np.concatenate(([0], starts))
    del ws
    line_of = np.searchsorted(np.flatnonzero(arr == 10), starts)  # 0-based line of each token, ascending
    del starts
    first = np.flatnonzero(np.diff(line_of, prepend=-1))  # first token of every non-empty line
    lines = line_of[first]
    fields = np.diff(np.append(first, len(line_of)))
    bad = np.flatnonzero((fields < 2) | (fields > 3))
    if len(bad):
        j = bad[0]
        raise Img2SongError(f"{path}:{lines[j] + 1}: expected 'u v w', got {fields[j]} fields")
    tokens = np.array(text.split(), dtype=object)
    if len(tokens) != len(line_of):  # cannot happen with ASCII whitespace; never trust it silently
        raise Img2SongError(f"{path}: tokenisation mismatch ({len(tokens)} vs {len(line_of)} fields)")
    has_w = fields == 3
    wts = np.ones(len(first), dtype=np.float64)
    w_tok = tokens[first[has_w] + 2].tolist()
    try:
        wts[has_w] = np.fromiter(map(float, w_tok), dtype=np.float64, count=len(w_tok))
    except ValueError:
        for j, t in zip(np.flatnonzero(has_w).tolist(), w_tok):
            try:
                float(t)
            except ValueError:
                raise Img2SongError(f"{path}:{lines[j] + 1}: field 'w' is not a number: {t!r}") from None
    bad = np.flatnonzero(~(np.isfinite(wts) & (wts >= FLOAT32_TINY) & (wts <= FLOAT32_MAX)))
    if len(bad):
        j = bad[0]
        _check_weight(path, int(lines[j]) + 1, float(wts[j]), tokens[first[j] + 2])
    inter = np.empty(2 * len(first), dtype=object)
    inter[0::2], inter[1::2] = tokens[first], tokens[first + 1]
    pairs = inter.tolist()  # u0 v0 u1 v1 ...: ids in order of first appearance
    del inter
    names = list(dict.fromkeys(pairs))
    lookup = dict(zip(names, range(len(names))))
    codes = np.fromiter(map(lookup.__getitem__, pairs), dtype=np.int64, count=len(pairs))
    return names, codes[0::2].copy(), codes[1::2].copy(), wts.astype(np.float32)
