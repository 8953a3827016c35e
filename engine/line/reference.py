"""Readable, device-agnostic PyTorch LINE: the ground truth every kernel is checked against.

Per sampled edge (u, v) with negatives n_1..n_K (reference C++ semantics):
    err = 0; for t in [v, n_1..n_K] with label 1, 0..0:
        f = u·c_t; g = (label − σ(clamp(f, ±6)))·ρ; err += g·c_t; c_t += g·u
    u += err
with c = the vertex table itself for order 1 and a separate context table for order 2.
Negatives are drawn from P_n(v) ∝ degree^0.75 and used as drawn: the reference C++ (tangjianpku/LINE line.cpp)
neither skips nor redraws a negative equal to the target or the source, and neither does this code.
Batched semantics: every update of a batch is computed from the pre-batch tables and applied with index_add_,
so repeated rows accumulate (never `x[idx] += g`, which keeps only one of the repeats).
"""
from __future__ import annotations

import numpy as np
import torch

from engine.line.config import SIGMOID_BOUND
from engine.line.impls import LineImpl, lr_schedule, register_impl, torch_threads
from engine.line.sampling import TorchSamplers


def line_sigmoid(f: torch.Tensor) -> torch.Tensor:
    """σ with its argument clamped to ±SIGMOID_BOUND (finite for any input, as the C++ sigmoid table)."""
    return torch.sigmoid(torch.clamp(f, -SIGMOID_BOUND, SIGMOID_BOUND))


def reference_step(vertex: torch.Tensor, context: torch.Tensor, src: torch.Tensor, dst: torch.Tensor,
                   neg: torch.Tensor, lr: torch.Tensor | float, order: int) -> None:
    """One batched LINE step in place: all B edges from the pre-batch state, repeated indices accumulate."""
    ctx = vertex if order == 1 else context
    targets = torch.cat([dst.view(-1, 1), neg.view(dst.numel(), -1)], dim=1)  # [B, K+1]
    label = torch.zeros(targets.shape, dtype=vertex.dtype, device=vertex.device)
    label[:, 0] = 1.0
    u = vertex[src]  # [B, d] (a copy: the pre-batch state)
    c = ctx[targets]  # [B, K+1, d]
    f = torch.einsum("bd,bkd->bk", u, c)
    lr_t = torch.as_tensor(lr, dtype=vertex.dtype, device=vertex.device).reshape(-1, 1)
    g = (label - line_sigmoid(f)) * lr_t  # [B, K+1]
    err = torch.einsum("bk,bkd->bd", g, c)
    dctx = g.unsqueeze(-1) * u.unsqueeze(1)
    ctx.index_add_(0, targets.reshape(-1), dctx.reshape(-1, u.shape[1]))
    vertex.index_add_(0, src, err)


def sequential_step(vertex: torch.Tensor, context: torch.Tensor, src, dst, neg, lr, order: int) -> None:
    """The same edges applied one at a time, exactly as the C++ loop (row updates visible to the next target)."""
    V = vertex.detach().cpu().numpy() if vertex.device.type != "cpu" else vertex.detach().numpy()
    C = V if order == 1 else (context.detach().cpu().numpy() if context.device.type != "cpu"
                              else context.detach().numpy())
    src = np.asarray(torch.as_tensor(src).cpu()).reshape(-1)
    dst = np.asarray(torch.as_tensor(dst).cpu()).reshape(-1)
    neg = np.asarray(torch.as_tensor(neg).cpu()).reshape(len(src), -1)
    dt = V.dtype.type  # float32 tables compute in float32, like the C++
    lr = lr.detach().cpu().numpy() if isinstance(lr, torch.Tensor) else np.asarray(lr, np.float64)
    lr = np.broadcast_to(lr.astype(V.dtype).reshape(-1), (len(src),))
    for i in range(len(src)):
        u = int(src[i])
        err = np.zeros(V.shape[1], V.dtype)
        for j, t in enumerate([int(dst[i])] + [int(x) for x in neg[i]]):
            f = float(np.dot(V[u], C[t]))
            sig = 1.0 / (1.0 + np.exp(-min(max(f, -SIGMOID_BOUND), SIGMOID_BOUND)))
            g = dt(((1.0 if j == 0 else 0.0) - sig) * float(lr[i]))
            err += g * C[t]
            C[t] += g * V[u]  # for order 1 with t == u this changes u itself, as in the C++
        V[u] += err
    if vertex.device.type != "cpu":
        vertex.copy_(torch.from_numpy(V))
        if order == 2:
            context.copy_(torch.from_numpy(C))


@register_impl("reference")
class ReferenceImpl(LineImpl):
    """Batched PyTorch on any device: draw B edges + B·K negatives, one reference_step, repeat."""

    devices = ("cpu", "cuda")

    def apply(self, vertex, context, src, dst, neg, lr, order) -> None:
        reference_step(vertex, context, src, dst, neg, lr, order)

    def train(self, vertex, context, order, t0, n, total, seed):
        dev = vertex.device
        if not hasattr(self, "_draw") or self._draw_device != dev:
            self._draw, self._draw_device = TorchSamplers(self.samplers, dev), dev
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        done = 0
        with torch_threads(self.threads, dev):
            while done < n:
                b = min(self.batch_size, n - done)
                src, dst, neg = self._draw.draw(b, self.negative, gen)
                lr = lr_schedule(torch.arange(t0 + done, t0 + done + b, device=dev), total, self.lr)
                reference_step(vertex, context, src, dst, neg, lr, order)
                done += b
