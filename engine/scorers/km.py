"""KM baseline: songs whose lyrics contain the image's keyword(s), most occurrences first."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from engine.features.tags import top_keywords
from engine.index.keywords import KeywordIndex
from engine.scorers.base import Query, Recommendation, Scorer, TrainingSet, register_scorer
from graph.common.errors import Img2SongError

_MAX = (1 << 21) - 1  # occurrence counts, popularity ranks and tie ranks each get 21 bits of one sort key


def count_occurrences(lyrics_lower: str, word: str) -> int:
    """Case-insensitive substring count; > 0 exactly when graph.keywords.contains_any(lyrics, [word])."""
    w = word.strip().lower()
    return lyrics_lower.count(w) if w else 0


@register_scorer("km")
class KMScorer(Scorer):
    """Keyword matching: query.keywords (else the top CNN-tag keywords) counted in each song's lyrics.

    Rank: total occurrences, then popularity, then a random tie break: one permutation of the songs drawn at fit
    from `seed` (tie_), so a query costs the matching songs alone. With fewer than k matching songs, the rest is
    filled with the most popular songs (when `backfill`, in the order backfill_order_ fixed at fit), and says so.
    """

    def __init__(self, n_tag_keywords: int = 1, min_tag_mass: float = 0.05, seed: int = 0,
                 backfill: bool = True) -> None:
        self.n_tag_keywords = n_tag_keywords
        self.min_tag_mass = min_tag_mass
        self.seed = seed
        self.backfill = backfill

    def fit(self, data: TrainingSet) -> KMScorer:
        songs = data.corpus.songs
        if not songs:
            raise Img2SongError("scorer 'km': the corpus has no songs")
        return self.fit_arrays([s.id for s in songs], [s.lyrics for s in songs], [s.popularity for s in songs],
                               data.tag_vocab, data.tags)

    def fit_arrays(self, song_ids: Sequence[str], lyrics: Sequence[str], popularity: Sequence[float],
                   tag_vocab: Sequence[str], tags=None, progress: bool = False) -> KMScorer:
        """Fit from song columns (ids, lyrics, popularity) and the keyword vocabulary of the tag vectors."""
        if not song_ids:
            raise Img2SongError("scorer 'km': the corpus has no songs")
        if len(song_ids) >= _MAX:
            raise Img2SongError(f"scorer 'km' supports at most {_MAX - 1} songs")
        self.song_ids_ = list(song_ids)
        self.lyrics_ = [t.lower() for t in lyrics]
        # inverted index keyword -> (songs, counts), built once over the run's vocabulary; other words on first use
        self.keyword_index_ = KeywordIndex().fit(self.lyrics_, tag_vocab, progress=progress)
        self.popularity_ = np.asarray(popularity, dtype=np.float64)
        self.popularity_rank_ = np.unique(self.popularity_, return_inverse=True)[1].reshape(-1).astype(np.int64)
        self.tag_vocab_ = list(tag_vocab)
        self.tags_ = tags
        self.tie_ = np.random.default_rng(self.seed).permutation(len(self.song_ids_)).astype(np.int64)
        # every song by (popularity, tie) descending: the backfill order, and the order of songs without a match
        self.backfill_order_ = np.argsort(-self._key(np.zeros(len(self.song_ids_), np.int64)), kind="stable")
        return self

    def _key(self, total: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """One int64 sort key per song: occurrences (capped), popularity rank, fit-time tie rank; higher first."""
        pop, tie = (self.popularity_rank_, self.tie_) if rows is None else (self.popularity_rank_[rows],
                                                                            self.tie_[rows])
        return (np.minimum(total, _MAX) << 42) | (pop << 21) | tie

    def query_keywords(self, query: Query) -> tuple[str, ...]:
        """Known keywords, else the strongest CNN-tag keywords; an error when there are neither."""
        if query.keywords:
            return tuple(query.keywords)
        probs = query.tag_probs
        if probs is None and self.tags_ is not None and query.image_id in self.tags_:
            probs = self.tags_[query.image_id]
        if probs is None:
            raise Img2SongError(f"scorer 'km' needs keywords or CNN tags for image {query.image_id or query.path}")
        kws = top_keywords(probs, self.tag_vocab_, self.n_tag_keywords, self.min_tag_mass)
        if not kws:
            raise Img2SongError(f"scorer 'km': no keyword reaches tag mass {self.min_tag_mass} for image "
                                f"{query.image_id or query.path}")
        return kws

    def _top(self, total: np.ndarray, k: int) -> list[int]:
        """Rows of the k best songs by the sort key over every song (the dense reference of _order); without
        backfill only songs with an occurrence."""
        key = self._key(total)
        rows = np.flatnonzero(total > 0) if not self.backfill else np.arange(len(total))
        key = key[rows]
        kk = min(k, len(key))
        if kk == 0:
            return []
        best = np.argpartition(-key, kk - 1)[:kk]
        return rows[best[np.argsort(-key[best])]].tolist()

    def _matches(self, kws: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Songs holding any keyword (ascending rows) and their occurrences per keyword [rows, len(kws)]."""
        posts = [self.keyword_index_.postings(w) for w in kws]
        rows = np.unique(np.concatenate([r for r, _ in posts]).astype(np.int64))
        per_kw = np.zeros((len(rows), len(kws)), dtype=np.int64)
        for j, (r, c) in enumerate(posts):
            per_kw[np.searchsorted(rows, r), j] = c
        return rows, per_kw

    def _order(self, rows: np.ndarray, total: np.ndarray, k: int) -> list[int]:
        """_top's answer touching only the matching songs (and k backfill songs): any match outranks every song
        without one (the count holds the key's top bits), and songs without one come in backfill_order_."""
        if k <= 0:
            return []
        key = self._key(total, rows)
        kk = min(k, len(rows))
        best = np.argpartition(-key, kk - 1)[:kk] if kk < len(rows) else np.arange(len(rows))
        out = rows[best[np.argsort(-key[best])]].tolist()
        if len(out) < k and self.backfill:
            head = self.backfill_order_[:k + len(rows)]
            out += head[~np.isin(head, rows)][:k - len(out)].tolist()
        return out

    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]:
        self._check_fitted("lyrics_")
        kws = self.query_keywords(query)
        rows, per_kw = self._matches(kws)
        total = per_kw.sum(1)
        order = self._order(rows, total, k)
        where = {int(r): j for j, r in enumerate(rows)}
        out: list[Recommendation] = []
        for song in order:
            j = where.get(song)
            if j is not None:
                hits = ", ".join(f"'{w}' x{c}" for w, c in zip(kws, per_kw[j]) if c)
                out.append(Recommendation(self.song_ids_[song], float(total[j]), f"lyrics contain {hits}",
                                          {"matched": {w: int(c) for w, c in zip(kws, per_kw[j]) if c}}))
            else:
                out.append(Recommendation(self.song_ids_[song], 0.0,
                                          f"no lyric left containing {', '.join(kws)}: popular backfill "
                                          f"(popularity {self.popularity_[song]:g})", {"backfill": True}))
        return out
