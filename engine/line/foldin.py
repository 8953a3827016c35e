"""Out-of-sample fold-in (LINE §4.3): embed a new vertex from its edges, keeping the trained tables fixed.

A new vertex i with edges to existing vertices j (weights w_ij) gets the vector u_i that minimises
-Σ_j w_ij log p(j|i) with the trained tables frozen: second order scores u_i against the neighbours' CONTEXT
vectors, first order against their VERTEX vectors. The optimisation is LINE's own: edges drawn ∝ weight, K
negatives from the training graph's degree^0.75, SGD with the kernels' lr_schedule (ρ_t = ρ0(1 − t/T) floored at
ρ0·LR_FLOOR) and sigmoid argument clamped to ±SIGMOID_BOUND (the constants of engine.line.config), u_i initialised
U(−0.5, 0.5)/d. Several new vertices are independent (the tables do not move), so `fold_in_many` runs them side by
side; vertex b of a batch draws from its own generator seeded `seed + b`.

The live catalogue's `LineTables.embed` places a vertex of a calibrated kind by engine.line.foldin_map instead:
this SGD against the FINAL tables does not land where training puts a vertex (that module says why).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from engine.line.config import DEFAULTS as D
from engine.line.config import SIGMOID_BOUND
from engine.line.foldin_map import NeighbourMap, fit_neighbour_map, neighbour_summary
from engine.line.impls import lr_schedule
from graph.common.errors import Img2SongError
from graph.network import Kind, vertex_id

EdgeInput = Mapping[str, float] | Sequence[tuple[str, float]]
DEFAULT_SAMPLES = 10_000
_CHUNK = 1024  # steps whose random draws are made at once


def _to_numpy(t: Any) -> np.ndarray:
    """Read-only float32 view of a tensor or array (CPU tensors are not copied, and never written)."""
    if hasattr(t, "detach"):
        t = t.detach().float().cpu().numpy()
    a = np.asarray(t, dtype=np.float32)
    if a.ndim != 2:
        raise Img2SongError(f"fold-in: embedding table must be 2-D, got shape {a.shape}")
    return a


@dataclass
class FoldInBase:
    """The frozen state of one trained LINE order: vertex ids, vertex and context tables, training degrees."""

    ids: list[str]
    vertex: Any  # torch.Tensor | np.ndarray [N, d]
    context: Any = None  # [N, d]; needed for second order
    degrees: np.ndarray | None = None  # [N] weighted degree in the training graph (negative table ∝ d^0.75)

    def __post_init__(self) -> None:
        self.ids = list(self.ids)
        n = len(self.ids)
        self.degrees = None if self.degrees is None else np.asarray(self.degrees, dtype=np.float64).reshape(-1)
        if self.degrees is None or len(self.degrees) != n:
            raise Img2SongError(f"fold-in base: need degrees for all {n} vertices "
                                f"(got {None if self.degrees is None else len(self.degrees)})")
        if not (np.isfinite(self.degrees).all() and (self.degrees >= 0).all() and self.degrees.sum() > 0):
            raise Img2SongError("fold-in base: degrees must be finite, non-negative and not all zero")
        for name in ("vertex", "context"):
            t = getattr(self, name)
            if t is not None and t.shape[0] != n:
                raise Img2SongError(f"fold-in base: {name} table has {t.shape[0]} rows for {n} ids")
        self._index = {v: i for i, v in enumerate(self.ids)}

    @property
    def dim(self) -> int:
        return int(tuple(self.vertex.shape)[1])

    def index_of(self, vids: Sequence[str]) -> np.ndarray:
        """Row indices of existing vertex ids; unknown ids -> Img2SongError naming all of them."""
        missing = [v for v in vids if v not in self._index]
        if missing:
            shown = ", ".join(repr(v) for v in missing[:10]) + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else "")
            raise Img2SongError(f"fold-in: {len(missing)} neighbour id(s) not in the trained network: {shown}")
        return np.array([self._index[v] for v in vids], dtype=np.int64)

    @classmethod
    def from_line(cls, model: Any, order: int = 2, network: Any = None) -> FoldInBase:
        """Build from a fitted LINE estimator (vertex_/context_ per order; degrees from the model or `network`)."""
        vertex = _per_order(getattr(model, "vertex_", None), order, "vertex_")
        context = _per_order(getattr(model, "context_", None), order, "context_") if order == 2 else None
        ids = _model_ids(model, network)
        degrees = getattr(model, "degrees_", None)
        if degrees is None:
            net = network if network is not None else getattr(model, "network_", None)
            if net is None:
                raise Img2SongError("fold-in: the model keeps no training degrees; pass the training network")
            degrees = net.degrees()
        return cls(ids, vertex, context, degrees)


def _per_order(attr: Any, order: int, name: str) -> Any:
    if attr is None:
        raise Img2SongError(f"fold-in: the model has no {name} (is it fitted?)")
    if isinstance(attr, Mapping):
        for key in (order, str(order), {1: "first", 2: "second"}[order]):
            if key in attr and attr[key] is not None:
                return attr[key]
        raise Img2SongError(f"fold-in: the model has no order-{order} {name} (has {sorted(map(str, attr))})")
    return attr


def _model_ids(model: Any, network: Any) -> list[str]:
    table = getattr(model, "embeddings_", None)
    if table is not None and hasattr(table, "ids"):
        return list(table.ids)
    for src in (getattr(model, "network_", None), network):
        if src is not None and hasattr(src, "ids"):
            return list(src.ids)
    raise Img2SongError("fold-in: cannot find the model's vertex ids; pass the training network")


def _edge_list(edges: EdgeInput, where: str) -> tuple[list[str], np.ndarray]:
    items = list(edges.items()) if isinstance(edges, Mapping) else [tuple(e) for e in edges]
    if not items:
        raise Img2SongError(f"fold-in: {where} has no edges")
    vids = [str(v) for v, _ in items]
    w = np.array([float(x) for _, x in items], dtype=np.float64)
    if not (np.isfinite(w).all() and (w > 0).all()):
        bad = [vids[i] for i in np.flatnonzero(~(np.isfinite(w) & (w > 0)))]
        raise Img2SongError(f"fold-in: {where}: edge weights must be finite and positive (bad: {bad[:10]})")
    return vids, w


def fold_in_many(new_edges: Sequence[EdgeInput], base: FoldInBase, order: int = 2, negative: int = D.negative,
                 samples: int | None = None, lr: float = D.lr, seed: int = 0) -> np.ndarray:
    """Vectors [B, d] for B new vertices, each from its own edges to existing vertices; tables stay unchanged."""
    if order not in (1, 2):
        raise Img2SongError(f"fold-in: order must be 1 or 2, got {order!r}")
    if order == 2 and base.context is None:
        raise Img2SongError("fold-in: second order needs the trained context table")
    targets = _to_numpy(base.context if order == 2 else base.vertex)
    T = int(samples if samples is not None else DEFAULT_SAMPLES)
    if T <= 0 or negative < 0 or lr <= 0:
        raise Img2SongError(f"fold-in: need samples > 0, negative >= 0, lr > 0 (got {T}, {negative}, {lr})")
    B, d, K = len(new_edges), targets.shape[1], int(negative)
    pos_cdf, pos_idx = [], []
    for b, edges in enumerate(new_edges):
        vids, w = _edge_list(edges, f"new vertex {b}")
        pos_idx.append(base.index_of(vids))
        pos_cdf.append(np.cumsum(w) / w.sum())
    p_neg = base.degrees**0.75
    neg_cdf = np.cumsum(p_neg / p_neg.sum())
    rngs = [np.random.default_rng(seed + b) for b in range(B)]
    u = np.stack([((r.random(d) - 0.5) / d) for r in rngs]).astype(np.float32)
    labels = np.zeros(K + 1, dtype=np.float32)
    labels[0] = 1.0
    for start in range(0, T, _CHUNK):
        n = min(_CHUNK, T - start)
        idx = np.empty((B, n, K + 1), dtype=np.int64)
        for b, r in enumerate(rngs):
            pick = np.minimum(np.searchsorted(pos_cdf[b], r.random(n), side="right"), len(pos_idx[b]) - 1)
            idx[b, :, 0] = pos_idx[b][pick]
            idx[b, :, 1:] = np.minimum(np.searchsorted(neg_cdf, r.random((n, K)), side="right"), len(neg_cdf) - 1)
        for s in range(n):
            rho = np.float32(lr_schedule(start + s, T, lr))
            V = targets[idx[:, s]]  # [B, K+1, d] (a copy; the table is only read)
            x = np.clip(np.einsum("bkd,bd->bk", V, u), -SIGMOID_BOUND, SIGMOID_BOUND)
            g = (labels - 1.0 / (1.0 + np.exp(-x))) * rho
            u += np.einsum("bk,bkd->bd", g, V)
    return u


def fold_in(new_edges: EdgeInput, base: FoldInBase, order: int = 2, negative: int = D.negative, samples: int | None = None,
            lr: float = D.lr, seed: int = 0) -> np.ndarray:
    """Vector [d] of one new vertex from its weighted edges to existing vertex ids (LINE §4.3)."""
    return fold_in_many([new_edges], base, order, negative, samples, lr, seed)[0]


def _l2(v: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(n > 0, n, 1.0)


def _resolve_keywords(keywords: EdgeInput, ids: set[str]) -> list[tuple[str, float]]:
    items = list(keywords.items()) if isinstance(keywords, Mapping) else list(keywords)
    out, missing = [], []
    for k, w in items:
        kw = vertex_id(Kind.KEYWORD, k)
        out.append((k if k in ids else kw, w))
        if k not in ids and kw not in ids:
            missing.append(k)
    if missing:
        shown = ", ".join(repr(k) for k in missing[:10]) + (f" (+{len(missing) - 10} more)" if len(missing) > 10 else "")
        raise Img2SongError(f"fold-in: {len(missing)} keyword(s) not in the trained network (neither as given nor "
                            f"as 'kw:<keyword>'): {shown}")
    return out


def _bases(model_or_tables: Any, network: Any) -> tuple[dict[int, FoldInBase], bool]:
    """{order: base} and whether the trained table concatenates normalised orders."""
    if isinstance(model_or_tables, FoldInBase):
        return {2 if model_or_tables.context is not None else 1: model_or_tables}, False
    if isinstance(model_or_tables, Mapping):
        bases = {int(k): v for k, v in model_or_tables.items()}
        return bases, len(bases) == 2
    order = getattr(model_or_tables, "order", None)
    orders = {"first": [1], "second": [2], "both": [1, 2], 1: [1], 2: [2], "1": [1], "2": [2]}.get(order)
    if orders is None:
        raise Img2SongError(f"fold-in: cannot tell the model's order ({order!r}); expected 1, 2 or 'both'")
    return {o: FoldInBase.from_line(model_or_tables, o, network) for o in orders}, len(orders) == 2


def fold_in_songs(songs: Sequence[EdgeInput], model_or_tables: Any, network: Any = None, negative: int = D.negative,
                  samples: int | None = None, lr: float = D.lr, seed: int = 0) -> np.ndarray:
    """Vectors [B, D] for new songs from their keyword weights, shaped like the trained table's rows.

    `model_or_tables`: a fitted LINE, one FoldInBase, or {1: base, 2: base}. Keys are vertex ids or bare
    keywords (mapped to "kw:<keyword>"). Order "both": each order folded in, L2-normalised, concatenated [1st, 2nd].
    """
    bases, concat = _bases(model_or_tables, network)
    parts = []
    for o in sorted(bases):
        ids = set(bases[o].ids)
        edges = [_resolve_keywords(kw, ids) for kw in songs]
        vec = fold_in_many(edges, bases[o], o, negative, samples, lr, seed)
        parts.append(_l2(vec) if concat else vec)
    return np.concatenate(parts, axis=1).astype(np.float32)


def fold_in_song(model_or_tables: Any, keywords: EdgeInput, network: Any = None, negative: int = D.negative,
                 samples: int | None = None, lr: float = D.lr, seed: int = 0) -> np.ndarray:
    """Vector of one new song from its keyword weights (see fold_in_songs)."""
    return fold_in_songs([keywords], model_or_tables, network, negative, samples, lr, seed)[0]


# --------------------------------------------------------------------------------------------------------------
# Live catalogue fold-in: a trained run's raw tables (both orders), one new vertex at a time, in milliseconds.
@dataclass
class LineTables:
    """The raw trained tables of a LINE run and what its training drew from: what a fold-in needs.

    `vertex` {order: [N, d/2 or d]}, `context` the order-2 context table, `degrees` the training graph's weighted
    out-degrees (negatives ∝ degree^0.75), `samples` the edges sampled per order in training, and the trained
    `negative`, `lr` and `seed`. A fold-in gives a new vertex as many updates as a trained vertex with the same
    edges received in training (see `steps`), so a folded-in vector is as far along as a retrained one.
    `neighbour_map` (set by `calibrated`): a vertex of a kind it was fitted on is placed by it instead of by the
    SGD (engine.line.foldin_map says why).
    """

    ids: list[str]
    vertex: dict[int, np.ndarray]
    context: np.ndarray | None
    degrees: np.ndarray
    samples: int
    negative: int = D.negative
    lr: float = D.lr
    seed: int = 0
    min_steps: int = 8  # a vertex with a tiny edge weight still gets a few updates (as a trained one is also a target)
    neighbour_map: NeighbourMap | None = None

    def __post_init__(self) -> None:
        self.ids = list(self.ids)
        self.vertex = {int(o): np.ascontiguousarray(v, dtype=np.float32) for o, v in self.vertex.items()}
        if not self.vertex or set(self.vertex) - {1, 2}:
            raise Img2SongError(f"LINE tables: orders must be 1 and/or 2, got {sorted(self.vertex)}")
        if 2 in self.vertex and self.context is None:
            raise Img2SongError("LINE tables: order 2 needs its context table")
        if self.context is not None:
            self.context = np.ascontiguousarray(self.context, dtype=np.float32)
        self.degrees = np.asarray(self.degrees, dtype=np.float64).reshape(-1)
        n = len(self.ids)
        for name, t in [*((f"vertex[{o}]", v) for o, v in self.vertex.items()), ("context", self.context),
                        ("degrees", self.degrees)]:
            if t is not None and len(t) != n:
                raise Img2SongError(f"LINE tables: {name} has {len(t)} rows for {n} ids")
        if not (np.isfinite(self.degrees).all() and (self.degrees >= 0).all() and self.degrees.sum() > 0):
            raise Img2SongError("LINE tables: degrees must be finite, non-negative and not all zero")
        if int(self.samples) <= 0 or self.negative < 0 or not self.lr > 0:
            raise Img2SongError(f"LINE tables: need samples > 0, negative >= 0, lr > 0 (got {self.samples}, "
                                f"{self.negative}, {self.lr})")
        self._index = {v: i for i, v in enumerate(self.ids)}
        p = self.degrees ** 0.75
        self._neg_cdf = np.cumsum(p / p.sum())
        self._total_weight = float(self.degrees.sum())  # the directed edges' total weight (LINE samples ∝ weight)

    @property
    def orders(self) -> list[int]:
        return sorted(self.vertex)

    @property
    def dim(self) -> int:
        return sum(v.shape[1] for v in self.vertex.values())

    def __contains__(self, vid: object) -> bool:
        return vid in self._index

    def steps(self, weight: float, order: int) -> int:
        """SGD steps of a new vertex whose edges weigh `weight`: the expected number of times training drew it as
        a source (samples x weight / total weight); order 1 twice that (a trained vertex is also updated as its
        neighbours' target), never under `min_steps`."""
        share = float(self.samples) * float(weight) / self._total_weight
        return max(int(self.min_steps), int(round(share * (2 if order == 1 else 1))))

    def index_of_edges(self, edges: Sequence[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
        """(row indices, weights) of a new vertex's edges; an unknown neighbour is an error naming it."""
        vids, w = _edge_list(edges, "new vertex")
        pos = np.array([self._index.get(v, -1) for v in vids], dtype=np.int64)
        if (pos < 0).any():
            missing = [v for v, p in zip(vids, pos) if p < 0]
            raise Img2SongError(f"fold-in: {len(missing)} neighbour id(s) not in the trained network: "
                                + ", ".join(repr(v) for v in missing[:10]))
        return pos, w

    def calibrated(self, network: Any, exclude: Sequence[str] = (), kinds: Sequence[int] | None = None) -> LineTables:
        """These tables with a neighbour map fitted on the trained vertices of `network` (the training graph;
        `exclude`: ids left out of the fit; `kinds`: the vertex kinds to fit, default all), so that
        `embed(..., kind=)` lands where training puts such vertices."""
        if sorted(network.ids) != sorted(self.ids):
            raise Img2SongError(f"fold-in map: the network's {network.num_vertices} vertices are not the LINE "
                                f"tables' {len(self.ids)} (a different run's network?)")
        row = np.array([self._index[v] for v in network.ids], dtype=np.int64)
        src, dst, w = network.directed_edges()
        kind_of = np.empty(len(self.ids), dtype=np.int8)
        kind_of[row] = network.kinds
        fitted = fit_neighbour_map(self.ids, kind_of, (row[src], row[dst], w), self.vertex, self.context, exclude,
                                   only=kinds)
        return dataclasses.replace(self, neighbour_map=fitted)

    def embed(self, edges: Sequence[tuple[str, float]], seed: int = 0, kind: int | None = None) -> np.ndarray:
        """The row a retrained table would hold for a new vertex with these edges to trained vertices, L2-normalised
        per order and concatenated [1st, 2nd] as the run's embeddings are: by the neighbour map of `kind` when the
        tables are calibrated for it, else each order folded in by LINE §4.3's SGD (either way seeded)."""
        pos, w = self.index_of_edges(edges)
        nmap = self.neighbour_map
        if nmap is not None and kind is not None and int(kind) in nmap.kinds():
            parts, rng = [], np.random.default_rng(seed)
            for order in self.orders:
                u = nmap.apply(kind, order, neighbour_summary(self.context if order == 2 else self.vertex[1], pos, w),
                               rng)
                parts.append(u if len(self.orders) == 2 else u * np.float32(nmap.norms[(int(kind), order)]))
            return np.concatenate(parts).astype(np.float32)
        rng = np.random.default_rng(seed)
        parts = []
        for order in self.orders:
            targets = self.context if order == 2 else self.vertex[1]
            u = fold_in_vertex(targets, pos, w, self._neg_cdf, self.steps(float(w.sum()), order), self.negative,
                               self.lr, rng, self.vertex[order].shape[1])
            parts.append(u)
        if len(parts) == 2:
            parts = [_l2(p) for p in parts]
        return np.concatenate(parts).astype(np.float32)


def fold_in_vertex(targets: np.ndarray, pos: np.ndarray, weights: np.ndarray, neg_cdf: np.ndarray, steps: int,
                   negative: int, lr: float, rng: np.random.Generator, dim: int) -> np.ndarray:
    """One new vertex's vector by LINE's SGD against frozen `targets` (fold_in_many's rule for B = 1, lean: all
    draws made at once, then `steps` sequential updates)."""
    u = ((rng.random(dim) - 0.5) / dim).astype(np.float32)
    cdf = np.cumsum(weights) / weights.sum()
    pick = np.minimum(np.searchsorted(cdf, rng.random(steps), side="right"), len(pos) - 1)
    idx = np.empty((steps, negative + 1), dtype=np.int64)
    idx[:, 0] = pos[pick]
    idx[:, 1:] = np.minimum(np.searchsorted(neg_cdf, rng.random((steps, negative)), side="right"), len(neg_cdf) - 1)
    rho = np.asarray(lr_schedule(np.arange(steps), steps, lr), dtype=np.float32)
    labels = np.zeros(negative + 1, dtype=np.float32)
    labels[0] = 1.0
    V = targets[idx]  # [steps, K+1, d]: one gather; the table is only read
    lo, hi = np.float32(-SIGMOID_BOUND), np.float32(SIGMOID_BOUND)
    for s in range(steps):
        v = V[s]
        x = np.minimum(np.maximum(v @ u, lo), hi)  # np.clip's value; the ufuncs skip its Python wrapper
        u += ((labels - 1.0 / (1.0 + np.exp(-x))) * rho[s]) @ v
    return u


def tables_arrays(model: Any, network: Any) -> dict[str, np.ndarray]:
    """A fitted LINE's raw tables and training draws as named arrays (LineTables.from_arrays reads them back)."""
    out: dict[str, np.ndarray] = {"ids": np.array(list(network.ids), dtype=str), "degrees": network.degrees(),
                                  "params": np.array([model.samples_, model.negative, model.seed], dtype=np.int64),
                                  "lr": np.array(float(model.lr))}
    for o, v in model.vertex_.items():
        out[f"vertex{o}"] = _to_numpy(v)
    if 2 in getattr(model, "context_", {}):
        out["context2"] = _to_numpy(model.context_[2])
    return out


def tables_from_arrays(arrays: Mapping[str, np.ndarray], where: str = "LINE tables") -> LineTables:
    """LineTables from tables_arrays' output (an error naming `where` when an array is missing)."""
    try:
        samples, negative, seed = (int(x) for x in arrays["params"])
        vertex = {o: arrays[f"vertex{o}"] for o in (1, 2) if f"vertex{o}" in arrays}
        return LineTables(arrays["ids"].tolist(), vertex, arrays.get("context2"), arrays["degrees"], samples,
                          negative, float(arrays["lr"]), seed)
    except (KeyError, ValueError) as e:
        raise Img2SongError(f"{where}: incomplete LINE tables ({e})") from None
