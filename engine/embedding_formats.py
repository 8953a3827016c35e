"""File formats of engine.vectors.KeyedTable (see engine.embeddings for the layouts and the key escaping).

Readers return (ids, vectors, kinds, labels, meta); writers take a table (ids, vectors, kinds, labels, meta, dim).
Only npz keeps `meta` (in its JSON header, as "metadata"); the other formats read back an empty one.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from engine.projector_sprite import SPRITE_FILE, sprite_config, write_sprite
from graph.common.atomic import current_umask, remove_stale_temps, temp_prefix
from graph.common.errors import Img2SongError
from graph.common.readers import load_npz, npz_meta
from graph.network import PREFIX, Kind

Fields = tuple[list[str], np.ndarray, "np.ndarray | None", "list[str] | None", dict[str, Any]]
FORMATS = ("npz", "word2vec", "word2vec-binary", "projector")
SUFFIXES = {".npz": "npz", ".txt": "word2vec", ".vec": "word2vec", ".w2v": "word2vec", ".bin": "word2vec-binary"}
_NPZ_TAG = "img2song-embeddings"
_TSV_ESC = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_TSV_UNESC = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


# --- escaping --------------------------------------------------------------------------------------------
def escape_key(vid: str) -> str:
    """Vertex id -> word2vec key without whitespace (percent-encode '%' and whitespace; reversible)."""
    if not vid:
        raise Img2SongError("an empty vertex id cannot be written as a word2vec key")
    if not any(c == "%" or c.isspace() for c in vid):
        return vid
    return "".join("".join(f"%{b:02X}" for b in c.encode("utf-8")) if c == "%" or c.isspace() else c for c in vid)


def unescape_key(key: str) -> str:
    """Inverse of escape_key."""
    return unquote(key, errors="strict") if "%" in key else key


def _tsv_escape(cell: str) -> str:
    return "".join(_TSV_ESC.get(c, c) for c in cell) if any(c in _TSV_ESC for c in cell) else cell


def _tsv_unescape(cell: str, where: str) -> str:
    if "\\" not in cell:
        return cell
    out, i = [], 0
    while i < len(cell):
        c = cell[i]
        if c == "\\":
            if i + 1 >= len(cell) or cell[i + 1] not in _TSV_UNESC:
                raise Img2SongError(f"{where}: bad escape sequence in {cell!r}")
            out.append(_TSV_UNESC[cell[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def kinds_from_ids(ids: Sequence[str]) -> np.ndarray:
    """Kinds inferred from the vertex-id prefixes (img:, kw:, song:; anything else is OTHER)."""
    prefixes = [(p, k) for k, p in PREFIX.items() if p]
    return np.array([next((int(k) for p, k in prefixes if v.startswith(p)), int(Kind.OTHER)) for v in ids], np.int8)


def infer_format(path: Path) -> str:
    """Format from a path: a directory is a projector folder, else by suffix (.npz .txt .vec .w2v .bin)."""
    if path.is_dir() or path.suffix == "":
        return "projector"
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise Img2SongError(f"{path}: cannot tell the embedding format from suffix {path.suffix!r}; "
                            f"pass one of {', '.join(FORMATS)}")
    return fmt


def _fmt_row(v: np.ndarray, sep: str) -> str:
    """9 significant digits: the shortest fixed precision that round-trips every float32."""
    return (sep.join(["%.9g"] * len(v))) % tuple(v.tolist())


# --- npz ---------------------------------------------------------------------------------------------------
def _write_npz(t: Any, tmp: str) -> None:
    meta = {"format": _NPZ_TAG, "version": 1, "has_kinds": t.kinds is not None, "has_labels": t.labels is not None}
    if t.meta:
        meta["metadata"] = t.meta
    arrays = {"ids": np.array(t.ids, dtype=str), "vectors": t.vectors, "meta": np.array(json.dumps(meta))}
    if t.kinds is not None:
        arrays["kinds"] = t.kinds
    if t.labels is not None:
        arrays["labels"] = np.array(t.labels, dtype=str)
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # float vectors barely compress; zlib would cost ~10x the write time


def _read_npz(path: Path) -> Fields:
    z = load_npz(path, "embedding .npz", (), ("ids", "vectors", "meta", "kinds", "labels", "matrix", "words",
                                               "source"))
    meta = npz_meta(path, z, "embedding .npz")
    if meta.get("format") != _NPZ_TAG:
        old = _read_older_npz(z, meta)
        if old is None:
            raise Img2SongError(f"{path}: not an img2song embedding file (no '{_NPZ_TAG}' meta)")
        ids, vectors, kinds, labels, metadata = old
    else:
        lack = [k for k in ("ids", "vectors") if k not in z]
        if lack:
            raise Img2SongError(f"{path}: embedding .npz lacks the array(s) {', '.join(lack)}")
        ids, vectors, kinds = z["ids"].tolist(), z["vectors"], z.get("kinds")
        labels = z["labels"].tolist() if "labels" in z else None
        metadata = meta.get("metadata", {})
    if vectors.dtype.kind not in "fiu":
        raise Img2SongError(f"{path}: the vectors hold {vectors.dtype}, expected numbers")
    with np.errstate(over="ignore", invalid="ignore"):
        vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 2 and not np.isfinite(vectors).all():
        row = int(np.flatnonzero(~np.isfinite(vectors).all(1))[0])
        raise Img2SongError(f"{path}: vector {row + 1} holds NaN, infinity or a value beyond float32 range")
    if not isinstance(metadata, dict):
        raise Img2SongError(f"{path}: embedding .npz: field 'metadata' of the meta must be a JSON object")
    return (ids, vectors, kinds, labels, metadata)


def _read_older_npz(z: Any, meta: dict) -> Fields | None:
    """The .npz layouts written before there was one table: features/tags (ids, matrix, meta = the metadata)
    and lyric word vectors (words, vectors, source), so runs made by earlier versions still load."""
    if {"ids", "matrix"} <= set(z):
        return (z["ids"].tolist(), z["matrix"], None, None, meta)
    if {"words", "vectors"} <= set(z):
        return (z["words"].tolist(), z["vectors"], None, None, {"source": str(z["source"])} if "source" in z
                else {})
    return None


# --- word2vec text and binary ------------------------------------------------------------------------------
def _header(t: Any) -> str:
    return f"{len(t)} {t.dim}\n"


def _write_w2v_text(t: Any, tmp: str) -> None:
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(_header(t))
        fh.writelines(f"{escape_key(vid)} {_fmt_row(v, ' ')}\n" for vid, v in zip(t.ids, t.vectors))


def _write_w2v_binary(t: Any, tmp: str) -> None:
    le = t.vectors.astype("<f4", copy=False)
    with open(tmp, "wb") as fh:
        fh.write(_header(t).encode("ascii"))
        fh.writelines(escape_key(vid).encode("utf-8") + b" " + v.tobytes() + b"\n" for vid, v in zip(t.ids, le))


def _parse_header(line: bytes, path: Path) -> tuple[int, int]:
    parts = line.split()
    try:
        n, d = (int(p) for p in parts) if len(parts) == 2 else (None, None)
    except ValueError:
        n = d = None
    if n is None or n < 0 or d is None or d <= 0:
        raise Img2SongError(f"{path}:1: header must be 'N d' (vector count, dimension), got {line[:60]!r}")
    return n, d


def _unescape_at(key: str) -> str:
    """Undo escape_key; a key with an invalid %-sequence cannot come from escape_key (a foreign file): kept as is."""
    try:
        return unescape_key(key)
    except UnicodeDecodeError:
        return key


def _finish(ids: list[str], rows: list | np.ndarray, d: int, path: Path) -> Fields:
    seen: dict[str, int] = {}
    for i, v in enumerate(ids):
        if v in seen:
            raise Img2SongError(f"{path}: vector {i + 1}: duplicate key {v!r} (first at vector {seen[v] + 1})")
        seen[v] = i
    vecs = np.asarray(rows, dtype=np.float32).reshape(len(ids), d)
    return (ids, vecs, kinds_from_ids(ids), None, {})


def _read_w2v_text(path: Path) -> Fields:
    ids: list[str] = []
    rows: list[list[float]] = []
    with open(path, "rb") as fh:
        n, d = _parse_header(fh.readline(), path)
        for lineno, raw in enumerate(fh, start=2):
            where = f"{path}:{lineno}"
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise Img2SongError(f"{where}: bytes are not UTF-8") from None
            if not line.strip():
                continue
            parts = line.rstrip(" ").split(" ")
            if len(ids) >= n:
                raise Img2SongError(f"{where}: more vectors than the header's count {n}")
            if len(parts) != d + 1:
                raise Img2SongError(f"{where}: expected a key and {d} numbers, got {len(parts) - 1} numbers")
            try:
                vec = [float(x) for x in parts[1:]]
                if not np.isfinite(vec).all():
                    raise ValueError
            except ValueError:
                bad = next(x for x in parts[1:] if not _is_number(x))
                raise Img2SongError(f"{where}: value {parts[1:].index(bad) + 1} is not a number: {bad!r}") from None
            ids.append(_unescape_at(parts[0]))
            rows.append(vec)
    if len(ids) != n:
        raise Img2SongError(f"{path}: header promises {n} vectors, file has {len(ids)}")
    return _finish(ids, rows, d, path)


def _is_number(x: str) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except ValueError:
        return False


def _read_w2v_binary(path: Path) -> Fields:
    data = path.read_bytes()
    nl = data.find(b"\n")
    if nl < 0:
        raise Img2SongError(f"{path}:1: missing header line 'N d'")
    n, d = _parse_header(data[:nl], path)
    nbytes = 4 * d
    ids: list[str] = []
    vecs = np.empty((n, d), dtype=np.float32)
    pos = nl + 1
    for i in range(n):
        while pos < len(data) and data[pos : pos + 1] == b"\n":
            pos += 1
        where = f"{path}: vector {i + 1} (byte {pos})"
        sp = data.find(b" ", pos)
        if sp < 0 or len(data) - (sp + 1) < nbytes:
            raise Img2SongError(f"{where}: file ends early; header promises {n} vectors of dimension {d}")
        try:
            key = data[pos:sp].decode("utf-8")
        except UnicodeDecodeError:
            raise Img2SongError(f"{where}: key bytes are not UTF-8") from None
        if not key or any(c.isspace() for c in key):
            raise Img2SongError(f"{where}: bad key {key!r} (wrong dimension or misaligned record?)")
        ids.append(_unescape_at(key))
        vecs[i] = np.frombuffer(data, dtype="<f4", count=d, offset=sp + 1)
        if not np.isfinite(vecs[i]).all():
            raise Img2SongError(f"{where}: vector of {key!r} holds NaN or infinity")
        pos = sp + 1 + nbytes
    if data[pos:].strip(b"\n"):
        raise Img2SongError(f"{path}: byte {pos}: {len(data) - pos} bytes after the {n} vectors of the header "
                            "(wrong count or dimension?)")
    return _finish(ids, vecs, d, path)


# --- TensorBoard projector directory ---------------------------------------------------------------------
_PROJECTOR_CONFIG = 'embeddings {\n  tensor_name: "img2song"\n  tensor_path: "tensors.tsv"\n' \
                    '  metadata_path: "metadata.tsv"\n'


def write_projector(t: Any, path: Path, info: Any = None, tile: int = 64) -> Path:
    """tensors.tsv, metadata.tsv (id, kind, label) and projector_config.pbtxt into the directory `path`
    (replaced as a whole). With `info` (engine.projector_sprite.VertexInfo) labels come from it where it has one,
    and sprite.png shows each image vertex as its thumbnail."""
    if path.exists() and not path.is_dir():
        raise Img2SongError(f"{path}: exists and is not a projector directory")
    if path.is_dir() and any(path.iterdir()) and not (path / "tensors.tsv").exists():
        raise Img2SongError(f"{path}: directory exists and is not a projector export; refusing to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=temp_prefix(f".{path.name}."), suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the output directory gets mkdir's mode
    try:
        with open(tmp / "tensors.tsv", "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(_fmt_row(v, "\t") + "\n" for v in t.vectors)
        with open(tmp / "metadata.tsv", "w", encoding="utf-8", newline="\n") as fh:
            fh.write("id\tkind\tlabel\n")
            for i, vid in enumerate(t.ids):
                kind = "" if t.kinds is None else Kind(int(t.kinds[i])).name.lower()
                label = "" if t.labels is None else t.labels[i]
                label = (info.label_of(vid) or label) if info is not None else label
                fh.write(f"{_tsv_escape(vid)}\t{kind}\t{_tsv_escape(label)}\n")
        config = _PROJECTOR_CONFIG
        if info is not None:
            config += sprite_config(write_sprite(t.ids, info, tmp / SPRITE_FILE, tile)[1])
        (tmp / "projector_config.pbtxt").write_text(config + "}\n", encoding="utf-8")
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=temp_prefix(f".{path.name}."), suffix=".old"))
            os.replace(path, old / "x")
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _read_projector(path: Path) -> Fields:
    tpath, mpath = path / "tensors.tsv", path / "metadata.tsv"
    for p in (tpath, mpath):
        if not p.is_file():
            raise Img2SongError(f"{p}: missing from the projector directory")
    rows: list[list[float]] = []
    d = None
    with open(tpath, encoding="utf-8", newline="\n") as fh:
        for lineno, line in enumerate(fh, start=1):
            cells = line.rstrip("\n").split("\t")
            d = len(cells) if d is None else d
            if len(cells) != d:
                raise Img2SongError(f"{tpath}:{lineno}: expected {d} numbers (as line 1), got {len(cells)}")
            try:
                rows.append([float(c) for c in cells])
                if not np.isfinite(rows[-1]).all():
                    raise ValueError
            except ValueError:
                bad = next(c for c in cells if not _is_number(c))
                raise Img2SongError(f"{tpath}:{lineno}: value {cells.index(bad) + 1} is not a number: {bad!r}") \
                    from None
    ids, kinds, labels = [], [], []
    with open(mpath, encoding="utf-8", newline="\n") as fh:
        header = fh.readline().rstrip("\n")
        if header != "id\tkind\tlabel":
            raise Img2SongError(f"{mpath}:1: header must be 'id<TAB>kind<TAB>label', got {header!r}")
        for lineno, line in enumerate(fh, start=2):
            cells = line.rstrip("\n").split("\t")
            if len(cells) != 3:
                raise Img2SongError(f"{mpath}:{lineno}: expected 3 tab-separated fields, got {len(cells)}")
            where = f"{mpath}:{lineno}"
            ids.append(_tsv_unescape(cells[0], where))
            if cells[1]:
                try:
                    kinds.append(int(Kind[cells[1].upper()]))
                except KeyError:
                    raise Img2SongError(f"{where}: field 'kind' is not a vertex kind: {cells[1]!r}") from None
            else:
                kinds.append(None)
            labels.append(_tsv_unescape(cells[2], where))
    if len(ids) != len(rows):
        raise Img2SongError(f"{path}: {len(rows)} vectors in tensors.tsv but {len(ids)} rows in metadata.tsv")
    if any(k is None for k in kinds) and not all(k is None for k in kinds):
        raise Img2SongError(f"{mpath}: field 'kind' is empty on some rows only")
    vecs = np.asarray(rows, dtype=np.float32).reshape(len(rows), d or 0)
    return (ids, vecs, None if (not kinds or kinds[0] is None) else np.array(kinds, np.int8),
                          labels if any(labels) else None, {})


WRITERS = {"npz": _write_npz, "word2vec": _write_w2v_text, "word2vec-binary": _write_w2v_binary,
            "projector": write_projector}
READERS = {"npz": _read_npz, "word2vec": _read_w2v_text, "word2vec-binary": _read_w2v_binary,
            "projector": _read_projector}
