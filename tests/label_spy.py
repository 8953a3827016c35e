"""A plug-in scorer that spies for query labels: the source of a module the tests write OUTSIDE the project.

`SPY_SOURCE` is written to a file in tmp_path and registered through `--scorer-module`, as a user's plug-in is.
The spy walks everything it is handed (fit's TrainingSet, every Query, their attributes and properties, dicts,
lists, dataclasses, numpy arrays of strings, Paths and path strings) and every file under every path it meets
(JSON/JSONL parsed and walked, .npz arrays, .gz, text lines, binary bytes), and records each place where a query
image's label shows up:
- a query caption anywhere (the captions the test writes are in no lyric and no training image), or
- a query image's id beside one of its own keywords or tags: as a mapping key whose value holds the label, or as a
  scalar field of a record (dict, object, short tuple, text line) that also holds the label.
A keyword alone is not a leak (the vocabulary, songs and training images legitimately contain every keyword);
the association with a query image is. Findings and counts of what was walked go to $IMG2SONG_SPY_OUT (JSON);
a leak raises RuntimeError (not Img2SongError, which the protocol counts as a per-query skip).
"""
from __future__ import annotations

SPY_SOURCE = r'''
import dataclasses
import gzip
import json
import os
import re
import zipfile
from collections import Counter
from pathlib import PurePath, Path

import numpy as np

from engine.scorers.base import Recommendation, Scorer, register_scorer

MAX_FILE_BYTES = 64 * 1024 * 1024
SKIP_TYPES = ("module", "type", "function", "builtin_function_or_method", "method", "method-wrapper", "Tensor",
              "Parameter", "device", "dtype", "Lock", "RLock")


class Walker:
    """Walks objects and files; collects leaks of query labels (see the module docstring of tests/label_spy.py)."""

    def __init__(self, labels, captions, exclude=()):
        self.labels = {q: set(v) for q, v in labels.items()}  # query id -> its keywords, tags and caption
        self.captions = [c for c in captions if c]
        self.exclude = {str(Path(p).resolve()) for p in exclude}
        self.seen, self.files, self.counts, self.leaks = set(), set(), Counter(), []

    # -- detection --------------------------------------------------------------------------------------------
    def _leak(self, what, where):
        if len(self.leaks) < 50:
            self.leaks.append(f"{what} at {where}")

    def _check_string(self, s, where):
        self.counts["strings"] += 1
        for c in self.captions:
            if c in s:
                self._leak(f"query caption {c!r}", where)

    def _check_record(self, scalars, inner, where):
        """scalars: a record's own string fields; inner: the strings one level inside its lists / dicts."""
        for q in self.labels.keys() & set(scalars):
            hit = self.labels[q] & (set(scalars) | set(inner))
            if hit:
                self._leak(f"query image {q!r} with its label(s) {sorted(hit)}", where)

    def _check_mapping(self, d, where):
        for q in self.labels.keys() & {k for k in d if isinstance(k, str)}:
            hit = self.labels[q] & self._strings_in(d[q], 3)
            if hit:
                self._leak(f"query image {q!r} -> its label(s) {sorted(hit)}", where)

    def _strings_in(self, obj, depth):
        out = set()
        if isinstance(obj, str):
            out.add(obj)
        elif depth > 0 and isinstance(obj, dict):
            for k, v in obj.items():
                out |= self._strings_in(k, depth - 1) | self._strings_in(v, depth - 1)
        elif depth > 0 and isinstance(obj, (list, tuple, set, frozenset)):
            for v in obj:
                out |= self._strings_in(v, depth - 1)
        elif depth > 0 and isinstance(obj, np.ndarray) and obj.dtype.kind in "US":
            out |= {str(x) for x in obj.ravel().tolist()}
        elif depth > 0 and hasattr(obj, "__dict__") and not self._opaque(obj):
            out |= self._strings_in(dict(vars(obj)), depth - 1)
        return out

    @staticmethod
    def _shallow(fields):
        scalars = [v for v in fields if isinstance(v, str)]
        inner = []
        for v in fields:
            if isinstance(v, (list, tuple, set, frozenset)):
                inner += [x for x in v if isinstance(x, str)]
            elif isinstance(v, dict):
                inner += [x for x in list(v) + list(v.values()) if isinstance(x, str)]
            elif isinstance(v, np.ndarray) and v.dtype.kind in "US" and v.size <= 1000:
                inner += [str(x) for x in v.ravel().tolist()]
        return scalars, inner

    # -- objects ----------------------------------------------------------------------------------------------
    @staticmethod
    def _opaque(obj):
        return type(obj).__name__ in SKIP_TYPES or callable(obj) and not hasattr(obj, "__dataclass_fields__") \
            and not hasattr(obj, "__dict__")

    def walk(self, root, where="root"):
        stack = [(root, where)]
        while stack:
            obj, where = stack.pop()
            if isinstance(obj, (bool, int, float, complex, type(None), bytes)):
                continue
            if isinstance(obj, str):
                self._check_string(obj, where)
                if len(obj) < 4096 and os.path.isabs(obj) and obj != "/" and os.path.exists(obj):
                    self.walk_path(Path(obj), where)
                continue
            if id(obj) in self.seen:
                continue
            self.seen.add(id(obj))
            if isinstance(obj, PurePath):
                self.counts["paths"] += 1
                self.walk_path(Path(obj), where)
                continue
            if isinstance(obj, np.ndarray):
                self.counts["arrays"] += 1
                if obj.dtype.kind in "US":
                    self.counts["string_arrays"] += 1
                    rows = obj.reshape(-1, obj.shape[-1]) if obj.ndim >= 2 else obj.reshape(1, -1)
                    for j, row in enumerate(rows):
                        items = [str(x) for x in row.tolist()]
                        if obj.ndim >= 2:
                            self._check_record(items, [], f"{where}[row {j}]")
                        for x in items:
                            self._check_string(x, where)
                elif obj.dtype == object:
                    stack.extend((x, f"{where}[]") for x in obj.ravel().tolist())
                continue
            self.counts["objects"] += 1
            if isinstance(obj, dict):
                self._check_mapping(obj, where)
                self._check_record(*self._shallow(obj.values()), where)
                for k, v in obj.items():
                    stack.append((k, f"{where}.keys"))
                    stack.append((v, f"{where}[{k!r}]"[:200]))
                continue
            if isinstance(obj, (list, tuple, set, frozenset)):
                items = list(obj)
                if len(items) <= 16:
                    self._check_record(*self._shallow(items), where)
                stack.extend((v, f"{where}[{j}]") for j, v in enumerate(items))
                continue
            if self._opaque(obj):
                self.counts["opaque"] += 1
                continue
            fields = {}
            if dataclasses.is_dataclass(obj):
                fields.update({f.name: getattr(obj, f.name, None) for f in dataclasses.fields(obj)})
            fields.update(getattr(obj, "__dict__", {}) or {})
            for slot in getattr(type(obj), "__slots__", ()) or ():
                if isinstance(slot, str) and hasattr(obj, slot):
                    fields[slot] = getattr(obj, slot)
            for name in dir(type(obj)):  # properties too (a path a property returns is reachable)
                if isinstance(getattr(type(obj), name, None), property) and not name.startswith("__"):
                    try:
                        fields[f"@{name}"] = getattr(obj, name)
                    except Exception:  # noqa: BLE001 - a property that cannot answer reaches nothing
                        pass
            self._check_mapping(fields, where)
            self._check_record(*self._shallow(fields.values()), where)
            stack.extend((v, f"{where}.{k}") for k, v in fields.items())

    # -- files ------------------------------------------------------------------------------------------------
    def walk_path(self, path, where):
        try:
            path = path.resolve()
        except OSError:
            return
        if path.is_dir():
            self.counts["dirs"] += 1
            for p in sorted(path.rglob("*")):
                if p.is_file():
                    self.walk_file(p, f"{where} -> {p}")
        elif path.is_file():
            self.walk_file(path, f"{where} -> {path}")

    def walk_file(self, path, where):
        key = str(path.resolve())
        if key in self.files or key in self.exclude:
            return
        self.files.add(key)
        self.counts["files"] += 1
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                self.counts["files_too_big"] += 1
                return
            data = path.read_bytes()
        except OSError:
            self.counts["files_unreadable"] += 1
            return
        self.counts["file_bytes"] += len(data)
        name = path.name
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                pass
            name = name[:-3] if name.endswith(".gz") else name
        if data[:4] == b"PK\x03\x04" and name.endswith(".npz"):
            try:
                with np.load(path, allow_pickle=False) as z:
                    for k in z.files:
                        self.walk(z[k], f"{where}:{k}")
            except (OSError, ValueError, zipfile.BadZipFile):
                self.counts["files_unreadable"] += 1
            return
        text = data.decode("utf-8", errors="ignore")
        self._check_string(text, where)
        if name.endswith(".json"):
            try:
                self.walk(json.loads(text), where)
                return
            except ValueError:
                pass
        for n, line in enumerate(text.splitlines(), 1):
            s = line.strip()
            if s[:1] in "{[":
                try:
                    self.walk(json.loads(s), f"{where}:{n}")
                    continue
                except ValueError:
                    pass
            self._check_record(re.split(r"[\t,;|\s]+", s), [], f"{where}:{n}")

    def summary(self):
        return {"counts": dict(self.counts), "files_visited": len(self.files), "leaks": self.leaks}


_WALKER = None


def walker():
    """One walker per process, fed by the test through $IMG2SONG_SPY_LABELS (its own file, never walked)."""
    global _WALKER
    if _WALKER is None:
        spec = json.loads(Path(os.environ["IMG2SONG_SPY_LABELS"]).read_text(encoding="utf-8"))
        _WALKER = Walker(spec["labels"], spec["captions"],
                         exclude=[os.environ["IMG2SONG_SPY_LABELS"], os.environ["IMG2SONG_SPY_OUT"]])
    return _WALKER


def _report(stage):
    w = walker()
    w.counts[stage] += 1
    Path(os.environ["IMG2SONG_SPY_OUT"]).write_text(json.dumps(w.summary(), ensure_ascii=False), encoding="utf-8")
    if w.leaks:
        raise RuntimeError(f"spy: {len(w.leaks)} query label(s) reached, first: {w.leaks[0]}")


@register_scorer("label-spy")
class LabelSpy(Scorer):
    """Ranks songs by popularity (a real answer) while walking everything it is handed for query labels."""

    def __init__(self, note: str = ""):
        self.note = note

    def fit(self, data):
        walker().walk(data, "fit(data)")
        walker().walk(vars(self), "self")
        _report("fit_calls")
        self.song_ids_ = [s.id for s in sorted(data.corpus.songs, key=lambda s: (-s.popularity, s.id))]
        return self

    def recommend(self, query, k=10):
        walker().walk(query, f"recommend(query={query.image_id or query.path})")
        _report("queries_walked")
        return [Recommendation(s, float(-j), "spy: by popularity") for j, s in enumerate(self.song_ids_[:k])]
'''
