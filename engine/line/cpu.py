"""The fused C++ CPU kernel: built once per machine into build/torch_extensions/, used as torch.ops.img2song.*."""
from __future__ import annotations

import hashlib
import logging
import subprocess
import threading
import time
from pathlib import Path

import torch

from engine.line.config import LR_FLOOR, SIGMOID_BOUND
from engine.line.impls import LineImpl, register_impl
from engine.line.packing import EDGE_COLUMNS, pack_edge_table, pack_neg_table
from engine.line.sampling import LineSamplers
from graph.common.errors import Img2SongError
from graph.common.torch_build import _build_root, _cpu_fingerprint, _native_ok, jit_load  # noqa: F401 (shared)

SOURCE = Path(__file__).with_name("csrc") / "line_cpu.cpp"
SOURCES = [SOURCE, SOURCE.with_name("topk_cpu.cpp")]  # one library: LINE training, and the kNN running top-k
_LOCK = threading.Lock()
_LOADED: str | None = None
BUILD_INFO: dict[str, float | bool | str] = {}  # after load_kernel: seconds, compiled (vs reused), library path


def kernel_defines() -> list[str]:
    """The constants the C++ is compiled with: the same objects the Python and Triton code use (no copy in C++)."""
    return [f"-DIMG2SONG_SIGMOID_BOUND={SIGMOID_BOUND!r}", f"-DIMG2SONG_LR_FLOOR={LR_FLOOR!r}",
            f"-DIMG2SONG_EDGE_COLUMNS={EDGE_COLUMNS}"]


def _flags(native: bool) -> list[str]:
    return ["-O3", "-fopenmp-simd", *kernel_defines()] + (["-march=native"] if native else [])


def _stamp(native: bool) -> Path:
    """A file beside the build saying which sources, flags and torch built which library (see _load_built)."""
    return _build_root() / f"img2song_line_cpu_{_cpu_fingerprint() if native else 'generic'}.stamp"


def _stamp_text(lib: Path, flags: list[str]) -> str:
    h = hashlib.sha1()
    for p in SOURCES:
        h.update(p.read_bytes())
    h.update("\0".join([*flags, torch.__version__, str(lib)]).encode())
    return f"{h.hexdigest()}\n{lib}\n"


def _load_built() -> tuple[str, Path] | None:
    """Load the library a previous load_kernel built from these very sources and flags, without importing
    torch.utils.cpp_extension or probing the compiler (~0.3-0.5 s of start-up); None when there is none."""
    for native in (True, False):
        stamp = _stamp(native)
        try:
            text = stamp.read_text()
        except OSError:
            continue
        lib = Path(text.splitlines()[1]) if text.count("\n") >= 2 else None
        if lib is None or not lib.is_file() or text != _stamp_text(lib, _flags(native)):
            continue
        try:
            torch.ops.load_library(str(lib))
        except (OSError, RuntimeError):
            return None
        return lib.stem, lib
    return None


def load_kernel(verbose: bool = False) -> str:
    """Compile (first call on this machine, ~40-60 s) or reuse the cached extension; returns the library name."""
    global _LOADED
    with _LOCK:
        if _LOADED:
            return _LOADED
        # its import warns "No CUDA runtime is found" on CPU-only machines: true and harmless for a CPU op
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

        tic = time.perf_counter()
        reused = _load_built()
        if reused:
            _LOADED = reused[0]
            BUILD_INFO.update({"seconds": time.perf_counter() - tic, "compiled": False, "library": str(reused[1])})
            return _LOADED
        native = _native_ok()
        flags = _flags(native)
        name = f"img2song_line_cpu_{_cpu_fingerprint() if native else 'generic'}"
        build = _build_root() / name
        build.mkdir(parents=True, exist_ok=True)
        lib = build / f"{name}.so"
        before = lib.stat().st_mtime_ns if lib.exists() else None
        try:
            jit_load(name, [str(p) for p in SOURCES], flags, build, verbose)
        except (RuntimeError, subprocess.CalledProcessError, OSError) as e:
            raise Img2SongError(f"{SOURCE}: building the LINE CPU kernel failed ({e}); "
                                "use LINE(impl='reference') or check that g++ and ninja are installed") from None
        _LOADED = name
        after = lib.stat().st_mtime_ns if lib.exists() else None
        _stamp(native).write_text(_stamp_text(lib, flags))
        BUILD_INFO.update({"seconds": time.perf_counter() - tic, "compiled": after != before, "library": str(lib)})
        return name


def timed_load_kernel() -> dict[str, float | bool | str]:
    """load_kernel(), and how long it took this time (0 when already loaded) and whether it compiled."""
    if _LOADED:
        return {"seconds": 0.0, "compiled": False, "library": str(BUILD_INFO.get("library", _LOADED))}
    load_kernel()
    return dict(BUILD_INFO)


def apply_edges(vertex: torch.Tensor, context: torch.Tensor | None, src, dst, neg, lr, order: int) -> None:
    """Deterministic mode: apply given edges/negatives one at a time, in order, on one thread (C++ semantics)."""
    load_kernel()
    ctx = context if order == 2 else torch.empty(0)
    b = torch.as_tensor(src).numel()
    lr_t = torch.as_tensor(lr, dtype=torch.float32).reshape(-1).expand(b).contiguous()
    torch.ops.img2song.line_apply(vertex, ctx, torch.as_tensor(src), torch.as_tensor(dst),
                                  torch.as_tensor(neg).reshape(b, -1), lr_t, order)


@register_impl("cpu")
class CpuImpl(LineImpl):
    """Fused C++ kernel: in-kernel sampling, Hogwild threads, vectorised rows, prefetch of the next edge."""

    devices = ("cpu",)
    semantics = "sequential"

    def __init__(self, samplers: LineSamplers, **kw):
        super().__init__(samplers, **kw)
        load_kernel()
        self.edge_table = torch.from_numpy(pack_edge_table(samplers, "LINE CPU kernel"))
        self.neg_table = torch.from_numpy(pack_neg_table(samplers.negatives))

    def apply(self, vertex, context, src, dst, neg, lr, order) -> None:
        apply_edges(vertex, context, src, dst, neg, lr, order)

    def train(self, vertex, context, order, t0, n, total, seed):
        if vertex.device.type != "cpu":
            raise Img2SongError("LINE impl 'cpu' needs CPU tensors (use impl='triton' or 'reference' on CUDA)")
        ctx = context if order == 2 else torch.empty(0)
        torch.ops.img2song.line_train(vertex, ctx, self.edge_table, self.neg_table, order, self.negative,
                                      float(self.lr), int(t0), int(n), int(total), int(seed) & (2**63 - 1),
                                      int(self.threads))


@register_impl("cpu-fp16")
class CpuHalfImpl(CpuImpl):
    """The fused kernel on float16 tables: float arithmetic, float16 storage (half the cache lines per edge).

    The estimator's tables stay float32: the impl trains float16 copies, made on first use (and again whenever the
    float32 tables changed outside it), and `sync` writes them back (the estimator calls it at the end of an order
    and before a checkpoint). `apply` (the deterministic parity mode) runs in float32.
    """

    def __init__(self, samplers: LineSamplers, **kw):
        super().__init__(samplers, **kw)
        self._copies: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, int, int]] = {}

    def _half(self, vertex: torch.Tensor, context: torch.Tensor, order: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = (id(vertex), id(context))
        got = self._copies.get(key)
        if got is not None and got[2] == vertex._version and got[3] == context._version:
            return got[0], got[1]
        v16 = vertex.to(torch.float16)
        c16 = v16 if order == 1 else context.to(torch.float16)
        self._copies = {key: (v16, c16, vertex._version, context._version)}  # one pair of tables at a time
        return v16, c16

    def train(self, vertex, context, order, t0, n, total, seed):
        if vertex.device.type != "cpu":
            raise Img2SongError("LINE impl 'cpu-fp16' needs CPU tensors")
        v16, c16 = self._half(vertex, context, order)
        torch.ops.img2song.line_train(v16, c16 if order == 2 else torch.empty(0, dtype=torch.float16),
                                      self.edge_table, self.neg_table, order, self.negative, float(self.lr), int(t0),
                                      int(n), int(total), int(seed) & (2**63 - 1), int(self.threads))

    def sync(self, vertex, context, order) -> None:
        """Write the trained float16 values back into the estimator's float32 tables (once, not per call)."""
        got = self._copies.get((id(vertex), id(context)))
        if got is None or got[2] != vertex._version or got[3] != context._version:
            return  # nothing trained on these tables since they last changed
        v16, c16 = got[0], got[1]
        vertex.copy_(v16)
        if order == 2:
            context.copy_(c16)
        self._copies[(id(vertex), id(context))] = (v16, c16, vertex._version, context._version)
