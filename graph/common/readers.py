"""One guarded reader per file kind: every low-level failure becomes the project's error naming the file (and line).

- JSON / JSON lines: `read_json`, `iter_jsonl` (invalid UTF-8, malformed JSON, NaN / Infinity and numbers beyond
  float range are errors with file, line and field path).
- text lines: `iter_text_lines` (invalid UTF-8 -> file:line).
- npz: `load_npz` (zero-byte, truncated, not a zip, missing keys, pickled arrays -> error naming the file).
- gzip (or plain) text: `iter_gzip_lines` (BadGzipFile, truncated stream, plain text where gzip is expected).
- SQLite: `open_sqlite_readonly` (missing file, not SQLite, wrong schema -> error naming the file; opened with
  the URI `mode=ro`, so nothing is ever written into a user's database).
"""
from __future__ import annotations

import errno
import gzip
import json
import math
import os
import re
import sqlite3
import stat
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

from graph.common.errors import CorpusError, Img2SongError

GZIP_MAGIC = b"\x1f\x8b"
SQLITE_MAGIC = b"SQLite format 3\x00"


# --- JSON ------------------------------------------------------------------------------------------------------
class _NonFinite:
    """Placeholder the parser puts where the text holds NaN, Infinity or a number beyond float range."""

    def __init__(self, text: str) -> None:
        self.text = text


def _parse_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _parse_int(text: str) -> Any:
    if len(text.lstrip("-")) > 4000:  # Python refuses to build such ints (and they are never meant)
        return _NonFinite(text[:20] + "...")
    return int(text)


def _find_non_finite(obj: Any, where: str = "") -> tuple[str, str] | None:
    if isinstance(obj, _NonFinite):
        return where or "<value>", obj.text
    if isinstance(obj, dict):
        for k, v in obj.items():
            hit = _find_non_finite(v, f"{where}.{k}" if where else str(k))
            if hit:
                return hit
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            hit = _find_non_finite(v, f"{where}[{i}]")
            if hit:
                return hit
    return None


def parse_json_text(text: str, file: str | Path, line: int | None = None) -> Any:
    """json.loads that rejects NaN, Infinity and out-of-range numbers with file, line and field path."""
    try:
        obj = json.loads(text, parse_constant=_NonFinite, parse_float=_parse_float, parse_int=_parse_int)
    except json.JSONDecodeError as e:
        where_line = line if line is not None else e.lineno
        raise CorpusError(file, where_line, None, f"malformed JSON: {e.msg} (column {e.colno})") from None
    except RecursionError:
        raise CorpusError(file, line, None, "malformed JSON: nested too deeply") from None
    hit = _find_non_finite(obj)
    if hit is not None:
        raise CorpusError(file, line, hit[0], f"must be a finite number, got {hit[1]}")
    return obj


def read_json(path: str | Path, what: str = "JSON file") -> Any:
    """Parse a whole JSON file; missing, non-UTF-8, malformed or non-finite content raise an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise Img2SongError(f"{path}: {what} not found")
    data = _read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise CorpusError(path, line, None, f"bytes are not UTF-8 (at byte {e.start})") from None
    return parse_json_text(text, path)


def iter_jsonl(path: str | Path, *, objects: bool = True) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) of each non-blank line; `objects` requires every value to be a JSON object."""
    path = Path(path)
    for lineno, line in _iter_byte_lines(path):
        if not line.strip():
            continue
        text = _decode(line, path, lineno)
        obj = parse_json_text(text, path, lineno)
        if objects and not isinstance(obj, dict):
            raise CorpusError(path, lineno, None, "expected a JSON object")
        yield lineno, obj


# --- text lines ------------------------------------------------------------------------------------------------
def iter_text_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(line number, text without the line end) of a UTF-8 file; invalid bytes are an error naming the line."""
    path = Path(path)
    for lineno, line in _iter_byte_lines(path):
        if lineno == 1 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        yield lineno, _decode(line, path, lineno).rstrip("\r")


def _read_bytes(path: Path) -> bytes:
    """A regular file's bytes; a FIFO or a device (which would block, or never end: /dev/zero) is refused unopened."""
    with _open_regular(path) as fh:
        return fh.read()


@contextmanager
def _open_regular(path: Path) -> Iterator[BinaryIO]:
    """A regular file opened for reading; a FIFO or a device is refused unopened, every failure names the file."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise Img2SongError(f"{path}: file not found") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise Img2SongError(f"{path}: is a symlink that leads nowhere (a loop)") from None
        raise
    if stat.S_ISDIR(st.st_mode):
        raise Img2SongError(f"{path}: is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise Img2SongError(f"{path}: is not a regular file (a FIFO, socket or device), expected a file")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the caller's reads
    except IsADirectoryError:
        raise Img2SongError(f"{path}: is a directory, expected a file") from None
    except FileNotFoundError:
        raise Img2SongError(f"{path}: file not found") from None
    with fh:
        yield fh


def _iter_byte_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """Each line without its b"\\n", streamed: a 2 GB songs.jsonl is never held whole (nor twice, split)."""
    with _open_regular(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            yield lineno, line[:-1] if line.endswith(b"\n") else line


def _decode(line: bytes, path: Path, lineno: int) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorpusError(path, lineno, None, f"bytes are not UTF-8 (at byte {e.start} of the line)") from None


# --- npz -------------------------------------------------------------------------------------------------------
def load_npz(path: str | Path, what: str, required: Sequence[str], optional: Sequence[str] = (),
             every: bool = False) -> dict[str, Any]:
    """Every named array of an .npz (`every`: all its arrays), read fully now (so a damaged member fails here,
    naming the file)."""
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise Img2SongError(f"{path}: {what} not found")
    if path.stat().st_size == 0:
        raise Img2SongError(f"{path}: {what} is empty (0 bytes; an interrupted write?)")
    try:
        with open(path, "rb") as fh:  # our handle: numpy leaks its own when the archive is damaged
            z = np.load(fh, allow_pickle=False)
            if not isinstance(z, Mapping):
                raise Img2SongError(f"{path}: {what} is a bare .npy array, expected an .npz archive")
            with z:
                missing = [k for k in required if k not in z.files]
                if missing:
                    raise Img2SongError(f"{path}: {what} lacks the array(s) {', '.join(missing)}")
                names = z.files if every else [k for k in (*required, *optional) if k in z.files]
                return {k: z[k] for k in names}
    except Img2SongError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, NotImplementedError,
            RuntimeError, UnicodeDecodeError) as e:
        raise Img2SongError(f"{path}: unreadable {what} (truncated or not an .npz file: {clean_reason(e)})") from None


def npz_meta(path: str | Path, arrays: Mapping[str, Any], what: str, key: str = "meta") -> dict[str, Any]:
    """The JSON object stored as a 0-d string array (the project's `meta` convention), checked."""
    raw = arrays.get(key)
    if raw is None:
        return {}
    try:
        text = str(raw.item()) if getattr(raw, "ndim", 1) == 0 else str(raw)
    except (ValueError, TypeError):
        raise Img2SongError(f"{path}: {what}: array '{key}' is not a JSON string") from None
    obj = parse_json_text(text, path)
    if not isinstance(obj, dict):
        raise Img2SongError(f"{path}: {what}: array '{key}' is not a JSON object")
    return obj


# --- gzip text -------------------------------------------------------------------------------------------------
def iter_gzip_lines(path: str | Path, *, compressed: bool | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line with its newline) of a .gz (or, with compressed=False, plain) file.

    compressed=None decides from the suffix; a .gz file that is not gzip, or whose stream is corrupt or ends
    early, raises an error naming the file and the last line read.
    """
    path = Path(path)
    if not path.is_file():
        raise Img2SongError(f"{path}: file not found")
    gz = path.suffix == ".gz" if compressed is None else compressed
    if gz:
        with open(path, "rb") as fh:
            head = fh.read(2)
        if head != GZIP_MAGIC:
            kind = "empty" if not head else "not gzip-compressed (plain text?)"
            raise Img2SongError(f"{path}: {kind}; expected a gzip file")
    lineno = 0
    try:
        with (gzip.open(path, "rb") if gz else open(path, "rb")) as fh:
            for lineno, line in enumerate(fh, start=1):  # noqa: B007 - lineno is reported on failure
                yield lineno, line
    except (gzip.BadGzipFile, EOFError, zlib.error, OSError) as e:
        raise Img2SongError(f"{path}:{lineno + 1}: corrupt or truncated gzip data ({clean_reason(e)})") from None


# --- SQLite ----------------------------------------------------------------------------------------------------
def open_sqlite_readonly(path: str | Path, schema: Mapping[str, Sequence[str]], what: str = "SQLite DB"
                         ) -> sqlite3.Connection:
    """A read-only connection (URI mode=ro) to an existing SQLite file holding every table and column of `schema`.

    Nothing is created or written: a missing file, a non-SQLite file or a DB without the schema is an error
    naming the file.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise Img2SongError(f"{path}: {what} not found")
    if not path.is_file():
        raise Img2SongError(f"{path}: {what} is not a file")
    with open(path, "rb") as fh:
        head = fh.read(len(SQLITE_MAGIC))
    if head != SQLITE_MAGIC:
        raise Img2SongError(f"{path}: not a SQLite database" + (" (empty file)" if not head else ""))
    uri = "file:" + quote(str(path.resolve())) + "?mode=ro"
    try:
        con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, columns in schema.items():
            if table not in tables:
                con.close()
                raise Img2SongError(f"{path}: {what} lacks table '{table}' (has: {', '.join(sorted(tables)) or 'none'})")
            have = {r[1] for r in con.execute(f'PRAGMA table_info("{table}")')}
            lack = [c for c in columns if c not in have]
            if lack:
                con.close()
                raise Img2SongError(f"{path}: {what}: table '{table}' lacks column(s) {', '.join(lack)}")
    except sqlite3.Error as e:
        raise Img2SongError(f"{path}: unreadable {what} ({clean_reason(e)})") from None
    return con


def clean_reason(e: BaseException) -> str:
    """The exception's message without object reprs (a BytesIO or file object says nothing to a user)."""
    text = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>", "the data", str(e)) or type(e).__name__
    return text[:200]
