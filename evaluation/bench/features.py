"""`img2song bench features`: decode, forward and end-to-end images/s of every CNN runtime, in one process.

Each round runs every runtime on the same images, interleaved (so that a burst of load on a shared machine hits
them all), beside today's path run in the same process (eager PyTorch, files decoded one by one in the forward's
thread). Figures are the best round's wall time (the machine's speed when it let us run) and the CPU seconds per
image of that round (what the work costs, whatever the load); parity is the largest |difference| of features and
logits from eager's on the same images.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.features.backbones import DEFAULT_BACKBONE, get_backbone
from engine.features.extract import (
    _Loader,
    _NoCache,
    default_decode_workers,
    extract_features,
    loaded_batches,
    torch_threads_for,
)
from engine.features.runtime import RUNTIMES, Forward, cpu_cores, resolve_runtime
from engine.timing import load_average, timed
from graph.common.errors import Img2SongError

PARITY_ATOL = 1e-3  # features and logits within this of eager's: the runtime may be the default
DEFAULT_BENCH_RUNTIMES = ("eager", "channels-last", "onnxruntime", "openvino")  # compile: opt in (minutes)


@dataclass
class RuntimeFigures:
    """One runtime's best round: images/s (wall) and CPU ms per image, per stage, and its parity with eager."""

    runtime: str
    forward_ips: float = 0.0  # raw forward of decoded batches
    forward_cpu_ms: float = 0.0
    e2e_ips: float = 0.0  # extract_features, cold (no cache), default decoder threads
    e2e_cpu_ms: float = 0.0
    max_abs_diff: float = 0.0  # features and logits against eager, same images
    setup_s: float = 0.0  # building the runtime (export/compile on first use)
    rounds: list[dict[str, float]] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return self.max_abs_diff <= PARITY_ATOL


_timed = timed  # (result, wall s, CPU s)


def bench_features(items: Sequence[tuple[str, Path]], runtimes: Sequence[str] = DEFAULT_BENCH_RUNTIMES,
                   backbone: str = DEFAULT_BACKBONE, batch_size: int = 32, rounds: int = 3,
                   threads: int | None = None, decode_workers: int | None = None, device: str = "cpu",
                   precision: str = "fp32", echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure every runtime on `items` (id, file) and print one table; returns the figures as a dict."""
    if not items:
        raise Img2SongError("no images to measure")
    threads = threads or cpu_cores()
    bb = get_backbone(backbone)
    for rt in runtimes:
        resolve_runtime(rt, bb, device)  # an unknown or uninstalled runtime fails before anything is measured
    n = len(items)
    echo(f"{n} images, {backbone} on {device} ({precision}), batch {batch_size}, {threads} forward thread(s) on "
         f"{cpu_cores()} core(s), "
         f"{rounds} round(s); load average before: {load_average()}")
    torch.set_num_threads(threads)
    load = _Loader(list(items), bb.preprocess, _NoCache(), bb.feature_dim + bb.num_classes)
    decoded = [load(i) for i in range(n)]
    todo = [d["x"] for d in decoded if d["status"] == "todo"]
    if not todo:
        raise Img2SongError("none of the images could be decoded")
    batches = [torch.stack(todo[lo:lo + batch_size]) for lo in range(0, len(todo), batch_size)]
    forwards: dict[str, Forward] = {}
    figs: dict[str, RuntimeFigures] = {}
    for rt in runtimes:
        (fwd, setup, _) = _timed(lambda rt=rt: Forward(bb, rt, device, threads=threads, precision=precision))
        fwd(batches[0][:2])  # first call: lazy kernels, graph compilation
        forwards[rt], figs[rt] = fwd, RuntimeFigures(rt, setup_s=setup)
    ref = Forward(bb, "eager", threads=threads)  # today's numbers: eager PyTorch on the CPU
    ref_out = [np.concatenate([np.asarray(a) for a in ref(b) if a is not None], 1) for b in batches]
    for rt, fwd in forwards.items():
        out = [np.concatenate([np.asarray(a) for a in fwd(b) if a is not None], 1) for b in batches]
        figs[rt].max_abs_diff = float(max(np.abs(o - r).max() for o, r in zip(out, ref_out)))
    today = RuntimeFigures("today (eager cpu, sequential decode)")
    decode_seq = RuntimeFigures("decode, 1 thread")
    workers = decode_workers if decode_workers is not None else default_decode_workers(
        next(iter(forwards.values())))
    decode_par = RuntimeFigures(f"decode, {workers} thread(s) beside the forward")
    for r in range(rounds):
        _, w, c = _timed(lambda: [load(i) for i in range(n)])
        _keep(decode_seq, r, n / w, 1e3 * c / n, "e2e")
        _, w, c = _timed(lambda: _parallel_decode(load, workers))
        _keep(decode_par, r, n / w, 1e3 * c / n, "e2e")
        _, w, c = _timed(lambda: extract_features(items, runtime=ref, use_cache=False, batch_size=batch_size,
                                                  num_workers=0, progress=False))
        _keep(today, r, n / w, 1e3 * c / n, "e2e")
        for rt, fwd in forwards.items():
            with torch_threads_for(fwd):  # results come back as numpy: a CUDA forward is synchronised
                _, w, c = _timed(lambda fwd=fwd: [fwd(b) for b in batches])
            _keep(figs[rt], r, len(todo) / w, 1e3 * c / len(todo), "forward")
            _, w, c = _timed(lambda fwd=fwd: extract_features(items, runtime=fwd, use_cache=False,
                                                              batch_size=batch_size, num_workers=decode_workers,
                                                              progress=False))
            _keep(figs[rt], r, n / w, 1e3 * c / n, "e2e")
        echo(f"round {r + 1}/{rounds}: end-to-end img/s " + ", ".join(
            f"{k} {f.rounds[-1]['ips']:.1f}" for k, f in [("today", today), *figs.items()]))
    echo(f"{'':38s} {'forward img/s':>13s} {'CPU ms/img':>10s} {'end-to-end img/s':>16s} {'CPU ms/img':>10s} "
         f"{'x today':>7s} {'max|diff|':>9s}  parity")
    echo(f"{today.runtime:38s} {'':>13s} {'':>10s} {today.e2e_ips:16.1f} {today.e2e_cpu_ms:10.1f} {1.0:7.2f}")
    for d in (decode_seq, decode_par):
        echo(f"{d.runtime:38s} {'':>13s} {'':>10s} {d.e2e_ips:16.1f} {d.e2e_cpu_ms:10.1f}")
    for f in figs.values():
        echo(f"{f.runtime:38s} {f.forward_ips:13.1f} {f.forward_cpu_ms:10.1f} {f.e2e_ips:16.1f} "
             f"{f.e2e_cpu_ms:10.1f} {f.e2e_ips / today.e2e_ips:7.2f} {f.max_abs_diff:9.1e}  "
             f"{'ok' if f.passes else 'FAIL'} (setup {f.setup_s:.1f} s)")
    passing = [f for f in figs.values() if f.passes]
    best = max(passing, key=lambda f: f.e2e_ips) if passing else None
    echo(f"raw forward = the network alone on decoded batches (the ceiling of end-to-end); fastest passing: "
         f"{best.runtime if best else 'none'}; load average after: {load_average()}")
    return {"images": n, "threads": threads, "decode_workers": workers, "load_average": load_average(),
            "today": asdict(today), "decode": [asdict(decode_seq), asdict(decode_par)],
            "runtimes": {k: asdict(v) | {"passes": v.passes} for k, v in figs.items()},
            "fastest_passing": best.runtime if best else None}


def _keep(fig: RuntimeFigures, r: int, ips: float, cpu_ms: float, stage: str) -> None:
    """Record one round; keep the best round's figures for the stage."""
    fig.rounds.append({"round": r, "stage": stage, "ips": ips, "cpu_ms": cpu_ms})  # type: ignore[dict-item]
    if ips > getattr(fig, f"{stage}_ips"):
        setattr(fig, f"{stage}_ips", ips)
        setattr(fig, f"{stage}_cpu_ms", cpu_ms)


def _parallel_decode(load: _Loader, workers: int) -> list[dict[str, Any]]:
    return [b for batch in loaded_batches(load, 32, workers) for b in batch]


__all__ = ["DEFAULT_BENCH_RUNTIMES", "PARITY_ATOL", "RUNTIMES", "RuntimeFigures", "bench_features", "load_average"]
