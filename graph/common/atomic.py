"""Atomic file writes (temp file in the target's directory, then os.replace) shared by every writer.

Temp names carry the writer's pid (`.<target>.<pid>-<random>.tmp<suffix>`), so a later run can remove what a
killed writer left (`remove_stale_temps`) without touching a concurrent writer's temp: only names whose pid is
no longer running are removed.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from graph.common.errors import Img2SongError


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temp path beside `path` that replaces it on success; on any error the temp goes, the old file stays.

    The temp name ends with `suffix` (default: the target's own suffix), so writers that pick the format from the
    extension (matplotlib) or append one when it is missing (numpy's savez: pass ".npz") write where expected.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    end = path.suffix if suffix is None else suffix
    if path.is_dir():
        raise Img2SongError(f"{path}: is a directory; cannot write a file there")
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(f".{path.name}."), suffix=f".tmp{end}")
    os.close(fd)
    tmp = Path(name)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; an output gets what open() would give it
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        named = naming_output(e, tmp, path)
        if named is e:
            raise
        raise named from e


def naming_output(e: BaseException, tmp: Path, path: Path) -> BaseException:
    """An OS error met while writing an output, naming that output: a write that hit a full disk raises ENOSPC
    naming no file, and one that names the temp names a file the user never sees (both named `path` instead)."""
    if not isinstance(e, OSError) or e.errno is None or getattr(e, "filename2", None):
        return e
    name = "" if e.filename is None else os.fsdecode(e.filename) if isinstance(e.filename, (str, bytes)) else ""
    if name and not name.startswith(str(tmp)):
        return e  # already names a file of its own (an input, the output's folder)
    return OSError(e.errno, e.strerror or os.strerror(e.errno), str(path) + name[len(str(tmp)):])


def current_umask() -> int:
    """The process's umask (read by setting it and putting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_prefix(stem: str) -> str:
    """Prefix of a temp name that records this process: `<stem><pid>-` (mkstemp/mkdtemp add the random part)."""
    return f"{stem}{os.getpid()}-"


# `.<target>.<pid>-<8 random>.tmp...` / `.old` (atomic_path, projector folders), `.build-` / `.thesauri-<pid>-...`
_TEMP_NAME = re.compile(r"^\.(?:.+\.(?P<pid>\d+)-[a-z0-9_]{8}\.(?:tmp|old)(?:\..*)?|(?:build|thesauri)-(?P<bpid>\d+)-[a-z0-9_]{8})$")


def temp_owner(name: str) -> int | None:
    """The pid recorded in one of the project's temp names, else None (not a temp name of ours)."""
    m = _TEMP_NAME.match(name)
    if m is None:
        return None
    return int(m.group("pid") or m.group("bpid"))


def pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # another user's process, or we cannot tell: keep its files
    return True


def remove_stale_temps(directory: str | Path) -> list[Path]:
    """Remove the project's temp files and folders in `directory` whose writer process is gone; returns them."""
    directory = Path(directory)
    removed: list[Path] = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        pid = temp_owner(name)
        if pid is None or pid_alive(pid):
            continue
        p = directory / name
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass  # another cleaner was first
        except OSError:
            continue
    return removed


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


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield an empty temp directory beside `path` that replaces the directory `path` on success.

    On any error the temp directory goes and the old one stays. The swap is two renames (old aside, new in),
    then the old one is removed, so a reader never sees a half-written directory.
    """
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp makes 0700; the output directory gets mkdir's mode
    try:
        yield tmp
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".old"))
            os.replace(path, old / path.name)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        named = naming_output(e, tmp, path)
        if named is e:
            raise
        raise named from e
