"""The live catalogue of a run on disk: `img2song add` / `remove`, and loading the live state.

The journal (evaluation.stages.catalogue_journal) records every committed change under <run>/catalogue/; this module
replays it into the engine's live catalogue and writes new changes through it. A killed `add` leaves the run as
before it: the next command that opens the catalogue (any add, remove, recommend, serve) finds the unfinished tail,
discards it (truncating the journal to its last commit) and says so. The corpus directory is never written. The base
run (network, embeddings, saved scorers) is never rewritten either: the live state is the base plus the committed
transactions replayed through engine.live (milliseconds per item).
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.live.catalogue import FOLDED_KINDS, Folder, LiveCatalogue
from engine.live.edges import CatalogueEdger, Edges
from engine.live.updates import Change, ImageEntry, SongEntry
from engine.scorers.base import Scorer
from evaluation.stages import catalogue_probe
from evaluation.stages.catalogue_foldmap import calibrated_tables
from evaluation.stages.catalogue_inputs import read_images, read_songs
from evaluation.stages.catalogue_journal import CatalogueStore, Echo, changes, image_record, song_record
from evaluation.stages.derived import cached_content_df
from evaluation.stages.rundir import RunDir, Stage
from graph import edge_model
from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_KIND_BACKOFF, Bridge
from graph.common.errors import Img2SongError
from graph.context import ContextParams
from graph.network import Kind
from graph.records import Image


# --------------------------------------------------------------------------------------------- live state
def replay(cat: LiveCatalogue, store: CatalogueStore, echo: Echo | None = None) -> LiveCatalogue:
    """The catalogue with every committed transaction of the run's journal applied (an unfinished one discarded),
    then the last committed keyword probe refit installed (the tags it gives depend on that probe alone: every added
    image keeps the tags journalled with it)."""
    txns = store.recover(echo)
    for ch in changes(txns, store.run.path):
        cat = cat.apply(ch)
    for t in reversed([t for t in txns if t.op == "refit"]):
        rec = next((d for k, d in t.records if k == "probe"), None)
        probe = store.load_probe(rec, echo) if rec is not None else None
        if probe is not None:
            return cat.with_probe(probe, int(rec["seen"]))
    return cat


def live_catalogue(run: RunDir | str | Path, scorers: dict[str, Scorer], data: Any, corpus: Any,
                   echo: Echo | None = None) -> LiveCatalogue:
    """The run's training set and the given (loaded) scorers with the journal replayed onto them."""
    cat = LiveCatalogue.start(data, scorers, (i.id for i in corpus.images), catalogue_probe.run_probe(run, data))
    return replay(cat, CatalogueStore(run), echo)


def live_catalogue_if_any(run: RunDir | str | Path, scorers: dict[str, Scorer], data: Any, corpus: Any,
                          echo: Echo | None = None) -> LiveCatalogue | None:
    """As live_catalogue, or None when the run has never had a song or photo added or removed."""
    return live_catalogue(run, scorers, data, corpus, echo) if CatalogueStore(run).exists() else None


def live_queries(run: RunDir | str | Path, images: Sequence[str | Path], cat: LiveCatalogue, corpus: Any) -> list:
    """Queries for photo files and catalogue image ids (added ones included, removed ones refused)."""
    from evaluation.stages.run_inputs import photo_queries  # deferred: torch

    out = []
    for p in images:
        if Path(p).is_file():
            qs = photo_queries(run, [p], cat.data, corpus=corpus)
            if cat.probe_seen and cat.probe is not None:  # tagged by the refitted probe, not the run's file
                qs = [dataclasses.replace(q, tag_probs=cat.probe.predict_proba(q.features)[0]) for q in qs]
            out += qs
        elif str(p) in cat.known_images:
            out.append(cat.query(str(p)))
        else:
            raise Img2SongError(f"{p}: neither an image file nor an image id of the run's catalogue"
                                + (" (it was removed)" if str(p) in cat.removed_images else ""))
    return out


def built_edge_model(params: dict[str, Any]) -> bool:
    """Whether build-graph ran with the edge model on (its params record it): new images are linked the same way.
    A run older than the record (session 10) says nothing: the default."""
    return bool((params.get("edge_model") or {}).get("on", DEFAULT_EDGE_MODEL))


def built_edge_threshold(params: dict[str, Any]) -> float | None:
    """The drop threshold build-graph was given (--edge-threshold; its record says "given"), or None: the model
    file's own, as for every run built without it (a run before the option, session 12, records the file's)."""
    rec = params.get("edge_model") or {}
    return float(rec["threshold"]) if rec.get("given") and built_edge_model(params) else None


def built_kind_backoff(params: dict[str, Any]) -> bool:
    """Whether build-graph ran with the kind back-off on (its params record it): new images are linked the same
    way. A run older than the record (session 11) says nothing: the default."""
    return bool(params.get("kind_backoff", DEFAULT_KIND_BACKOFF))


def edge_model_drift(params: dict[str, Any]) -> str | None:
    """A warning when the edge model that links new images (the run's on/off setting and given threshold,
    graph/edge_model.json today) is not the one build-graph ran with: the new images' edges would then be judged by
    other coefficients than the run's own."""
    built = params.get("edge_model")
    if built is None:
        return None
    now = edge_model.run_record(built_edge_model(params), built_edge_threshold(params))
    if built == now:
        return None
    return (f"warning: build-graph ran with edge model {built}; new images are linked with {now} "
            "(graph/edge_model.json changed since): their edges may differ from the run's own")


def make_folder(run: RunDir, data: Any, corpus: Any, scorers: dict[str, Scorer], echo: Echo | None = None,
                lazy_text: bool = False) -> Folder:
    """What turns new records into entries for this run: its LINE tables with their fold-in map (saved in the run
    once fitted), build-graph's rules and parameters (the lyric words' document frequencies kept in the run too) (its bridge too: with the sense encoder when build-graph used
    it), and the zs text encoder when a served or saved scorer ranks by lyric text (`lazy_text`: loaded by the first
    song, so that a command adding photos only never loads it; a server loads it with the folder)."""
    params = (run.stage(Stage.BUILD_GRAPH) or {}).get("params", {})
    net = data.network
    words = {net.ids[j][len("word:"):] for j in net.of_kind(Kind.WORD)}
    ctx = params.get("context")
    on = built_edge_model(params)  # new images' edges pass the edge model as the run's did (--edge-model)
    kinds = built_kind_backoff(params)  # and reach their kinds' keywords as the run's did (--kind-backoff)
    cut = built_edge_threshold(params)  # dropped below the run's threshold (--edge-threshold; None: the file's)
    bridge = Bridge.for_corpus(corpus, edge_model=on, kind_backoff=kinds, edge_threshold=cut)
    if params.get("sense_encoder"):  # build-graph's corpus_bridge with the encoder (deferred: torch, the weights)
        from graph.text.relatedness import encoder_bridge

        bridge = encoder_bridge(corpus, echo=lambda _: None, edge_model=on, kind_backoff=kinds, edge_threshold=cut)
    if (drift := edge_model_drift(params)) and echo is not None:
        echo(drift)
    edger = CatalogueEdger(data.tag_vocab or list(corpus.keywords or []), bridge, corpus.songs,
                           data.song_keywords, words, params.get("scheme", "count"),
                           ContextParams(**ctx) if isinstance(ctx, dict) else None)
    edger.count_from(lambda: cached_content_df(run, edger.songs, echo))  # kept in the run, read on first need
    return Folder(calibrated_tables(run, net, FOLDED_KINDS, echo), edger, text_encoder_for(scorers, lazy_text))


def text_encoder_for(scorers: dict[str, Scorer], lazy: bool = False) -> Callable[[list[str]], np.ndarray] | None:
    """Lyrics -> e5 passage vectors with the settings of the first zs model among the scorers (zs, fused); `lazy`:
    the encoder (about 4 s CPU to load) is loaded by the first call."""
    from engine.scorers.zs import ZeroShotScorer

    for s in scorers.values():
        zs = s if isinstance(s, ZeroShotScorer) else getattr(s, "zs_", None)
        if isinstance(zs, ZeroShotScorer):
            from graph.text.encoder import cached_encode  # deferred: torch, the e5 weights
            from graph.text.shared import shared_encoder

            enc = None if lazy else shared_encoder(zs.dtype, max_tokens=zs.max_tokens)

            def encode(texts: list[str], zs: ZeroShotScorer = zs) -> np.ndarray:
                nonlocal enc
                if enc is None:
                    enc = shared_encoder(zs.dtype, max_tokens=zs.max_tokens)
                return cached_encode(enc, texts, "passage", cache=zs.cache)

            return encode
    return None


def saved_scorers(run: RunDir, echo: Echo) -> dict[str, Scorer]:
    """Every scorer saved in <run>/scorers that loads (a stale one is still answered from: refit separately), with
    what the run keeps derived for it (RunDir.load_scorer)."""
    out: dict[str, Scorer] = {}
    if run.scorers_dir.is_dir():
        for d in sorted(run.scorers_dir.iterdir()):
            if (d / "params.json").is_file():
                try:
                    out[d.name] = run.load_scorer(d.name, echo)
                except Img2SongError as e:
                    echo(f"scorer {d.name}: not loaded ({e})")
    return out


# ----------------------------------------------------------------------------------------------- commands
def _open(run: RunDir | str | Path, echo: Echo, scorers: dict[str, Scorer] | None = None):
    from evaluation.stages.run_inputs import load_run_corpus, load_training_set  # deferred: torch

    run = RunDir.of(run).require_dir()
    corpus = load_run_corpus(run)
    data = load_training_set(run, corpus)
    scorers = saved_scorers(run, echo) if scorers is None else scorers
    return run, corpus, data, scorers, live_catalogue(run, scorers, data, corpus, echo)


def add(run: RunDir | str | Path, songs: str | Path | None = None, images: str | Path | None = None,
        echo: Echo = print, progress: bool = True) -> LiveCatalogue:
    """`img2song add`: validate, fold in, journal (one transaction), then update every saved scorer's state."""
    if songs is None and images is None:
        raise Img2SongError("add: give --songs FILE.jsonl and/or --images FILE.jsonl")
    new_songs = read_songs(songs) if songs is not None else []
    new_images = read_images(images) if images is not None else []
    store = CatalogueStore(run)
    with store.lock():
        run, corpus, data, scorers, cat = _open(run, echo)
        cat.check(Change(tuple(SongEntry(s, Edges({}), np.zeros(1)) for s in new_songs),
                         tuple(ImageEntry(i, Edges({}), np.zeros(1), np.zeros(1)) for i, _ in new_images)))
        t0 = time.perf_counter()
        folder = make_folder(run, data, corpus, scorers, echo, lazy_text=True)
        for img, _ in new_images:  # every edge checked before anything is written
            if not folder.edger.image(img).keywords:
                folder.image(img, np.zeros(1))  # raises the error naming the image and its fields
        queries = []
        if new_images:
            from evaluation.stages.run_inputs import photo_queries  # deferred: torch

            queries = photo_queries(run, [f for _, f in new_images], data, progress=progress, corpus=corpus)
        total = len(new_songs) + len(new_images)
        song_entries: list[SongEntry] = []
        image_entries: list[ImageEntry] = []
        with store.transaction("add", total) as put:  # fold-in item by item; an error rolls the journal back
            for j, s in enumerate(new_songs, 1):
                song_entries.append(folder.song(s))
                put("song", song_record(song_entries[-1]))
                echo(f"journal: song {s.id} written ({j}/{total})")
            for j, ((img, file), q) in enumerate(zip(new_images, queries), len(new_songs) + 1):
                kept = store.store_photo(file.read_bytes(), file.suffix)
                img = Image(img.id, str(kept), img.tags, img.caption, img.language, img.tag_language, img.source,
                            img.licence, img.kind)
                image_entries.append(folder.image(img, q.features, q.tag_probs, q.logits))
                put("image", image_record(image_entries[-1], run.path))
                echo(f"journal: image {img.id} written ({j}/{total})")
        fold_s = time.perf_counter() - t0
        echo(f"committed {total} addition(s) to {store.journal} (fold-in and edges: {fold_s:.2f} s)")
        cat = cat.apply(Change(tuple(song_entries), tuple(image_entries)))
        if cat.probe_behind:  # once per batch (and any refit a killed command left undone)
            cat = catalogue_probe.refit_probe(cat, store, echo)
    return _report(cat, echo)


def remove(run: RunDir | str | Path, songs: Sequence[str] = (), images: Sequence[str] = (),
           echo: Echo = print) -> LiveCatalogue:
    """`img2song remove`: journal the removal (one transaction) and update every saved scorer's state."""
    if not songs and not images:
        raise Img2SongError("remove: give --songs ID... and/or --images ID...")
    change = Change(remove_songs=frozenset(songs), remove_images=frozenset(images))
    store = CatalogueStore(run)
    with store.lock():
        run, corpus, data, scorers, cat = _open(run, echo)
        cat.check(change)
        with store.transaction("remove", 1) as put:
            put("remove", {"songs": sorted(songs), "images": sorted(images)})
        echo(f"committed the removal of {len(songs)} song(s) and {len(images)} image(s) to {store.journal}")
        cat = cat.apply(change)
        if cat.probe_behind:
            cat = catalogue_probe.refit_probe(cat, store, echo)
    return _report(cat, echo)


def _report(cat: LiveCatalogue, echo: Echo) -> LiveCatalogue:
    for name, note in cat.notes.items():
        echo(f"scorer {name}: {note}")
    echo(f"catalogue now: {cat.summary()}")
    return cat

