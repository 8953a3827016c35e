"""The one protocol every scorer honours (like implicit's RecommenderBase), and the scorer registry."""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from engine.inputs import Query, TrainingSet
from engine.scorers.names import SCORERS
from engine.scorers.persist import load_scorer as _load_saved
from engine.scorers.persist import save_scorer
from graph.common.errors import Img2SongError

__all__ = ["Query", "Recommendation", "Scorer", "TrainingSet", "SCORERS", "register_scorer", "get_scorer",
           "scorer_names", "load_scorer"]  # Query and TrainingSet live in engine.inputs; imported from here too


@dataclass(frozen=True)
class Recommendation:
    song_id: str
    score: float  # higher = better
    explanation: str  # which neighbour images or keywords led here
    # the same reason as data (JSON-able), for reports: NE {"image", "neighbour", "cnn_distance", "ne_distance"},
    # KM {"matched": {word: count}} or {"backfill": true}; None when a scorer has nothing structured to say
    detail: dict[str, Any] | None = field(default=None, compare=False, hash=False)


class Scorer(ABC):
    """fit(training set) -> self; recommend(query, k) -> ranked songs. Hyperparameters in __init__, state in `x_`."""

    name: ClassVar[str] = ""

    @abstractmethod
    def fit(self, data: TrainingSet) -> Scorer: ...

    @abstractmethod
    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]: ...

    def recommend_batch(self, queries: Sequence[Query], k: int = 10) -> list[list[Recommendation]]:
        return [self.recommend(q, k) for q in queries]

    def _check_fitted(self, attr: str) -> None:
        if not hasattr(self, attr):
            raise Img2SongError(f"scorer '{self.name}' is not fitted: call fit() first")

    def get_params(self) -> dict[str, Any]:
        """Constructor parameters and their values (scikit-learn's get_params)."""
        names = [p.name for p in inspect.signature(type(self).__init__).parameters.values()
                 if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        return {n: getattr(self, n) for n in names}

    def _get_state(self) -> dict[str, Any]:
        """What fit learned: public attributes ending in `_` (override to leave out caches or convert)."""
        return {k: v for k, v in vars(self).items() if k.endswith("_") and not k.startswith("_")}

    def _set_state(self, state: dict[str, Any]) -> None:
        """Inverse of _get_state, on a freshly constructed scorer."""
        for k, v in state.items():
            setattr(self, k, v)

    def save(self, path: str | Path, signature: str | None = None) -> Path:
        """Fitted state into directory `path` (params.json, state.json, arrays.npz, ...), atomically."""
        return save_scorer(self, path, signature)

    @classmethod
    def load(cls, path: str | Path) -> Scorer:
        """A scorer saved by save(); answers exactly as the one that was saved."""
        return _load_saved(path, expect=cls)




def register_scorer(name: str) -> Callable[[type[Scorer]], type[Scorer]]:
    return SCORERS.register(name)


def get_scorer(name: str, **params: Any) -> Scorer:
    return SCORERS.get(name)(**params)


def scorer_names() -> list[str]:
    return SCORERS.names()


def load_scorer(path: str | Path) -> Scorer:
    """Any saved scorer (the class comes from the name in its params.json)."""
    return _load_saved(path)
