"""O(1) discrete samplers for LINE: alias tables (built vectorised in numpy, drawn in torch) and negative sampling."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from graph.common.errors import Img2SongError

NEG_POWER = 0.75  # P_n(v) ∝ degree(v)^0.75, as in the reference C++ (NEG_SAMPLING_POWER)


@dataclass
class AliasTable:
    """Walker/Vose alias table: draw k uniform in [0, n), keep k with probability prob[k], else take alias[k].

    `prob` is normalised so the table encodes exactly weights / weights.sum() (mean column height 1), which is
    what the reference C++ builds; ports that skip the normalisation sample a different distribution.
    """

    prob: np.ndarray  # float64 [n], in [0, 1]
    alias: np.ndarray  # int64 [n]

    @classmethod
    def build(cls, weights: np.ndarray) -> AliasTable:
        """Vectorised Vose construction (one pass of cumulative sums instead of a Python loop over stacks)."""
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        n = len(w)
        if n == 0:
            raise Img2SongError("alias table: no weights (empty edge list or vertex set)")
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise Img2SongError("alias table: weights must be finite, non-negative and not all zero")
        p = w * (n / w.sum())  # mean 1
        prob = np.ones(n, dtype=np.float64)
        alias = np.arange(n, dtype=np.int64)
        small = np.flatnonzero(p < 1.0)
        large = np.flatnonzero(p >= 1.0)
        if len(small) and len(large):
            # Larges are used in order; small k is served by the large current when it is processed, and a large
            # whose residual drops below 1 becomes a small served by the next large (its overshoot carries on).
            deficit_cum = np.cumsum(1.0 - p[small])  # C_k
            excess_cum = np.cumsum(p[large] - 1.0)  # E_j
            before = np.concatenate([[0.0], deficit_cum[:-1]])  # C_{k-1}
            j = np.searchsorted(excess_cum, before, side="right")
            ok = j < len(large)  # float residue at the very end: keep those columns whole
            prob[small[ok]] = p[small[ok]]
            alias[small[ok]] = large[j[ok]]
            k = np.searchsorted(deficit_cum, excess_cum, side="right")  # first k with C_k > E_j
            kc = np.minimum(k, len(small) - 1)
            turn = (k < len(small)) & (before[kc] < excess_cum) & (np.arange(len(large)) + 1 < len(large))
            jj = np.flatnonzero(turn)
            prob[large[jj]] = np.clip(1.0 + excess_cum[jj] - deficit_cum[k[jj]], 0.0, 1.0)
            alias[large[jj]] = large[jj + 1]
        return cls(prob=prob, alias=alias)

    def __len__(self) -> int:
        return len(self.prob)

    def implied(self) -> np.ndarray:
        """The distribution the table actually samples (for tests and sanity checks)."""
        n = len(self.prob)
        q = self.prob.copy()
        q += np.bincount(self.alias, weights=1.0 - self.prob, minlength=n)
        return q / n

    def to_torch(self, device: str | torch.device = "cpu") -> TorchAlias:
        return TorchAlias(torch.as_tensor(self.prob, dtype=torch.float32, device=device),
                          torch.as_tensor(self.alias, dtype=torch.int64, device=device))


@dataclass
class TorchAlias:
    """An alias table living on a device; `draw` takes a torch.Generator on that device so runs are seeded."""

    prob: torch.Tensor  # float32 [n]
    alias: torch.Tensor  # int64 [n]

    def draw(self, shape: int | tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        n = self.prob.numel()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        u = torch.rand((2,) + shape, generator=generator, device=self.prob.device, dtype=torch.float64)
        k = (u[0] * n).long().clamp_(max=n - 1)
        keep = u[1] < self.prob[k].double()
        return torch.where(keep, k, self.alias[k])


def negative_weights(num_vertices: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """degree^0.75 with degree = weighted in + out degree over the directed edge list, as the C++ counts it.

    On an undirected network given as both directions this is ∝ out-degree^0.75 exactly.
    """
    deg = np.bincount(src, weights=weight, minlength=num_vertices) + np.bincount(
        dst, weights=weight, minlength=num_vertices)
    return np.power(deg, NEG_POWER)


@dataclass
class LineSamplers:
    """Everything LINE draws from: the directed edge list, its alias table and the negative table."""

    src: np.ndarray  # int64 [E]
    dst: np.ndarray  # int64 [E]
    weight: np.ndarray  # float64 [E]
    edges: AliasTable
    negatives: AliasTable
    num_vertices: int

    @classmethod
    def from_arrays(cls, num_vertices: int, src: np.ndarray, dst: np.ndarray, weight: np.ndarray) -> LineSamplers:
        src = np.asarray(src, np.int64)
        dst = np.asarray(dst, np.int64)
        weight = np.asarray(weight, np.float64)
        if len(src) == 0:
            raise Img2SongError("LINE: the network has no edges")
        return cls(src, dst, weight, AliasTable.build(weight),
                   AliasTable.build(negative_weights(num_vertices, src, dst, weight)), num_vertices)

    @classmethod
    def from_network(cls, network) -> LineSamplers:
        src, dst, w = network.directed_edges()
        return cls.from_arrays(network.num_vertices, src, dst, w)


class TorchSamplers:
    """Device-side draws of (src, dst, negatives) batches from LineSamplers."""

    def __init__(self, samplers: LineSamplers, device: str | torch.device = "cpu"):
        self.src = torch.as_tensor(samplers.src, device=device)
        self.dst = torch.as_tensor(samplers.dst, device=device)
        self.edges = samplers.edges.to_torch(device)
        self.negatives = samplers.negatives.to_torch(device)

    def draw(self, batch: int, negative: int, generator: torch.Generator):
        """(src [B], dst [B], neg [B, K]) for B edges drawn ∝ weight and K negatives each drawn from P_n."""
        e = self.edges.draw(batch, generator)
        neg = self.negatives.draw((batch, negative), generator)
        return self.src[e], self.dst[e], neg
