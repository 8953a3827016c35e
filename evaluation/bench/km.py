"""KM cases of `bench retrieval`: the keyword index and KM queries, today's code beside the code before, in one process.

- index build: `count_postings` (one Aho-Corasick pass for every keyword) against the build before it (one
  regular-expression scan of the joined lyrics per keyword), both over the same lower-cased lyrics; postings equal.
- km/per-call-scan: each query keyword counted in every lyric per call (before the inverted index).
- km/index-per-query-tie: the inverted index with a seeded permutation of every song drawn per query for the tie
  break (the query path before the permutation moved to fit).
- km/index: KMScorer as it is (postings built once, tie-break permutation drawn once at fit).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.index.keywords import _scan_one, count_postings, joined, normalise
from engine.scorers.base import Query
from engine.scorers.km import _MAX, KMScorer, count_occurrences
from engine.scorers.pop import query_seed
from engine.timing import timed


class _ScanKM(KMScorer):
    """KM as it was before the inverted index: each query keyword counted in every lyric, no cache."""

    def _matches(self, kws: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        per_kw = np.array([[count_occurrences(ly, w) for w in kws] for ly in self.lyrics_], dtype=np.int64)
        rows = np.flatnonzero(per_kw.sum(1) > 0)
        return rows, per_kw[rows]


class _PerQueryTieKM(KMScorer):
    """The query path before the tie-break moved to fit: a seeded permutation of every song drawn per query."""

    def recommend(self, query: Query, k: int = 10):
        self._query = query
        return super().recommend(query, k)

    def _order(self, rows: np.ndarray, total: np.ndarray, k: int) -> list[int]:
        rng = np.random.default_rng(query_seed(self.seed, self._query))
        tie = rng.permutation(len(self.song_ids_)).astype(np.int64)
        if not 0 < k <= len(rows):
            self.tie_ = tie
            return super()._order(rows, total, k)
        key = (np.minimum(total, _MAX) << 42) | (self.popularity_rank_[rows] << 21) | tie[rows]
        best = np.argpartition(-key, k - 1)[:k]
        return rows[best[np.argsort(-key[best])]].tolist()


def _regex_postings(lyrics: Sequence[str], vocab: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The keyword index build before the one-pass matcher: one regular-expression scan per keyword."""
    text, starts = joined([str(t).lower() for t in lyrics])
    return {normalise(w): _scan_one(normalise(w), text, starts) for w in dict.fromkeys(vocab)}


_clock = timed  # (result, wall s, CPU s)


def km_cases(song_ids: list[str], lyrics: list[str], popularity: np.ndarray, vocab: list[str],
             query_tags: np.ndarray, *, queries: int, baseline_queries: int, k: int, timer: Callable,
             case: Callable, rss: Callable[[], float], echo: Callable[[str], None] = print,
             progress: bool = True) -> tuple[list[Any], dict[str, Any]]:
    """Time the index builds and the three query paths; (cases, build figures)."""
    build: dict[str, Any] = {}
    before, wall_b, cpu_b = _clock(lambda: _regex_postings(lyrics, vocab))
    mem = rss()
    km, wall, cpu = _clock(lambda: KMScorer().fit_arrays(song_ids, lyrics, popularity, vocab, progress=progress))
    lower = km.lyrics_
    text, starts = joined(lower)
    after, wall_i, cpu_i = _clock(lambda: count_postings(text, starts, vocab))
    same = all(np.array_equal(before[w][0], after[w][0]) and np.array_equal(before[w][1], after[w][1])
               for w in before)
    build.update({"keyword_index_s": round(wall, 2), "keyword_index_cpu_s": round(cpu, 2),
                  "keyword_index_keywords": len(vocab), "keyword_index_rss_mb": round(rss() - mem, 1),
                  "keyword_postings_s": round(wall_i, 2), "keyword_postings_cpu_s": round(cpu_i, 2),
                  "keyword_index_before_s": round(wall_b, 2), "keyword_index_before_cpu_s": round(cpu_b, 2),
                  "keyword_index_same_postings": bool(same)})
    echo(f"keyword index: {len(vocab)} keywords over {len(lyrics)} lyrics: KM fit {wall:.1f} s ({cpu:.1f} s CPU), "
         f"of which postings {wall_i:.1f} s ({cpu_i:.1f} s CPU, one Aho-Corasick pass); before (a regex scan per "
         f"keyword) {wall_b:.1f} s ({cpu_b:.1f} s CPU) in this process; same postings: {'yes' if same else 'NO'}")
    tq = [Query(tag_probs=p, image_id=f"q{j}") for j, p in enumerate(query_tags)]
    nb = max(1, min(baseline_queries, queries))
    scan, old = _ScanKM(), _PerQueryTieKM()
    for other in (scan, old):
        other.__dict__.update({key: v for key, v in km.__dict__.items()})
    cases = []
    times, scan_recs = timer(lambda j: scan.recommend(tq[j], k), nb, warmup=1)
    cases.append(case("km/per-call-scan", times, notes="count the keyword in every lyric per call (before)"))
    times, _ = timer(lambda j: old.recommend(tq[j], k), min(queries, 50))
    cases.append(case("km/index-per-query-tie", times, notes="postings + a permutation of every song per query "
                                                               "(before)"))
    times, km_recs = timer(lambda j: km.recommend(tq[j], k), queries)
    same = all([r.song_id for r in a] == [r.song_id for r in b] for a, b in zip(scan_recs, km_recs))
    cases.append(case("km/index", times, notes="postings + tie order fixed at fit; answers equal the scan's: "
                                               f"{'yes' if same else 'NO'}"))
    return cases, build
