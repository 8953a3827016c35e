"""Fused LINE step in Triton: device-side alias sampling + 2-D [edges, d] tiles + atomic row updates.

Why this shape: LINE is memory-bound (~7.5 KB per edge at d=128, K=5), so each program loads whole embedding rows
as a coalesced [BLOCK_E, BLOCK_D] tile (d padded to a power of two, masked), keeps the gradient of the source row
in registers across the K+1 targets, and scatters with `tl.atomic_add` so repeated indices accumulate.

Sampling happens inside the kernel (Philox `tl.randint4x(seed, counter)`; the host only advances `seed` per batch):
an edge is drawn from the alias table over directed edges (column = mulhi(r0, E), accept if uniform(r1) < prob),
then K negatives from the alias table over vertices (∝ out-degree^0.75). No host round-trip per batch.

Semantics (== `engine.line.reference.reference_step`): every gradient of a batch is computed from the pre-batch
tables. With `exact=True` (default) a batch is two launches: phase 1 samples, reads rows and writes per-edge
(g, u, grad_u, indices) to scratch; phase 2 scatters `ctx[t] += g·u` and `vertex[u] += grad_u` (atomically in
the interpreter; on a GPU by a sort-based accumulate in a fixed order, so seeded runs repeat bit for bit).
With `exact=False` one launch reads and scatters as it goes (Hogwild, like the reference C++ across threads):
less memory traffic and one launch, but a row read may already include other edges' updates of the same batch.

Devices: CUDA tensors run compiled kernels. CPU tensors run only in Triton's interpreter, which triton selects
when TRITON_INTERPRET=1 is set before it is first imported (its own standard library is decorated at import);
tests therefore run the kernel in a subprocess with that variable (tests/line_triton_cases.py).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import triton
import triton.language as tl

from engine.line.config import DEFAULTS as LINE_D
from engine.line.config import LR_FLOOR, SIGMOID_BOUND
from engine.line.impls import LineImpl, register_impl
from engine.line.packing import EDGE_COLUMNS, pack_edge_table, pack_neg_table
from engine.line.sampling import LineSamplers
from graph.common.errors import Img2SongError

MAX_DIM = 256


def _line_tile(
    vert_ptr, ctx_ptr, stride_v, stride_c,
    src_in, tgt_in, lr_in,
    e_tab, n_edges, n_tab, n_neg,
    src_out, tgt_out, g_out, u_out, gu_out,
    n_batch, lr0, frac0, inv_total, seed, dim,
    K: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr, SAMPLE: tl.constexpr,
    LR_TENSOR: tl.constexpr, FUSED: tl.constexpr, BOUND: tl.constexpr, FLOOR: tl.constexpr,
    EDGE_COLS: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_E + tl.arange(0, BLOCK_E)
    emask = rows < n_batch
    rows64 = rows.to(tl.int64)
    cols = tl.arange(0, BLOCK_D)
    m2 = emask[:, None] & (cols < dim)[None, :]

    if LR_TENSOR:
        lr = tl.load(lr_in + rows64, mask=emask, other=0.0)
    else:  # ρ_t = ρ0·max(1 − t/T, floor) for this edge's global sample index t
        lr = lr0 * tl.maximum(1.0 - (frac0 + rows.to(tl.float32) * inv_total), FLOOR)
    if SAMPLE:  # alias draw over directed edges: column = mulhi(r0, E), keep it if uniform(r1) < prob
        r0, r1, _r2, _r3 = tl.randint4x(seed, rows * (K + 1))
        erow = e_tab + tl.umulhi(r0, n_edges.to(tl.uint32)).to(tl.int64) * EDGE_COLS  # one row per column
        prob = tl.load(erow, mask=emask, other=0).to(tl.float32, bitcast=True)
        s_col, d_col = tl.load(erow + 1, mask=emask, other=0), tl.load(erow + 2, mask=emask, other=0)
        s_ali, d_ali = tl.load(erow + 3, mask=emask, other=0), tl.load(erow + 4, mask=emask, other=0)
        keep = (r1 >> 8).to(tl.float32) * 5.9604644775390625e-08 < prob
        src = tl.where(keep, s_col, s_ali).to(tl.int64)
        dst = tl.where(keep, d_col, d_ali).to(tl.int64)
    else:
        src = tl.load(src_in + rows64, mask=emask, other=0).to(tl.int64)
        dst = tl.load(tgt_in + rows64 * (K + 1), mask=emask, other=0).to(tl.int64)

    u_rows = vert_ptr + src[:, None] * stride_v + cols[None, :]  # int64 offsets: tables above 2^31 floats
    u = tl.load(u_rows, mask=m2, other=0.0)
    gu = tl.zeros([BLOCK_E, BLOCK_D], dtype=tl.float32)
    for j in tl.static_range(K + 1):
        if j == 0:
            t = dst
            label = 1.0
        else:
            if SAMPLE:  # negative: alias draw over vertices ∝ degree^0.75
                q0, q1, _q2, _q3 = tl.randint4x(seed, rows * (K + 1) + j)
                ncol = tl.umulhi(q0, n_neg.to(tl.uint32)).to(tl.int64)
                nprob = tl.load(n_tab + ncol * 2, mask=emask, other=0).to(tl.float32, bitcast=True)
                nali = tl.load(n_tab + ncol * 2 + 1, mask=emask, other=0).to(tl.int64)
                t = tl.where((q1 >> 8).to(tl.float32) * 5.9604644775390625e-08 < nprob, ncol, nali)
            else:
                t = tl.load(tgt_in + rows64 * (K + 1) + j, mask=emask, other=0).to(tl.int64)
            label = 0.0
        c_rows = ctx_ptr + t[:, None] * stride_c + cols[None, :]
        c = tl.load(c_rows, mask=m2, other=0.0)
        f = tl.minimum(tl.maximum(tl.sum(u * c, axis=1), -BOUND), BOUND)
        g = (label - tl.sigmoid(f)) * lr
        gu += g[:, None] * c
        if FUSED:
            tl.atomic_add(c_rows, g[:, None] * u, mask=m2, sem="relaxed")
        else:
            tl.store(g_out + rows64 * (K + 1) + j, g, mask=emask)
            tl.store(tgt_out + rows64 * (K + 1) + j, t, mask=emask)
    if FUSED:
        tl.atomic_add(u_rows, gu, mask=m2, sem="relaxed")
    else:
        tl.store(src_out + rows64, src, mask=emask)
        buf = rows64[:, None] * BLOCK_D + cols[None, :]
        tl.store(u_out + buf, u, mask=m2)
        tl.store(gu_out + buf, gu, mask=m2)


def _line_scatter(
    vert_ptr, ctx_ptr, stride_v, stride_c,
    src_buf, tgt_buf, g_buf, u_buf, gu_buf,
    n_batch, dim,
    K: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid = tl.program_id(0)
    rows = pid * BLOCK_E + tl.arange(0, BLOCK_E)
    emask = rows < n_batch
    rows64 = rows.to(tl.int64)
    cols = tl.arange(0, BLOCK_D)
    m2 = emask[:, None] & (cols < dim)[None, :]
    buf = rows64[:, None] * BLOCK_D + cols[None, :]
    u = tl.load(u_buf + buf, mask=m2, other=0.0)
    for j in tl.static_range(K + 1):
        t = tl.load(tgt_buf + rows64 * (K + 1) + j, mask=emask, other=0)
        g = tl.load(g_buf + rows64 * (K + 1) + j, mask=emask, other=0.0)
        tl.atomic_add(ctx_ptr + t[:, None] * stride_c + cols[None, :], g[:, None] * u, mask=m2, sem="relaxed")
    src = tl.load(src_buf + rows64, mask=emask, other=0)
    gu = tl.load(gu_buf + buf, mask=m2, other=0.0)
    tl.atomic_add(vert_ptr + src[:, None] * stride_v + cols[None, :], gu, mask=m2, sem="relaxed")


@functools.cache
def _kernels():
    """(tile, scatter) kernels; `triton.jit` itself returns interpreted ones when TRITON_INTERPRET=1."""
    return (triton.jit(_line_tile, do_not_specialize=["n_edges", "n_neg", "n_batch", "seed", "lr0", "frac0",
                                                      "inv_total"]),
            triton.jit(_line_scatter, do_not_specialize=["n_batch"]))


def interpreter_active() -> bool:
    """True when triton was imported with TRITON_INTERPRET=1 (kernels then run on CPU tensors)."""
    return bool(triton.knobs.runtime.interpret)


def check_device(device: torch.device | str) -> None:
    """Fail early and clearly where the Triton kernel cannot run on `device`."""
    device = torch.device(device)
    if device.type == "cuda":
        if interpreter_active():
            raise Img2SongError("TRITON_INTERPRET=1 is set: the Triton LINE kernel then runs on CPU tensors only")
        return
    if device.type != "cpu" or not interpreter_active():
        raise Img2SongError(f"the Triton LINE kernel needs a CUDA device (got {device}); on CPU it runs only in "
                            "Triton's interpreter: set TRITON_INTERPRET=1 before triton is first imported")


def launch_config(dim: int, on_gpu: bool, block_edges: int | None = None,
                  num_warps: int | None = None) -> tuple[int, int, int]:
    """(BLOCK_E, BLOCK_D, num_warps): a 2048-float row tile on GPU (16 edges at d=128); bigger when interpreted.

    Why 2048: on an H200 (second order, d=128, K=5, Hogwild batches) 16-edge tiles ran 4.8e8 edges/s, 32-edge tiles
    3.2e8 and 64-edge tiles 2.8e8 (tests/device/gpu_checks.py): smaller tiles keep more programs in flight to hide
    the random row reads."""
    if not 1 <= dim <= MAX_DIM:
        raise Img2SongError(f"the Triton LINE kernel supports 1 <= dim <= {MAX_DIM}, got {dim}")
    block_d = triton.next_power_of_2(dim)
    if block_edges is None:
        block_edges = max(1, 2048 // block_d) if on_gpu else 256
    if num_warps is None:
        num_warps = 4 if block_edges * block_d <= 4096 else 8
    return triton.next_power_of_2(block_edges), block_d, num_warps


def compile_ptx(dim: int = LINE_D.dim, negative: int = LINE_D.negative, *, exact: bool = True, sample: bool = True, arch: int = 90,
                num_warps: int | None = None) -> dict[str, str]:
    """Ahead-of-time compile both kernels for CUDA sm_`arch` without a GPU: {"tile": ptx, "scatter": ptx}.

    Why: the interpreter does not type-check like the compiler does; this lets CPU-only CI prove the kernels build
    and inspect them (vectorised row loads `ld.global.v4`, `atom...add.v4.f32`). Pointers and strides get the
    16-divisibility hints the JIT gives real tensors with d a multiple of 16.
    """
    import inspect

    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    be, bd, nw = launch_config(dim, True, None, num_warps)
    kinds = {"vert_ptr": "*fp32", "ctx_ptr": "*fp32", "src_in": "*i64", "tgt_in": "*i64", "lr_in": "*fp32",
             "e_tab": "*i32", "n_tab": "*i32", "src_out": "*i64", "tgt_out": "*i64", "g_out": "*fp32",
             "u_out": "*fp32", "gu_out": "*fp32", "src_buf": "*i64", "tgt_buf": "*i64", "g_buf": "*fp32",
             "u_buf": "*fp32", "gu_buf": "*fp32", "stride_v": "i64", "stride_c": "i64", "seed": "i64",
             "lr0": "fp32", "frac0": "fp32", "inv_total": "fp32"}
    consts = {"K": negative, "BLOCK_E": be, "BLOCK_D": bd, "SAMPLE": sample, "LR_TENSOR": False,
              "FUSED": not exact, "BOUND": SIGMOID_BOUND, "FLOOR": LR_FLOOR,
              "EDGE_COLS": EDGE_COLUMNS}
    out = {}
    for key, fn, jitted in (("tile", _line_tile, _kernels()[0]), ("scatter", _line_scatter, _kernels()[1])):
        names = list(inspect.signature(fn).parameters)
        sig = {n: "constexpr" if n in consts else kinds.get(n, "i32") for n in names}
        aligned = [n for n in names if sig[n].startswith("*") or n in ("stride_v", "stride_c")
                   or (n == "dim" and dim % 16 == 0)]
        src = ASTSource(fn=jitted, signature=sig, constexprs={(names.index(n),): consts[n] for n in names
                                                              if n in consts},
                        attrs={(names.index(n),): [["tt.divisibility", 16]] for n in aligned})
        out[key] = triton.compile(src, target=GPUTarget("cuda", arch, 32), options={"num_warps": nw}).asm["ptx"]
    return out


@dataclass
class _Scratch:
    """Phase-1 output of an exact batch: indices, g per target, pre-batch source rows and their gradients."""

    src: torch.Tensor
    tgt: torch.Tensor
    g: torch.Tensor
    u: torch.Tensor
    gu: torch.Tensor
    n: int = 0


def _scratch(n: int, k: int, block_d: int, device: torch.device) -> _Scratch:
    return _Scratch(torch.empty(n, dtype=torch.int64, device=device),
                    torch.empty(n, k + 1, dtype=torch.int64, device=device),
                    torch.empty(n, k + 1, dtype=torch.float32, device=device),
                    torch.empty(n, block_d, dtype=torch.float32, device=device),
                    torch.empty(n, block_d, dtype=torch.float32, device=device))


def _check_tables(vertex: torch.Tensor, context: torch.Tensor | None, order: int) -> torch.Tensor:
    if order not in (1, 2):
        raise Img2SongError(f"LINE order must be 1 or 2, got {order}")
    if vertex.dtype != torch.float32 or vertex.dim() != 2 or vertex.stride(1) != 1:
        raise Img2SongError("the vertex table must be a row-contiguous float32 [N, d] tensor")
    ctx = vertex if order == 1 else context
    if ctx is None or ctx.shape != vertex.shape or ctx.dtype != torch.float32 or ctx.stride(1) != 1:
        raise Img2SongError("second order needs a row-contiguous float32 context table shaped like the vertex table")
    if ctx.device != vertex.device:
        raise Img2SongError("vertex and context tables must be on the same device")
    return ctx


def _launch(vertex, ctx, *, n_batch, k, src_in=None, tgt_in=None, lr_in=None, lr0=0.0, frac0=0.0, inv_total=0.0,
            sampler=None, seed=0, exact=True, block_edges=None, num_warps=None,
            scratch: _Scratch | None = None, deterministic: bool = True) -> _Scratch | None:
    """One batch: phase 1 (+ phase 2 when exact). `sampler` = (edge table, negative table) of DeviceSampler.

    On a GPU an exact batch's phase 2 is the sort-based deterministic accumulate unless `deterministic=False`
    (the Triton atomic scatter: faster, but not bit-reproducible).
    """
    dev = vertex.device
    check_device(dev)
    on_gpu = dev.type == "cuda"
    tile, scatter = _kernels()
    be, bd, nw = launch_config(vertex.shape[1], on_gpu, block_edges, num_warps)
    if exact and (scratch is None or scratch.src.shape[0] < n_batch or scratch.u.shape[1] != bd
                  or scratch.tgt.shape[1] != k + 1):
        scratch = _scratch(n_batch, k, bd, dev)
    dummy = vertex  # never dereferenced: the constexpr branch that would read it is compiled out
    e_tab, n_tab = (dummy, dummy) if sampler is None else sampler
    n_edges, n_neg = (1, 1) if sampler is None else (e_tab.shape[0], n_tab.shape[0])
    s = scratch if exact else _Scratch(dummy, dummy, dummy, dummy, dummy)
    grid = (triton.cdiv(n_batch, be),)
    extra = {"num_warps": nw} if on_gpu else {}
    tile[grid](vertex, ctx, vertex.stride(0), ctx.stride(0),
               dummy if src_in is None else src_in, dummy if tgt_in is None else tgt_in,
               dummy if lr_in is None else lr_in,
               e_tab, n_edges, n_tab, n_neg,
               s.src, s.tgt, s.g, s.u, s.gu,
               n_batch, float(lr0), float(frac0), float(inv_total), int(seed), vertex.shape[1],
               K=k, BLOCK_E=be, BLOCK_D=bd, SAMPLE=sampler is not None, LR_TENSOR=lr_in is not None,
               FUSED=not exact, BOUND=SIGMOID_BOUND, FLOOR=LR_FLOOR, EDGE_COLS=EDGE_COLUMNS, **extra)
    if exact:
        if on_gpu and deterministic:
            _scatter_deterministic(vertex, ctx, scratch, n_batch)
        else:
            scatter[grid](vertex, ctx, vertex.stride(0), ctx.stride(0), s.src, s.tgt, s.g, s.u, s.gu,
                          n_batch, vertex.shape[1], K=k, BLOCK_E=be, BLOCK_D=bd, **extra)
        scratch.n = n_batch
    return scratch


def _scatter_deterministic(vertex: torch.Tensor, ctx: torch.Tensor, s: _Scratch, n: int) -> None:
    """Phase 2 of an exact batch in a fixed summation order (sort-based accumulate), so seeded GPU runs repeat.

    Why: float atomics on a GPU add in whatever order the warps arrive, so the same seed gave tables that differed
    in the last bits (and then more) from run to run. The values added are phase 1's, from the pre-batch tables.
    """
    dim = vertex.shape[1]
    dctx = (s.g[:n, :, None] * s.u[:n, None, :dim]).reshape(-1, dim)
    was = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        ctx.index_put_((s.tgt[:n].reshape(-1),), dctx, accumulate=True)
        vertex.index_put_((s.src[:n],), s.gu[:n, :dim], accumulate=True)
    finally:
        torch.use_deterministic_algorithms(was, warn_only=warn_only)


def triton_step(vertex: torch.Tensor, context: torch.Tensor | None, src: torch.Tensor, dst: torch.Tensor,
                neg: torch.Tensor, lr: torch.Tensor | float, order: int, *, exact: bool = True,
                block_edges: int | None = None) -> None:
    """One batch on given indices (src [B], dst [B], neg [B, K]; lr scalar or [B]) in place, as reference_step."""
    ctx = _check_tables(vertex, context, order)
    dev = vertex.device
    src = torch.as_tensor(src, device=dev).to(torch.int64).reshape(-1).contiguous()
    dst = torch.as_tensor(dst, device=dev).to(torch.int64).reshape(-1)
    if len(dst) != len(src):
        raise Img2SongError(f"src has {len(src)} entries but dst has {len(dst)}")
    if len(src) == 0:
        return
    neg = torch.as_tensor(neg, device=dev).to(torch.int64).reshape(len(src), -1)
    n = vertex.shape[0]
    for name, idx in (("src", src), ("dst", dst), ("neg", neg)):
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise Img2SongError(f"{name} index outside the {n}-row table")
    lr_t = torch.as_tensor(lr, dtype=torch.float32, device=dev).reshape(-1)
    lr_in = lr_t.expand(len(src)).contiguous() if lr_t.numel() in (1, len(src)) else None
    if lr_in is None:
        raise Img2SongError(f"lr must be a scalar or have one entry per edge ({len(src)}), got {lr_t.numel()}")
    tgt = torch.cat([dst[:, None], neg], 1).contiguous()
    _launch(vertex, ctx, n_batch=len(src), k=neg.shape[1], src_in=src, tgt_in=tgt, lr_in=lr_in, exact=exact,
            block_edges=block_edges)


def _mix(*xs: int) -> int:
    """splitmix64 over the inputs -> a 63-bit Philox key (distinct per chunk seed and batch)."""
    h = 0x9E3779B97F4A7C15
    for x in xs:
        h = (h ^ (int(x) & (2**64 - 1))) * 0xBF58476D1CE4E5B9 & (2**64 - 1)
        h ^= h >> 31
        h = h * 0x94D049BB133111EB & (2**64 - 1)
        h ^= h >> 29
    return h >> 1


class DeviceSampler:
    """Alias tables packed for the kernel (engine.line.packing): one dependent random read per draw."""

    def __init__(self, samplers: LineSamplers, device: torch.device | str):
        dev = torch.device(device)
        et, nt = pack_edge_table(samplers, "the device sampler"), pack_neg_table(samplers.negatives)
        self.tensors = (torch.from_numpy(et).to(dev), torch.from_numpy(nt).to(dev))
        self.device = dev


@register_impl("triton")
class TritonImpl(LineImpl):
    """Fused Triton kernel: sampling, the K+1 dot products, σ, and atomic row updates in one pass per batch."""

    devices = ("cpu", "cuda") if interpreter_active() else ("cuda",)

    def __init__(self, samplers: LineSamplers, *, negative: int, lr: float, threads: int, batch_size: int,
                 device: str, exact: bool = True, block_edges: int | None = None, num_warps: int | None = None,
                 deterministic: bool = True):
        super().__init__(samplers, negative=negative, lr=lr, threads=threads, batch_size=batch_size, device=device)
        check_device(device)
        self.exact, self.block_edges, self.num_warps = exact, block_edges, num_warps
        self.deterministic = deterministic  # exact batches on a GPU: fixed-order phase 2 (see _launch)
        self._sampler: DeviceSampler | None = None
        self._scratch: _Scratch | None = None

    def train(self, vertex, context, order, t0, n, total, seed):
        ctx = _check_tables(vertex, context, order)
        if self._sampler is None or self._sampler.device != vertex.device:
            self._sampler = DeviceSampler(self.samplers, vertex.device)
        done, batch = 0, 0
        while done < n:
            b = min(self.batch_size, n - done)
            self._scratch = _launch(vertex, ctx, n_batch=b, k=self.negative, lr0=self.lr,
                                    frac0=(t0 + done) / total, inv_total=1.0 / total,
                                    sampler=self._sampler.tensors, seed=_mix(seed, order, batch), exact=self.exact,
                                    block_edges=self.block_edges, num_warps=self.num_warps, scratch=self._scratch,
                                    deterministic=self.deterministic)
            done += b
            batch += 1

    def apply(self, vertex, context, src, dst, neg, lr, order) -> None:
        """Given-batch mode (contract tests, diagnostics): one exact batch of these edges and negatives."""
        triton_step(vertex, context, src, dst, neg, lr, order, exact=True)

    def last_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(src [B], targets [B, K+1]) of the last exact batch: what the kernel drew (tests, diagnostics)."""
        if self._scratch is None:
            raise Img2SongError("no exact batch has run yet")
        n = self._scratch.n
        return self._scratch.src[:n], self._scratch.tgt[:n]


@register_impl("triton-fused")
class TritonFusedImpl(TritonImpl):
    """One launch per batch that reads and scatters as it goes (Hogwild across the GPU's threads, like the C++
    across CPU threads): the fastest GPU path, not bit-reproducible (float atomics add in arrival order)."""

    def __init__(self, samplers: LineSamplers, *, negative: int, lr: float, threads: int, batch_size: int,
                 device: str, block_edges: int | None = None, num_warps: int | None = None):
        super().__init__(samplers, negative=negative, lr=lr, threads=threads, batch_size=batch_size, device=device,
                         exact=False, block_edges=block_edges, num_warps=num_warps, deterministic=False)
