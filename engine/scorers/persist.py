"""A fitted scorer as one directory (as implicit's models save and load): what it is, and what it learned.

    params.json   {"format", "version", "name", "params": constructor parameters, "signature" (the inputs'),
                  "code" (hash of the source of "code_modules": every first-party module the class imports,
                  transitively, see staleness.py), "saved_at"}
    state.json    one entry per fitted attribute: a JSON value, or where its data lies
    arrays.npz    the numpy arrays of the state, and the fields of its id -> vector tables (uncompressed: a
                  service loads it at start-up)
    <attr>/       attributes with their own save(path) / load(path) (LSTM model, retrieval indexes)

The directory is written atomically (a temp directory swapped in). `load_scorer(dir)` rebuilds the scorer from
the registry by name and answers exactly as the fitted one did; `Scorer.save` / `Scorer.load` call these.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from engine.scorers.names import SCORERS
from engine.scorers.staleness import code_modules, code_signature
from engine.vectors import KeyedTable
from graph.common.atomic import atomic_dir, write_json
from graph.common.errors import Img2SongError
from graph.common.readers import load_npz
from graph.common.readers import read_json as _read_json_file


class Persistable(Protocol):
    """What saving and loading need of a scorer (engine.scorers.base.Scorer honours it; base.py imports this
    module, so this one names no class of base.py)."""

    name: str

    def get_params(self) -> dict[str, Any]: ...

    def _get_state(self) -> dict[str, Any]: ...

    def _set_state(self, state: dict[str, Any]) -> None: ...


FORMAT, VERSION = "img2song-scorer", 1
PARAMS, STATE, ARRAYS = "params.json", "state.json", "arrays.npz"
ARTEFACT_MODULES = ("engine.",)  # classes a state.json may name for load(): the project's own only


def _encode(attr: str, value: Any, tmp: Path, arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Where attribute `attr` goes: into arrays (ndarray, FeatureTable), its own file (save/load), or JSON."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise Img2SongError(f"cannot save attribute {attr!r}: numpy array of Python objects")
        arrays[attr] = value
        return {"array": attr}
    if isinstance(value, KeyedTable):  # FeatureTable, EmbeddingTable, WordVectors: fields into arrays.npz
        arrays[f"{attr}.ids"] = np.array(value.ids, dtype=str)
        arrays[f"{attr}.vectors"] = value.vectors
        if value.kinds is not None:
            arrays[f"{attr}.kinds"] = value.kinds
        if value.labels is not None:
            arrays[f"{attr}.labels"] = np.array(value.labels, dtype=str)
        return {"table": attr, "class": _class_path(value), "meta": value.meta}
    if callable(getattr(value, "save", None)) and callable(getattr(type(value), "load", None)):
        value.save(tmp / attr)
        return {"artefact": attr, "class": _class_path(value)}
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError) as e:
        raise Img2SongError(f"cannot save attribute {attr!r} of type {type(value).__name__}: {e}") from None
    if json.loads(text) != value:  # tuples, non-string keys, NaN: would not come back as they were
        raise Img2SongError(f"cannot save attribute {attr!r}: {type(value).__name__} does not survive JSON")
    return {"json": value}


def scorer_code_modules(cls: type, state_modules: list[str] = ()) -> list[str]:
    """Every first-party module the scorer class and its state's classes import, transitively (staleness.py)."""
    return code_modules(cls.__module__, roots=[m for m in state_modules if m != cls.__module__])


def _class_path(value: Any) -> str:
    return f"{type(value).__module__}:{type(value).__qualname__}"


def _project_class(name: Any, where: str, own: str = "") -> Any:
    """The class a state.json names, imported only from the project's own modules or the saved scorer's own
    module `own` and its package (a plug-in's), never arbitrary code."""
    module, _, qualname = str(name).partition(":")
    top = own.split(".")[0]
    mine = bool(own) and (module == own or module == top or module.startswith(top + ".")) and top not in ("", "__main__")
    if not (module.startswith(ARTEFACT_MODULES) or mine) or not qualname:
        raise Img2SongError(f"{where}: class {name!r} is not one of the project's")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls


def _decode(attr: str, spec: Any, path: Path, arrays: dict[str, np.ndarray], own: str = "") -> Any:
    where = f"{path / STATE}: field {attr!r}"
    if not isinstance(spec, dict):
        raise Img2SongError(f"{where}: expected an object")
    try:
        if "json" in spec:
            return spec["json"]
        if "array" in spec:
            return arrays[spec["array"]]
        if "table" in spec:
            key, cls = spec["table"], _project_class(spec.get("class"), where, own)
            labels = arrays[f"{key}.labels"].tolist() if f"{key}.labels" in arrays else None
            return cls.from_fields(arrays[f"{key}.ids"].tolist(), arrays[f"{key}.vectors"],
                                   arrays.get(f"{key}.kinds"), labels, dict(spec.get("meta") or {}))
        if "artefact" in spec:
            return _project_class(spec.get("class"), where, own).load(path / str(spec["artefact"]))
    except KeyError as e:
        raise Img2SongError(f"{where}: {path / ARRAYS} has no array {e}") from None
    except (ImportError, AttributeError) as e:
        raise Img2SongError(f"{where}: cannot load class {spec.get('class')!r} ({e})") from None
    raise Img2SongError(f"{where}: unknown entry {sorted(spec)}")


def read_json(path: Path, what: str, hint: str = "") -> Any:
    """A saved scorer's JSON file; a missing or malformed one is an error naming it."""
    if not path.is_file():
        raise Img2SongError(f"{path}: {what} not found" + (f" ({hint})" if hint else ""))
    return _read_json_file(path, what)


def save_scorer(scorer: Persistable, path: str | Path, signature: str | None = None) -> Path:
    """Write a fitted scorer to directory `path` (replaced atomically); returns the path."""
    path = Path(path)
    state = scorer._get_state()
    if not state:
        raise Img2SongError(f"scorer '{scorer.name}' is not fitted: call fit() before save()")
    with atomic_dir(path) as tmp:
        arrays: dict[str, np.ndarray] = {}
        spec = {attr: _encode(attr, value, tmp, arrays) for attr, value in state.items()}
        np.savez(tmp / ARRAYS, **arrays)
        write_json(tmp / STATE, spec)
        modules = scorer_code_modules(type(scorer), [str(v["class"]).partition(":")[0] for v in spec.values()
                                                     if "class" in v])
        write_json(tmp / PARAMS, {
            "format": FORMAT, "version": VERSION, "name": scorer.name, "params": scorer.get_params(),
            "signature": signature, "code": code_signature(modules), "code_modules": modules,
            "files": _content_hashes(tmp),
            "saved_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
    return path


def _content_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file the scorer wrote (params.json aside), by path inside its directory."""
    out = {}
    for file in sorted(p for p in directory.rglob("*") if p.is_file() and p.name != PARAMS):
        with open(file, "rb") as fh:
            out[file.relative_to(directory).as_posix()] = hashlib.file_digest(fh, "sha256").hexdigest()
    return out


def check_files(path: Path, doc: dict[str, Any]) -> None:
    """Every file params.json lists holds the bytes this scorer saved: a truncated arrays.npz, or a song-list or
    keyword index copied in from another run, is an error naming the file (load_or_fit then refits)."""
    files = doc.get("files")
    if files is None:
        return  # saved before files were fingerprinted
    if not isinstance(files, dict):
        raise Img2SongError(f"{path / PARAMS}: field 'files' must be an object")
    for rel, digest in files.items():
        file = path / str(rel)
        if ".." in Path(str(rel)).parts or not file.is_file():
            raise Img2SongError(f"{file}: saved scorer file missing")
        with open(file, "rb") as fh:
            if hashlib.file_digest(fh, "sha256").hexdigest() != digest:
                raise Img2SongError(f"{file}: not the file this scorer saved (damaged, truncated, or copied from "
                                    "another run); refit with `img2song fit-scorers --run DIR --refit`")


def read_params(path: str | Path) -> dict[str, Any]:
    """params.json of a saved scorer, checked (format, version, name, params); an error naming the field."""
    file = Path(path) / PARAMS
    doc = read_json(file, "saved scorer", "written by `img2song fit-scorers --run DIR`")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise Img2SongError(f"{file}: field 'format' must be {FORMAT!r} (not a saved img2song scorer)")
    if doc.get("version") != VERSION:
        raise Img2SongError(f"{file}: field 'version': {doc.get('version')!r}, this img2song reads {VERSION}")
    if not isinstance(doc.get("name"), str) or not isinstance(doc.get("params"), dict):
        raise Img2SongError(f"{file}: fields 'name' (string) and 'params' (object) are required")
    return doc


def load_scorer(path: str | Path, expect: type | None = None) -> Persistable:
    """The scorer saved in directory `path`, fitted as it was saved (`expect`: the class it must be)."""
    path = Path(path)
    doc = read_params(path)
    cls = SCORERS.get(doc["name"])
    if expect is not None and not issubclass(cls, expect):
        raise Img2SongError(f"{path / PARAMS}: field 'name': {doc['name']!r} is not a {expect.__name__}")
    try:
        scorer = cls(**doc["params"])
    except TypeError as e:
        raise Img2SongError(f"{path / PARAMS}: field 'params': {e}") from None
    spec = read_json(path / STATE, "saved scorer state")
    if not isinstance(spec, dict):
        raise Img2SongError(f"{path / STATE}: expected a JSON object")
    check_files(path, doc)
    arrays = load_npz(path / ARRAYS, "saved scorer arrays", (), every=True)
    scorer._set_state({attr: _decode(attr, s, path, arrays, cls.__module__) for attr, s in spec.items()})
    return scorer
