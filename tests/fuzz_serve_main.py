"""`python -m tests.fuzz_serve_main serve ...`: tests/serve_main's CLI with an audit hook on every `open`.

Each path the server process opens, resolved, must lie inside the roots in IMG2SONG_FUZZ_ROOTS (os.pathsep-
separated: the run, its corpus, the cache, temp) or, read-only, in the interpreter's and the repository's folders;
any other is appended to the file IMG2SONG_FUZZ_VIOLATIONS (tests/test_fuzz_entry.py reads it after the fuzz).
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = [os.path.realpath(p) for p in os.environ.get("IMG2SONG_FUZZ_ROOTS", "").split(os.pathsep) if p]
CODE = [os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, str(REPO), "/usr/lib",
                                      "/usr/share", "/proc", "/sys", "/dev/null", "/dev/urandom", "/etc/localtime")]
OUT = os.environ.get("IMG2SONG_FUZZ_VIOLATIONS")
_busy = threading.local()


def _inside(real: str, roots: list[str]) -> bool:
    return any(real == r or real.startswith(r.rstrip("/") + "/") for r in roots)


def _hook(event: str, args: tuple) -> None:
    if event not in ("open", "os.open") or not args or isinstance(args[0], int) or args[0] is None:
        return
    if getattr(_busy, "on", False):
        return
    mode = args[1] if len(args) > 1 and isinstance(args[1], str) else "r"
    flags = args[2] if len(args) > 2 and isinstance(args[2], int) else 0
    writes = any(c in mode for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
    real = os.path.realpath(os.fsdecode(args[0]))
    if _inside(real, ROOTS) or real == "/dev/null" or (not writes and _inside(real, CODE)):
        return
    _busy.on = True
    try:
        with open(OUT, "a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"{'write' if writes else 'read'} {real}\n")
    finally:
        _busy.on = False


if __name__ == "__main__":
    if OUT:
        ROOTS.append(os.path.realpath(OUT))
        sys.addaudithook(_hook)
    from tests.serve_main import main

    sys.exit(main())
