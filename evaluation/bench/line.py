"""LINE throughput benchmark: edges/s of every impl on synthetic tripartite graphs, in one process, vs ceilings.

Each implementation is driven through the entry point the LINE estimator uses (`get_impl(name)(samplers, ...)`
then `.train(vertex, context, order, t0, n, total, seed)`), after an untimed warm-up call (C++ build, Triton JIT).
Sample counts adapt per impl: a pilot run estimates the rate, the timed run is sized to take `target_s` seconds.
"""
from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.line.config import DEFAULTS as LINE_D
from engine.line.config import LineConfig, describe
from engine.line.impls import chunk_seed, get_impl, impl_names
from engine.line.model import init_tables
from engine.line.sampling import LineSamplers
from engine.line.synthetic import make_tripartite_powerlaw, scaled_graph
from graph.common import atomic
from graph.common.errors import Img2SongError
from graph.network import Network

DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
CPU_IMPLS = ("naive", "reference", "cpu")  # cpu-fp16 on request (--impl cpu-fp16)
KERNEL_IMPLS = ("cpu", "cpu-fp16")  # the fused C++ kernel: measured at every --threads count
GPU_IMPLS = ("naive", "reference", "triton", "triton-fused")
CUDA_IMPLS = ("reference", "triton", "triton-fused")  # --device cuda
# DESIGN.md "Performance model" (second order, d=128, K=5), printed beside every table
CEILINGS = {
    "cpu_2core_dram": "0.15-0.35M edges/s (2-core CPU, tables in DRAM)",
    "cpu_cache_resident": "several M edges/s (2-core CPU, cache-resident tables)",
    "reference_cpp": "0.67M edges/s on 1 thread, 1.2M on 2 (reference LINE C++, 1.25M-edge graph, these machines)",
    "h100": "~4e8 edges/s (H100, ~3 TB/s, memory-bound)",
}


@dataclass
class BenchRecord:
    """One timed measurement: an impl at a thread count on one graph."""

    impl: str
    graph: str
    edges: int  # undirected network edges (LINE trains on both directions)
    directed_edges: int
    vertices: int
    threads: int
    device: str
    dim: int
    negative: int
    order: int
    batch_size: int
    samples: int
    seconds: float
    edges_per_s: float
    vs_naive: float | None = None
    vs_reference: float | None = None
    config: dict[str, Any] = field(default_factory=dict)  # extra impl options (Triton tile sweep)
    bytes_per_edge: int | None = None  # engine.roofline model
    bandwidth_gbs: float | None = None  # measured triad bandwidth of the device (at these threads on a CPU)
    roofline_edges_per_s: float | None = None  # bandwidth / bytes_per_edge
    roofline_share: float | None = None  # edges_per_s / roofline_edges_per_s


@dataclass
class BenchGraph:
    name: str
    network: Network
    samplers: LineSamplers = field(repr=False)


def bench_graphs(sizes: Sequence[int], reference_graph: bool = True, seed: int = 0) -> Iterator[BenchGraph]:
    """Synthetic power-law tripartite graphs of the given sizes, plus the 1.25M-edge reference-C++ graph.

    A generator: each graph is built when it is reached and can be freed before the next one (1e7 edges ~ 2 GB).
    """
    for e in sizes:
        net = scaled_graph(int(e), seed)
        yield BenchGraph(f"tripartite-{_short(net.num_edges)}", net, LineSamplers.from_network(net))
    if reference_graph:
        net = make_tripartite_powerlaw(seed=seed)
        yield BenchGraph("reference-cpp-1.25M", net, LineSamplers.from_network(net))


def _short(n: int) -> str:
    for unit, div in (("M", 1_000_000), ("k", 1_000)):
        if n >= div:
            return f"{n / div:g}{unit}"
    return str(n)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _make_impl(label: str, samplers: LineSamplers, *, negative: int, threads: int, batch_size: int, device: str,
               config: dict[str, Any] | None = None):
    """The registry's impl; 'triton-fused' is impl 'triton' with exact=False (one launch per batch, Hogwild)."""
    name, extra = ("triton", {"exact": False}) if label == "triton-fused" else (label, {})
    return get_impl(name)(samplers, negative=negative, lr=0.025, threads=threads, batch_size=batch_size,
                          device=device, **extra, **(config or {}))


def measure(label: str, graph: BenchGraph, *, dim: int = LINE_D.dim, order: int = 2, negative: int = LINE_D.negative,
            threads: int = 1, device: str = "cpu", batch_size: int | None = None, target_s: float = 2.0,
            min_samples: int = 1, max_samples: int = 2_000_000_000, seed: int = 0,
            config: dict[str, Any] | None = None) -> BenchRecord:
    """Warm up, run a pilot to estimate the rate, then time a run sized to take about `target_s` seconds."""
    bs = int(batch_size or LineConfig(device=device).resolved_batch_size(graph.network.num_vertices))  # as LINE.fit
    torch_threads = torch.get_num_threads()
    if label not in KERNEL_IMPLS and device == "cpu":
        torch.set_num_threads(threads)  # PyTorch baselines: intra-op threads; the C++ kernel takes its own
    try:
        return _measure(label, graph, threads=threads, dim=dim, order=order, negative=negative,
                        device=device, bs=bs, target_s=target_s, min_samples=min_samples, max_samples=max_samples,
                        seed=seed, config=config or {})
    finally:
        torch.set_num_threads(torch_threads)


def _measure(label: str, graph: BenchGraph, *, threads: int, dim: int, order: int, negative: int, device: str,
             bs: int, target_s: float, min_samples: int, max_samples: int, seed: int,
             config: dict[str, Any]) -> BenchRecord:
    impl = _make_impl(label, graph.samplers, negative=negative, threads=threads, batch_size=bs, device=device,
                      config=config)
    vertex, ctx = init_tables(graph.network.num_vertices, dim, order, seed, device)  # as LINE.fit
    run_seed = chunk_seed(seed, order, 0)
    impl.train(vertex, ctx, order, 0, min(bs, 1024), 10 * bs, run_seed)  # warm-up: builds, JIT, caches
    _sync(device)
    n, elapsed = max(min_samples, min(bs, 4096)), 0.0
    while True:  # pilot, doubling until it lasts >= 10% of the target (or the cap)
        t = time.perf_counter()
        impl.train(vertex, ctx, order, 0, n, n, run_seed + 1)
        _sync(device)
        elapsed = time.perf_counter() - t
        if elapsed >= 0.1 * target_s or n >= max_samples:
            break
        n = min(max_samples, n * 2 if elapsed <= 0 else max(n * 2, int(n * 0.1 * target_s / elapsed)))
    samples = int(min(max_samples, max(min_samples, n * target_s / max(elapsed, 1e-9))))
    if samples > n or elapsed < 0.5 * target_s:
        t = time.perf_counter()
        impl.train(vertex, ctx, order, 0, samples, samples, run_seed + 2)
        _sync(device)
        elapsed = time.perf_counter() - t
    else:
        samples = n
    impl.sync(vertex, ctx, order)  # once per fit, as LINE.fit does: not in the timed calls
    if not (np.isfinite(vertex.sum().item()) and np.isfinite(ctx.sum().item())):
        raise Img2SongError(f"bench: impl {label!r} produced non-finite embeddings on {graph.name}")
    net = graph.network
    return BenchRecord(impl=label, graph=graph.name, edges=net.num_edges, directed_edges=len(graph.samplers.src),
                       vertices=net.num_vertices, threads=threads if device == "cpu" else 1,
                       device=str(device), dim=dim, negative=negative, order=order, batch_size=bs,
                       samples=samples, seconds=elapsed, edges_per_s=samples / elapsed, config=dict(config))


def _add_ratios(records: list[BenchRecord]) -> None:
    """vs_naive / vs_reference: ratios to baselines on the same graph in this process (same device preferred)."""
    for r in records:
        base = {b.impl: b.edges_per_s for b in records if b.graph == r.graph}
        base.update({b.impl: b.edges_per_s for b in records if b.graph == r.graph and b.device == r.device})
        r.vs_naive = r.edges_per_s / base["naive"] if "naive" in base else None
        r.vs_reference = r.edges_per_s / base["reference"] if "reference" in base else None


def bench_plan(impls: Sequence[str] | None, threads: Sequence[int], baseline_threads: int = 1, *,
               gpu_only: bool = False, cuda: bool = False) -> list[tuple[str, int, str]]:
    """(impl label, threads, device) to measure on every graph; Triton only where CUDA is."""
    known = set(impl_names()) | {"triton-fused"}
    chosen = list(impls or (GPU_IMPLS if gpu_only else CPU_IMPLS + (("triton",) if cuda else ())))
    for label in chosen:
        if label not in known:
            raise Img2SongError(f"bench: unknown impl {label!r}; known: {', '.join(sorted(known))}")
    plan: list[tuple[str, int, str]] = []
    for label in chosen:
        if label in KERNEL_IMPLS:
            plan += [(label, int(t), "cpu") for t in threads]
        elif label.startswith("triton"):
            if cuda:
                plan.append((label, 1, "cuda"))
        else:
            plan.append((label, 1, "cuda") if gpu_only else (label, int(baseline_threads), "cpu"))
    if not plan:
        raise Img2SongError("bench: nothing to run (triton needs CUDA; check --impls)")
    return plan


def add_roofline(records: list[BenchRecord], mib: int = 128) -> dict[str, float]:
    """Fill each record's roofline fields (16-bit tables: 2 bytes a value); measure each (device, threads)
    bandwidth once, in this process."""
    from engine.roofline import bytes_per_edge, measure_bandwidth

    bw: dict[str, float] = {}
    for r in records:
        key = r.device if r.device.startswith("cuda") else f"cpu x{r.threads}"
        if key not in bw:
            bw[key] = measure_bandwidth(r.device, threads=r.threads if r.device == "cpu" else None, mib=mib)
        r.bytes_per_edge = bytes_per_edge(r.dim, r.negative, 2 if r.impl.endswith("fp16") else 4)
        r.bandwidth_gbs = round(bw[key] / 1e9, 2)
        r.roofline_edges_per_s = bw[key] / r.bytes_per_edge
        r.roofline_share = r.edges_per_s / r.roofline_edges_per_s
    return {k: round(v / 1e9, 2) for k, v in bw.items()}


def run_bench(sizes: Sequence[int] = DEFAULT_SIZES, *, reference_graph: bool = True,
              impls: Sequence[str] | None = None, threads: Sequence[int] = (1, 2), baseline_threads: int = 1,
              gpu_only: bool = False, device: str = "cpu", bandwidth_mib: int = 128,
              dim: int = LINE_D.dim, negative: int = LINE_D.negative, order: int = 2, target_s: float = 2.0,
              batch_size: int | None = None, seed: int = 0, progress: bool = True) -> list[BenchRecord]:
    """Measure every (graph, impl, threads) combination; CUDA impls run only where torch.cuda.is_available()."""
    from tqdm.auto import tqdm

    cuda = torch.cuda.is_available()
    if device not in ("cpu", "cuda"):
        raise Img2SongError(f"bench: --device must be cpu or cuda, got {device!r}")
    if device == "cuda":  # the Triton impls on the GPU, beside the reference impl on the same GPU
        if not cuda:
            raise Img2SongError("bench --device cuda: torch.cuda.is_available() is False on this machine")
        gpu_only, impls = True, impls or CUDA_IMPLS
    if gpu_only and not cuda:
        raise Img2SongError("bench --gpu-only: torch.cuda.is_available() is False on this machine")
    plan = bench_plan(impls, threads, baseline_threads, gpu_only=gpu_only, cuda=cuda)
    records: list[BenchRecord] = []
    bar = tqdm(total=(len(sizes) + int(reference_graph)) * len(plan), desc="bench line", disable=not progress)
    for graph in bench_graphs(sizes, reference_graph, seed):
        bar.set_postfix_str(f"built {graph.name}")
        for label, th, device in plan:
            bar.set_postfix_str(f"{graph.name} {label} x{th}")
            records.append(measure(label, graph, dim=dim, order=order, negative=negative, threads=th,
                                   device=device, batch_size=batch_size, target_s=target_s, seed=seed))
            bar.update()
        del graph
        if cuda:
            torch.cuda.empty_cache()
    bar.close()
    _add_ratios(records)
    add_roofline(records, mib=bandwidth_mib)
    return records


def sweep_triton(edges: int | None = None, *, block_edges: Sequence[int] = (16, 32, 64),
                 num_warps: Sequence[int] = (4, 8), exact: Sequence[bool] = (True, False),
                 batch_sizes: Sequence[int] = (32_768, 262_144), target_s: float = 1.0, dim: int = LINE_D.dim,
                 seed: int = 0, progress: bool = True) -> list[BenchRecord]:
    """Triton tile/warp/batch sweep on one graph (default: the reference 1.25M-edge graph); CUDA only.

    Batch size matters on a GPU: each batch costs two Python-side launches (~10-20 us each).
    """
    from tqdm.auto import tqdm

    if not torch.cuda.is_available():
        raise Img2SongError("bench sweep: torch.cuda.is_available() is False on this machine")
    graph = next(bench_graphs([edges] if edges else [], reference_graph=edges is None, seed=seed))
    grid = [(be, nw, ex, bs) for ex in exact for bs in batch_sizes for be in block_edges for nw in num_warps]
    out = []
    for be, nw, ex, bs in tqdm(grid, desc="triton sweep", disable=not progress):
        out.append(measure("triton" if ex else "triton-fused", graph, dim=dim, device="cuda", target_s=target_s,
                           batch_size=bs, seed=seed, config={"block_edges": be, "num_warps": nw}))
    return out


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, torch/triton versions and the GPU name where there is one."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {"cpu": cpu, "logical_cores": os.cpu_count(),
                            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                            else os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                            "python": platform.python_version()}
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    if hasattr(os, "getloadavg"):  # other processes on a shared machine depress every figure
        info["load_avg_1min"] = round(os.getloadavg()[0], 2)
    return info


def _fmt_rate(x: float) -> str:
    return f"{x / 1e6:.3f}M" if x >= 1e5 else f"{x / 1e3:.1f}k"


def format_table(records: Iterable[BenchRecord], machine: dict[str, Any] | None = None) -> str:
    """A plain-text table: edges/s, ratio to naive and reference, then the DESIGN.md ceilings and the machine."""
    records = list(records)
    rows = [("graph", "edges", "impl", "device", "thr", "batch", "samples", "sec", "edges/s", "x naive", "x ref",
             "roof")]
    for r in records:
        label = r.impl + ("[" + ",".join(f"{k}={v}" for k, v in r.config.items()) + "]" if r.config else "")
        rows.append((r.graph, _short(r.edges), label, r.device, str(r.threads), str(r.batch_size), _short(r.samples),
                     f"{r.seconds:.2f}", _fmt_rate(r.edges_per_s),
                     "-" if r.vs_naive is None else f"{r.vs_naive:.1f}",
                     "-" if r.vs_reference is None else f"{r.vs_reference:.2f}",
                     "-" if r.roofline_share is None else f"{100 * r.roofline_share:.0f}%"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) if i >= 4 else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    recs = records
    if recs:
        r = recs[0]
        lines.append(f"LINE order {r.order}, d={r.dim}, K={r.negative}; edges/s = sampled directed edges (each with "
                     f"K negatives) per second")
        lines.append(roofline_line(recs, machine))
    lines.append("ceilings (DESIGN.md): " + "; ".join(CEILINGS.values()))
    if machine:
        lines.append(f"machine: {machine['cpu']}, {machine['usable_cores']} usable cores "
                     f"({machine['logical_cores']} logical), torch {machine['torch']}, triton {machine['triton']}"
                     + (f", GPU {machine['gpu']}" if machine.get("gpu") else ", no GPU")
                     + (f", load average {machine['load_avg_1min']}" if "load_avg_1min" in machine else ""))
    return "\n".join(lines)


def roofline_line(records: Sequence[BenchRecord], machine: dict[str, Any] | None = None) -> str:
    """The roofline model and the bandwidths it used, in words (engine.roofline)."""
    from engine.roofline import nominal_gbs

    r = next((x for x in records if not x.impl.endswith("fp16")), records[0])
    if r.bytes_per_edge is None:
        return "roofline: not measured"
    bws = sorted({((x.device if x.device.startswith("cuda") else f"cpu x{x.threads}")
                   + (" fp16" if x.impl.endswith("fp16") else ""), x.bandwidth_gbs, x.roofline_edges_per_s)
                  for x in records}, key=str)
    text = ", ".join(f"{k} {b:.1f} GB/s -> {_fmt_rate(c)} edges/s" for k, b, c in bws)
    nominal = nominal_gbs((machine or {}).get("gpu"))
    return (f"roof = share of the memory roofline: {r.bytes_per_edge} bytes/edge = 2(K+2)*d*b (rows read and "
            f"written, b = 4 bytes fp32, 2 for cpu-fp16) + (4+K)*64 (sampling cache lines); triad bandwidth "
            f"measured in this process: {text}"
            + (f"; GPU nominal peak {nominal:.0f} GB/s -> {_fmt_rate(nominal * 1e9 / r.bytes_per_edge)} edges/s"
               if nominal else "") + "; >100% = hot rows served from cache")


def write_json(records: Sequence[BenchRecord], path: str | Path, machine: dict[str, Any] | None = None) -> Path:
    """{"machine", "ceilings", "records": [one per impl x graph x threads]} written atomically."""
    doc = {"machine": machine or machine_info(), "ceilings": CEILINGS, "records": [asdict(r) for r in records]}
    for rec in doc["records"]:
        for k, v in rec.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise Img2SongError(f"bench: {rec['impl']} on {rec['graph']}: field {k!r} is not finite ({v})")
    return atomic.write_json(path, doc)


def bench_line(edges: Sequence[int] = DEFAULT_SIZES, *, json_out: str | Path | None = None, echo=print,
               **kw: Any) -> list[BenchRecord]:
    """Run the benchmark, print the table (+ where the JSON went); what `img2song bench line` calls."""
    records = run_bench(edges, **kw)
    machine = machine_info()
    echo(format_table(records, machine))
    if json_out:
        echo(f"wrote {write_json(records, json_out, machine)}")
    return records


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m evaluation.bench.line [--gpu-only] [--json OUT] ...` (same options as `img2song bench line`)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m evaluation.bench.line", description=__doc__.splitlines()[0])
    p.add_argument("--edges", type=int, nargs="+", default=list(DEFAULT_SIZES))
    p.add_argument("--no-reference-graph", action="store_true")
    p.add_argument("--impls", nargs="+", default=None)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--baseline-threads", type=int, default=1, help="torch threads of the naive/reference runs")
    p.add_argument("--gpu-only", action="store_true", help="naive, reference and triton (exact, fused) on CUDA")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="cuda: reference and triton (exact, fused) on the GPU, with the GPU's roofline")
    p.add_argument("--sweep", action="store_true", help="also sweep Triton tile sizes / warps (CUDA only)")
    p.add_argument("--dim", type=int, default=LINE_D.dim, help=describe("dim"))
    p.add_argument("--negative", type=int, default=LINE_D.negative, help=describe("negative"))
    p.add_argument("--order", type=int, default=2, choices=(1, 2))
    p.add_argument("--seconds", type=float, default=2.0, help="target duration of each timed run")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--json", type=Path, default=None)
    a = p.parse_args(argv)
    try:
        bench_line(a.edges, json_out=a.json, reference_graph=not a.no_reference_graph, impls=a.impls,
                   threads=a.threads, baseline_threads=a.baseline_threads, gpu_only=a.gpu_only, device=a.device,
                   dim=a.dim,
                   negative=a.negative, order=a.order, target_s=a.seconds, batch_size=a.batch_size)
        if a.sweep:
            records = sweep_triton(dim=a.dim)
            print(format_table(records))
            if a.json:
                print(f"wrote {write_json(records, a.json.with_suffix('.sweep.json'))}")
    except Img2SongError as e:
        print(f"error: {e}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
