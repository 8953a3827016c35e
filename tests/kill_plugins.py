"""Scorers that take their time, for the kill tests (tests/test_kill_stages.py): `--scorer-module tests.kill_plugins`.

A kill is timed on the progress the process reports; these give it a window to land in (a real fit or a real
query on the tiny test runs takes milliseconds). They sleep, so they cost the shared machine no CPU, and they answer
exactly what POP answers, so their saved state and their report rows are deterministic.
"""
from __future__ import annotations

import time

from engine.scorers.base import register_scorer
from engine.scorers.pop import POPScorer

FIT_S = 1.5  # seconds a fit waits: the other scorers of fit-scorers are saved meanwhile, or not yet
QUERY_S = 0.05  # seconds a query waits: evaluate's progress bar is seen between 0 and N


@register_scorer("slow-pop")
class SlowPOP(POPScorer):
    """POP, slowly."""

    def fit(self, data):  # noqa: ANN001, ANN201
        time.sleep(FIT_S)
        return super().fit(data)

    def recommend(self, query, k=10):  # noqa: ANN001, ANN201
        time.sleep(QUERY_S)
        return super().recommend(query, k)
