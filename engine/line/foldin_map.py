"""Calibrated fold-in: put a new vertex where training puts trained vertices with the same kind of edges.

Why not LINE §4.3's SGD alone: re-folding a vertex that IS in a trained run, from its own edges against the frozen
final tables, does not land on its trained row. Training updates a vertex while the context table is still growing
from zero, so every trained second-order row carries a large component shared by all vertices of its kind (songs:
projection 0.97 on their mean direction) and a small specific part; the SGD against the final contexts reaches a
different point (projection 0.89, specific part twice as large and turned: cosine 0.78), which puts folded songs
far from their keywords' image centroids. More or fewer SGD steps only move along that other path.

What is fitted instead, per vertex kind and order, on the run's own trained vertices (no labels, nothing tuned):
a ridge-regularised linear map from a vertex's neighbour summary — the L2-normalised, edge-weighted sum of its
neighbours' target rows (order 2: their CONTEXT rows, order 1: their vertex rows, the rows LINE scores it against)
— to its trained, L2-normalised row. A new vertex gets the map of its kind applied to its summary, plus the residual
training left on one of the DONORS trained vertices whose predictions are nearest its own, drawn by the item's seed
(predictive mean matching: the prediction alone makes folded vertices hubs). A seeded function of its edges and the
trained tables; about 0.5 ms per song and 0.2 ms per image on one core.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from graph.common.errors import Img2SongError

DONORS = 5  # predictive mean matching's donor pool (the usual choice in multiple imputation)
RIDGE = 1e-3  # ridge strength, relative to the mean diagonal of XᵀX (the summaries are unit vectors)
MAP_FORMAT = 1  # what a saved map's arrays mean: raise it when the fit or the arrays change (a cache key holds it)


def _unit(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


@dataclass
class NeighbourMap:
    """Per (kind, order): weights [d + 1, d] (the summary plus a bias -> a unit row), the kind's median trained
    row norm (single-order tables keep the raw scale) and how many trained vertices each map was fitted on."""

    weights: dict[tuple[int, int], np.ndarray]
    norms: dict[tuple[int, int], float]
    fitted_on: dict[int, int]
    # the fit set's predictions and residuals (trained row - prediction): a new row borrows the residual of the
    # trained vertex whose prediction is nearest its own (predictive mean matching)
    predicted: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # rows, |row|²
    residual: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def kinds(self) -> set[int]:
        return set(self.fitted_on)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The map as named arrays, each at the dtype apply() reads (from_arrays gives back an identical map)."""
        keys = sorted(self.weights)
        out = {"keys": np.array(keys, np.int64).reshape(-1, 2),
               "norms": np.array([self.norms[k] for k in keys], np.float64),
               "fitted_on": np.array(sorted(self.fitted_on.items()), np.int64).reshape(-1, 2)}
        for kind, order in keys:
            out[f"weights_{kind}_{order}"] = self.weights[(kind, order)]
            if (kind, order) in self.residual:
                out[f"predicted_{kind}_{order}"], out[f"sqnorm_{kind}_{order}"] = self.predicted[(kind, order)]
                out[f"residual_{kind}_{order}"] = self.residual[(kind, order)]
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], where: str = "fold-in map") -> NeighbourMap:
        """The map to_arrays wrote; missing, misshapen or non-finite arrays are an Img2SongError naming `where`."""
        def get(name: str, ndim: int) -> np.ndarray:
            a = arrays.get(name)
            if a is None or a.ndim != ndim or (a.dtype.kind == "f" and not np.isfinite(a).all()):
                raise Img2SongError(f"{where}: array {name!r} is missing, not {ndim}-D or not finite")
            return a

        keys, norms, fitted = get("keys", 2), get("norms", 1), get("fitted_on", 2)
        if keys.shape[1] != 2 or fitted.shape[1] != 2 or len(norms) != len(keys):
            raise Img2SongError(f"{where}: {len(keys)} map keys, {len(norms)} norms, fitted_on {fitted.shape}")
        nmap = cls({}, {}, {int(k): int(n) for k, n in fitted})
        for (kind, order), norm in zip(keys.tolist(), norms.tolist()):
            w = get(f"weights_{kind}_{order}", 2)
            if w.shape[0] != w.shape[1] + 1:
                raise Img2SongError(f"{where}: weights of kind {kind}, order {order} have shape {w.shape}")
            nmap.weights[(kind, order)], nmap.norms[(kind, order)] = w, float(norm)
            if f"residual_{kind}_{order}" in arrays:
                p, sq, r = (get(f"predicted_{kind}_{order}", 2), get(f"sqnorm_{kind}_{order}", 1),
                            get(f"residual_{kind}_{order}", 2))
                if not (p.shape == r.shape == (len(sq), w.shape[1])):
                    raise Img2SongError(f"{where}: kind {kind}, order {order}: predictions {p.shape}, "
                                        f"residuals {r.shape}, {len(sq)} norms for rows of {w.shape[1]}")
                nmap.predicted[(kind, order)], nmap.residual[(kind, order)] = (p, sq), r
        if any((k, o) not in nmap.weights for k in nmap.fitted_on for o in {o for _, o in nmap.weights}):
            raise Img2SongError(f"{where}: a fitted kind lacks the map of an order")
        return nmap

    def apply(self, kind: int, order: int, summary: np.ndarray, rng: np.random.Generator | None) -> np.ndarray:
        """The unit row for a summary (a unit vector; zeros give the bias alone): the map's prediction plus the
        residual training left on one of the DONORS trained vertices predicted nearest to it, drawn by `rng`
        (predictive mean matching: what keeps trained rows apart; many trained vertices share one prediction);
        `rng` None: the prediction alone (the mean of where training puts such vertices)."""
        key = (int(kind), int(order))
        w = self.weights[key]
        p = summary @ w[:-1] + w[-1]
        if rng is not None and key in self.residual:
            P, sq = self.predicted[key]  # one single-threaded float32 pass (BLAS threads cost more than they save)
            dist = sq - 2.0 * np.einsum("nd,d->n", P, p.astype(np.float32))
            k = min(DONORS, len(dist))
            near = np.argpartition(dist, k - 1)[:k]
            near = near[np.lexsort((near, dist[near]))]  # by distance, ties by row: independent of the partition
            p = p + self.residual[key][int(near[rng.integers(k)])]
        return _unit(p).astype(np.float32)


def neighbour_summary(targets: np.ndarray, pos: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The unit, edge-weighted sum of the neighbours' target rows: what a vertex's LINE gradient points along."""
    return _unit(np.asarray(weights, np.float64) @ targets[pos].astype(np.float64))


def fit_neighbour_map(ids: list[str], kinds: np.ndarray, edges: tuple[np.ndarray, np.ndarray, np.ndarray],
                      vertex: dict[int, np.ndarray], context: np.ndarray | None, exclude: Iterable[str] = (),
                      min_vertices: int | None = None, only: Iterable[int] | None = None) -> NeighbourMap:
    """Fit the maps on every trained vertex with edges, per kind with at least `min_vertices` of them (default
    2 x (d + 1)); `edges` = (src, dst, weight) over the tables' row indices, both directions; `exclude`: ids not
    fitted on (a held-out check)."""
    n = len(ids)
    src, dst, w = edges
    if len(kinds) != n:
        raise Img2SongError(f"fold-in map: {len(kinds)} vertex kinds for {n} ids")
    adj = sp.csr_matrix((np.asarray(w, np.float64), (src, dst)), shape=(n, n))
    has_edges = np.diff(adj.indptr) > 0
    skip = np.zeros(n, bool)
    index = {v: i for i, v in enumerate(ids)}
    for v in exclude:
        if v in index:
            skip[index[v]] = True
    weights, norms, fitted_on, predicted, residual = {}, {}, {}, {}, {}
    for order, rows in sorted(vertex.items()):
        targets = context if order == 2 else rows
        if targets is None:
            raise Img2SongError("fold-in map: order 2 needs the context table")
        X = _unit(np.asarray(adj @ targets.astype(np.float64)))
        Y = _unit(rows.astype(np.float64))
        d = rows.shape[1]
        need = min_vertices if min_vertices is not None else 2 * (d + 1)
        for kind in np.unique(kinds) if only is None else sorted({int(k) for k in only}):
            sel = (kinds == kind) & has_edges & ~skip
            if sel.sum() < need:
                continue
            Xa = np.hstack([X[sel], np.ones((int(sel.sum()), 1))])
            gram = Xa.T @ Xa
            lam = RIDGE * float(np.trace(gram)) / gram.shape[0]
            key = (int(kind), order)
            weights[key] = np.linalg.solve(gram + lam * np.eye(gram.shape[0]), Xa.T @ Y[sel])
            pred = (Xa @ weights[key]).astype(np.float32)
            predicted[key] = (pred, np.einsum("nd,nd->n", pred, pred))
            residual[key] = (Y[sel] - pred).astype(np.float32)
            norms[(int(kind), order)] = float(np.median(np.linalg.norm(rows[sel], axis=1)))
            fitted_on[int(kind)] = int(sel.sum())
    for k in list(fitted_on):  # a kind is usable only when every order has its map
        if any((k, o) not in weights for o in vertex):
            fitted_on.pop(k)
    return NeighbourMap(weights, norms, fitted_on, predicted, residual)
