"""POP baseline: k random songs from the most popular ones, seeded per query (reproducible)."""
from __future__ import annotations

import hashlib

import numpy as np

from engine.scorers.base import Query, Recommendation, Scorer, TrainingSet, register_scorer
from graph.common.errors import Img2SongError


def query_seed(seed: int, query: Query) -> int:
    """A stable per-query seed: the same query always draws the same songs, different queries differ."""
    key = query.image_id or (str(query.path) if query.path else "|".join(query.keywords))
    return int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little")


@register_scorer("pop")
class POPScorer(Scorer):
    """Paper's POP: 10 songs drawn at random from the `pool` most popular (Song.popularity; ties by id)."""

    def __init__(self, pool: int = 100, seed: int = 0) -> None:
        self.pool = pool
        self.seed = seed

    def fit(self, data: TrainingSet) -> POPScorer:
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool < 1:
            raise Img2SongError(f"pop: parameter 'pool' must be an integer >= 1, got {self.pool!r}")
        songs = sorted(data.corpus.songs, key=lambda s: (-s.popularity, s.id))
        if not songs:
            raise Img2SongError("scorer 'pop': the corpus has no songs")
        top = songs[: self.pool]
        self.pool_ids_ = [s.id for s in top]
        self.pool_popularity_ = np.array([s.popularity for s in top], dtype=np.float64)
        return self

    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]:
        self._check_fitted("pool_ids_")
        rng = np.random.default_rng(query_seed(self.seed, query))
        pick = rng.choice(len(self.pool_ids_), size=min(k, len(self.pool_ids_)), replace=False)
        pick = sorted(pick.tolist())  # pool order = popularity order
        return [Recommendation(self.pool_ids_[j], float(self.pool_popularity_[j]),
                               f"random pick among the {len(self.pool_ids_)} most popular songs "
                               f"(#{j + 1}, popularity {self.pool_popularity_[j]:g})") for j in pick]
