"""A derived object cached as a pickle under a content-keyed name: loaded when present and of the right class,
else built and written atomically (a stale or broken file is simply rebuilt)."""
from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from graph.common.atomic import atomic_path

T = TypeVar("T")


def cached_pickle(path: Path, cls: type[T], build: Callable[[], T]) -> T:
    if path.is_file():
        try:
            with open(path, "rb") as fh:
                obj = pickle.load(fh)
            if isinstance(obj, cls):
                return obj
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            pass  # a stale or broken cache is rebuilt below
    obj = build()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return obj
