"""Plain C++ helpers (no Python API, no torch) built once per source into <build root>/native and loaded by ctypes.

The library's name carries a hash of its source, the compiler and the flags, so an edited source is rebuilt and a
stale library is never loaded; the build writes a temporary file and renames it, so concurrent builds are safe.
Callers treat None (no compiler, a failed build) as "use the Python path".
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from graph.common.paths import build_root

CSRC = Path(__file__).with_name("csrc")
FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC")
_LOCK = threading.Lock()
_LIBS: dict[str, ctypes.CDLL | None] = {}
BUILD_INFO: dict[str, dict[str, float | bool | str]] = {}  # per library: seconds, compiled, library


def _compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")


def library_path(name: str, cxx: str) -> Path:
    """<build root>/native/<name>-<hash of source, compiler, flags>.so"""
    h = hashlib.sha1((CSRC / f"{name}.cpp").read_bytes())
    h.update("\0".join((cxx, *FLAGS)).encode())
    return build_root() / "native" / f"{name}-{h.hexdigest()[:16]}.so"


def load(name: str) -> ctypes.CDLL | None:
    """The library built from csrc/<name>.cpp (compiled on first use, a few seconds), or None if it cannot be."""
    with _LOCK:
        if name in _LIBS:
            return _LIBS[name]
        tic = time.perf_counter()
        lib, compiled = None, False
        cxx = _compiler()
        if cxx is not None:
            path = library_path(name, cxx)
            if not path.is_file():
                compiled = _build(cxx, CSRC / f"{name}.cpp", path)
            try:
                lib = ctypes.CDLL(str(path)) if path.is_file() else None
            except OSError:
                lib = None
            BUILD_INFO[name] = {"seconds": time.perf_counter() - tic, "compiled": compiled, "library": str(path)}
        _LIBS[name] = lib
        return lib


def _build(cxx: str, source: Path, path: Path) -> bool:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".so")
    os.close(fd)
    try:
        r = subprocess.run([cxx, *FLAGS, str(source), "-o", tmp], capture_output=True, timeout=300, check=False)
        if r.returncode != 0:
            return False
        os.replace(tmp, path)
        return True
    except (OSError, subprocess.TimeoutExpired):
        return False
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
