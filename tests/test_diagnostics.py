"""The report says when its queries cannot tell scorers apart: query diversity, macro hit rate, coverage."""
from __future__ import annotations

import pytest

from evaluation.measure.diagnostics import (
    MIN_KEYWORD_SETS,
    catalogue_coverage,
    macro_hit_rates,
    query_diversity,
)
from evaluation.measure.report import build_report


def _rows(keyword_sets: list[list[str]], hits_by_scorer: dict[str, list[bool]], songs_by_scorer=None) -> list[dict]:
    rows = []
    for s, hits in hits_by_scorer.items():
        for q, (kws, h) in enumerate(zip(keyword_sets, hits)):
            songs = (songs_by_scorer or {}).get(s, lambda q: [f"t{q}"])(q)
            rows.append({"protocol": "photo", "scorer": s, "n": 0, "image": f"q{q:03d}", "keywords": kws,
                         "songs": songs, "hits": [h] + [False] * (len(songs) - 1)})
    return rows


def test_degenerate_query_set_warns_in_json_markdown():
    """61 queries over 8 keyword sets (the issue's case): an 8-way classification, warned about."""
    sets = [[f"k{q % 8}"] for q in range(61)]
    rows = _rows(sets, {"ne": [True] * 61, "km": [q % 8 != 0 for q in range(61)]})
    d = query_diversity(rows)
    assert d["distinct_keyword_sets"] == 8 and d["queries"] == 61
    assert 7.9 < d["effective_keyword_sets"] <= 8.0 and d["min_detectable_difference"] == pytest.approx(6 / 7.99, 0.01)
    assert d["warning"] and "8 distinct keyword sets" in d["warning"]
    rep = build_report(rows, ["ne", "km"], [0], k=1, n_boot=50, meta={"catalogue_songs": 1000})
    assert rep.to_json()["diagnostics"]["query_diversity"]["warning"] == d["warning"]
    md = rep.markdown()
    assert "> **Warning:**" in md and md.index("**Warning:**") < md.index("## Protocol `photo`")


def test_diverse_query_set_does_not_warn_and_one_dominant_set_does():
    diverse = [[f"k{q}", f"k{q + 1}"] for q in range(60)]
    d = query_diversity(_rows(diverse, {"ne": [True] * 60}))
    assert d["distinct_keyword_sets"] == 60 and d["effective_keyword_sets"] == pytest.approx(60.0)
    assert d["warning"] is None and d["min_detectable_difference"] == pytest.approx(0.1)
    assert "**Warning:**" not in build_report(_rows(diverse, {"ne": [True] * 60}), ["ne"], [0], k=1,
                                              n_boot=20).markdown()
    # 100 distinct sets, but one holds 70 % of the 330 queries: few effective sets
    skewed = [["a"]] * 231 + [[f"k{q}"] for q in range(99)]
    d = query_diversity(_rows(skewed, {"ne": [True] * 330}))
    assert d["distinct_keyword_sets"] == 100 and d["effective_keyword_sets"] < MIN_KEYWORD_SETS
    assert d["warning"] is not None


def test_macro_hit_rate_weighs_keywords_equally():
    # keyword a: 9 queries, all hit; keyword b: 1 query, missed -> micro 0.9, macro 0.5
    sets = [["a"]] * 9 + [["b"]]
    rows = _rows(sets, {"ne": [True] * 9 + [False]})
    assert macro_hit_rates(rows, ["ne"], [0], k=1) == {"ne": {"0": 0.5}}
    rep = build_report(rows, ["ne"], [0], k=1, n_boot=20)
    assert rep.scorers["ne"]["hit_rate@1"]["0"] == pytest.approx(0.9)
    assert "0.900 / 0.500" in rep.markdown()
    # a query with two keywords counts for both
    both = _rows([["a", "b"], ["a"]], {"ne": [True, False]})
    assert macro_hit_rates(both, ["ne"], [0], k=1)["ne"]["0"] == pytest.approx((0.5 + 1.0) / 2)
    assert macro_hit_rates(both, ["km"], [0], k=1)["km"]["0"] is None  # no query answered: null, never NaN


def test_catalogue_coverage_counts_distinct_songs():
    sets = [["a"]] * 4
    rows = _rows(sets, {"pop": [True] * 4, "ne": [True] * 4},
                 {"pop": lambda q: ["s1", "s2"], "ne": lambda q: [f"s{q}", f"s{q + 10}"]})
    cov = catalogue_coverage(rows, ["pop", "ne"], 100)
    assert cov == {"pop": {"distinct_songs": 2, "share": 0.02}, "ne": {"distinct_songs": 8, "share": 0.08}}
    assert catalogue_coverage(rows, ["ne"], None)["ne"]["share"] is None
    md = build_report(rows, ["pop", "ne"], [0], k=2, n_boot=20, meta={"catalogue_songs": 100}).markdown()
    assert "pop 2 (2.0%), ne 8 (8.0%)" in md


def test_macro_hit_rate_is_bitwise_the_same_under_any_string_hash_seed():
    """Keywords are summed in one order: a set's order (it changes with PYTHONHASHSEED) must not reach the float sum."""
    import os
    import subprocess
    import sys

    code = ("import random; from evaluation.measure.diagnostics import macro_hit_rates\n"
            "rng = random.Random(0); words = [chr(0x4e00 + j) * 2 for j in range(40)]\n"
            "rows = [{'scorer': 'ne', 'n': 0, 'image': f'q{i}', 'keywords': rng.sample(words, 3),\n"
            "         'hits': [rng.random() < 0.3 for _ in range(10)]} for i in range(300)]\n"
            "print(repr(macro_hit_rates(rows, ['ne'], [0], k=10)['ne']['0']))")
    out = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (0, 1, 2, 3)}
    assert len(out) == 1, out
