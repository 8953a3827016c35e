"""The one timing helper of every benchmark: time calls on one clock, summarise latencies the same way everywhere.

At the bottom of engine/ (it imports nothing first-party), so the engine's benches and evaluation's alike use it
without an import running back up. Percentiles are numpy's linear interpolation, in milliseconds.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

CLOCKS: dict[str, Callable[[], float]] = {
    "wall": time.perf_counter,  # elapsed time: what a user waits (inflated on a shared machine)
    "cpu": time.process_time,  # CPU time of the process, all threads: fair on a loaded machine
    "thread": time.thread_time,  # CPU time of the calling thread only (servers running beside it)
}


@dataclass(frozen=True)
class Latency:
    """Percentiles (ms) and throughput of `n` timed calls."""

    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    per_s: float  # calls per second of timed time: n / sum of the latencies

    @classmethod
    def of(cls, seconds: Sequence[float] | np.ndarray) -> Latency | None:
        """From per-call latencies in seconds; None when nothing was timed."""
        s = np.asarray(seconds, dtype=np.float64)
        if s.size == 0:
            return None
        ms = s * 1e3
        total = float(s.sum())
        return cls(int(s.size), float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), float(ms.mean()),
                   float(s.size / total) if total > 0 else float("inf"))

    def to_dict(self, digits: int | None = None) -> dict[str, Any]:
        d = asdict(self)
        return d if digits is None else {k: (round(v, digits) if isinstance(v, float) else v) for k, v in d.items()}


def percentiles_ms(seconds: Sequence[float] | np.ndarray, digits: int = 3) -> dict[str, Any]:
    """{"p50_ms", "p99_ms", "n"} of per-call seconds, rounded (p50/p99 None when nothing was timed)."""
    lat = Latency.of(seconds)
    if lat is None:
        return {"p50_ms": None, "p99_ms": None, "n": 0}
    return {"p50_ms": round(lat.p50_ms, digits), "p99_ms": round(lat.p99_ms, digits), "n": lat.n}


def time_calls(fn: Callable[[int], Any], n: int, warmup: int = 1, clock: str = "wall"
               ) -> tuple[np.ndarray, list[Any]]:
    """Call fn(0..n-1) one at a time after `warmup` untimed calls fn(0..warmup-1); (seconds per call, results)."""
    tick = CLOCKS[clock]
    for j in range(min(warmup, n)):
        fn(j)
    out, times = [], np.empty(n)
    for j in range(n):
        t = tick()
        out.append(fn(j))
        times[j] = tick() - t
    return times, out


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(fn(), wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def load_average() -> str:
    """The 1/5/15-minute load averages, printed beside any wall time ("n/a" where the OS has none)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except (AttributeError, OSError):
        return "n/a"
