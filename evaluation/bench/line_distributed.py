"""Distributed (Hogwild, shared-memory) LINE: edges/s with 1 and 2 processes beside the in-process estimator.

`python -m evaluation.bench.line_distributed [--edges 1000000 --samples 10000000 --procs 1 2]` prints one table; every
rate is sampled directed edges (K negatives each) per second of training, measured between the workers' barriers
(process start-up excluded), and a ratio to the in-process single-thread LINE run in the same process.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from engine.line.config import DEFAULTS as LINE_D
from engine.line.config import describe
from engine.line.distributed import hogwild_fit
from engine.line.model import LINE
from engine.line.synthetic import scaled_graph


@dataclass
class Row:
    mode: str
    processes: int
    threads: int
    samples: int
    seconds: float
    edges_per_s: float
    ratio: float = 1.0


def bench(edges: int = 1_000_000, samples: int = 10_000_000, procs: Sequence[int] = (1, 2), dim: int = LINE_D.dim,
          order: int = 2, seed: int = 0) -> list[Row]:
    net = scaled_graph(edges, seed)
    params = dict(dim=dim, order=order, samples=samples, impl="cpu", seed=seed, progress=False)
    rows = []
    for threads in (1, 2):
        m = LINE(threads=threads, **params).fit(net)
        s = m.stats_[str(order)]
        rows.append(Row("in-process LINE (threads)", 1, threads, samples, s["seconds"], s["edges_per_s"]))
    for n in procs:
        m = hogwild_fit(net, nprocs=int(n), threads=1, **params)
        s = m.stats_[str(order)]
        rows.append(Row("Hogwild processes", int(n), 1, samples, s["seconds"], s["edges_per_s"]))
    base = rows[0].edges_per_s
    for r in rows:
        r.ratio = r.edges_per_s / base
    return rows


def format_rows(rows: Sequence[Row], edges: int) -> str:
    head = f"{'mode':<28}{'procs':>6}{'thr':>5}{'samples':>11}{'sec':>8}{'edges/s':>12}{'x 1 thread':>12}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.mode:<28}{r.processes:>6}{r.threads:>5}{r.samples:>11}{r.seconds:>8.2f}"
                     f"{r.edges_per_s / 1e6:>11.3f}M{r.ratio:>12.2f}")
    lines.append(f"graph: tripartite, ~{edges} edges (engine.line.synthetic.scaled_graph); LINE order 2, "
                 f"d={LINE_D.dim}, K={LINE_D.negative}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.bench.line_distributed", description=__doc__.splitlines()[0])
    p.add_argument("--edges", type=int, default=1_000_000)
    p.add_argument("--samples", type=int, default=10_000_000)
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--dim", type=int, default=LINE_D.dim, help=describe("dim"))
    a = p.parse_args(argv)
    rows = bench(a.edges, a.samples, a.procs, a.dim)
    print(format_rows(rows, a.edges))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
