"""Paired tests of the report: which pairs, and the precision sign-flip test's known answers."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation.measure.paired import pairs, sign_flip_p
from evaluation.measure.report import build_report


def test_pairs_put_fused_and_zs_against_every_other_scorer_once():
    got = pairs(["ne", "km", "pop", "zs", "fused"])
    assert got == [("fused", "ne"), ("fused", "km"), ("fused", "pop"), ("fused", "zs"),
                   ("zs", "ne"), ("zs", "km"), ("zs", "pop"), ("ne", "km"), ("ne", "pop")]
    assert pairs(["km", "pop"]) == []


def test_sign_flip_known_answers():
    a = np.linspace(0, 1, 30)
    assert sign_flip_p(a, a) == 1.0
    assert sign_flip_p(a + 0.5, a, n_perm=999) == pytest.approx(1 / 1000)  # every flip gives a smaller |mean|
    rng = np.random.default_rng(1)
    x, y = rng.random(200), rng.random(200)
    p = sign_flip_p(x, y, n_perm=999)
    assert 0.05 < p <= 1.0 and p == sign_flip_p(y, x, n_perm=999)  # two-sided, symmetric


def test_report_tests_precision_of_fused_against_the_others():
    hits = {"fused": [[1, 1, 1], [1, 1, 0], [1, 0, 1], [1, 1, 1]], "ne": [[1, 0, 0], [0, 0, 0], [0, 0, 1], [1, 0, 0]],
            "zs": [[0, 0, 0], [0, 0, 0], [0, 0, 1], [0, 0, 0]]}
    rows = [{"scorer": s, "n": 0, "image": f"q{j}", "songs": ["a", "b", "c"], "hits": [bool(x) for x in h]}
            for s, hs in hits.items() for j, h in enumerate(hs)]
    rep = build_report(rows, ["ne", "zs", "fused"], [0], k=3, n_boot=200)
    assert set(rep.paired_tests) == {"fused_vs_ne", "fused_vs_zs", "zs_vs_ne"}
    t = rep.paired_tests["fused_vs_ne"]["0"]
    assert (t["only_first"], t["only_second"]) == (1, 0)  # q1: only fused hits
    assert t["precision"]["diff"] == pytest.approx((10 - 3) / 12)
    assert 0 < t["precision"]["p_value"] <= 1
    assert "sign-flip p" in rep.markdown()
