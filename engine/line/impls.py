"""The pluggable LINE training back-ends: one small interface, a registry, and the shared schedule/RNG helpers."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import numpy as np
import torch

from engine.line.config import LR_FLOOR
from engine.line.sampling import LineSamplers
from engine.registry import Registry


def lr_schedule(t: torch.Tensor | np.ndarray | float, total: int, lr0: float):
    """ρ_t = ρ0·max(1 − t/T, LR_FLOOR) for global sample index t of T (linear decay, as the C++)."""
    if isinstance(t, torch.Tensor):
        return lr0 * torch.clamp(1.0 - t.to(torch.float64) / total, min=LR_FLOOR).to(torch.float32)
    return lr0 * np.maximum(1.0 - np.asarray(t, np.float64) / total, LR_FLOOR)


class torch_threads:
    """Run a block with torch's intra-op thread count set to `n` on the CPU (tiny batched steps lose with more)."""

    def __init__(self, n: int, device: torch.device | str):
        self.n, self.cpu = int(n), torch.device(device).type == "cpu"

    def __enter__(self):
        self.old = torch.get_num_threads()
        if self.cpu:
            torch.set_num_threads(max(1, self.n))
        return self

    def __exit__(self, *exc):
        if self.cpu:
            torch.set_num_threads(self.old)


def chunk_seed(seed: int, order: int, chunk: int) -> int:
    """The RNG seed of one chunk of samples: a resumed run re-derives it, so resume is well defined."""
    return int(np.random.SeedSequence([int(seed), int(order), int(chunk)]).generate_state(1, np.uint64)[0] >> 1)


class LineImpl(ABC):
    """Trains LINE tables in place on samples t0..t0+n-1 of a run of `total` samples.

    `vertex` and `context` are float32 [N, d] tensors on the impl's device; for order 1 `context` IS `vertex`
    (first order uses u_j as the context of j). Implementations honour the batched reference semantics of
    engine.line.reference (or the sequential C++ semantics, which agree at batch size 1).
    """

    name: ClassVar[str] = ""
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    # How `apply` (optional: given edges/negatives/lr, for parity tests) treats a batch: "batched" = every update
    # from the pre-batch state (reference_step), "sequential" = one edge after another (sequential_step).
    semantics: ClassVar[str] = "batched"

    def __init__(self, samplers: LineSamplers, *, negative: int, lr: float, threads: int, batch_size: int,
                 device: str):
        self.samplers, self.negative, self.lr = samplers, negative, lr
        self.threads, self.batch_size, self.device = threads, batch_size, device

    @abstractmethod
    def train(self, vertex: torch.Tensor, context: torch.Tensor, order: int, t0: int, n: int, total: int,
              seed: int) -> None: ...

    def sync(self, vertex: torch.Tensor, context: torch.Tensor, order: int) -> None:
        """Make `vertex`/`context` hold what `train` learned (an impl that trains other copies writes them back)."""
        return None  # the tables given to train are the ones trained: nothing to write back


IMPLS: Registry = Registry("LINE impl", lazy={"reference": "engine.line.reference", "cpu": "engine.line.cpu",
                                              "cpu-fp16": "engine.line.cpu",
                                              "naive": "engine.line.naive", "triton": "engine.line.triton_kernel",
                                              "triton-fused": "engine.line.triton_kernel"})


def register_impl(name: str):
    """Class decorator: make a LineImpl available to LINE(impl=name)."""
    return IMPLS.register(name)


def get_impl(name: str) -> Callable[..., LineImpl]:
    return IMPLS.get(name)


def impl_names() -> list[str]:
    return IMPLS.names()
