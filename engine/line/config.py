"""LINE hyperparameters as one typed record; unknown keys are rejected by name (a typo never goes unnoticed)."""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

from engine.number_checks import NumberRange
from graph.common.errors import Img2SongError

MIN_SAMPLES = 1_000_000  # the C++'s default `-samples 1` (one million sampled edges)
EPOCHS_DEFAULT = 10  # default samples = max(1M, 10 x directed edges): ~10 draws of every edge on a large graph
CHUNK = 1 << 18  # samples per impl call: progress/checkpoint granularity and the unit of the RNG stream
# The update rule's constants, shared by every impl (reference, C++ via -D flags, Triton constexprs) and fold-in:
SIGMOID_BOUND = 6.0  # the C++'s SIGMOID_BOUND: σ's argument is clamped to ±6, so no update is ever NaN/inf
LR_FLOOR = 1e-4  # ρ_t never drops below ρ0·1e-4 (C++: init_rho * 0.0001)


MAX_DIM = 4096  # per vertex; the reference uses 128 (and 1e8 asked the allocator for terabytes)
MAX_NEGATIVE = 1000  # per edge; the reference uses 5 (1e9 aborted the C++ kernel)


def setting(default: Any, help: str, valid: NumberRange | None = None) -> Any:
    """A field with its help text and, for a number, the range its values must be in (checked on construction)."""
    return field(default=default, metadata={"help": help, **({"range": valid} if valid else {})})


WHOLE_OR_NONE = NumberRange(whole=True, low=1, optional=True)


@dataclass
class LineConfig:
    """Everything a LINE run depends on. `samples` counts sampled (directed) edges in total over all threads,
    exactly like the C++'s `-samples` times one million; order "both" trains each order with all of them.
    Each default is stated here only: the estimator, the CLI, torchrun, the demo and the benches read it."""

    dim: int = setting(128, "embedding dimension (order both: dim/2 per order)",
                       NumberRange(whole=True, low=1, high=MAX_DIM))
    order: int | str = setting("both", "1, 2 or both (first- and second-order halves concatenated)")
    negative: int = setting(5, "negative samples per edge", NumberRange(whole=True, low=0, high=MAX_NEGATIVE))
    samples: int | None = setting(None, "sampled edges per order, e.g. 20M (default max(1M, 10 x directed edges))",
                                  WHOLE_OR_NONE)
    lr: float = setting(0.025, "initial learning rate rho0 (decays linearly to rho0 x 1e-4)",
                        NumberRange(low=0, low_open=True))
    threads: int | None = setting(None, "CPU threads (default: all cores)", WHOLE_OR_NONE)
    device: str = setting("cpu", "cpu or cuda[:i]")
    impl: str = setting("auto", "auto | cpu | cpu-fp16 (16-bit tables) | triton | triton-fused (GPU, Hogwild) | "
                                "reference | naive")
    batch_size: int | None = setting(None, "edges per step of the batched impls (default: from the vertex count)",
                                     WHOLE_OR_NONE)
    seed: int = setting(0, "random seed (one thread: bit-reproducible)")
    checkpoint: str | None = setting(None, "checkpoint file (resumed from when it exists)")
    checkpoint_every: int | None = setting(None, "samples between checkpoints (default: every chunk)", WHOLE_OR_NONE)
    progress: bool = setting(True, "show a progress bar")

    def __post_init__(self) -> None:
        if isinstance(self.order, str) and self.order in ("1", "2"):
            self.order = int(self.order)
        if self.order not in (1, 2, "both"):
            raise Img2SongError(f"LINE config: field 'order' must be 1, 2 or 'both', got {self.order!r}")
        for f in dataclasses.fields(self):
            if "range" in f.metadata:
                f.metadata["range"].check(repr(f.name), getattr(self, f.name), "LINE config: field ")
        if self.order == "both" and self.dim % 2:
            raise Img2SongError(f"LINE config: field 'dim' must be even for order 'both' (dim/2 per order), got {self.dim}")
        if not (self.device == "cpu" or str(self.device).startswith("cuda")):
            raise Img2SongError(f"LINE config: field 'device' must be 'cpu' or 'cuda[:i]', got {self.device!r}")
        if self.checkpoint_every is not None and not self.checkpoint:
            raise Img2SongError("LINE config: field 'checkpoint_every' needs 'checkpoint' (a file path)")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> LineConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise Img2SongError(f"LINE config: unknown key {key!r}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def orders(self) -> list[int]:
        return [1, 2] if self.order == "both" else [int(self.order)]

    @property
    def dim_per_order(self) -> int:
        return self.dim // 2 if self.order == "both" else self.dim

    def resolved_samples(self, directed_edges: int) -> int:
        return int(self.samples) if self.samples else max(MIN_SAMPLES, EPOCHS_DEFAULT * int(directed_edges))

    def resolved_threads(self) -> int:
        if self.threads:
            return int(self.threads)
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except AttributeError:
            return max(1, os.cpu_count() or 1)

    def resolved_impl(self) -> str:
        """auto: the C++ kernel on a CPU; on a GPU the fused Hogwild Triton kernel (4.2-4.8e8 edges/s on an H200
        at the quality of the exact path; 'triton' is the bit-reproducible exact one, ~1e7 edges/s)."""
        if self.impl != "auto":
            return self.impl
        return "cpu" if self.device == "cpu" else "triton-fused"

    def resolved_batch_size(self, num_vertices: int) -> int:
        """Batched impls apply a batch from the pre-batch state, so a vertex repeated m times in one batch takes
        an m-times stale step: keep batches small next to the vertex count (N/4 per batch; at most 1024 on the
        CPU, 32768 on a GPU) or small graphs diverge."""
        if self.batch_size:
            return int(self.batch_size)
        cap = 1024 if self.device == "cpu" else 32768
        return int(min(cap, max(16, num_vertices // 4)))


FIELDS = {f.name: f for f in dataclasses.fields(LineConfig)}
DEFAULTS = LineConfig()  # read by every signature that offers a LINE setting (never restate a value)


def default(name: str) -> Any:
    """The default of LINE setting `name` (the one statement of it is the field above)."""
    return FIELDS[name].default


def describe(name: str) -> str:
    """The help text of LINE setting `name`, for command-line options."""
    return FIELDS[name].metadata["help"]
