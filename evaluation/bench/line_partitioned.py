"""Partitioned LINE bench: 2 node ranks over loopback (torchrun --nnodes 2) beside one process and Hogwild.

`python -m evaluation.bench.line_partitioned [--edges 300000 --parts 4 --passes 10]` holds out 2% of a synthetic
community graph's edges, trains LINE three ways on the rest with the same samples, and prints per mode: edges/s
(training only, between barriers), held-out link-prediction AUC (cosine, 5 non-edges per held-out edge), the
table bytes each rank held at most and each rank's peak RSS over training. CPU seconds of every process are
printed too: on a shared machine they are the fairer cost figure.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.embeddings import EmbeddingTable
from engine.line.config import DEFAULTS as LINE_D
from engine.line.config import describe
from engine.line.distributed import _free_port, hogwild_fit
from engine.line.model import LINE
from engine.line.partitioned import PASSES
from graph.common.errors import Img2SongError
from graph.network import Kind, Network

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Row:
    mode: str
    ranks: int
    edges_per_s: float
    auc: float
    table_mb: list[float] = field(default_factory=list)  # per rank: table bytes held at most
    rss_mb: list[float] = field(default_factory=list)  # per rank: peak RSS over training
    cpu_s: float = 0.0


def community_graph(edges: int, block: int = 100, inside: float = 0.9, seed: int = 0) -> Network:
    """~`edges` undirected edges on edges/5 vertices in communities of `block`: each edge joins a random vertex to
    one of its own community with probability `inside`, else to any vertex (duplicates and loops dropped). Its
    held-out links are predictable from either order's vectors, unlike the tripartite bench graph's."""
    rng = np.random.default_rng([seed, 23])
    n = max(2 * block, edges // 5)
    u = rng.integers(n, size=edges)
    same = (u // block) * block + rng.integers(block, size=edges)
    v = np.where(rng.random(edges) < inside, np.minimum(same, n - 1), rng.integers(n, size=edges))
    a, b = np.minimum(u, v), np.maximum(u, v)
    code = np.unique((a * n + b)[a != b])
    e = np.stack([code // n, code % n], 1)
    return Network([f"v{i}" for i in range(n)], np.full(n, int(Kind.OTHER), np.int8), [f"v{i}" for i in range(n)],
                   e, np.ones(len(e), np.float32))


def holdout(net: Network, frac: float = 0.02, seed: int = 0) -> tuple[Network, np.ndarray, np.ndarray]:
    """Hold out `frac` of the edges (never a vertex's last one) and draw 5 non-edges per held-out edge."""
    rng = np.random.default_rng(seed)
    e = net.edges
    pick = rng.choice(len(e), size=max(1, int(frac * len(e))), replace=False)
    deg = np.bincount(e.reshape(-1), minlength=net.num_vertices)
    lost = np.bincount(e[pick].reshape(-1), minlength=net.num_vertices)
    pick = pick[(deg - lost)[e[pick, 0]] > 0]
    pick = pick[(deg - lost)[e[pick, 1]] > 0]
    keep = np.setdiff1d(np.arange(len(e)), pick)
    train = Network(net.ids, net.kinds, net.labels, e[keep], net.weights[keep], directed=net.directed)
    n = np.int64(net.num_vertices)
    existing = set((np.minimum(e[:, 0], e[:, 1]) * n + np.maximum(e[:, 0], e[:, 1])).tolist())
    a, b = rng.integers(n, size=(2, 10 * len(pick)))
    code = np.minimum(a, b) * n + np.maximum(a, b)
    ok = (a != b) & np.array([c not in existing for c in code.tolist()], bool)
    neg = np.stack([a[ok], b[ok]], 1)[: 5 * len(pick)]
    if len(neg) < 5 * len(pick):
        raise Img2SongError("bench: the graph is too dense to draw 5 non-edges per held-out edge")
    return train, e[pick], neg


def link_auc(vectors: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of cosine similarity, held-out edges against non-edges (rank form, ties one half)."""
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    s = np.concatenate([(x[pos[:, 0]] * x[pos[:, 1]]).sum(1), (x[neg[:, 0]] * x[neg[:, 1]]).sum(1)])
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    for v in np.unique(s[order][np.r_[False, np.diff(s[order]) == 0]]):  # average ranks of ties
        ranks[s == v] = ranks[s == v].mean()
    n_p, n_n = len(pos), len(neg)
    return float((ranks[:n_p].sum() - n_p * (n_p + 1) / 2) / (n_p * n_n))


def two_nodes(graph: Path, out: Path, scratch: Path, args: Sequence[str]) -> tuple[dict, float]:
    """Start two torchrun node agents (one rank each, c10d rendezvous on 127.0.0.1); returns the report and the
    CPU seconds of every process they ran."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend",
           "c10d", "--rdzv-endpoint", f"127.0.0.1:{_free_port()}", "--rdzv-id", "bench-partitioned", "--max-restarts", "0"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    nodes = [subprocess.Popen([*cmd, "--rdzv-conf", f"is_host={host}", "-m", "engine.line.partitioned", "--graph",
                               str(graph), "--out", str(out), "--scratch", str(scratch), *args], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for host in (1, 0)]
    logs = [p.communicate()[0] for p in nodes]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if any(p.returncode for p in nodes):
        raise Img2SongError("partitioned LINE failed:\n" + logs[0][-2000:] + logs[1][-2000:])
    print(logs[0].strip().splitlines()[-3] if logs[0].strip() else "")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return json.loads(out.with_suffix(".json").read_text()), cpu


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def bench(edges: int = 300_000, parts: int = 4, passes: int = PASSES, samples: int | None = None, dim: int = LINE_D.dim,
          order: int = 2, seed: int = 0) -> tuple[list[Row], Network]:
    net = community_graph(edges, seed=seed)
    train, pos, neg = holdout(net, seed=seed)
    samples = samples or 600 * train.num_vertices
    params = dict(dim=dim, order=order, samples=samples, impl="cpu", seed=seed, progress=False, threads=1)
    full_mb = (2 if order == 2 else 1) * 4 * net.num_vertices * dim / 2**20
    rows = []
    c0 = _cpu()
    m = LINE(**params).fit(train)
    rows.append(Row("one process", 1, m.stats_[str(order)]["edges_per_s"], link_auc(m.vertex_[order].numpy(), pos, neg),
                    [full_mb], [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024], _cpu() - c0))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    c0 = _cpu()
    m = hogwild_fit(train, nprocs=2, **{k: v for k, v in params.items() if k != "progress"})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = _cpu() - c0 + (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    rows.append(Row("Hogwild, shared memory", 2, m.stats_[str(order)]["edges_per_s"],
                    link_auc(m.vertex_[order].numpy(), pos, neg), [full_mb, full_mb], [], cpu))
    with tempfile.TemporaryDirectory(prefix="img2song-bench-partitioned-") as d:
        graph = Path(d) / "graph.npz"
        train.save(graph)
        args = ["--parts", str(parts), "--passes", str(passes), "--dim", str(dim), "--order", str(order), "--samples",
                str(samples), "--seed", str(seed)]
        rec, cpu = two_nodes(graph, Path(d) / "emb.npz", Path(d) / "scratch", args)
        emb = EmbeddingTable.load(Path(d) / "emb.npz", "npz")
        rows.append(Row(f"partitioned P={parts}, 2 nodes", 2, rec["orders"][str(order)]["edges_per_s"],
                        link_auc(emb.vectors, pos, neg), [r["table_bytes_max"] / 2**20 for r in rec["ranks"]],
                        [r["rss_peak_mb"] for r in rec["ranks"]], cpu))
    return rows, train


def format_rows(rows: Sequence[Row], net: Network, samples: int, parts: int, passes: int, order: int, dim: int
                ) -> str:
    head = f"{'mode':<30}{'ranks':>6}{'edges/s':>10}{'x one':>7}{'AUC':>8}{'tables MB/rank':>18}{'peak RSS MB':>14}" \
           f"{'CPU s':>8}"
    lines = [head, "-" * len(head)]
    for r in rows:
        tab = "/".join(f"{x:.0f}" for x in r.table_mb)
        rss = "/".join(f"{x:.0f}" for x in r.rss_mb) or "-"
        lines.append(f"{r.mode:<30}{r.ranks:>6}{r.edges_per_s / 1e6:>9.3f}M{r.edges_per_s / rows[0].edges_per_s:>7.2f}"
                     f"{r.auc:>8.4f}{tab:>18}{rss:>14}{r.cpu_s:>8.1f}")
    lines.append(f"graph: communities of 100, {net.num_vertices} vertices, {net.num_edges} training edges (2% held out); "
                 f"LINE order {order}, d={dim}, K=5, {samples} samples, 1 thread per rank; P={parts}, {passes} passes; "
                 f"load average {os.getloadavg()[0]:.1f}")
    lines.append("one process: peak RSS of this process so far; partitioned: peak RSS of each rank over training "
                 "(torch and the kernel included), and the tables it held (order 2: vertex partition i + context "
                 "partition j; order 1: vertex partitions i and j)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m evaluation.bench.line_partitioned", description=__doc__.splitlines()[0])
    p.add_argument("--edges", type=int, default=300_000)
    p.add_argument("--parts", type=int, default=4)
    p.add_argument("--passes", type=int, default=PASSES)
    p.add_argument("--samples", type=int, default=None, help="default: 600 per vertex (converged AUC)")
    p.add_argument("--dim", type=int, default=LINE_D.dim, help=describe("dim"))
    p.add_argument("--order", type=int, choices=(1, 2), default=2,
                   help="LINE order (AUC: cosine of its vertex vectors)")
    p.add_argument("--json", help="also write the rows here")
    a = p.parse_args(argv)
    tic = time.perf_counter()
    rows, net = bench(a.edges, a.parts, a.passes, a.samples, a.dim, a.order)
    samples = a.samples or 600 * net.num_vertices
    print(format_rows(rows, net, samples, a.parts, a.passes, a.order, a.dim))
    print(f"bench wall {time.perf_counter() - tic:.1f} s")
    if a.json:
        Path(a.json).write_text(json.dumps([r.__dict__ for r in rows], indent=1))
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
