"""RunDir's derived artefacts: what commands compute from the run's other files and keep, each under the key of
what produced it (the fold-in map, the LSTM scorers' encoded lyrics, the catalogue's content-word document
frequencies). A load under another key answers None (stale: recompute), a damaged file is an Img2SongError naming
it, and every save is atomic. The policy (keys, when to recompute, messages) is evaluation.stages.derived's and
catalogue_foldmap's; this mixin of evaluation.stages.rundir.RunDir only reads and writes.
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.common.readers import load_npz

if TYPE_CHECKING:
    from engine.line.foldin_map import NeighbourMap
    from engine.lstm.scoring import LyricIndex
    from engine.lstm.train import LyricTagModel


def _save_keyed(path: Path, key: str, arrays: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, key=np.array(key), **arrays)
    return path


def _load_keyed(path: Path, what: str, key: str) -> dict[str, Any] | None:
    """The file's arrays when it was saved under `key`; None when there is none or it is stale."""
    if not path.is_file():
        return None
    arrays = load_npz(path, what, ["key"], every=True)
    return arrays if str(arrays["key"]) == key else None


class DerivedFiles:
    """The derived (cached) artefacts of a run."""

    def save_foldin_map(self, nmap: NeighbourMap, key: str) -> Path:
        """foldin_map.npz: the live catalogue's fold-in map under `key`, the hash of what it was fitted on (atomic)."""
        return _save_keyed(self.foldin_map, key, nmap.to_arrays())

    def load_foldin_map(self, key: str) -> NeighbourMap | None:
        """The saved map when it was fitted on what `key` names, else None (none saved, or a stale one); a damaged
        file is an Img2SongError naming it."""
        from engine.line.foldin_map import NeighbourMap  # deferred: scipy

        arrays = _load_keyed(self.foldin_map, "fold-in map", key)
        return None if arrays is None else NeighbourMap.from_arrays(arrays, str(self.foldin_map))

    def save_lyric_index(self, name: str, index: LyricIndex, key: str) -> Path:
        """derived/lyric_index-<scorer>.npz: an LSTM scorer's encoded lyrics under `key` (model, lyrics, code)."""
        return _save_keyed(self.lyric_index(name), key, index.to_arrays())

    def load_lyric_index(self, name: str, model: LyricTagModel, key: str) -> LyricIndex | None:
        """The saved encoded lyrics for `model` when saved under `key`, else None; a damaged file is an error."""
        from engine.lstm.scoring import LyricIndex  # deferred: torch

        path = self.lyric_index(name)
        arrays = _load_keyed(path, "LSTM lyric index", key)
        return None if arrays is None else LyricIndex.from_arrays(model, arrays, str(path))

    def save_content_df(self, df: Counter[str], key: str) -> Path:
        """derived/content_df.npz: in how many catalogue songs each content word occurs, under `key`."""
        words = sorted(df)
        return _save_keyed(self.content_df, key, {"words": np.array(words, dtype=str),
                                                  "counts": np.array([df[w] for w in words], np.int64)})

    def load_content_df(self, key: str) -> Counter[str] | None:
        """The saved document frequencies when saved under `key`, else None; a damaged file is an error."""
        arrays = _load_keyed(self.content_df, "content-word document frequencies", key)
        if arrays is None:
            return None
        words, counts = arrays.get("words"), arrays.get("counts")
        if (words is None or counts is None or words.ndim != 1 or words.dtype.kind != "U" or counts.shape != words.shape
                or counts.dtype.kind not in "iu" or (len(counts) and counts.min() < 1) or len(set(words.tolist())) != len(words)):
            raise Img2SongError(f"{self.content_df}: damaged content-word document frequencies (words and counts "
                                f"must be equally long, counts >= 1, words distinct)")
        return Counter(dict(zip(words.tolist(), counts.tolist())))
