"""What a saved scorer depends on, by content: the source of every first-party module its class imports, and the
bytes of the files it was fitted from (never their size or modification time).

Code: starting at the module that defines the scorer class, every `import` / `from ... import` statement in its
source (module level and inside functions alike: deferred imports run too) is read with `ast`, resolved
(relative imports included, `from pkg import submodule` counted as the submodule, parent packages counted
because importing a module runs its packages' __init__), and followed when it is first-party: under `engine` or
`graph`, or in the plug-in's own top-level package or module. The modules' files are found without importing
them (`module_file`) and read (`read_source`, the one place that reads them), so an edit on disk counts even
when the module was imported before it.
"""
from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

FIRST_PARTY = ("engine", "graph")
_PARSED: dict[tuple[str, str], tuple[str, ...]] = {}  # (module, source hash) -> the modules it imports
_FILE_HASHES: dict[tuple[str, int, int, int], str] = {}  # (path, size, mtime_ns, inode) -> content hash


def module_file(module: str) -> Path | None:
    """The .py file of `module`, found without importing anything: the top-level name through
    importlib.util.find_spec (which imports nothing for a top-level name), the rest as folders under it."""
    top, *rest = module.split(".")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None:
        return None
    if not rest:
        return Path(spec.origin) if spec.origin and spec.origin.endswith(".py") else None
    for loc in spec.submodule_search_locations or ():
        base = Path(loc).joinpath(*rest)
        for candidate in (base.with_name(base.name + ".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def read_source(module: str) -> bytes | None:
    """The source of `module` from its .py file; None when it has none (built-in, extension, not a module)."""
    file = module_file(module)
    if file is None:
        return None
    try:
        return file.read_bytes()
    except OSError:
        return None


def _is_package(module: str) -> bool:
    file = module_file(module)
    return file is not None and file.name == "__init__.py"


def _imports(module: str, source: bytes) -> tuple[str, ...]:
    """Every module name `source` may import (unresolved names that are not modules are dropped later)."""
    key = (module, hashlib.sha256(source).hexdigest())
    if key in _PARSED:
        return _PARSED[key]
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()
    package = module if _is_package(module) else module.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                base_parts = parts[:len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            if base:
                names.append(base)
                names += [f"{base}.{a.name}" for a in node.names if a.name != "*"]
    out = set()
    for n in names:  # importing a.b.c runs a and a.b too
        parts = n.split(".")
        out |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    _PARSED[key] = tuple(sorted(out))
    return _PARSED[key]


def code_modules(module: str, roots: Iterable[str] = ()) -> list[str]:
    """The first-party modules `module` imports transitively (itself included): under engine/ or graph/, or under
    the top-level package of `module` or of any of `roots` (a plug-in's own code)."""
    own = set(FIRST_PARTY) | {m.split(".")[0] for m in (module, *roots)}
    seen: set[str] = set()
    todo = [module, *roots]
    while todo:
        name = todo.pop()
        if name in seen or name.split(".")[0] not in own:
            continue
        source = read_source(name)
        if source is None:  # not a module (an attribute of `from x import attr`), or no .py file
            continue
        seen.add(name)
        todo += [n for n in _imports(name, source) if n not in seen]
    return sorted(seen)


def code_signature(modules: Iterable[str]) -> str | None:
    """Hash of the source of `modules` (names and bytes); None when one cannot be read."""
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        source = read_source(name)
        if source is None:
            return None
        h.update(name.encode() + b"\0" + hashlib.sha256(source).digest())
    return h.hexdigest()[:20]


def file_hash(path: str | os.PathLike) -> str | None:
    """sha256 of a file's bytes (None when it is absent), remembered in this process under its size, mtime and
    inode: a touched file is hashed again and, unchanged, hashes the same."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (os.fspath(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _FILE_HASHES:
        with open(path, "rb") as fh:
            _FILE_HASHES[key] = hashlib.file_digest(fh, "sha256").hexdigest()
    return _FILE_HASHES[key]
