"""The evaluation's query data: held-out images and their keywords. Only the metric reads it, never a scorer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from evaluation.stages.rundir import RunDir


@dataclass(frozen=True)
class EvalQueries:
    """Held-out query images of a run (split order), each with its keyword weights from keywords.json."""

    weights: dict[str, dict[str, float]]  # query image id -> keyword -> weight (may be empty)

    @property
    def ids(self) -> list[str]:
        return list(self.weights)

    def keywords(self) -> dict[str, list[str]]:
        """Query image -> its keywords, strongest first (ties by keyword)."""
        return {i: [w for w, _ in sorted(kw.items(), key=lambda x: (-x[1], x[0]))] for i, kw in self.weights.items()}


def load_eval_queries(run: RunDir | str | Path) -> EvalQueries:
    """Query images of the run's split.json with their keyword weights."""
    run = RunDir.of(run)
    split, kw = run.load_split(), run.load_keywords()
    return EvalQueries({i: kw.images.get(i, {}) for i in split.query})
