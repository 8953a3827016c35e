"""Partitioned LINE on torch.distributed: tables in P partitions, edges in P x P buckets, for tables past one node.

PyTorch-BigGraph's scheme on the fused C++ kernel (engine/line/partitions.py has the partitions, tasks and
plan). Rank 0 writes, into a fresh job directory under a shared `scratch` directory, every task's packed edge
alias table and negative table (local row numbers) and the initial partition tables; then every rank, round by
round, trains its task with the C++ kernel on the partition buffers it holds, writes back the partitions its
next task does not use, and meets the others at a gloo barrier before loading the ones it needs next. A rank
holds the partitions of one task: 2/P of a table (order 2: V_i and C_j, i.e. 1/P of both tables; order 1: V_i
and V_j). The scratch directory stands for the shared file system of a cluster (on one machine: any directory).

- Library: `fit_partitioned(network, scratch, parts=4, passes=..., **LINE params)` in every rank of an
  initialised process group (or alone: one process trains every bucket in turn) -> a fitted LINE on rank 0.
- Command: `torchrun --nnodes 2 --nproc-per-node 1 --rdzv-backend c10d --rdzv-endpoint HOST:PORT
  -m engine.line.partitioned --graph network.npz --out emb.npz --scratch /shared/dir --parts 4`.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from engine.line.config import DEFAULTS as LINE_D
from engine.line.config import LineConfig, describe
from engine.line.model import LINE
from engine.line.packing import pack_edge_table, pack_neg_table
from engine.line.partitions import Partitioning, Step, Task, plan, task_of_edges, tasks
from engine.line.sampling import AliasTable, LineSamplers, negative_weights
from graph.common.atomic import write_json
from graph.common.errors import Img2SongError
from graph.network import Network

PASSES = 10  # default passes over all buckets (more: closer to one global sampler; each costs a round of swaps)
MANIFEST = "manifest.json"


# --- rank 0: the job directory -------------------------------------------------------------------------------
def prepare(network: Network, cfg: LineConfig, parts: int, passes: int, job: Path) -> dict[str, Any]:
    """Write every task's packed tables and the initial partitions into `job`; returns the manifest."""
    src, dst, w = network.directed_edges()
    if len(src) == 0:
        raise Img2SongError("partitioned LINE: the network has no edges")
    n = network.num_vertices
    pt = Partitioning.build(n, parts, cfg.seed)
    negw = negative_weights(n, src, dst, w)
    members = [pt.members(p) for p in range(parts)]
    padded = np.zeros((parts, pt.size))
    for p in range(parts):
        padded[p, : len(members[p])] = negw[members[p]]
    manifest: dict[str, Any] = {"num_vertices": n, "parts": parts, "size": pt.size, "passes": passes,
                                "samples": cfg.resolved_samples(len(src)), "config": cfg.to_dict(), "tasks": {}}
    for order in cfg.orders:
        ts = tasks(order, parts)
        tid = task_of_edges(order, parts, pt.part, src, dst)
        idx = np.argsort(tid, kind="stable")  # stable: a bucket keeps the edge list's order
        bounds = np.searchsorted(tid[idx], np.arange(len(ts) + 1))
        rows = []
        for k, task in enumerate(ts):
            e = idx[bounds[k]:bounds[k + 1]]
            rows.append({"name": task.name, "edges": len(e), "weight": float(w[e].sum())})
            if len(e) == 0:
                continue
            s_l = _local(pt, task.vertex, src[e])
            d_l = _local(pt, task.target_parts, dst[e])
            neg = AliasTable.build(padded[list(task.target_parts)].reshape(-1))
            rows_n = len(task.target_parts) * pt.size
            smp = LineSamplers(s_l, d_l, w[e], AliasTable.build(w[e]), neg, rows_n)
            np.save(job / f"{task.name}.edges.npy", pack_edge_table(smp, "partitioned LINE"))
            np.save(job / f"{task.name}.neg.npy", pack_neg_table(neg))
        manifest["tasks"][str(order)] = rows
        for p in range(parts):
            gen = torch.Generator().manual_seed(_init_seed(cfg.seed, order, p))
            d = cfg.dim_per_order
            _save(job / _table(order, "vertex", p), ((torch.rand(pt.size, d, generator=gen) - 0.5) / d).numpy())
            if order == 2:
                _save(job / _table(order, "context", p), np.zeros((pt.size, d), np.float32))
    write_json(job / MANIFEST, manifest)
    return manifest


def _init_seed(seed: int, order: int, p: int) -> int:
    """Partition p's generator; with one partition it is init_tables' (LINE.fit starts from the same table)."""
    from engine.line.impls import chunk_seed

    return chunk_seed(seed, 100 + order, p)


def _local(pt: Partitioning, parts: tuple[int, ...], v: np.ndarray) -> np.ndarray:
    """Row of each vertex in a buffer made of `parts` laid end to end."""
    slot = np.zeros(pt.parts, np.int64)
    slot[list(parts)] = np.arange(len(parts)) * pt.size
    return slot[pt.part[v]] + pt.local[v]


def _table(order: int, kind: str, p: int) -> str:
    return f"o{order}-{kind}-{p}.f32"


def _save(path: Path, array: np.ndarray) -> int:
    """Raw float32 rows, overwritten in place (a partition keeps its size): readers only open it after the next
    barrier, so no rename is needed (a rename per swap cost more than the write on overlay file systems)."""
    with open(path, "r+b" if path.exists() else "wb") as f:
        np.ascontiguousarray(array, np.float32).tofile(f)
    return array.nbytes


def _read(path: Path, size: int) -> np.ndarray:
    return np.fromfile(path, np.float32).reshape(size, -1)


# --- every rank: the rounds ----------------------------------------------------------------------------------
def _rss_peak_reset() -> bool:
    """Reset this process's peak RSS (Linux clear_refs 5) so VmHWM measures training alone."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _rss_peak_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _barrier(world: int) -> None:
    if world > 1:
        dist.barrier()


def train_rank(job: Path, rank: int, world: int, progress: bool = False) -> dict[str, Any]:
    """This rank's share of every order's plan; returns its measurements (seconds, samples, swaps, memory)."""
    from engine.line.cpu import load_kernel

    load_kernel()
    man = json.loads((job / MANIFEST).read_text())
    cfg = LineConfig.from_dict(man["config"])
    size, parts = int(man["size"]), int(man["parts"])
    reset = _rss_peak_reset()
    out: dict[str, Any] = {"rank": rank, "orders": {}, "read_bytes": 0, "written_bytes": 0, "table_bytes_max": 0}
    for order in cfg.orders:
        rows = man["tasks"][str(order)]
        ts = tasks(order, parts)
        steps = plan(order, np.array([r["weight"] for r in rows]), world, int(man["passes"]), int(man["samples"]),
                     cfg.seed)
        held: dict[tuple[str, int], torch.Tensor] = {}
        _barrier(world)
        tic = time.perf_counter()
        done = 0
        bar = tqdm(total=len(steps), desc=f"partitioned LINE order {order} rank {rank}", unit="round",
                   disable=not progress, leave=False)
        for r, row in enumerate(steps):
            step = row[rank] if rank < len(row) else None
            if step is not None:
                done += _train_step(job, ts[step.task], step, held, order, size, cfg, out)
            nxt = steps[r + 1][rank] if r + 1 < len(steps) and rank < len(steps[r + 1]) else None
            keep = ts[nxt.task].resources if nxt is not None else frozenset()
            for key in [k for k in held if k not in keep]:
                table = held.pop(key).numpy()
                if not np.isfinite(table).all():
                    raise Img2SongError(f"partitioned LINE order {order}: training produced non-finite values "
                                        f"({key[0]} partition {key[1]})")
                out["written_bytes"] += _save(job / _table(order, key[0], key[1]), table)
            _barrier(world)  # every released partition is on disk before anyone loads it
            bar.update(1)
        bar.close()
        seconds = time.perf_counter() - tic
        out["orders"][str(order)] = {"samples": done, "seconds": round(seconds, 6), "rounds": len(steps)}
    out["rss_peak_mb"] = round(_rss_peak_mb(), 1)
    out["rss_peak_scope"] = "training (peak reset at its start)" if reset else "whole process"
    return out


def _load(job: Path, order: int, key: tuple[str, int], held: dict, size: int, out: dict) -> torch.Tensor:
    if key not in held:
        path = job / _table(order, key[0], key[1])
        held[key] = torch.from_numpy(_read(path, size))
        out["read_bytes"] += held[key].nbytes
    return held[key]


def _buffer(job: Path, order: int, kind: str, parts: tuple[int, ...], held: dict, size: int, out: dict
            ) -> torch.Tensor:
    """One contiguous buffer of the partitions `parts`; held entries become views of it (no second copy)."""
    first = _load(job, order, (kind, parts[0]), held, size, out)
    if len(parts) == 1:
        return first
    tabs = [first] + [_load(job, order, (kind, p), held, size, out) for p in parts[1:]]
    buf = torch.cat(tabs)
    for k, p in enumerate(parts):
        held[(kind, p)] = buf[k * size:(k + 1) * size]
    return buf


def _train_step(job: Path, task: Task, step: Step, held: dict, order: int, size: int, cfg: LineConfig,
                out: dict) -> int:
    vertex = _buffer(job, order, "vertex", task.vertex, held, size, out)
    context = _buffer(job, order, "context", task.context, held, size, out) if order == 2 else torch.empty(0)
    out["table_bytes_max"] = max(out["table_bytes_max"], sum(
        t.nbytes for t in {t.untyped_storage().data_ptr(): t for t in held.values()}.values()))
    edges = torch.from_numpy(np.load(job / f"{task.name}.edges.npy"))
    neg = torch.from_numpy(np.load(job / f"{task.name}.neg.npy"))
    for t0, n, total, seed in step.calls:
        torch.ops.img2song.line_train(vertex, context, edges, neg, order, cfg.negative, float(cfg.lr), int(t0),
                                      int(n), int(total), int(seed) & (2**63 - 1), cfg.resolved_threads())
    return step.samples


# --- rank 0: the result --------------------------------------------------------------------------------------
def collect(job: Path, network: Network, stats: list[dict[str, Any]], seconds: float) -> LINE:
    """The fitted LINE (vertex_, context_, embeddings_, stats_) from the trained partitions in `job`."""
    man = json.loads((job / MANIFEST).read_text())
    cfg = LineConfig.from_dict(man["config"])
    pt = Partitioning.build(network.num_vertices, int(man["parts"]), cfg.seed)
    model = LINE(**cfg.to_dict())
    vertex, context = {}, {}
    for order in cfg.orders:
        kinds = ("vertex", "context") if order == 2 else ("vertex",)
        for kind in kinds:
            full = np.empty((network.num_vertices, cfg.dim_per_order), np.float32)
            for p in range(pt.parts):
                ids = pt.members(p)
                full[ids] = _read(job / _table(order, kind, p), pt.size)[: len(ids)]
            (vertex if kind == "vertex" else context)[order] = torch.from_numpy(full)
    total = int(man["samples"])
    slowest = {o: max(s["orders"][o]["seconds"] for s in stats) for o in map(str, cfg.orders)}
    model.vertex_, model.context_ = vertex, context
    model.stats_ = {o: {"samples": total, "seconds": sec, "edges_per_s": round(total / max(sec, 1e-12), 1)}
                    for o, sec in slowest.items()}
    model.samples_, model.impl_, model.history_, model.degrees_ = total, "cpu", [], network.degrees()
    model.processes_, model.partitions_, model.passes_ = len(stats), pt.parts, int(man["passes"])
    model.table_bytes_ = 4 * network.num_vertices * cfg.dim_per_order * sum(2 if o == 2 else 1 for o in cfg.orders)
    model.ranks_ = stats
    model.wall_s_ = round(seconds, 3)
    model.embeddings_ = model._table(network)
    return model


def fit_partitioned(network: Network | None, scratch: str | Path, parts: int = 4, passes: int = PASSES,
                    **params: Any) -> LINE | None:
    """LINE(**params) trained in partitions by every rank of the current process group (or by this process
    alone); `network` is needed on rank 0 only. Returns the fitted LINE on rank 0, None on the others."""
    params.setdefault("threads", 1)
    cfg = LineConfig.from_dict({**params})
    if cfg.resolved_impl() != "cpu" or cfg.device != "cpu":
        raise Img2SongError("partitioned LINE trains buckets with the C++ CPU kernel (impl 'cpu', device 'cpu')")
    if not isinstance(passes, int) or passes < 1:
        raise Img2SongError(f"partitioned LINE: 'passes' must be a positive integer, got {passes!r}")
    world, rank = (dist.get_world_size(), dist.get_rank()) if dist.is_initialized() else (1, 0)
    box: list[Any] = [None]
    if rank == 0:
        try:
            if network is None:
                raise Img2SongError("partitioned LINE: rank 0 needs the network")
            root = Path(scratch)
            root.mkdir(parents=True, exist_ok=True)
            job = Path(tempfile.mkdtemp(prefix="line-partitioned-", dir=root))
            box = [str(job)]
            prepare(network, cfg, parts, passes, job)
        except Img2SongError as e:
            box = [f"error: {e}"]
    if world > 1:
        dist.broadcast_object_list(box, src=0)
    if str(box[0]).startswith("error: "):
        raise Img2SongError(str(box[0])[7:])
    job = Path(box[0])
    try:
        tic = time.perf_counter()
        mine = train_rank(job, rank, world, progress=cfg.progress and rank == 0)
        seconds = time.perf_counter() - tic
        stats = [None] * world
        if world > 1:
            dist.all_gather_object(stats, mine)
        else:
            stats = [mine]
        return collect(job, network, stats, seconds) if rank == 0 else None
    finally:
        _barrier(world)  # nobody reads the job directory any more
        if rank == 0:
            shutil.rmtree(job, ignore_errors=True)


def report(model: LINE) -> dict[str, Any]:
    """The JSON record of a partitioned fit: rates per order, and per rank its samples, swaps and memory."""
    return {"mode": "partitioned (PyTorch-BigGraph buckets), gloo barriers, swaps through the scratch directory",
            "processes": model.processes_, "partitions": model.partitions_, "passes": model.passes_,
            "config": model.config.to_dict(), "orders": model.stats_, "wall_s": model.wall_s_,
            "table_bytes_total": model.table_bytes_, "ranks": model.ranks_}


# --- torchrun command ----------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    from engine.line.train import load_graph

    p = argparse.ArgumentParser(prog="torchrun --nnodes N --nproc-per-node 1 ... -m engine.line.partitioned",
                                description=__doc__.splitlines()[0])
    p.add_argument("--graph", help="network.npz or the directory holding it (read by rank 0 only)")
    p.add_argument("--edgelist", help="or a `u v w` edge list, as `img2song train --edgelist`")
    p.add_argument("--out", required=True, help="embeddings file to write (.npz); refused when it exists")
    p.add_argument("--scratch", required=True, help="directory every rank can read and write (a shared file "
                   "system across nodes); the job's files go to a fresh subdirectory, removed at the end")
    p.add_argument("--parts", type=int, default=4, help="vertex partitions P (a rank holds 2/P of a table)")
    p.add_argument("--passes", type=int, default=PASSES, help="passes over all P x P buckets")
    p.add_argument("--dim", type=int, default=LINE_D.dim, help=describe("dim"))
    p.add_argument("--order", default="2", help="1, 2 or both")
    p.add_argument("--samples", type=int, default=None, help="sampled edges in all (default: as `train`)")
    p.add_argument("--negative", type=int, default=LINE_D.negative, help=describe("negative"))
    p.add_argument("--threads", type=int, default=1, help="kernel threads per rank")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    own_group = not dist.is_initialized() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    if own_group:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    try:
        out = Path(a.out)
        network, err = None, None
        if rank == 0:  # rank 0's checks, shared with every rank so that none waits for a job that never starts
            try:
                if out.exists():
                    raise Img2SongError(f"{out}: exists; give a new --out path")
                network = load_graph(a.graph, a.edgelist)
            except Img2SongError as e:
                err = str(e)
        if dist.is_initialized() and dist.get_world_size() > 1:
            box = [err]
            dist.broadcast_object_list(box, src=0)
            err = box[0]
        if err:
            raise Img2SongError(err)
        order = a.order if a.order == "both" else int(a.order)
        model = fit_partitioned(network, a.scratch, parts=a.parts, passes=a.passes, dim=a.dim, order=order,
                                samples=a.samples, negative=a.negative, threads=a.threads, seed=a.seed,
                                impl="cpu", progress=True)
        if model is not None:
            emb = model.embeddings_.save(out, "npz")
            rec = write_json(out.with_suffix(".json"), report(model), indent=2)
            rates = ", ".join(f"order {o}: {s['edges_per_s'] / 1e6:.3f}M edges/s" for o, s in model.stats_.items())
            mem = ", ".join(f"rank {s['rank']}: {s['table_bytes_max'] / 2**20:.1f} MiB of tables, peak RSS "
                            f"{s['rss_peak_mb']:.0f} MB" for s in model.ranks_)
            print(f"partitioned LINE [{model.processes_} ranks, P={model.partitions_}, {model.passes_} passes] "
                  f"trained {network.num_vertices} vertices ({rates})")
            print(f"tables {model.table_bytes_ / 2**20:.1f} MiB in all; {mem}")
            print(f"wrote {emb} and {rec}")
    except Img2SongError as e:
        print(f"error (rank {rank}): {e}")
        return 2
    finally:
        if own_group:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
