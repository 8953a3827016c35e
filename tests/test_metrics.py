"""Metrics on known values: hit rate, precision, bootstrap intervals, exact McNemar."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.measure.metrics import (
    bootstrap_ci,
    hit_at_k,
    mcnemar_exact,
    pad_hits,
    paired_bootstrap_diff,
    precision_at_k,
)


def test_hit_rate_and_precision_known_values():
    hits = pad_hits([[False, True, False], [False] * 10, [True] * 10, [True]], 10)
    assert hits.shape == (4, 10)
    assert hit_at_k(hits).tolist() == [1.0, 0.0, 1.0, 1.0]
    assert precision_at_k(hits, 10).tolist() == [0.1, 0.0, 1.0, 0.1]  # a short list counts its gaps as misses
    assert pad_hits([[True] * 12], 10).sum() == 10


def test_bootstrap_interval_contains_estimate_and_is_seeded():
    v = (np.random.default_rng(0).random(200) < 0.3).astype(float)
    lo, hi = bootstrap_ci(v, 1000, seed=5)
    assert lo <= v.mean() <= hi and hi - lo < 0.2
    assert bootstrap_ci(v, 1000, seed=5) == (lo, hi)
    assert bootstrap_ci(np.ones(10)) == (1.0, 1.0)
    # coverage of the normal approximation: width close to 2 * 1.96 * sd / sqrt(n)
    assert hi - lo == pytest.approx(2 * 1.96 * v.std() / np.sqrt(len(v)), rel=0.2)


def test_mcnemar_exact_known_table():
    # 1 query only the first scorer hits, 9 only the second: p = 2 * P(X <= 1), X ~ Bin(10, 1/2) = 22 / 1024
    a = np.array([1] + [0] * 9 + [1] * 5 + [0] * 5, dtype=bool)
    b = np.array([0] + [1] * 9 + [1] * 5 + [0] * 5, dtype=bool)
    t = mcnemar_exact(a, b)
    assert (t["only_first"], t["only_second"]) == (1, 9)
    assert t["p_value"] == pytest.approx(22 / 1024)
    assert mcnemar_exact(a, a)["p_value"] == 1.0
    assert mcnemar_exact(np.array([1, 1, 1], bool), np.array([0, 0, 0], bool))["p_value"] == pytest.approx(0.25)


def test_paired_difference():
    a = np.array([1, 1, 1, 0], float)
    b = np.array([0, 1, 0, 0], float)
    r = paired_bootstrap_diff(a, b, 500, seed=1)
    assert r["diff"] == 0.5 and r["ci95"][0] <= 0.5 <= r["ci95"][1]
