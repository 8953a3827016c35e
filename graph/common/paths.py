"""Cache and build paths, each from one setting, read when used (never the working directory).

Caches (CNN features, ConceptNet DBs, ...): $IMG2SONG_CACHE, else <build root>/cache. Compiled extensions:
<build root>/torch_extensions, where the build root is $IMG2SONG_BUILD_DIR, else <repo>/build.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "IMG2SONG_CACHE"
ENV_BUILD = "IMG2SONG_BUILD_DIR"


def build_root() -> Path:
    """$IMG2SONG_BUILD_DIR, else <repo>/build (ignored by git)."""
    value = os.environ.get(ENV_BUILD)
    return Path(value).expanduser().resolve() if value else Path(__file__).resolve().parents[2] / "build"


def cache_root() -> Path:
    """$IMG2SONG_CACHE, else <build root>/cache."""
    value = os.environ.get(ENV_CACHE)
    return Path(value).expanduser().resolve() if value else build_root() / "cache"


def cache_dir(name: str) -> Path:
    """<cache root>/<name> (features, conceptnet, ...), resolved now: set the variable before calling."""
    return cache_root() / name
