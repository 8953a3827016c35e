"""LINE across processes on one node: Hogwild over shared-memory tables, torch.distributed (gloo) for the barriers.

Why Hogwild and not PyTorch-BigGraph buckets: LINE's updates are sparse (one edge, K negatives, a few rows each),
so lock-free writers rarely touch the same row, which is why the C++ reference and our fused kernel already run
Hogwild threads. Processes over one shared table keep exactly that semantics (the same per-chunk RNG streams and
global lr schedule, each rank taking every world-th chunk) and cost no communication at all; partition buckets
(PBG) pay a table swap per bucket and change the sampling order, and only pay off when the tables do not fit one
node's memory (see the README: what would change).

Two launchers, one worker (`run_rank`):
- `torchrun --nproc-per-node N -m evaluation.stages.torchrun train --graph runs/x/network.npz --out runs/x [LINE options]`
  (`torchrun_fit`): rank 0 creates the tables in shared memory (/dev/shm) and announces their place; every rank
  maps them, trains its chunks, and rank 0 hands the fitted LINE to the train stage, which saves it as
  `img2song train` does.
- `hogwild_fit(network, nprocs=2, ...)` (library / notebooks / tests): the calling process creates the tables,
  spawns N workers with torch.multiprocessing, and returns a fitted LINE.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from engine.line.config import CHUNK, LineConfig
from engine.line.impls import chunk_seed, get_impl
from engine.line.model import LINE, init_tables
from engine.line.sampling import LineSamplers
from graph.common.errors import Img2SongError
from graph.network import Network

MIN_CHUNK = 1024


def shm_root() -> Path:
    """Where shared tables live: /dev/shm (RAM) when there is one, else the temp directory."""
    return Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())


def chunk_size(total: int, world: int) -> int:
    """One process: the estimator's CHUNK (so 1 process reproduces LINE.fit); more: small enough to share out."""
    if world <= 1:
        return CHUNK
    return int(min(CHUNK, max(MIN_CHUNK, math.ceil(total / (8 * world)))))


def _table_path(root: Path, job: int, order: int, kind: str) -> Path:
    return root / f"job{job}-order{order}-{kind}.f32"


def create_tables(root: Path, job: int, num_vertices: int, cfg: LineConfig) -> None:
    """Write the initial tables of every order (init_tables: the estimator's initialisation) as raw float32 files."""
    for order in cfg.orders:
        vertex, context = init_tables(num_vertices, cfg.dim_per_order, order, cfg.seed, "cpu")
        vertex.numpy().tofile(_table_path(root, job, order, "vertex"))
        if order == 2:
            context.numpy().tofile(_table_path(root, job, order, "context"))


def map_tables(root: Path, job: int, num_vertices: int, cfg: LineConfig, order: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """The shared (MAP_SHARED) vertex/context tables of one order: every process's writes land in the same pages."""
    n = num_vertices * cfg.dim_per_order

    def open_(kind: str) -> torch.Tensor:
        path = _table_path(root, job, order, kind)
        if not path.is_file() or path.stat().st_size != 4 * n:
            raise Img2SongError(f"{path}: shared LINE table missing or of the wrong size")
        return torch.from_file(str(path), shared=True, size=n, dtype=torch.float32).view(num_vertices, -1)

    vertex = open_("vertex")
    return vertex, (open_("context") if order == 2 else vertex)


def run_rank(network: Network, cfg: LineConfig, root: Path, rank: int, world: int, job: int = 0,
             samplers: LineSamplers | None = None) -> dict[str, Any]:
    """Train this rank's chunks (c = rank, rank + world, ...) of every order on the shared tables.

    Returns {order: {"seconds", "samples"}} measured between barriers (the slowest rank decides).
    """
    samplers = samplers or LineSamplers.from_network(network)
    total = cfg.resolved_samples(len(samplers.src))
    impl_name = cfg.resolved_impl()
    if impl_name != "cpu":
        raise Img2SongError(f"distributed LINE runs the fused CPU kernel (impl 'cpu'), not {impl_name!r}")
    impl = get_impl(impl_name)(samplers, negative=cfg.negative, lr=float(cfg.lr), threads=cfg.resolved_threads(),
                               batch_size=cfg.resolved_batch_size(network.num_vertices), device="cpu")
    chunk = chunk_size(total, world)
    stats: dict[str, Any] = {}
    for order in cfg.orders:
        vertex, context = map_tables(root, job, network.num_vertices, cfg, order)
        dist.barrier()
        tic = time.perf_counter()
        for c in range(rank, -(-total // chunk), world):
            t0 = c * chunk
            impl.train(vertex, context, order, t0, min(chunk, total - t0), total, chunk_seed(cfg.seed, order, c))
        dist.barrier()
        seconds = time.perf_counter() - tic
        stats[str(order)] = {"samples": total, "seconds": round(seconds, 6), "edges_per_s": round(total / seconds, 1)}
    return stats


def collect(network: Network, cfg: LineConfig, root: Path, job: int, stats: dict[str, Any], world: int) -> LINE:
    """A fitted LINE (vertex_, context_, embeddings_, stats_) from the trained shared tables."""
    model = LINE(**cfg.to_dict())
    vertex, context = {}, {}
    for order in cfg.orders:
        v, c = map_tables(root, job, network.num_vertices, cfg, order)
        vertex[order] = v.clone()
        if order == 2:
            context[order] = c.clone()
        if not torch.isfinite(vertex[order]).all():
            raise Img2SongError(f"distributed LINE order {order}: training produced non-finite values")
    model.vertex_, model.context_, model.stats_ = vertex, context, stats
    model.samples_ = int(next(iter(stats.values()))["samples"])
    model.impl_, model.history_, model.degrees_ = "cpu", [], network.degrees()
    model.processes_ = world
    model.embeddings_ = model._table(network)
    return model


# --- torch.multiprocessing launcher -------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, root: str, jobs: list[tuple[Network, dict[str, Any]]]) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        out = []
        for j, (net, params) in enumerate(jobs):
            out.append(run_rank(net, LineConfig(**params), Path(root), rank, world, job=j))
        if rank == 0:
            (Path(root) / "stats.json").write_text(json.dumps(out))
    finally:
        dist.destroy_process_group()


def hogwild_fit_many(jobs: Sequence[tuple[Network, dict[str, Any]]], nprocs: int = 2) -> list[LINE]:
    """Fit several LINE models with one group of `nprocs` worker processes (start-up paid once).

    Workers are spawned (not forked: torch's and faiss's OpenMP runtimes do not survive a fork), so a script that
    calls this must guard its top level with `if __name__ == "__main__":`, as for any multiprocessing spawn.
    """
    cfgs = [LineConfig.from_dict({**params, "progress": False}) for _, params in jobs]
    root = Path(tempfile.mkdtemp(prefix="img2song-line-", dir=shm_root()))
    try:
        for j, ((net, _), cfg) in enumerate(zip(jobs, cfgs)):
            create_tables(root, j, net.num_vertices, cfg)
        payload = [(net, cfg.to_dict()) for (net, _), cfg in zip(jobs, cfgs)]
        mp.start_processes(_worker, args=(nprocs, _free_port(), str(root), payload), nprocs=nprocs, join=True,
                           start_method="spawn")
        stats = json.loads((root / "stats.json").read_text())
        return [collect(net, cfg, root, j, stats[j], nprocs) for j, ((net, _), cfg) in enumerate(zip(jobs, cfgs))]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def hogwild_fit(network: Network, nprocs: int = 2, **params: Any) -> LINE:
    """LINE(**params).fit(network) trained by `nprocs` processes sharing the tables (threads per process:
    params['threads'], default 1)."""
    params.setdefault("threads", 1)
    return hogwild_fit_many([(network, params)], nprocs)[0]


# --- torchrun launcher --------------------------------------------------------------------------------------
def torchrun_fit(network: Network, echo=print, **config: Any) -> tuple[LINE, dict[str, Any]] | None:
    """The body of `torchrun ... -m evaluation.stages.torchrun train`: every rank trains; rank 0 returns the fitted LINE
    and its training record (the stage saves both into the run), the other ranks None."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and int(os.environ.get("LOCAL_WORLD_SIZE", world)) != world:
        raise Img2SongError("distributed LINE shares tables through one node's memory: run every rank on one node "
                            "(--nnodes 1); see the README for tables that do not fit one node")
    cfg = LineConfig.from_dict({**config, "progress": False})
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    try:
        box = [None]
        if rank == 0:
            root = Path(tempfile.mkdtemp(prefix="img2song-line-", dir=shm_root()))
            create_tables(root, 0, network.num_vertices, cfg)
            box = [str(root)]
        dist.broadcast_object_list(box, src=0)
        root = Path(box[0])
        tic = time.perf_counter()
        stats = run_rank(network, cfg, root, rank, world)
        wall = time.perf_counter() - tic
        if rank != 0:
            dist.barrier()
            return None
        try:
            model = collect(network, cfg, root, 0, stats, world)
        finally:
            dist.barrier()  # every rank is done with the files
            shutil.rmtree(root, ignore_errors=True)
        doc = {"config": cfg.to_dict(), "processes": world, "mode": "hogwild, shared memory, gloo barriers",
               "chunk": chunk_size(model.samples_, world), "orders": stats, "wall_s": round(wall, 3),
               "network": {"vertices": network.num_vertices, "edges": network.num_edges}}
        rates = ", ".join(f"order {o}: {s['edges_per_s'] / 1e6:.3f}M edges/s" for o, s in stats.items())
        echo(f"LINE [cpu, {world} processes, Hogwild] trained {network.num_vertices} vertices ({rates})")
        return model, doc
    finally:
        dist.destroy_process_group()
