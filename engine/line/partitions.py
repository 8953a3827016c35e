"""Vertex partitions, edge buckets and the bucket schedule of partitioned LINE (PyTorch-BigGraph style).

Vertices are dealt into P partitions (a seeded permutation, sizes within one of each other); every partition
table has `size` rows (the smaller ones padded with rows no edge or negative ever reaches). A task is what one
rank trains at a time, with the tables it needs:
- order 2, bucket (i, j): the edges i -> j on vertex partition i and context partition j (negatives drawn from
  partition j's vertices, as PBG draws them from the bucket's destination partition);
- order 1, pair {i, j}: the edges i -> j and j -> i on the vertex table rows of partitions i and j (one buffer
  [V_i; V_j]; negatives from both).
Two tasks that share no table partition can train at the same time on different ranks. A pass visits every task
once; the plan is a pure function of (tasks, weights, world, passes, seed), so every rank computes the same one
and no coordinator is needed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.line.config import CHUNK
from engine.line.impls import chunk_seed
from graph.common.errors import Img2SongError


@dataclass(frozen=True)
class Partitioning:
    """part[v]: the partition of vertex v; local[v]: its row in that partition's table (`size` rows each)."""

    parts: int
    part: np.ndarray  # int64 [N]
    local: np.ndarray  # int64 [N]
    size: int

    @classmethod
    def build(cls, num_vertices: int, parts: int, seed: int = 0) -> Partitioning:
        """P = 1 keeps the vertex order (so one partition is exactly LINE.fit's table); P > 1 deals a seeded
        permutation round-robin (random partitions balance degree, as PBG's default)."""
        if not isinstance(parts, int) or isinstance(parts, bool) or parts < 1:
            raise Img2SongError(f"partitioned LINE: 'parts' must be a positive integer, got {parts!r}")
        if parts > num_vertices:
            raise Img2SongError(f"partitioned LINE: {parts} partitions for {num_vertices} vertices (at most one "
                                "partition per vertex)")
        rank = (np.arange(num_vertices, dtype=np.int64) if parts == 1
                else np.argsort(np.random.default_rng([seed, 7]).permutation(num_vertices)).astype(np.int64))
        return cls(parts, rank % parts, rank // parts, -(-num_vertices // parts))

    def members(self, p: int) -> np.ndarray:
        """Global vertex ids of partition p in row order."""
        ids = np.flatnonzero(self.part == p)
        return ids[np.argsort(self.local[ids], kind="stable")]


@dataclass(frozen=True)
class Task:
    """One schedulable unit: `vertex` and `context` list the partitions laid end to end in each buffer
    (context == () for order 1, where the targets live in the vertex buffer)."""

    order: int
    vertex: tuple[int, ...]
    context: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"o{self.order}-" + "-".join(map(str, self.vertex + self.context))

    @property
    def resources(self) -> frozenset[tuple[str, int]]:
        return frozenset([("vertex", p) for p in self.vertex] + [("context", p) for p in self.context])

    @property
    def target_parts(self) -> tuple[int, ...]:
        return self.context if self.order == 2 else self.vertex


def tasks(order: int, parts: int) -> list[Task]:
    """Order 2: every bucket (i, j); order 1: every pair i <= j (both directions share the vertex table)."""
    if order == 2:
        return [Task(2, (i,), (j,)) for i in range(parts) for j in range(parts)]
    return [Task(1, (i,) if i == j else (i, j), ()) for i in range(parts) for j in range(i, parts)]


def task_of_edges(order: int, parts: int, part: np.ndarray, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The index (into tasks(order, parts)) of every directed edge's task."""
    a, b = part[src], part[dst]
    if order == 2:
        return a * parts + b
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return lo * parts - lo * (lo - 1) // 2 + (hi - lo)  # row-major index of (lo, hi) among pairs i <= j


def split_evenly(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to `weights` summing exactly to `total` (largest remainders, ties by index)."""
    w = np.asarray(weights, np.float64)
    if total == 0 or w.sum() <= 0:
        return np.zeros(len(w), np.int64)
    exact = total * w / w.sum()
    base = np.floor(exact).astype(np.int64)
    rest = np.argsort(-(exact - base), kind="stable")[: total - int(base.sum())]
    base[rest] += 1
    return base


def rounds(resources: list[frozenset], world: int, order: list[int]) -> list[list[int | None]]:
    """Greedy rounds over the tasks in `order`: each rank takes the first task that shares no partition with
    another rank's task this round, preferring one that reuses the partitions it already holds (fewer swaps)."""
    remaining = list(order)
    held: list[frozenset] = [frozenset()] * world
    out: list[list[int | None]] = []
    while remaining:
        taken: set = set()
        row: list[int | None] = [None] * world
        for r in range(world):
            best, best_reuse = None, -1
            for t in remaining:
                if resources[t] & taken:
                    continue
                reuse = len(resources[t] & held[r])
                if reuse > best_reuse:
                    best, best_reuse = t, reuse
            if best is not None:
                row[r] = best
                taken |= resources[best]
                remaining.remove(best)
                held[r] = resources[best]
        out.append(row)
    return out


@dataclass(frozen=True)
class Step:
    """One rank's work in one round: task index and samples, and the kernel's lr-clock arguments for each call."""

    task: int
    samples: int
    calls: tuple[tuple[int, int, int, int], ...]  # (t0, n, total, seed) per kernel call


def plan(order: int, weights: np.ndarray, world: int, passes: int, total: int, seed: int
         ) -> list[list[Step | None]]:
    """Every round of every pass: which task each rank trains, with how many samples, in which kernel calls.

    Samples: `total` split evenly over passes, then over tasks in proportion to their edge weight (so the edges
    are drawn as often as by one global alias table). Learning rate: a round covers the global samples
    [g, g + S) of all ranks together; a rank's n samples are mapped onto that span (kernel clock t0 * n / S over
    total * n / S), so every rank decays the rate as one process would. Seeds: chunk_seed(seed, order, c) with c
    counting the calls of the whole plan; with one rank, one pass and one partition this is LINE.fit's stream.
    """
    if passes < 1:
        raise Img2SongError(f"partitioned LINE: 'passes' must be a positive integer, got {passes!r}")
    n_tasks = len(weights)
    per_pass = split_evenly(total, np.ones(passes))
    rng = np.random.default_rng([seed, order, 11])
    out: list[list[Step | None]] = []
    g = 0  # global samples before this round
    c = 0  # kernel calls so far (the RNG stream index)
    for e in range(passes):
        samples = split_evenly(int(per_pass[e]), weights)
        live = [t for t in (rng.permutation(n_tasks) if n_tasks > 1 else [0]) if samples[t] > 0]
        res = [frozenset(r) for r in _task_resources(order, n_tasks)]
        for row in rounds(res, world, live):
            span = int(sum(samples[t] for t in row if t is not None))
            steps: list[Step | None] = []
            for t in row:
                if t is None:
                    steps.append(None)
                    continue
                n = int(samples[t])
                calls = []
                for a in range(0, n, CHUNK):
                    m = min(CHUNK, n - a)
                    t0 = round(g * n / span) + a
                    calls.append((t0, m, max(1, round(total * n / span)), chunk_seed(seed, order, c)))
                    c += 1
                steps.append(Step(int(t), n, tuple(calls)))
            out.append(steps)
            g += span
    return out


def _task_resources(order: int, n_tasks: int) -> list[frozenset]:
    parts = _parts_of(order, n_tasks)
    return [t.resources for t in tasks(order, parts)]


def _parts_of(order: int, n_tasks: int) -> int:
    """P from the task count (P^2 for order 2, P(P+1)/2 for order 1)."""
    p = round(n_tasks ** 0.5) if order == 2 else round(((8 * n_tasks + 1) ** 0.5 - 1) / 2)
    if len(tasks(order, p)) != n_tasks:
        raise Img2SongError(f"partitioned LINE: {n_tasks} tasks is not a task count for order {order}")
    return p
