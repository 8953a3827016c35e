"""`fused`: img2song's best scorer. Four views of the photo, each a ranked list of songs, combined linearly:

  ne    the paper's NE: CNN-nearest training images, then their NE-nearest songs (the graph);
  line  ne+'s placement of the photo in the LINE space through its predicted keywords (the graph);
  km    keyword matching on the predicted keywords: sum of the top keywords' probabilities whose word the
        lyric contains by the ground truth's occurrence rule (the probe's distribution, Query.tag_probs; never
        the query's own keywords);
  zs    the zero-shot text similarity (scorer `zs`: the photo's words and the lyric in e5's space).

Each view scores the union of the views' top-`depth` songs on [0, 1] (ne, line: reciprocal rank 1 + R / (R + r),
R = 10; km: probability mass matched; zs: cosine rescaled so its best song is 1 and its depth-th is 0). The fused
score is w . scores; the weights w (a grid on the simplex, steps of 1/`steps`) are chosen on a seeded validation
split of the TRAINING images (NE and the LINE placement refitted on the other training images; their keywords are
the ground truth at n = 0), maximising hit-rate@10 + precision@10 (never on query images). Ties: zs cosine, then
corpus order. Each song is explained by the parts that put it there (Recommendation.detail["parts"]).
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from engine.index.keywords import KeywordIndex
from engine.scorers.base import Query, Recommendation, Scorer, TrainingSet, register_scorer
from engine.scorers.ne import NEScorer
from engine.scorers.ne_plus import NEPlusScorer, is_flat
from engine.scorers.zs import ZeroShotScorer
from graph.common.errors import Img2SongError
from graph.occurrences import contains_any

PARTS = ("ne", "line", "km", "zs")
RRF = 10.0


def simplex_grid(parts: int, steps: int) -> list[tuple[float, ...]]:
    """Every weight vector with `parts` entries in multiples of 1/steps summing to 1."""
    return [tuple(c / steps for c in combo) for combo in itertools.product(range(steps + 1), repeat=parts)
            if sum(combo) == steps]


def rank_scores(lists: Sequence[Sequence[int]], n: int) -> np.ndarray:
    """[queries, n] reciprocal-rank scores (1 for the first song, -> 0 down the list, 0 when absent)."""
    out = np.zeros((len(lists), n), np.float32)
    for j, lst in enumerate(lists):
        for r, s in enumerate(lst):
            out[j, s] = max(out[j, s], (RRF + 1.0) / (RRF + 1.0 + r))
    return out


@register_scorer("fused")
class FusedScorer(Scorer):
    """NE + LINE keyword placement + KM on predicted keywords + zero-shot text, weights chosen on training images."""

    def __init__(self, n_images: int = 5, songs_per_image: int = 2, top_keywords: int = 3, depth: int = 50,
                 steps: int = 8, val_fraction: float = 0.2, flat_ratio: float = 1.0, seed: int = 0,
                 zs_describe: str = "keywords") -> None:
        self.n_images, self.songs_per_image, self.top_keywords, self.depth = n_images, songs_per_image, top_keywords, depth
        self.steps, self.val_fraction, self.flat_ratio, self.seed = steps, val_fraction, flat_ratio, seed
        self.zs_describe = zs_describe

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, data: TrainingSet) -> FusedScorer:
        if data.tags is None:
            raise Img2SongError("scorer 'fused' needs keyword distributions of the images: run `img2song features "
                                "--run DIR` first (it trains the keyword probe)")
        if self.depth < 10 or self.steps < 1:
            raise Img2SongError(f"scorer 'fused': depth must be >= 10 and steps >= 1 (got {self.depth}, {self.steps})")
        self.neplus_ = NEPlusScorer(self.n_images, self.songs_per_image, self.top_keywords, alphas=(0.0,),
                                    flat_ratio=self.flat_ratio, depth=self.depth, seed=self.seed).fit(data)
        self.zs_ = ZeroShotScorer(describe=self.zs_describe, top=self.top_keywords).fit(data)
        self.song_ids_ = list(self.zs_.song_ids_)
        self.tag_vocab_ = list(data.tag_vocab)
        # which lyric contains which keyword: the one occurrence rule (graph.occurrences) that the network links by,
        # KM counts and a ground-truth hit is judged by (a substring test would count 人头 inside 佳人头)
        index = KeywordIndex().fit([s.lyrics for s in data.corpus.songs], self.tag_vocab_)
        self.contains_ = np.zeros((len(self.tag_vocab_), len(self.song_ids_)), dtype=bool)
        for r, w in enumerate(self.tag_vocab_):
            if w.strip():
                self.contains_[r, index.postings(w)[0]] = True
        self.weights_, self.validation_ = self._choose_weights(data)
        return self

    def _rows(self, ids: Sequence[str]) -> list[int]:
        index = self.__dict__.setdefault("_row", {s: j for j, s in enumerate(self.song_ids_)})
        return [index[s] for s in ids if s in index]

    def _choose_weights(self, data: TrainingSet) -> tuple[list[float], dict]:
        npl = self.neplus_
        ids = [i for i in npl.ne_.image_ids_ if data.image_keywords.get(i) and i in data.tags]
        rng = np.random.default_rng(self.seed)
        val = sorted(rng.permutation(ids)[: max(1, int(round(self.val_fraction * len(ids))))].tolist()) if ids else []
        rest = [i for i in data.train_image_ids if i not in set(val)]
        grid = simplex_grid(len(PARTS), self.steps)
        if len(val) < 2 or len(rest) < self.n_images:
            return [1.0, 0.0, 0.0, 0.0], {"images": len(val), "note": "too few training images: the paper's NE"}
        sub = replace(data, train_image_ids=rest)
        ne_val = NEScorer(self.n_images, self.songs_per_image).fit(sub)
        cent, has = npl._centroids(sub, set(rest))
        queries = [Query(image_id=i, features=data.features[i], tag_probs=data.tags[i]) for i in val]
        parts, cand, _ = self._parts(queries, ne_val, cent, has)
        truth = np.zeros((len(val), len(self.song_ids_)), bool)
        index = {w: j for j, w in enumerate(self.tag_vocab_)}
        for j, i in enumerate(val):
            for w in data.image_keywords[i]:
                if w in index:
                    truth[j] |= self.contains_[index[w]]
                else:  # a keyword outside the tag vocabulary: the ground truth's rule on every lyric
                    truth[j] |= np.array([contains_any(s.lyrics, [w]) for s in data.corpus.songs])
        curve = {}
        for w in grid:
            top = self._top(parts, cand, np.asarray(w, np.float32), 10)
            hits = np.array([[truth[j, s] for s in row] + [False] * (10 - len(row)) for j, row in enumerate(top)])
            curve[",".join(f"{x:g}" for x in w)] = (float(hits.any(1).mean()), float(hits.mean()))
        best = max(grid, key=lambda w: (sum(curve[",".join(f"{x:g}" for x in w)]), w[0]))
        table = {k: {"hit_rate": v[0], "precision": v[1]} for k, v in curve.items()}
        return list(best), {"images": len(val), "parts": list(PARTS),
                            "metric": "hit_rate@10 + precision@10 of the validation images' own keywords (n=0)",
                            "by_weights": table}

    # ------------------------------------------------------------------------------------------- the parts
    def _parts(self, queries: Sequence[Query], ne: NEScorer, cent: np.ndarray, has: np.ndarray
               ) -> tuple[dict[str, np.ndarray], list[np.ndarray], list[list[Recommendation]]]:
        """Per part [queries, songs] scores on [0, 1], each query's candidate rows (union of the tops), NE's lists."""
        n, d = len(self.song_ids_), self.depth
        ne_recs = ne.recommend_batch(queries, d)
        ne_lists = [self._rows([r.song_id for r in recs]) for recs in ne_recs]
        kw = self.neplus_._keyword_lists(queries, cent, has)
        line_lists = [self._rows(lst) for lst, _ in kw]
        probs = np.zeros((len(queries), len(self.tag_vocab_)), np.float64)
        for j, q in enumerate(queries):
            p = self.neplus_._probs(q)
            if p is not None and len(p) == len(self.tag_vocab_) and not is_flat(p, self.flat_ratio):
                top = np.lexsort((np.arange(len(p)), -p))[: self.top_keywords]
                probs[j, top] = p[top] / p[top].sum() if p[top].sum() > 0 else 0.0
        km = (probs @ self.contains_).astype(np.float32)
        cos, _ = self.zs_.similarities(queries)
        cos = cos.astype(np.float32)
        order = np.argsort(-cos, axis=1, kind="stable")[:, :d]
        hi = np.take_along_axis(cos, order[:, :1], 1)
        lo = np.take_along_axis(cos, order[:, -1:], 1)
        zs = np.clip((cos - lo) / np.maximum(hi - lo, 1e-6), 0.0, 1.0)
        parts = {"ne": rank_scores(ne_lists, n), "line": rank_scores(line_lists, n), "km": km, "zs": zs, "cos": cos}
        cand = []
        for j in range(len(queries)):
            km_top = np.lexsort((-cos[j], -km[j]))[:d]
            km_top = km_top[km[j][km_top] > 0]
            cand.append(np.unique(np.concatenate([np.asarray(ne_lists[j], np.int64),
                                                  np.asarray(line_lists[j], np.int64), km_top, order[j]])))
        return parts, cand, ne_recs

    @staticmethod
    def _top(parts: dict[str, np.ndarray], cand: list[np.ndarray], w: np.ndarray, k: int) -> list[np.ndarray]:
        out = []
        for j, rows in enumerate(cand):
            score = sum(w[i] * parts[p][j, rows] for i, p in enumerate(PARTS))
            order = np.lexsort((rows, -parts["cos"][j, rows], -score))[:k]
            out.append(rows[order])
        return out

    # ------------------------------------------------------------------------------------------- recommend
    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]:
        return self.recommend_batch([query], k)[0]

    def recommend_batch(self, queries: Sequence[Query], k: int = 10) -> list[list[Recommendation]]:
        self._check_fitted("weights_")
        if not queries:
            return []
        npl = self.neplus_
        parts, cand, ne_recs = self._parts(queries, npl.ne_, npl.centroids_, npl.has_centroid_)
        w = np.asarray(self.weights_, np.float32)
        ne_why = [{r.song_id: r for r in recs} for recs in ne_recs]
        out = []
        for j, rows in enumerate(self._top(parts, cand, w, k)):
            rows_d, ww = self.zs_.describe_query(queries[j])
            words = [(self.zs_.phrases_[r], round(float(x), 3)) for r, x in zip(rows_d, ww)]
            recs = []
            for s in rows:
                sid = self.song_ids_[s]
                contrib = {p: round(float(w[i] * parts[p][j, s]), 4) for i, p in enumerate(PARTS)}
                why = []
                if contrib["ne"] > 0 and sid in ne_why[j]:
                    why.append(f"NE: {ne_why[j][sid].explanation}")
                if contrib["line"] > 0:
                    why.append(f"LINE: near the photo's placement from its predicted keywords "
                               f"(score {parts['line'][j, s]:.2f})")
                if contrib["km"] > 0:
                    matched = [t for t, _ in words if t in self.tag_vocab_
                               and self.contains_[self.tag_vocab_.index(t), s]]
                    why.append(f"KM: lyrics contain predicted keyword(s) {', '.join(matched)}")
                if contrib["zs"] > 0:
                    why.append(f"zs: cosine {parts['cos'][j, s]:.3f} to the photo's words")
                score = float(sum(w[i] * parts[p][j, s] for i, p in enumerate(PARTS)))
                recs.append(Recommendation(sid, score, "; ".join(why) or "backfill (no part scored it)",
                                           {"parts": contrib, "weights": dict(zip(PARTS, map(float, w))),
                                            "cosine": round(float(parts["cos"][j, s]), 4), "description": words}))
            out.append(recs)
        return out
