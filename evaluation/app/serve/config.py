"""The service's limits: each default, its help and its lower bound stated once (the CLI options read them here).

Light on purpose (no FastAPI, no torch): `img2song serve --help` imports it."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from graph.common.errors import Img2SongError


def setting(default: Any, help: str, minimum: float | None = None) -> Any:
    return field(default=default, metadata={"help": help, "min": minimum})


@dataclass(frozen=True)
class ServeConfig:
    """Limits of the service (every one has a command-line option of the same name)."""

    max_upload_bytes: int = setting(10 * 1024 * 1024, "largest request body (an upload), bytes", 1)
    max_pixels: int = setting(50_000_000, "largest image (width x height) decoded", 1)
    max_k: int = setting(100, "largest k", 1)
    max_batch: int = setting(32, "most images in one /recommend/batch request", 1)
    workers: int = setting(1, "CNN forward threads", 1)
    torch_threads: int = setting(1, "intra-op threads per forward (workers x this <= cores: no spinning)", 1)
    queue: int = setting(8, "CNN jobs that may wait for a worker; more are refused with 503", 0)
    deadline_s: float = setting(10.0, "seconds a request may take before it gets 503", 0.001)
    idle_timeout_s: float = setting(15.0, "seconds before a connection with no request under way (idle, or headers "
                                          "never finished) is closed", 0.001)
    default_scorer: str = setting("ne", "scorer used when a request names none")
    pooled_scorers: tuple[str, ...] = setting(("lstm",), "slow scorers: answered on a thread of their own")
    warmup: bool = setting(True, "answer every corpus image once per fast scorer at start-up (fills lazy caches)")

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            low, value = f.metadata.get("min"), getattr(self, f.name)
            if low is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or value < low:
                raise Img2SongError(f"serve setting {f.name} must be a number >= {low}, got {value!r}")


FIELDS = {f.name: f for f in dataclasses.fields(ServeConfig)}


def default(name: str) -> Any:
    return FIELDS[name].default


def describe(name: str) -> str:
    return FIELDS[name].metadata["help"]


def minimum(name: str) -> float | None:
    return FIELDS[name].metadata.get("min")
