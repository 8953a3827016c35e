"""Atomic file writes (temp file in the target's directory, then os.replace) shared by every writer."""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `path` that replaces it on success; on any error the temp goes, the old file stays.

    The temp name ends with `suffix` (default: the target's own suffix), so writers that pick the format from the
    extension (matplotlib) or append one when it is missing (numpy's savez: pass ".npz") write where expected.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    end = path.suffix if suffix is None else suffix
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{end}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return path


def write_json(path: str | Path, doc: Any, indent: int | None = 1) -> Path:
    """Write JSON (UTF-8, non-ASCII kept readable) atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, ensure_ascii=False, indent=indent)
    return path
