"""Scale-out on torch.distributed with 2 local processes (gloo, CPU): sharded features, Hogwild LINE."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from engine.embeddings import EmbeddingTable
from engine.features.distributed import shard
from engine.features.table import FeatureTable
from engine.line import LINE, LineConfig
from engine.line.distributed import chunk_size, collect, create_tables, hogwild_fit_many, run_rank
from evaluation.stages.pipeline import compute_run_features
from evaluation.stages.rundir import RunDir, Stage
from graph.build import KeywordFile
from tests.conftest import TINY_KEYWORDS, make_corpus
from tests.line_contract import GRAPHS, les_miserables, link_auc, link_split, quality

ROOT = Path(__file__).resolve().parents[1]


def torchrun(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_shards_are_whole_batches_covering_every_item():
    for n, bs, world in [(8, 3, 2), (100, 32, 3), (5, 32, 2), (0, 4, 2)]:
        bounds = [shard(n, bs, r, world) for r in range(world)]
        assert bounds[0][0] == 0 and bounds[-1][1] == n
        assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
        assert all(lo % bs == 0 for lo, _ in bounds)


def test_torchrun_features_equal_single_process(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    runs = []
    for name in ("one", "two"):
        run = RunDir(tmp_path / name).create()
        run.save_keywords(KeywordFile(TINY_KEYWORDS, {}, {}))
        run.record(Stage.BUILD_GRAPH, {"holdout": "by hand"}, corpus=str(corpus))
        runs.append(run.path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each torchrun worker (OMP_NUM_THREADS=1)
    try:
        compute_run_features(runs[0], batch_size=3, use_cache=False, progress=False)
    finally:
        torch.set_num_threads(threads)
    r = torchrun("-m", "evaluation.stages.torchrun", "features", str(runs[1]), "--batch-size", "3", "--no-cache")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "features (2 processes): 8 images: 8 computed" in r.stdout
    for f in ("features.npz", "logits.npz", "tags.npz"):
        a, b = FeatureTable.load(runs[0] / "features" / f), FeatureTable.load(runs[1] / "features" / f)
        assert a.ids == b.ids == [f"i{j}" for j in range(1, 9)]
        np.testing.assert_array_equal(a.matrix, b.matrix)


def test_one_process_hogwild_reproduces_line_fit(tmp_path):
    """World size 1 (in this process): the shared-table worker is LINE.fit, bit for bit."""
    net = les_miserables()
    args = dict(dim=8, order="both", samples=40_000, impl="cpu", threads=1, seed=1, progress=False)
    ref = LINE(**args).fit(net)
    cfg = LineConfig(**args)
    create_tables(tmp_path, 0, net.num_vertices, cfg)
    dist.init_process_group("gloo", rank=0, world_size=1, init_method=f"file://{tmp_path / 'store'}")
    try:
        stats = run_rank(net, cfg, tmp_path, rank=0, world=1)
    finally:
        dist.destroy_process_group()
    got = collect(net, cfg, tmp_path, 0, stats, 1)
    np.testing.assert_array_equal(got.embeddings_.vectors, ref.embeddings_.vectors)
    assert got.embeddings_.ids == net.ids and got.stats_["2"]["samples"] == 40_000


def test_two_process_hogwild_quality_within_0_01_auc():
    """Same link-prediction protocol as the LINE contract (3 seeds, held-out edges): 2 processes vs 1."""
    samples, seeds = 60_000, (0, 1, 2)
    assert chunk_size(samples, 2) < samples // 4  # both processes get several chunks
    jobs, keys = [], []
    for graph in ("les_miserables", "sbm"):
        train, pos, neg = link_split(GRAPHS[graph]())
        for seed in seeds:
            jobs.append((train, dict(dim=16, order=2, samples=samples, impl="cpu", threads=1, seed=seed,
                                     batch_size=16)))
            keys.append((graph, pos, neg))
    models = hogwild_fit_many(jobs, nprocs=2)
    for graph in ("les_miserables", "sbm"):
        aucs = [link_auc(m.vertex_[2].numpy(), pos, neg) for m, (g, pos, neg) in zip(models, keys) if g == graph]
        single = quality("cpu", "cpu", graph, 2, samples, seeds)
        assert abs(float(np.mean(aucs)) - single) <= 0.01, (graph, np.mean(aucs), single)
        assert single > 0.6


@pytest.mark.parametrize("order", ["2"])
def test_torchrun_line_writes_the_run(tmp_path, order):
    net = les_miserables()
    net.save(tmp_path / "network.npz")
    r = torchrun("-m", "evaluation.stages.torchrun", "train", "--graph", str(tmp_path / "network.npz"), "--out",
                 str(tmp_path / "out"), "--dim", "8", "--order", order, "--samples", "30000")
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads((tmp_path / "out" / "line.json").read_text())
    assert doc["processes"] == 2 and doc["orders"][order]["samples"] == 30_000
    table = EmbeddingTable.load(tmp_path / "out" / "embeddings.npz", "npz")
    assert table.ids == net.ids and np.isfinite(table.vectors).all() and table.vectors.std() > 0
