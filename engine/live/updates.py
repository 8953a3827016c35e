"""Saved scorers' state updated for added and removed songs and images, in place of a refit (copy-on-write).

One updater per scorer type: `update(scorer, change, ctx)` returns a new scorer answering as the old one would had
its fit seen the change, for everything fit computed per item (NE vectors, song lists, image kNN rows, keyword
postings, popularity pools, text embeddings, LINE-placement centroids, the LSTM's encoded lyrics). What fit chose
over the whole training set (NE+'s alpha, fused's weights, KM's tie permutation of the songs already there, the
LSTM's weights) is kept as fitted. A scorer without an updater (a plug-in) is wrapped: removed songs are filtered
out of its answers, and added songs are not ranked by it until a refit (`Update.note` says so).
"""
from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.index.keywords import KeywordIndex, count_postings, joined
from engine.live import indexes as ix
from engine.live.edges import Edges
from engine.scorers.base import Query, Recommendation, Scorer
from graph.common.errors import Img2SongError
from graph.records import Image, Song


@dataclass(frozen=True)
class SongEntry:
    """A song added to the catalogue: the record, its edges, its NE row and (for zs / fused) its text embedding."""

    song: Song
    edges: Edges
    vector: np.ndarray
    text_vector: np.ndarray | None = None


@dataclass(frozen=True)
class ImageEntry:
    """An image added: the record, its keyword edges, its NE row and what the CNN gave (features, tags, logits)."""

    image: Image
    edges: Edges
    vector: np.ndarray
    features: np.ndarray
    tags: np.ndarray | None = None
    logits: np.ndarray | None = None


@dataclass(frozen=True)
class Change:
    """One batch: songs and images added, then song and image ids removed."""

    songs: tuple[SongEntry, ...] = ()
    images: tuple[ImageEntry, ...] = ()
    remove_songs: frozenset[str] = frozenset()
    remove_images: frozenset[str] = frozenset()


@dataclass
class Context:
    """What an updater may need beyond its scorer: the catalogue's songs after the change (POP's pool) and each
    keyword's training-image mass (NE+'s centroids), filled by the live catalogue."""

    songs: Callable[[], Sequence[Song]]
    image_keywords: Callable[[str], dict[str, float]]
    keyword_mass: dict[int, np.ndarray] = field(default_factory=dict)  # id(ne+ scorer) -> mass per keyword


def _rows(ids: Sequence[str], drop: frozenset[str]) -> np.ndarray:
    if not drop:
        return np.zeros(0, dtype=np.int64)
    return np.array([j for j, s in enumerate(ids) if s in drop], dtype=np.int64)


# ------------------------------------------------------------------------------------------------------ NE
def update_ne(ne, change: Change, ctx: Context):
    new = copy.copy(ne)
    rows = _rows(ne.image_ids_, change.remove_images)
    if len(rows):
        keep = ix._keep(len(ne.image_ids_), rows)
        new.image_ids_ = [i for i, k in zip(ne.image_ids_, keep) if k]
        new.image_features_, new.image_vectors_ = ne.image_features_[keep], ne.image_vectors_[keep]
        new.image_index_ = ix.image_index_remove(ne.image_index_, rows)
        new.song_lists_ = ix.song_lists_remove_images(ne.song_lists_, rows)
    rows = _rows(ne.song_ids_, change.remove_songs)
    if len(rows):
        keep = ix._keep(len(ne.song_ids_), rows)
        new.song_ids_ = [s for s, k in zip(ne.song_ids_, keep) if k]
        new.song_vectors_ = ne.song_vectors_[keep]
        new.song_lists_ = ix.song_lists_remove_songs(new.song_lists_, rows)
    if change.songs:
        vec = np.stack([e.vector for e in change.songs]).astype(np.float32)
        new.song_ids_ = new.song_ids_ + [e.song.id for e in change.songs]
        new.song_lists_ = ix.song_lists_add_songs(new.song_lists_, vec)
        new.song_vectors_ = new.song_lists_.songs_.vectors  # one copy of the rows: the lists' table
    if change.images:
        feats = np.stack([e.features for e in change.images]).astype(np.float32)
        vec = np.stack([e.vector for e in change.images]).astype(np.float32)
        if feats.shape[1] != new.image_features_.shape[1]:
            raise Img2SongError(f"scorer 'ne': added image features have dimension {feats.shape[1]}, the run's "
                                f"{new.image_features_.shape[1]}")
        new.image_ids_ = new.image_ids_ + [e.image.id for e in change.images]
        new.image_index_ = ix.image_index_add(new.image_index_, feats)
        new.image_features_ = new.image_index_.table_.vectors
        new.song_lists_ = ix.song_lists_add_images(new.song_lists_, vec)
        new.image_vectors_ = new.song_lists_.images_
    return new


# ---------------------------------------------------------------------------------------------------- NE+
def keyword_mass(neplus, image_keywords: dict[str, dict[str, float]]) -> np.ndarray:
    """Each keyword's total edge weight over the NE+ scorer's training images (the centroids' denominators)."""
    index = {w: j for j, w in enumerate(neplus.tag_vocab_)}
    mass = np.zeros(len(index))
    for i in neplus.ne_.image_ids_:
        for w, weight in image_keywords.get(i, {}).items():
            if w in index:
                mass[index[w]] += weight
    return mass


def update_neplus(npl, change: Change, ctx: Context):
    new = copy.copy(npl)
    new.ne_ = update_ne(npl.ne_, change, ctx)
    new.song_ids_, new.song_vectors_ = new.ne_.song_ids_, new.ne_.song_vectors_
    mass = ctx.keyword_mass.get(id(npl))
    if mass is None:
        raise Img2SongError("scorer 'ne+': the keyword masses of its centroids are unknown (live catalogue bug)")
    acc = npl.centroids_.astype(np.float64) * mass[:, None]
    mass = mass.copy()
    index = {w: j for j, w in enumerate(npl.tag_vocab_)}
    gone = set(change.remove_images)
    for i, v in zip(npl.ne_.image_ids_, npl.ne_.image_vectors_) if gone else ():  # no walk over every row to add
        if i in gone:
            for w, weight in ctx.image_keywords(i).items():
                if w in index:
                    acc[index[w]] -= weight * v.astype(np.float64)
                    mass[index[w]] -= weight
    for e in change.images:
        for w, weight in e.edges.keywords.items():
            if w in index:
                acc[index[w]] += weight * e.vector.astype(np.float64)
                mass[index[w]] += weight
    has = mass > 1e-9
    cent = np.zeros_like(acc)
    cent[has] = acc[has] / mass[has, None]
    new.centroids_, new.has_centroid_ = cent.astype(np.float32), has
    ctx.keyword_mass[id(new)] = np.where(has, mass, 0.0)
    return new


# ------------------------------------------------------------------------------------------------------ KM
def _tie_insert(tie: np.ndarray, song_ids: Sequence[str], seed: int) -> np.ndarray:
    """The fit-time tie permutation extended by new songs, each at a rank drawn from (seed, song id)."""
    tie = tie.copy()
    for sid in song_ids:
        h = int.from_bytes(hashlib.sha256(f"{seed}:{sid}".encode()).digest()[:8], "little")
        r = h % (len(tie) + 1)
        tie = np.append(np.where(tie >= r, tie + 1, tie), r)
    return tie


class LiveKeywordIndex(KeywordIndex):
    """A KeywordIndex whose joined lyrics (needed only for a word first asked for after fit) are rebuilt on that
    first need, not on every change (joining a catalogue's lyrics copies megabytes)."""

    def _scan(self, w: str) -> tuple[np.ndarray, np.ndarray]:
        if self._text is None:
            self._text, self._starts = joined(self._lyrics)
        return super()._scan(w)


def update_km(km, change: Change, ctx: Context):
    new = copy.copy(km)
    ki = copy.copy(km.keyword_index_)
    ki.__class__ = LiveKeywordIndex
    posts = dict(km.keyword_index_.postings_)
    rows = _rows(km.song_ids_, change.remove_songs)
    if len(rows):
        keep = ix._keep(len(km.song_ids_), rows)
        remap = np.cumsum(keep) - 1
        new.song_ids_ = [s for s, k in zip(km.song_ids_, keep) if k]
        new.lyrics_ = [t for t, k in zip(km.lyrics_, keep) if k]
        new.popularity_ = km.popularity_[keep]
        t = km.tie_[keep]
        new.tie_ = np.argsort(np.argsort(t, kind="stable"), kind="stable").astype(np.int64)
        for w, (r, c) in posts.items():
            k = keep[r]
            posts[w] = (remap[r[k]].astype(np.int32), c[k])
    if change.songs:
        n0 = len(new.song_ids_)
        lower = [e.song.lyrics.lower() for e in change.songs]
        text, starts = joined(lower)
        counts = count_postings(text, starts, list(posts))
        for w, (r, c) in counts.items():
            if len(r) and w in posts:
                pr, pc = posts[w]
                posts[w] = (np.concatenate([pr, (r + n0).astype(np.int32)]), np.concatenate([pc, c]))
        new.song_ids_ = new.song_ids_ + [e.song.id for e in change.songs]
        new.lyrics_ = new.lyrics_ + lower
        new.popularity_ = np.concatenate([new.popularity_, [e.song.popularity for e in change.songs]])
        new.tie_ = _tie_insert(new.tie_, [e.song.id for e in change.songs], km.seed)
    if len(rows) or change.songs:
        ki.postings_, ki.n_docs_ = posts, len(new.song_ids_)
        ki._lyrics, ki._text, ki._starts = new.lyrics_, None, None  # joined again on first need
        new.keyword_index_ = ki
        if len(rows):  # ranks and the backfill order from scratch
            new.popularity_rank_ = np.unique(new.popularity_, return_inverse=True)[1].reshape(-1).astype(np.int64)
            new.backfill_order_ = np.argsort(-new._key(np.zeros(len(new.song_ids_), np.int64)), kind="stable")
        else:  # songs added only: the old songs' ranks move monotonically, so their order stands; insert the new
            n0 = len(km.song_ids_)
            rank = km.popularity_rank_.copy()
            values = np.unique(km.popularity_)
            for p in new.popularity_[n0:]:
                j = int(np.searchsorted(values, p))
                if j == len(values) or values[j] != p:
                    rank[rank >= j] += 1
                    values = np.insert(values, j, p)
                rank = np.append(rank, j)
            new.popularity_rank_ = rank
            key = new._key(np.zeros(len(new.song_ids_), np.int64))
            order = km.backfill_order_
            for r in range(n0, len(new.song_ids_)):  # keys are distinct (the tie rank): one place each
                order = np.insert(order, int(np.searchsorted(-key[order], -key[r])), r)
            new.backfill_order_ = order
    return new


# ----------------------------------------------------------------------------------------------------- POP
def update_pop(pop, change: Change, ctx: Context):
    if not (set(pop.pool_ids_) & change.remove_songs) and not change.songs:
        return pop
    new = copy.copy(pop)
    songs = sorted(ctx.songs(), key=lambda s: (-s.popularity, s.id))[: pop.pool]
    new.pool_ids_ = [s.id for s in songs]
    new.pool_popularity_ = np.array([s.popularity for s in songs], dtype=np.float64)
    return new


# ------------------------------------------------------------------------------------------------------ zs
def update_zs(zs, change: Change, ctx: Context):
    new = copy.copy(zs)
    rows = _rows(zs.song_ids_, change.remove_songs)
    if len(rows):
        keep = ix._keep(len(zs.song_ids_), rows)
        new.song_ids_ = [s for s, k in zip(zs.song_ids_, keep) if k]
        new.song_vectors_ = zs.song_vectors_[keep]
    if change.songs:
        if any(e.text_vector is None for e in change.songs):
            raise Img2SongError("scorer 'zs': an added song has no text embedding of its lyrics")
        new.song_ids_ = new.song_ids_ + [e.song.id for e in change.songs]
        new.song_vectors_ = np.vstack([new.song_vectors_, np.stack([e.text_vector for e in change.songs])
                                       .astype(new.song_vectors_.dtype)])
    return new


# --------------------------------------------------------------------------------------------------- fused
def update_fused(fused, change: Change, ctx: Context):
    new = copy.copy(fused)
    new.__dict__.pop("_row", None)  # song id -> row cache of the old catalogue
    new.neplus_ = update_neplus(fused.neplus_, change, ctx)
    new.zs_ = update_zs(fused.zs_, change, ctx)
    new.song_ids_ = list(new.zs_.song_ids_)
    contains = fused.contains_
    rows = _rows(fused.song_ids_, change.remove_songs)
    if len(rows):
        contains = contains[:, ix._keep(len(fused.song_ids_), rows)]
    if change.songs:
        lyr = [e.song.lyrics.lower() for e in change.songs]
        cols = np.array([[bool(w.strip()) and w.strip().lower() in t for t in lyr] for w in fused.tag_vocab_],
                        dtype=bool).reshape(len(fused.tag_vocab_), len(lyr))
        contains = np.hstack([contains, cols])
    new.contains_ = contains
    return new


# ---------------------------------------------------------------------------------------------------- LSTM
def update_lstm(lstm, change: Change, ctx: Context):
    """Removed songs' rows dropped and added songs appended, to be encoded by the fitted model when first scored: a
    song's rows (layer-1 states, prior, tag-word presence) come from its own lyric alone, so the rest stay as they
    were. `song_tokens_` stays the fitted catalogue's; the index holds the live one."""
    from engine.lstm.prepare import lyric_tokens  # deferred: torch, jieba

    rows = _rows(lstm.song_ids_, change.remove_songs)
    if not len(rows) and not change.songs:
        return lstm
    new = copy.copy(lstm)
    keep = ix._keep(len(lstm.song_ids_), rows) if len(rows) else None
    vocab = list(lstm.tag_vocab_)
    new.index_ = lstm.lyric_index().changed(keep, [e.song for e in change.songs],
                                            lambda songs: list(lyric_tokens(songs, vocab).values()))
    kept = range(len(lstm.song_ids_)) if keep is None else np.flatnonzero(keep)
    new.song_ids_ = [lstm.song_ids_[j] for j in kept] + [e.song.id for e in change.songs]
    return new


# ------------------------------------------------------------------------------------------ the rest: wrapped
class FilteredScorer(Scorer):
    """A scorer whose state is not updated: removed songs are filtered out of its answers (it is asked for k plus
    as many as were removed), added songs are not ranked by it until a refit."""

    def __init__(self, inner: Scorer, removed: frozenset[str], missing: int) -> None:
        self.inner, self.removed, self.missing = inner, removed, missing
        self.name = inner.name

    def fit(self, data):  # pragma: no cover - never refitted through the wrapper
        raise Img2SongError(f"scorer '{self.name}': refit it with `img2song fit-scorers` (live catalogue wrapper)")

    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]:
        return self.recommend_batch([query], k)[0]

    def recommend_batch(self, queries: Sequence[Query], k: int = 10) -> list[list[Recommendation]]:
        lists = self.inner.recommend_batch(queries, k + len(self.removed))
        return [[r for r in recs if r.song_id not in self.removed][:k] for recs in lists]


def wrap(scorer: Scorer, change: Change, ctx: Context) -> FilteredScorer:
    base = scorer.inner if isinstance(scorer, FilteredScorer) else scorer
    removed = (scorer.removed if isinstance(scorer, FilteredScorer) else frozenset()) | change.remove_songs
    missing = (scorer.missing if isinstance(scorer, FilteredScorer) else 0) + len(change.songs)
    return FilteredScorer(base, removed, missing)


def updater_for(scorer: Scorer) -> Callable | None:
    """The exact updater of a scorer's type (by class: an experiment's own name for a type works too)."""
    from engine.scorers.fused import FusedScorer
    from engine.scorers.km import KMScorer
    from engine.scorers.lstm import LSTMBaselineScorer, LSTMScorer
    from engine.scorers.ne import NEScorer
    from engine.scorers.ne_plus import NEPlusScorer
    from engine.scorers.pop import POPScorer
    from engine.scorers.zs import ZeroShotScorer

    for cls, fn in ((FusedScorer, update_fused), (NEPlusScorer, update_neplus), (NEScorer, update_ne),
                    (KMScorer, update_km), (POPScorer, update_pop), (ZeroShotScorer, update_zs),
                    (LSTMScorer, update_lstm), (LSTMBaselineScorer, update_lstm)):
        if type(scorer) is cls:
            return fn
    return None
