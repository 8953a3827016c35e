"""Two stages under torchrun, saved through the run's storage like their single-process commands.

- `torchrun --nproc-per-node N -m evaluation.stages.torchrun features RUN_DIR`: every rank extracts its shard
  (engine.features.distributed) and rank 0 writes <run>/features/, the same files `img2song features --run DIR`
  writes, with the same numbers. The run directory is positional: torchrun's own parser would take `--run` for its
  `--run-path`.
- `torchrun --nproc-per-node N -m evaluation.stages.torchrun train --graph NETWORK.npz --out DIR [LINE options]`: LINE
  over shared-memory tables (engine.line.distributed); rank 0 writes embeddings.npz + line.json as `img2song train`
  does (line.json says 'incomplete' while the table is written).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from graph.common.errors import Img2SongError


def features_main(argv: Sequence[str]) -> int:
    import torch.distributed as dist  # deferred: `--help` answers without torch

    from engine.features.distributed import extract_sharded
    from evaluation.stages.pipeline import compute_run_features

    p = argparse.ArgumentParser(prog="torchrun --nproc-per-node N -m evaluation.stages.torchrun features",
                                description="a run's CNN features, one shard a process")
    p.add_argument("run", help="run directory (run.json names the corpus)")
    p.add_argument("--backbone", default="efficientnet-lite0")
    p.add_argument("--weights", default=None)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--cache-dir", default=None)
    p.add_argument("--no-cache", action="store_true", help="compute every image (no read or write of the cache)")
    a = p.parse_args(argv)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    try:
        if distributed:
            dist.init_process_group("gloo")
        try:
            rank = int(os.environ.get("RANK", "0"))
            out = compute_run_features(a.run, a.backbone, weights=a.weights, cache_dir=a.cache_dir,
                                       batch_size=a.batch_size, use_cache=not a.no_cache, progress=rank == 0,
                                       extract=extract_sharded)
        finally:
            if distributed:
                dist.destroy_process_group()
    except Img2SongError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if out["report"] is not None:
        world = os.environ.get("WORLD_SIZE", "1")
        print(f"features ({world} process{'es' if world != '1' else ''}): " + "; ".join(out["report"].lines()))
        print("wrote " + ", ".join(str(v) for v in out["paths"].values()))
    return 0


def train_main(argv: Sequence[str]) -> int:
    from engine.line.config import DEFAULTS as D
    from engine.line.config import describe
    from engine.line.distributed import torchrun_fit  # deferred: torch
    from engine.line.train import load_graph
    from evaluation.stages.rundir import RunDir, Stage

    p = argparse.ArgumentParser(prog="torchrun --nproc-per-node N -m evaluation.stages.torchrun train",
                                description="LINE across processes on one node (Hogwild over shared memory)")
    p.add_argument("--graph", required=True, help="network.npz or the run directory holding it")
    p.add_argument("--out", required=True)
    p.add_argument("--dim", type=int, default=D.dim, help=describe("dim"))
    p.add_argument("--order", default=D.order, help=describe("order"))
    p.add_argument("--samples", type=int, default=D.samples, help=describe("samples"))
    p.add_argument("--negative", type=int, default=D.negative, help=describe("negative"))
    p.add_argument("--threads", type=int, default=1, help="kernel threads per process")
    p.add_argument("--seed", type=int, default=D.seed, help=describe("seed"))
    a = p.parse_args(argv)
    order = a.order if a.order == "both" else int(a.order)
    try:
        graph = RunDir(a.graph).network if os.path.isdir(a.graph) else a.graph
        fitted = torchrun_fit(load_graph(graph), dim=a.dim, order=order, samples=a.samples, negative=a.negative,
                              threads=a.threads, seed=a.seed, impl="cpu")
        if fitted is not None:  # rank 0
            model, record = fitted
            run = RunDir(a.out).create()
            emb, line = run.save_embeddings(model.embeddings_, {**record, "source": str(graph)})
            run.record(Stage.TRAIN, record["config"], {"embeddings": emb, "line": line})
            print(f"wrote {emb} and {line}")
    except Img2SongError as e:
        print(f"error: {e}")
        return 2
    return 0


STAGES = {"features": features_main, "train": train_main}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in STAGES:
        print(__doc__, file=sys.stderr)
        return 2
    return STAGES[argv[0]](argv[1:])


if __name__ == "__main__":
    raise SystemExit(main())
