"""`python -m engine.features RUN_DIR` (alone, or under `torchrun --nproc-per-node N`): a run's CNN features.

The run directory is positional: torchrun's own parser would take `--run` for its `--run-path`.

Under torchrun every rank extracts its shard (engine.features.distributed) and rank 0 writes <run>/features/,
the same files `img2song features --run DIR` writes, with the same numbers.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import torch.distributed as dist

from engine.features.distributed import extract_sharded
from engine.features.stage import compute_run_features
from graph.common.errors import Img2SongError


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m engine.features", description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    raise SystemExit(main())
