"""Ranking metrics over per-query hit lists, seeded bootstrap intervals and paired tests (definitions in DEFINITIONS)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import binom

DEFINITIONS = {
    "hit_rate@k": "fraction of query images with at least one hit among the k recommended songs",
    "precision@k": "mean over query images of (number of hits among the k recommended songs) / k; a list shorter "
                   "than k counts its missing places as misses",
    "hit": "a recommended song whose lyrics contain one of the query image's keywords or one of their top-n "
           "related words, by the rule the network links by (graph.occurrences: Chinese matches respect jieba's "
           "tokens, English words match by lemma)",
    "ci95": "95% percentile bootstrap interval: queries resampled with replacement (seeded), metric recomputed",
    "mcnemar_exact": "exact two-sided McNemar test on per-query hit@k of two scorers: binomial(b, b + c, 1/2) on "
                     "the discordant queries b (only the first scorer hits) and c (only the second)",
    "paired_diff": "hit_rate@k(first) - hit_rate@k(second), with a paired bootstrap 95% interval (same resampled "
                   "queries for both)",
}


def hit_at_k(hits: np.ndarray) -> np.ndarray:
    """Per query: 1.0 when any of its hits is true ([Q, <=k] bool)."""
    hits = np.asarray(hits, dtype=bool)
    return hits.any(axis=1).astype(np.float64) if hits.size else np.zeros(len(hits))


def precision_at_k(hits: np.ndarray, k: int = 10) -> np.ndarray:
    """Per query: number of hits / k."""
    hits = np.asarray(hits, dtype=bool)
    return hits.sum(axis=1) / float(k) if hits.size else np.zeros(len(hits))


def pad_hits(rows: Sequence[Sequence[bool]], k: int) -> np.ndarray:
    """Ragged per-query hit lists -> [Q, k] bool (short lists padded with misses)."""
    out = np.zeros((len(rows), k), dtype=bool)
    for i, r in enumerate(rows):
        r = list(r)[:k]
        out[i, : len(r)] = r
    return out


def bootstrap_ci(values: np.ndarray, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-query values."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), size=(n_boot, len(v)))].mean(axis=1)
    return float(np.quantile(means, alpha / 2)), float(np.quantile(means, 1 - alpha / 2))


def mcnemar_exact(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Exact McNemar test on paired binary outcomes: discordant counts and the two-sided p-value."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError("paired outcomes must have the same length")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    n = only_a + only_b
    p = 1.0 if n == 0 else min(1.0, 2.0 * float(binom.cdf(min(only_a, only_b), n, 0.5)))
    return {"only_first": only_a, "only_second": only_b, "p_value": p}


def paired_bootstrap_diff(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, alpha: float = 0.05,
                          seed: int = 0) -> dict[str, float]:
    """Mean difference a - b with a paired percentile bootstrap interval."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    lo, hi = bootstrap_ci(d, n_boot, alpha, seed)
    return {"diff": float(d.mean()) if len(d) else float("nan"), "ci95": [lo, hi]}
