"""Every cache and build path from one setting: IMG2SONG_CACHE, else <repo>/build (never the working directory)."""
from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE = "IMG2SONG_CACHE"
ENV_BUILD = "IMG2SONG_BUILD_DIR"  # older name, still honoured


def build_root() -> Path:
    """The root of caches and compiled extensions: $IMG2SONG_CACHE, $IMG2SONG_BUILD_DIR, else <repo>/build."""
    for env in (ENV_CACHE, ENV_BUILD):
        value = os.environ.get(env)
        if value:
            return Path(value).expanduser().resolve()
    return Path(__file__).resolve().parents[2] / "build"


def cache_dir(name: str) -> Path:
    """<build root>/cache/<name> (features, conceptnet, ...)."""
    return build_root() / "cache" / name
