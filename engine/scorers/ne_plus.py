"""`ne+`: NE beyond the paper. The photo also enters the LINE space through the keywords predicted from its pixels.

Keyword path: each keyword k has a position c_k in the LINE space, the weighted mean of the NE vectors of the
training images linked to it (the closed form of placing a new image vertex with edges to k); a query photo is
placed at sum_k p_k c_k over its predicted keyword distribution p (TrainingSet.tags: the corpus-trained keyword
probe when the run has one), and its NE-nearest songs are taken. Image path: the paper's NE (CNN-nearest training
images, then their NE-nearest songs). The two ranked lists are fused by weighted reciprocal rank,
alpha / (R + r_keyword) + (1 - alpha) / (R + r_image), with alpha chosen on a seeded validation split of the
training images (hit rate@k, then precision@k, of the validation images' own keywords; never a query image). A flat
prediction (see `is_flat`) leaves the keyword path out: the scorer then answers exactly as the paper's NE.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from engine.knn import knn
from engine.scorers.base import Query, Recommendation, Scorer, TrainingSet, register_scorer
from engine.scorers.ne import NEScorer
from graph.common.errors import Img2SongError
from graph.network import Kind, vertex_id
from graph.occurrences import contains_any

RRF = 10.0  # reciprocal-rank offset R: small, so that the first places of each list weigh most
ALPHAS = tuple(round(a, 2) for a in np.linspace(0.0, 1.0, 11))


def is_flat(p: np.ndarray, flat_ratio: float) -> bool:
    """A prediction is flat when its largest probability is below flat_ratio * 2 / V (near uniform)."""
    p = np.asarray(p, dtype=np.float64).reshape(-1)
    return len(p) == 0 or not np.isfinite(p).all() or p.sum() <= 0 or p.max() / p.sum() < flat_ratio * 2.0 / len(p)


@register_scorer("ne+")
class NEPlusScorer(Scorer):
    """Paper's NE fused with a keyword-distribution placement of the photo in the LINE space."""

    def __init__(self, n_images: int = 5, songs_per_image: int = 2, top_keywords: int = 3,
                 alphas: Sequence[float] = ALPHAS, val_fraction: float = 0.2, flat_ratio: float = 1.0,
                 depth: int = 30, seed: int = 0) -> None:
        self.n_images, self.songs_per_image, self.top_keywords = n_images, songs_per_image, top_keywords
        self.alphas, self.val_fraction, self.flat_ratio, self.depth, self.seed = (tuple(alphas), val_fraction,
                                                                                  flat_ratio, depth, seed)

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, data: TrainingSet) -> NEPlusScorer:
        if data.tags is None:
            raise Img2SongError("scorer 'ne+' needs keyword distributions of the images: run `img2song features "
                                "--run DIR` first (it trains the keyword probe)")
        self.ne_ = NEScorer(self.n_images, self.songs_per_image).fit(data)
        self.tag_vocab_ = list(data.tag_vocab)
        self.tags_ = data.tags
        self.song_ids_, self.song_vectors_ = self.ne_.song_ids_, self.ne_.song_vectors_
        self.centroids_, self.has_centroid_ = self._centroids(data, set(data.train_image_ids))
        self.alpha_, self.validation_ = self._choose_alpha(data)
        return self

    def _centroids(self, data: TrainingSet, images: set[str]) -> tuple[np.ndarray, np.ndarray]:
        """c_k: weighted mean NE vector of the given training images linked to keyword k (zeros when none)."""
        emb = data.embeddings
        index = {w: j for j, w in enumerate(self.tag_vocab_)}
        acc = np.zeros((len(self.tag_vocab_), self.song_vectors_.shape[1]), np.float64)
        mass = np.zeros(len(self.tag_vocab_), np.float64)
        for i in sorted(images):
            v = vertex_id(Kind.IMAGE, i)
            if v not in emb:
                continue
            for w, weight in data.image_keywords.get(i, {}).items():
                if w in index:
                    acc[index[w]] += weight * np.asarray(emb[v], np.float64)
                    mass[index[w]] += weight
        has = mass > 0
        acc[has] /= mass[has, None]
        return acc.astype(np.float32), has

    def _choose_alpha(self, data: TrainingSet) -> tuple[float, dict]:
        """Fusion weight with the best validation precision@k (ties: the smaller alpha, nearer the paper)."""
        ids = [i for i in self.ne_.image_ids_ if data.image_keywords.get(i) and i in self.tags_]
        rng = np.random.default_rng(self.seed)
        val = sorted(rng.permutation(ids)[: max(1, int(round(self.val_fraction * len(ids))))].tolist()) if ids else []
        rest = [i for i in data.train_image_ids if i not in set(val)]
        if len(val) < 2 or len(rest) < self.n_images:
            return 0.0, {"images": len(val), "note": "too few training images to choose alpha: paper's NE"}
        sub = replace(data, train_image_ids=rest)
        ne_val, (cent, has) = NEScorer(self.n_images, self.songs_per_image).fit(sub), self._centroids(sub, set(rest))
        queries = [Query(image_id=i, features=data.features[i], tag_probs=self.tags_[i]) for i in val]
        img_lists = [[r.song_id for r in recs] for recs in ne_val.recommend_batch(queries, self.depth)]
        kw_lists = self._keyword_lists(queries, cent, has)
        lyrics = {s.id: s.lyrics for s in data.corpus.songs}
        k = 10
        curve: dict[str, dict[str, float]] = {}
        for a in self.alphas:
            hit, prec = [], []
            for q, il, (kl, _) in zip(queries, img_lists, kw_lists):
                top = [s for s, _ in self._fuse(il, kl, a, k)]
                words = list(data.image_keywords[q.image_id])
                hits = [contains_any(lyrics.get(s, ""), words) for s in top]
                hit.append(float(any(hits)))
                prec.append(sum(hits) / k)
            curve[str(a)] = {"hit_rate": float(np.mean(hit)), "precision": float(np.mean(prec))}
        # hit rate first (the paper's measure), precision breaks ties, then the smaller alpha (nearer the paper)
        best = max(self.alphas, key=lambda a: (curve[str(a)]["hit_rate"], curve[str(a)]["precision"], -a))
        return float(best), {"images": len(val), "metric": f"hit_rate@{k}, then precision@{k}, of the validation "
                                                            "images' own keywords (n=0)", "by_alpha": curve}

    # ------------------------------------------------------------------------------------------- recommend
    def _probs(self, q: Query) -> np.ndarray | None:
        if q.tag_probs is not None:
            return np.asarray(q.tag_probs, np.float64).reshape(-1)
        if q.image_id is not None and q.image_id in self.tags_:
            return np.asarray(self.tags_[q.image_id], np.float64)
        return None

    def _keyword_lists(self, queries: Sequence[Query], cent: np.ndarray,
                       has: np.ndarray) -> list[tuple[list[str], list[tuple[str, float]]]]:
        """Per query: songs NE-nearest to its keyword placement (empty when the prediction is flat or missing),
        and the keywords used."""
        pos, used, rows = [], [], []
        for j, q in enumerate(queries):
            p = self._probs(q)
            if p is None or len(p) != len(self.tag_vocab_) or is_flat(p, self.flat_ratio):
                used.append([])
                continue
            p = np.where(has, p, 0.0)
            top = [t for t in np.argsort(-p, kind="stable")[: self.top_keywords] if p[t] > 0]
            if not top:
                used.append([])
                continue
            w = p[top] / p[top].sum()
            pos.append((w[:, None] * cent[top]).sum(0))
            used.append([(self.tag_vocab_[t], float(p[t])) for t in top])
            rows.append(j)
        lists: list[list[str]] = [[] for _ in queries]
        if rows:
            _, idx = knn(np.stack(pos).astype(np.float32), self.song_vectors_, min(self.depth, len(self.song_ids_)))
            for r, j in enumerate(rows):
                lists[j] = [self.song_ids_[s] for s in idx[r]]
        return list(zip(lists, used))

    @staticmethod
    def _fuse(image_list: list[str], keyword_list: list[str], alpha: float, k: int) -> list[tuple[str, float]]:
        if not keyword_list:
            alpha = 0.0  # flat or missing prediction: the paper's NE as it is
        score: dict[str, float] = {}
        for weight, lst in ((1.0 - alpha, image_list), (alpha, keyword_list)):
            if weight > 0:
                for r, s in enumerate(lst):
                    score[s] = score.get(s, 0.0) + weight / (RRF + r + 1)
        first = {s: r for r, s in enumerate(image_list)}
        ranked = sorted(score.items(), key=lambda x: (-x[1], first.get(x[0], len(first)), x[0]))
        return ranked[:k]

    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]:
        return self.recommend_batch([query], k)[0]

    def recommend_batch(self, queries: Sequence[Query], k: int = 10) -> list[list[Recommendation]]:
        self._check_fitted("alpha_")
        if not queries:
            return []
        image_recs = self.ne_.recommend_batch(queries, max(k, self.depth))
        kw = self._keyword_lists(queries, self.centroids_, self.has_centroid_)
        out = []
        for recs, (kl, used) in zip(image_recs, kw):
            why_img = {r.song_id: r.explanation for r in recs}
            il = [r.song_id for r in recs]
            kl_rank = {s: r for r, s in enumerate(kl)}
            words = ", ".join(f"{w} ({p:.2f})" for w, p in used)
            row = []
            for s, score in self._fuse(il, kl, self.alpha_, k):
                parts = []
                if s in kl_rank and self.alpha_ > 0:
                    parts.append(f"#{kl_rank[s] + 1} near the photo's LINE placement from predicted keywords {words}")
                if s in why_img:
                    parts.append(why_img[s])
                row.append(Recommendation(s, float(score), "; ".join(parts) + f" [alpha {self.alpha_:g}]"))
            out.append(row)
        return out
