"""Building torch C++ extensions once per machine: one build root, one CPU key, a retry in a fresh process (the
LINE kernels of engine.line.cpu and the text encoder's int8 passes of graph.text.int8 share it)."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from graph.common.paths import build_root


def _build_root() -> Path:
    """<build root>/torch_extensions (graph.common.paths: IMG2SONG_CACHE moves it)."""
    return build_root() / "torch_extensions"


def _cpu_fingerprint() -> str:
    """A -march=native binary must not be reused on another CPU: key the build on the CPU's flags."""
    flags = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features", "model name")):
                flags += line
    except OSError:
        pass
    return hashlib.sha1(flags.encode()).hexdigest()[:8]


def _native_ok() -> bool:
    """Does the compiler accept -march=native here? (It does not on some cross/odd toolchains.)"""
    cxx = os.environ.get("CXX", "c++")
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "t.cpp"
        src.write_text("int main(){return 0;}\n")
        try:
            r = subprocess.run([cxx, "-march=native", "-O3", str(src), "-o", str(Path(d) / "t")],
                               capture_output=True, timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return r.returncode == 0


def jit_load(name: str, sources: list[str], flags: list[str], build: Path, verbose: bool = False) -> None:
    """torch's cpp_extension.load; when it fails and left no library, the build runs again in a fresh process. In a
    process whose first build of `name` was interrupted, torch skips the build step on every later call ("no
    modifications detected") and loads a library nobody wrote (found by CI)."""
    import torch
    from torch.utils import cpp_extension

    try:
        cpp_extension.load(name=name, sources=sources, extra_cflags=flags, build_directory=str(build),
                           is_python_module=False, verbose=verbose)
        return
    except (RuntimeError, subprocess.CalledProcessError, OSError):
        lib = build / f"{name}.so"
        if lib.exists():
            raise
    args = json.dumps({"name": name, "sources": sources, "extra_cflags": flags, "build_directory": str(build)})
    code = ("import json, sys; from torch.utils import cpp_extension; "
            "cpp_extension.load(is_python_module=False, **json.loads(sys.argv[1]))")
    done = subprocess.run([sys.executable, "-c", code, args], capture_output=True, text=True)
    if done.returncode != 0 or not lib.exists():
        raise RuntimeError(f"building {name} in a fresh process failed: {done.stderr.strip()[-500:]}")
    torch.ops.load_library(str(lib))
