"""Feature extraction sharded across torch.distributed ranks: one feature table, identical to one process's.

Rank r extracts a contiguous block of whole batches (batch boundaries where a single process has them, so every
CNN forward sees the same batch), the blocks are gathered on rank 0 (gloo, `gather_object`) in rank order and
rank 0 alone writes the run's features. Launch: `torchrun --nproc-per-node N -m evaluation.stages.torchrun features DIR`
(multi-node: add torchrun's --nnodes/--node-rank/--rdzv-* flags; ranks need the corpus images, rank 0 the run).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch.distributed as dist

from engine.features.extract import Extraction, ExtractReport, extract_features
from engine.features.table import FeatureTable


def shard(n_items: int, batch_size: int, rank: int, world: int) -> tuple[int, int]:
    """[start, stop) of rank's items: whole batches, split as evenly as the batch count allows."""
    n_batches = -(-n_items // batch_size)
    lo, hi = n_batches * rank // world, n_batches * (rank + 1) // world
    return min(n_items, lo * batch_size), min(n_items, hi * batch_size)


def merge(parts: Sequence[Extraction]) -> Extraction:
    """Concatenate shard extractions in order: ids, feature and logit rows, and the reports' counts and skips."""
    feats = [p.features for p in parts]
    meta = dict(feats[0].meta)
    features = FeatureTable([i for f in feats for i in f.ids], np.concatenate([f.matrix for f in feats]), meta)
    logits = None
    if parts[0].logits is not None:
        ls = [p.logits for p in parts]
        logits = FeatureTable([i for x in ls for i in x.ids], np.concatenate([x.matrix for x in ls]),
                              dict(ls[0].meta))
    report = ExtractReport(total=sum(p.report.total for p in parts), computed=sum(p.report.computed for p in parts),
                           cached=sum(p.report.cached for p in parts))
    for p in parts:
        for reason, count in p.report.skipped.items():
            report.skipped[reason] = report.skipped.get(reason, 0) + count
            for example in p.report.examples.get(reason, []):
                if len(report.examples.setdefault(reason, [])) < 3:
                    report.examples[reason].append(example)
    return Extraction(features, logits, report)


def extract_sharded(items: Sequence[tuple[str, str | Path]], backbone: Any = "efficientnet-lite0", *,
                    batch_size: int = 32, progress: bool = True, **kw: Any) -> Extraction | None:
    """extract_features over this rank's shard; the merged Extraction on rank 0, None on the other ranks.

    Needs an initialised process group (torchrun + init_process_group); without one it is extract_features.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return extract_features(items, backbone, batch_size=batch_size, progress=progress, **kw)
    rank, world = dist.get_rank(), dist.get_world_size()
    lo, hi = shard(len(items), batch_size, rank, world)
    part = extract_features(list(items)[lo:hi], backbone, batch_size=batch_size, progress=progress and rank == 0,
                            **kw)
    gathered: list[Any] | None = [None] * world if rank == 0 else None
    dist.gather_object(part, gathered, dst=0)
    return merge(gathered) if rank == 0 else None
