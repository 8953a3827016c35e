"""Paired tests between scorers on the same queries: which pairs, and hit@k (McNemar) + precision@k (sign flips)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from evaluation.measure.metrics import mcnemar_exact, paired_bootstrap_diff

# scorers compared with every other scorer in the report, in this order (a pair is tested once)
ANCHORS = ("fused", "zs", "ne+", "ne")


def sign_flip_p(a: np.ndarray, b: np.ndarray, n_perm: int = 2000, seed: int = 0) -> float:
    """Two-sided paired randomisation test of mean(a - b) = 0: each query's difference flips sign at random
    (seeded); p = (1 + #|mean| >= observed) / (1 + n_perm)."""
    d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    if len(d) == 0 or not d.any():
        return 1.0
    obs = abs(d.mean())
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(n_perm, len(d)))
    return float((1 + (np.abs((signs * d).mean(1)) >= obs - 1e-12).sum()) / (1 + n_perm))


def pairs(scorers: Sequence[str], anchors: Sequence[str] = ANCHORS) -> list[tuple[str, str]]:
    """(anchor, other) for every anchor in the report against every other scorer, each unordered pair once."""
    out, done = [], set()
    for anchor in anchors:
        if anchor not in scorers:
            continue
        for other in scorers:
            if other != anchor and frozenset((anchor, other)) not in done:
                done.add(frozenset((anchor, other)))
                out.append((anchor, other))
    return out


def both_answered(x: Mapping[str, Any] | np.ndarray, y: Mapping[str, Any] | np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Two scorers' per-query values on the same queries: aligned arrays as given, or, given {query: value}, the
    values of the queries both answered (sorted by query), so a query one scorer failed on is paired with none."""
    if isinstance(x, Mapping) and isinstance(y, Mapping):
        common = sorted(set(x) & set(y))
        return np.asarray([x[q] for q in common]), np.asarray([y[q] for q in common])
    return np.asarray(x), np.asarray(y)


def paired_tests(hit: Mapping[tuple[str, int], Any], prec: Mapping[tuple[str, int], Any],
                 scorers: Sequence[str], ns: Sequence[int], n_boot: int = 2000, seed: int = 0,
                 anchors: Sequence[str] = ANCHORS) -> dict[str, dict[str, Any]]:
    """"<a>_vs_<b>" -> n -> McNemar on hit@k with its paired bootstrap difference, and under "precision" the
    paired precision@k difference, its bootstrap interval and a sign-flip p-value; `queries`: how many were paired
    (per-query values as aligned arrays, or {query: value} per scorer: then the queries both answered)."""
    tests: dict[str, dict[str, Any]] = {}
    for a, b in pairs(scorers, anchors):
        by_n: dict[str, Any] = {}
        for n in ns:
            ha, hb = both_answered(hit[(a, n)], hit[(b, n)])
            pa, pb = both_answered(prec[(a, n)], prec[(b, n)])
            if not len(ha):
                continue  # no query both answered: nothing to pair (the scorers' failures are in the report)
            by_n[str(n)] = (
                mcnemar_exact(ha.astype(bool), hb.astype(bool))
                | paired_bootstrap_diff(ha.astype(bool), hb.astype(bool), n_boot, seed=seed)
                | {"queries": len(ha),
                   "precision": paired_bootstrap_diff(pa, pb, n_boot, seed=seed)
                   | {"p_value": sign_flip_p(pa, pb, n_boot, seed)}})
        if by_n:
            tests[f"{a}_vs_{b}"] = by_n
    return tests
