"""The one protocol every scorer honours (like implicit's RecommenderBase), and the scorer registry."""
from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from engine.registry import Registry
from graph.common.errors import Img2SongError
from graph.corpus import Corpus
from graph.network import Network
from graph.rundir import RunDir

if TYPE_CHECKING:  # annotations only: importing the tables here would pull torch into every scorer import
    from engine.embeddings import EmbeddingTable
    from engine.features.table import FeatureTable


@dataclass(frozen=True)
class Query:
    """One image to recommend for. Scorers read the fields they need and fail clearly when one is missing."""

    image_id: str | None = None
    path: Path | None = None
    keywords: tuple[str, ...] = ()  # known keywords (evaluation) or keywords inferred from CNN tags
    features: np.ndarray | None = None  # CNN representation of the image (backbone of the run)
    tag_probs: np.ndarray | None = None  # keyword-space tag vector (TrainingSet.tag_vocab order)


@dataclass(frozen=True)
class Recommendation:
    song_id: str
    score: float  # higher = better
    explanation: str  # which neighbour images or keywords led here
    # the same reason as data (JSON-able), for reports: NE {"image", "neighbour", "cnn_distance", "ne_distance"},
    # KM {"matched": {word: count}} or {"backfill": true}; None when a scorer has nothing structured to say
    detail: dict[str, Any] | None = field(default=None, compare=False, hash=False)


@dataclass
class TrainingSet:
    """Everything a scorer may learn from: the corpus, the network and the artefacts of a run.

    Only training images are here (query images are held out of the network, and their keywords live in the
    evaluation's own object, which scorers never receive).
    """

    corpus: Corpus
    network: Network
    train_image_ids: list[str]
    image_keywords: dict[str, dict[str, float]]  # training image id -> keyword -> weight (as in the network)
    song_keywords: dict[str, dict[str, float]]  # song id -> keyword -> weight
    embeddings: EmbeddingTable | None = None  # LINE vectors over network vertex ids
    features: FeatureTable | None = None  # image id -> CNN vector
    tags: FeatureTable | None = None  # image id -> keyword-space tag probabilities (tag_vocab order)
    tag_vocab: list[str] = field(default_factory=list)
    tag_source: str = ""  # "keyword-probe" (learnt from the training images) or "imagenet-hypernyms"
    features_meta: dict[str, Any] = field(default_factory=dict)  # backbone and weights of `features`
    run: RunDir | None = None  # the run directory, for scorers that keep checkpoints there (LSTM)


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
        from engine.scorers.persist import save_scorer  # deferred: persist imports this module

        return save_scorer(self, path, signature)

    @classmethod
    def load(cls, path: str | Path) -> Scorer:
        """A scorer saved by save(); answers exactly as the one that was saved."""
        from engine.scorers.persist import load_scorer  # deferred: persist imports this module

        return load_scorer(path, expect=cls)


SCORERS: Registry = Registry("scorer", load_all="engine.scorers.all", entry_points="img2song.scorers")


def register_scorer(name: str) -> Callable[[type[Scorer]], type[Scorer]]:
    return SCORERS.register(name)


def get_scorer(name: str, **params: Any) -> Scorer:
    return SCORERS.get(name)(**params)


def scorer_names() -> list[str]:
    return SCORERS.names()


def load_scorer(path: str | Path) -> Scorer:
    """Any saved scorer (the class comes from the name in its params.json)."""
    from engine.scorers.persist import load_scorer as _load  # deferred: persist imports this module

    return _load(path)
