"""The live catalogue: a trained run's scorers and training set, with songs and images added and removed since.

`LiveCatalogue.start(data, scorers)` wraps what the stage layer loaded; `apply(change)` returns a NEW catalogue
(the old one is untouched and keeps answering: a server swaps the reference under a lock). New items come from
`Folder`: edges by build-graph's rules (engine.live.edges), a LINE row by fold-in against the trained tables
(engine.line.foldin.LineTables, both orders: by the neighbour map fitted on the run's trained vertices of the
item's kind when the tables are calibrated, as make_folder does; else LINE's SGD seeded by the item id), and, for
images, the CNN's features, tags and logits given by the caller.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.inputs import CorpusView, Query, TrainingSet
from engine.line.foldin import LineTables
from engine.live.edges import CatalogueEdger
from engine.live.updates import (
    Change,
    Context,
    ImageEntry,
    SongEntry,
    keyword_mass,
    updater_for,
    wrap,
)
from engine.scorers.base import Scorer
from graph.common.errors import Img2SongError
from graph.network import Kind
from graph.records import Image, Song

FOLDED_KINDS = (Kind.SONG, Kind.IMAGE)  # the vertex kinds a catalogue folds in (its tables are calibrated for them)


def item_seed(seed: int, kind: str, item_id: str) -> int:
    """The fold-in seed of one item: the run's seed and the item's id (the same item always gets the same row)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{kind}:{item_id}".encode()).digest()[:8], "little")


@dataclass
class Folder:
    """Turns new records into catalogue entries: edges, a LINE row by fold-in, and a text embedding for songs
    when `text_encoder` is given (zs / fused: lyrics -> e5 passage vectors)."""

    tables: LineTables
    edger: CatalogueEdger
    text_encoder: Callable[[list[str]], np.ndarray] | None = None

    def song(self, song: Song) -> SongEntry:
        edges = self.edger.song(song)
        vertex_edges = [(v, w) for v, w in edges.vertex_edges() if v in self.tables]
        if not vertex_edges:
            raise Img2SongError(f"song {song.id!r}: field 'lyrics' holds none of the run's {len(self.edger.vocabulary)} "
                                "keywords and no lyric word of its network: it would have no edge (build-graph "
                                "skips such songs: it could never be recommended by the graph)")
        vec = self.tables.embed(vertex_edges, item_seed(self.tables.seed, "song", song.id), Kind.SONG)
        text = None if self.text_encoder is None else np.asarray(self.text_encoder([song.lyrics])[0], np.float32)
        return SongEntry(song, edges, vec, text)

    def image(self, image: Image, features: np.ndarray, tags: np.ndarray | None = None,
              logits: np.ndarray | None = None) -> ImageEntry:
        edges = self.edger.image(image)
        vertex_edges = [(v, w) for v, w in edges.vertex_edges() if v in self.tables]
        if not vertex_edges:
            raise Img2SongError(f"image {image.id!r}: fields 'tags' / 'caption' reach none of the run's "
                                f"{len(self.edger.vocabulary)} keywords (directly or through the bilingual bridge)")
        vec = self.tables.embed(vertex_edges, item_seed(self.tables.seed, "image", image.id), Kind.IMAGE)
        return ImageEntry(image, edges, vec, np.asarray(features, np.float32).reshape(-1),
                          None if tags is None else np.asarray(tags, np.float32).reshape(-1),
                          None if logits is None else np.asarray(logits, np.float32).reshape(-1))


class OverlayTable:
    """A per-image table (features, tags, logits) seen through the catalogue's changes: added rows, removed ids."""

    def __init__(self, base: Any, extra: dict[str, np.ndarray], removed: frozenset[str]) -> None:
        self.base, self.extra, self.removed = base, extra, removed
        self.meta = getattr(base, "meta", {})

    def __contains__(self, key: object) -> bool:
        return key in self.extra or (key not in self.removed and self.base is not None and key in self.base)

    def __getitem__(self, key: str) -> np.ndarray:
        if key in self.extra:
            return self.extra[key]
        if key in self.removed or self.base is None:
            raise KeyError(key)
        return self.base[key]


class LiveCorpusView(CorpusView):
    """The training view of the live catalogue; `song()` still finds a removed song (an answer computed before the
    removal is described with it) while `songs` lists only the live ones."""

    def song(self, song_id: str) -> Song:
        if getattr(self, "_songs_by_id", None) is None:
            self._songs_by_id = {**getattr(self, "graveyard", {}), **{s.id: s for s in self.songs}}
        return self._songs_by_id[song_id]


@dataclass(frozen=True)
class LiveCatalogue:
    """An immutable state: base training set and scorers, everything added, everything removed, the derived views."""

    base: TrainingSet
    base_scorers: dict[str, Scorer]
    all_images: frozenset[str]  # every image id of the run's corpus (query images included)
    songs: dict[str, SongEntry] = field(default_factory=dict)
    images: dict[str, ImageEntry] = field(default_factory=dict)
    removed_songs: frozenset[str] = frozenset()
    removed_images: frozenset[str] = frozenset()
    scorers: dict[str, Scorer] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    data: TrainingSet | None = None
    masses: dict[int, np.ndarray] = field(default_factory=dict)
    base_song_ids: frozenset[str] = frozenset()
    probe: Any = None  # the keyword probe that tags photos (engine.features.probe.KeywordProbe); None: the run has none
    image_changes: int = 0  # images added or removed since the run was trained (a counter: never decreases)
    probe_seen: int = 0  # image_changes when `probe` was fitted (the trained probe: 0)

    @classmethod
    def start(cls, data: TrainingSet, scorers: dict[str, Scorer], all_images: Iterable[str] = (),
              probe: Any = None) -> LiveCatalogue:
        """The catalogue as trained (nothing added or removed yet); `probe`: the run's keyword probe, when its
        tags come from one (what `refit_probe` starts from)."""
        cat = cls(data, dict(scorers), frozenset(all_images) | frozenset(data.train_image_ids), probe=probe)
        masses: dict[int, np.ndarray] = {}
        for s in scorers.values():
            for npl in (s, getattr(s, "neplus_", None)):
                if npl is not None and hasattr(npl, "centroids_"):
                    masses[id(npl)] = keyword_mass(npl, data.image_keywords)
        cat = dataclasses.replace(cat, scorers=dict(scorers), masses=masses, notes={n: "as fitted" for n in scorers},
                                  base_song_ids=frozenset(s.id for s in data.corpus.songs))
        return dataclasses.replace(cat, data=cat._view())

    # ------------------------------------------------------------------------------------------ queries
    @property
    def song_ids(self) -> list[str]:
        return [s.id for s in self.data.corpus.songs]

    @property
    def known_images(self) -> frozenset[str]:
        """Image ids a query may name: the corpus's and the added ones, less the removed."""
        return (self.all_images | frozenset(self.images)) - self.removed_images

    def has_song(self, song_id: str) -> bool:
        return song_id in self.songs or (song_id not in self.removed_songs and song_id in self._base_song_ids())

    def has_image(self, image_id: str) -> bool:
        return image_id in self.known_images

    def _base_song_ids(self) -> frozenset[str]:
        return self.base_song_ids

    def query(self, image_id: str) -> Query:
        """A catalogue image as a Query (an added one with its CNN features, tags, logits and edge keywords)."""
        from engine.inputs import known_image_query

        if image_id not in self.known_images:
            raise Img2SongError(f"unknown image id {image_id!r}")
        e = self.images.get(image_id)
        if e is None:
            return known_image_query(self.data, image_id)
        kws = tuple(w for w, _ in sorted(e.edges.keywords.items(), key=lambda x: (-x[1], x[0])))
        return Query(image_id=image_id, keywords=kws, features=e.features, tag_probs=e.tags, logits=e.logits)

    # ------------------------------------------------------------------------------------------ changes
    def check(self, change: Change) -> None:
        """Refuse a change that names an unknown item or adds an id the catalogue already holds."""
        for sid in change.remove_songs:
            if not self.has_song(sid):
                raise Img2SongError(f"cannot remove song {sid!r}: not in the catalogue")
        for iid in change.remove_images:
            if not self.has_image(iid):
                raise Img2SongError(f"cannot remove image {iid!r}: not in the catalogue")
        for e in change.songs:
            if self.has_song(e.song.id) and e.song.id not in change.remove_songs:
                raise Img2SongError(f"song {e.song.id!r}: field 'id' is already in the catalogue")
        for e in change.images:
            if (self.has_image(e.image.id) or e.image.id in self.removed_images) and e.image.id not in change.remove_images:
                raise Img2SongError(f"image {e.image.id!r}: field 'id' is already in the catalogue")

    def apply(self, change: Change) -> LiveCatalogue:
        """A new catalogue with the change applied to every scorer (this one is left as it was)."""
        self.check(change)
        songs = {k: v for k, v in self.songs.items() if k not in change.remove_songs}
        songs.update({e.song.id: e for e in change.songs})
        images = {k: v for k, v in self.images.items() if k not in change.remove_images}
        images.update({e.image.id: e for e in change.images})
        rm_s = (self.removed_songs | (change.remove_songs - frozenset(self.songs))) - {e.song.id for e in change.songs}
        rm_i = (self.removed_images | (change.remove_images - frozenset(self.images)))
        nxt = dataclasses.replace(self, songs=songs, images=images, removed_songs=rm_s, removed_images=rm_i,
                                  masses=dict(self.masses), data=self._next_view(change),
                                  image_changes=self.image_changes + len(change.images) + len(change.remove_images))
        ctx = Context(lambda: nxt.data.corpus.songs, self._image_keywords, nxt.masses)
        scorers, notes = {}, {}
        for name, s in self.scorers.items():
            fn = updater_for(s)
            if fn is not None:
                scorers[name], notes[name] = fn(s, change, ctx), "updated"
            else:
                scorers[name] = wrap(s, change, ctx)
                miss = scorers[name].missing
                notes[name] = ("removed songs filtered out; needs a refit (`img2song fit-scorers --refit`) to rank "
                               f"the {miss} added song(s)" if miss else "removed songs filtered out")
        return dataclasses.replace(nxt, scorers=scorers, notes=notes)

    # ------------------------------------------------------------------------------------------ keyword probe
    @property
    def probe_behind(self) -> int:
        """Image additions and removals the keyword probe has not learnt from (0: it is up to date)."""
        return self.image_changes - self.probe_seen if self.probe is not None else 0

    def probe_rows(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """What a probe fit learns from, as train-keyword-probe picks it: the live training images that have
        features and keywords (added ones included, removed ones not), their features and keyword targets."""
        from engine.features.probe import keyword_targets

        d = self.data
        ids = [i for i in d.train_image_ids if i in d.features and d.image_keywords.get(i)]
        x = np.stack([d.features[i] for i in ids]) if ids else np.zeros((0, len(self.probe.mean_)))
        return ids, x, keyword_targets(ids, d.image_keywords, self.probe.vocabulary)

    def refit_probe(self) -> Any:
        """The keyword probe refitted on this state's training images, warm-started from the current one
        (KeywordProbe.refit); this state is unchanged (install the result with `with_probe`)."""
        if self.probe is None:
            raise Img2SongError("the run's photo tags do not come from a keyword probe: nothing to refit")
        return self.probe.refit(*self.probe_rows()[1:])

    def with_probe(self, probe: Any, seen: int | None = None) -> LiveCatalogue:
        """A new state whose photos are tagged by `probe`: every image that is not a training row of the run (query
        images, images without keywords) tagged again by it, as a retrain's features stage would; training images
        keep their out-of-fold tags and added images the tags they were added with (each from a probe that never
        saw it). `seen`: the image_changes the probe learnt from (default: this state's)."""
        from engine.features.table import FeatureTable

        old, feats = self.data.tags, self.data.features
        table = old.base if isinstance(old, OverlayTable) else old
        fbase = feats.base if isinstance(feats, OverlayTable) else feats
        if table is None or fbase is None:
            raise Img2SongError("the run has no keyword tags or features to tag again")
        oof = set(table.meta.get("out_of_fold") or ())
        rows = [r for r, i in enumerate(table.ids) if i not in oof and i in fbase]
        matrix = np.array(table.matrix, copy=True)
        if rows:
            x = np.stack([fbase[table.ids[r]] for r in rows])
            matrix[rows] = probe.predict_proba(x).astype(matrix.dtype)
        new = FeatureTable(list(table.ids), matrix, {**table.meta, "probe_refits": probe.validation_.get(
            "refit", {}).get("refits", 0)})
        tags = OverlayTable(new, old.extra, old.removed) if isinstance(old, OverlayTable) else new
        return dataclasses.replace(self, probe=probe, probe_seen=self.image_changes if seen is None else seen,
                                   base=dataclasses.replace(self.base, tags=new),
                                   data=dataclasses.replace(self.data, tags=tags))

    def _image_keywords(self, image_id: str) -> dict[str, float]:
        e = self.images.get(image_id)
        return dict(e.edges.keywords) if e is not None else dict(self.base.image_keywords.get(image_id, {}))

    def _view(self) -> TrainingSet:
        """The training set as a refit on the changed catalogue would see it."""
        b = self.base
        rm_s, rm_i = self.removed_songs | frozenset(self.songs), self.removed_images | frozenset(self.images)
        corpus = b.corpus
        songs = [s for s in corpus.songs if s.id not in rm_s] + [e.song for e in self.songs.values()]
        imgs = [i for i in corpus.images if i.id not in rm_i] + [e.image for e in self.images.values()]
        files = {k: v for k, v in getattr(corpus, "image_files", {}).items() if k not in rm_i}
        files.update({e.image.id: Path(e.image.file) for e in self.images.values()})
        view = LiveCorpusView(songs, imgs, files, corpus.keywords, dict(corpus.lexicon))
        view.graveyard = {s.id: s for s in corpus.songs if s.id in self.removed_songs}
        kws = {i: w for i, w in b.image_keywords.items() if i not in rm_i}
        kws.update({e.image.id: dict(e.edges.keywords) for e in self.images.values()})
        song_kws = {s: w for s, w in b.song_keywords.items() if s not in rm_s}
        song_kws.update({e.song.id: dict(e.edges.keywords) for e in self.songs.values()})

        def table(base: Any, attr: str) -> OverlayTable:
            extra = {e.image.id: getattr(e, attr) for e in self.images.values() if getattr(e, attr) is not None}
            return OverlayTable(base, extra, self.removed_images)

        return dataclasses.replace(
            b, corpus=view, train_image_ids=[i for i in b.train_image_ids if i not in rm_i] + list(self.images),
            image_keywords=kws, song_keywords=song_kws, features=table(b.features, "features"),
            tags=table(b.tags, "tags"), logits=table(b.logits, "logits"))

    def _next_view(self, change: Change) -> TrainingSet:
        """The training view after `change`, from this one (copies of references, not a rebuild from the base)."""
        p, pc = self.data, self.data.corpus
        gone_s, gone_i = change.remove_songs, change.remove_images
        # a side the change leaves alone is shared with this view, not copied (no view is ever written)
        song_side, image_side = bool(gone_s or change.songs), bool(gone_i or change.images)
        songs, song_kws = pc.songs, p.song_keywords
        by_id = getattr(pc, "_songs_by_id", None)
        if by_id is None:
            by_id = {**pc.graveyard, **{s.id: s for s in pc.songs}}
        graveyard = pc.graveyard
        if song_side:
            songs = ([s for s in pc.songs if s.id not in gone_s] if gone_s else list(pc.songs)) + [
                e.song for e in change.songs]
            song_kws = {k: v for k, v in p.song_keywords.items() if k not in gone_s} if gone_s else dict(song_kws)
            song_kws.update({e.song.id: dict(e.edges.keywords) for e in change.songs})
            graveyard = {**pc.graveyard, **{sid: by_id[sid] for sid in gone_s if sid in by_id}}
            by_id = {**by_id, **{e.song.id: e.song for e in change.songs}}  # a removed song stays: in-flight answers
        imgs, files, kws = pc.images, pc.image_files, p.image_keywords
        if image_side:
            imgs = ([i for i in pc.images if i.id not in gone_i] if gone_i else list(pc.images)) + [
                e.image for e in change.images]
            files, kws = dict(pc.image_files), dict(p.image_keywords)
            for i in gone_i:
                files.pop(i, None)
                kws.pop(i, None)
            files.update({e.image.id: Path(e.image.file) for e in change.images})
            kws.update({e.image.id: dict(e.edges.keywords) for e in change.images})
        view = LiveCorpusView(songs, imgs, files, pc.keywords, pc.lexicon)
        view.graveyard = graveyard
        view._songs_by_id = by_id

        def table(t: OverlayTable, attr: str) -> OverlayTable:
            extra = {k: v for k, v in t.extra.items() if k not in gone_i} if gone_i else dict(t.extra)
            extra.update({e.image.id: getattr(e, attr) for e in change.images if getattr(e, attr) is not None})
            return OverlayTable(t.base, extra, t.removed | gone_i)

        train = p.train_image_ids
        if image_side:
            train = ([i for i in train if i not in gone_i] if gone_i else list(train)) + [e.image.id for e in change.images]
        return dataclasses.replace(p, corpus=view, train_image_ids=train,
                                   image_keywords=kws, song_keywords=song_kws, features=table(p.features, "features"),
                                   tags=table(p.tags, "tags"), logits=table(p.logits, "logits"))

    def summary(self) -> str:
        return (f"{len(self.data.corpus.songs)} songs ({len(self.songs)} added, {len(self.removed_songs)} removed), "
                f"{len(self.known_images)} images ({len(self.images)} added, {len(self.removed_images)} removed)"
                + ("" if self.probe is None else f"; keyword probe: {self.probe_note()}"))

    def probe_note(self) -> str:
        """How current the keyword probe is (None: the run's tags come from ImageNet hypernyms)."""
        if self.probe is None:
            return "none (ImageNet hypernym tags)"
        if self.probe_behind:
            return f"{self.probe_behind} image change(s) not learnt yet (refit pending)"
        return "as trained" if not self.probe_seen else f"refitted after {self.probe_seen} image change(s)"

