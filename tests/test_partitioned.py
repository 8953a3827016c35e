"""Partitioned LINE (PyTorch-BigGraph buckets): partitions, plan, bucket tables, and a 2-node torchrun run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from engine.embeddings import EmbeddingTable
from engine.line import LINE, LineConfig
from engine.line.distributed import _free_port, hogwild_fit_many
from engine.line.partitioned import MANIFEST, fit_partitioned, main, prepare
from engine.line.partitions import Partitioning, plan, split_evenly, task_of_edges, tasks
from engine.line.sampling import AliasTable
from graph.common.errors import Img2SongError
from graph.network import Network
from tests.line_contract import les_miserables, link_auc, link_split

ROOT = Path(__file__).resolve().parents[1]
SEEDS = (0, 1, 2)
PARAMS = dict(dim=32, order=2, samples=1_000_000, threads=1)  # as tests/partitioned_driver.py


def block_graph(blocks: int = 8, n: int = 100) -> Network:
    """800 vertices in 8 communities: large enough that 1M samples converge and 3 seeds' AUC agree to ~0.005."""
    g = nx.stochastic_block_model([n] * blocks, [[0.1 if i == j else 0.004 for j in range(blocks)]
                                                 for i in range(blocks)], seed=0)
    g = nx.relabel_nodes(g, {v: f"n{v}" for v in g.nodes})
    for v in g.nodes:
        g.nodes[v].pop("block", None)
    return Network.from_networkx(g)


def test_partitions_are_balanced_and_cover_every_vertex():
    for n, p in [(10, 1), (10, 3), (800, 4), (7, 7)]:
        pt = Partitioning.build(n, p, seed=3)
        members = [pt.members(k) for k in range(p)]
        assert sorted(np.concatenate(members).tolist()) == list(range(n))
        assert max(map(len, members)) - min(map(len, members)) <= 1 and max(map(len, members)) == pt.size
        for k, m in enumerate(members):
            assert (pt.part[m] == k).all() and (pt.local[m] == np.arange(len(m))).all()
    assert (Partitioning.build(10, 1).local == np.arange(10)).all()  # one partition: LINE.fit's row order
    for bad in (0, 11, 2.0):
        with pytest.raises(Img2SongError, match="partition"):
            Partitioning.build(10, bad)


@pytest.mark.parametrize("order", [1, 2])
def test_plan_trains_every_task_once_per_pass_without_sharing_a_partition(order):
    cases = 0
    for parts in (1, 2, 3, 4):
        ts = tasks(order, parts)
        for world in (1, 2, 3):
            weights = np.random.default_rng(parts * 10 + world).random(len(ts))
            if len(ts) > 1:
                weights[-1] = 0.0  # an empty bucket is never scheduled
            steps = plan(order, weights, world, passes=3, total=2_000_003, seed=5)
            seen, seeds, total = [], set(), 0
            for row in steps:
                used = [r for s in row if s is not None for r in ts[s.task].resources]
                assert len(used) == len(set(used))  # disjoint partitions within a round
                span = sum(s.samples for s in row if s is not None)
                for s in row:
                    if s is None:
                        continue
                    seen.append(s.task)
                    assert sum(n for _, n, _, _ in s.calls) == s.samples and s.samples > 0
                    for t0, n, tot, seed in s.calls:
                        seeds.add(seed)
                        assert 0 <= t0 and t0 + n <= tot + s.calls[-1][1]  # the lr clock stays in the run
                        assert abs(t0 / tot - (total + (t0 - s.calls[0][0]) * span / s.samples) / 2_000_003) < 1e-3
                total += span
            assert total == 2_000_003 and len(seeds) == sum(len(s.calls) for r in steps for s in r if s)
            live = [k for k in range(len(ts)) if weights[k] > 0]
            assert sorted(seen) == sorted(live * 3)
            cases += 1
    assert cases == 12
    assert split_evenly(10, np.array([1.0, 1.0, 1.0])).tolist() == [4, 3, 3]


def test_bucket_tables_hold_every_edge_once_with_local_rows(tmp_path):
    net = les_miserables()
    cfg = LineConfig(dim=8, order="both", samples=10_000, seed=2)
    man = prepare(net, cfg, parts=3, passes=2, job=tmp_path)
    assert json.loads((tmp_path / MANIFEST).read_text()) == man
    src, dst, w = net.directed_edges()
    pt = Partitioning.build(net.num_vertices, 3, 2)
    members = [pt.members(p) for p in range(3)]
    for order in (1, 2):
        got = []
        ts = tasks(order, 3)
        assert np.bincount(task_of_edges(order, 3, pt.part, src, dst), minlength=len(ts)).tolist() == [
            r["edges"] for r in man["tasks"][str(order)]]
        for task, row in zip(ts, man["tasks"][str(order)]):
            if not row["edges"]:
                continue
            e = np.load(tmp_path / f"{task.name}.edges.npy")
            neg = np.load(tmp_path / f"{task.name}.neg.npy")
            glob_v = np.concatenate([np.pad(members[p], (0, pt.size - len(members[p])), constant_values=-1)
                                     for p in task.vertex])
            glob_t = np.concatenate([np.pad(members[p], (0, pt.size - len(members[p])), constant_values=-1)
                                     for p in task.target_parts])
            got += list(zip(glob_v[e[:, 1]].tolist(), glob_t[e[:, 2]].tolist()))
            # negatives: only real vertices of the target partitions, none of the padding rows
            implied = AliasTable(neg[:, 0].view(np.float32).astype(np.float64), neg[:, 1].astype(np.int64)).implied()
            assert len(neg) == len(glob_t) and implied[glob_t < 0].sum() < 1e-6
        assert sorted(got) == sorted(zip(src.tolist(), dst.tolist()))


def test_one_partition_one_process_is_line_fit_bit_for_bit(tmp_path):
    net = les_miserables()
    args = dict(dim=8, order="both", samples=40_000, impl="cpu", threads=1, seed=1, progress=False)
    ref = LINE(**args).fit(net)
    got = fit_partitioned(net, tmp_path, parts=1, passes=1, **args)
    np.testing.assert_array_equal(got.embeddings_.vectors, ref.embeddings_.vectors)
    assert got.embeddings_.ids == net.ids and list(tmp_path.iterdir()) == []  # the job directory is removed


def test_bad_arguments_are_clear_errors_and_the_command_runs_alone(tmp_path):
    net = les_miserables()
    with pytest.raises(Img2SongError, match="C\\+\\+ CPU kernel"):
        fit_partitioned(net, tmp_path, parts=2, impl="reference")
    with pytest.raises(Img2SongError, match="passes"):
        fit_partitioned(net, tmp_path, parts=2, passes=0)
    with pytest.raises(Img2SongError, match="partitions for 77 vertices"):
        fit_partitioned(net, tmp_path, parts=100)
    net.save(tmp_path / "network.npz")
    (tmp_path / "emb.npz").write_text("a user's file")
    args = ["--graph", str(tmp_path / "network.npz"), "--scratch", str(tmp_path / "s"), "--samples", "1000"]
    assert main([*args, "--out", str(tmp_path / "emb.npz")]) == 2  # never overwritten
    assert (tmp_path / "emb.npz").read_text() == "a user's file"
    assert main([*args, "--out", str(tmp_path / "new.npz"), "--parts", "2", "--dim", "8"]) == 0
    assert EmbeddingTable.load(tmp_path / "new.npz", "npz").ids == net.ids


def test_two_nodes_over_loopback_match_one_process_and_hogwild(tmp_path):
    """torchrun --nnodes 2 (two node agents, one rank each, c10d rendezvous on 127.0.0.1), P = 4 partitions:
    mean held-out AUC over 3 seeds within 0.01 of one process and of 2-process Hogwild; each rank held 2/P of a
    table (vertex partition i and context partition j) and reports its peak RSS."""
    train, pos, neg = link_split(block_graph())
    train.save(tmp_path / "network.npz")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
           "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "partitioned-test",
           "--max-restarts", "0"]
    driver = [str(ROOT / "tests" / "partitioned_driver.py"), str(tmp_path / "network.npz"), str(tmp_path / "emb"),
              str(tmp_path / "scratch"), "4", *map(str, SEEDS)]
    nodes = [subprocess.Popen([*cmd, "--rdzv-conf", f"is_host={int(host)}", *driver], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for host in (True, False)]
    outs = [p.communicate(timeout=300)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], outs[0][-3000:] + outs[1][-3000:]
    assert "partitioned LINE [2 ranks, P=4, 10 passes]" in "".join(outs)
    assert list((tmp_path / "scratch").iterdir()) == []  # job directories removed
    aucs = []
    for seed in SEEDS:
        table = EmbeddingTable.load(tmp_path / f"emb-{seed}.npz", "npz")
        assert table.ids == train.ids
        aucs.append(link_auc(table.vectors, pos, neg))
        rec = json.loads((tmp_path / f"emb-{seed}.json").read_text())
        assert rec["processes"] == 2 and rec["partitions"] == 4 and rec["orders"]["2"]["samples"] == 1_000_000
        size = -(-train.num_vertices // 4)
        for rank in rec["ranks"]:
            assert rank["table_bytes_max"] == 2 * size * 32 * 4  # V_i and C_j: 2/P of one table
            assert rank["table_bytes_max"] * 4 == rec["table_bytes_total"]
            assert rank["rss_peak_mb"] > 0 and rank["orders"]["2"]["samples"] > 200_000  # both ranks trained
        assert sum(r["orders"]["2"]["samples"] for r in rec["ranks"]) == 1_000_000
    one = [link_auc(LINE(seed=s, impl="cpu", progress=False, **PARAMS).fit(train).vertex_[2].numpy(), pos, neg)
           for s in SEEDS]
    hog = [link_auc(m.vertex_[2].numpy(), pos, neg) for m in hogwild_fit_many(
        [(train, dict(seed=s, impl="cpu", **PARAMS)) for s in SEEDS], nprocs=2)]
    part, one, hog = float(np.mean(aucs)), float(np.mean(one)), float(np.mean(hog))
    print(f"AUC partitioned {part:.4f}, one process {one:.4f}, Hogwild {hog:.4f}")
    assert one > 0.75 and abs(part - one) <= 0.01 and abs(part - hog) <= 0.01, (part, one, hog)


def test_order_one_pairs_match_one_process(tmp_path):
    """Order 1 trains pairs {i, j} on one [V_i; V_j] buffer (here P = 3 in this process): mean held-out AUC over 3
    seeds within 0.01 of LINE.fit."""
    train, pos, neg = link_split(block_graph())
    params = dict(PARAMS, order=1)
    one = [link_auc(LINE(seed=s, impl="cpu", progress=False, **params).fit(train).vertex_[1].numpy(), pos, neg)
           for s in SEEDS]
    part = [link_auc(fit_partitioned(train, tmp_path, parts=3, seed=s, progress=False, **params).vertex_[1].numpy(),
                     pos, neg) for s in SEEDS]
    assert np.mean(one) > 0.75 and abs(np.mean(part) - np.mean(one)) <= 0.01, (np.mean(part), np.mean(one))
