"""Run by tests/test_partitioned.py under `torchrun --nnodes 2`: the partitioned LINE command once per seed."""
from __future__ import annotations

import sys

import torch.distributed as dist

from engine.line.partitioned import main

if __name__ == "__main__":
    graph, out, scratch, parts, *seeds = sys.argv[1:]
    dist.init_process_group("gloo")
    try:
        for seed in seeds:
            rc = main(["--graph", graph, "--out", f"{out}-{seed}.npz", "--scratch", scratch, "--parts", parts,
                       "--dim", "32", "--order", "2", "--samples", "1000000", "--seed", seed])
            if rc:
                raise SystemExit(rc)
    finally:
        dist.destroy_process_group()
