"""The live catalogue over HTTP: POST /songs, POST /images (multipart photo + fields), DELETE /songs/{id},
DELETE /images/{id}, answered while recommendations keep being served.

One `LiveCatalogue` (engine.live) is the service's state: a change is validated, folded in and applied to every
served scorer on a worker thread, committed to the run's journal (evaluation.stages.catalogue), and only then swapped
in, on the event loop, as one new immutable state (scorers, training view, known images); changes are serialised
by a lock. A request takes the scorer and queries of one state, so none sees a half-added item; a song removed
while an answer was being computed is still described in that answer, never recommended after. At start-up the
journal is replayed (what was added survives a restart; an unfinished change is discarded).
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
import time
import types
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from engine.features.photo import PhotoError, decode_photo
from engine.live.catalogue import Folder, LiveCatalogue
from engine.live.updates import Change
from evaluation.app.serve.models import refusals
from evaluation.app.serve.routers.deps import service_of
from evaluation.app.serve.service import RecommendService, ServiceError
from evaluation.stages import catalogue as live_io
from evaluation.stages import catalogue_journal as journal
from evaluation.stages import catalogue_probe
from evaluation.stages.catalogue_inputs import check_image, check_song
from graph.common.errors import CorpusError, Img2SongError
from graph.common.readers import parse_json_text

router = APIRouter(tags=["catalogue changes"])
REFUSALS = refusals(400, 404, 409, 413, 415, 422, 503)


class CatalogueSummary(BaseModel):
    """The catalogue after a change, and how each served scorer follows it."""

    songs: int = Field(description="songs that may be recommended")
    images: int = Field(description="images that may be named by image_id")
    added_songs: int
    added_images: int
    removed_songs: int = Field(description="songs of the trained catalogue removed")
    removed_images: int
    scorers: dict[str, str] = Field(description="per served scorer: updated, or what it needs (a refit)")
    keyword_probe: str = Field(description="the probe that tags photos: as trained, refitted (in the background "
                                           "after images are added or removed), or a refit pending")


class Added(BaseModel):
    songs: list[str] = Field(default_factory=list)
    images: list[str] = Field(default_factory=list)


class AddResponse(BaseModel):
    added: Added
    keywords: dict[str, float] | None = Field(None, description="an added image: the keywords its tags reached")
    catalogue: CatalogueSummary
    timing_ms: dict[str, float] = Field(description="cnn (images: decode, CNN, tags), foldin (edges and fold-in), "
                                                    "apply (every index), journal (durable commit), total")


class RemoveResponse(BaseModel):
    removed: Added
    catalogue: CatalogueSummary
IMAGE_FIELDS = ("id", "tags", "caption", "language", "tag_language", "source", "licence", "kind")
MAX_SONGS_PER_REQUEST = 1000
REFIT_QUIET_S = 0.5  # the keyword probe's background refit waits this long after an image change (a burst: one refit)


class LiveState:
    """The service's live catalogue, the journal it is committed to, and the lock that serialises changes."""

    def __init__(self, service: RecommendService, echo: Any = print) -> None:
        self.service = service
        self.store = journal.CatalogueStore(service.run)
        base = LiveCatalogue.start(service.data, dict(service.scorers), (i.id for i in service.corpus.images),
                                   catalogue_probe.run_probe(service.run, service.data))
        self.cat = live_io.replay(base, self.store, echo)
        self.echo = echo
        if self.cat.probe_behind:  # a refit a killed server or command left undone: done before serving
            self.cat = catalogue_probe.refit_probe(self.cat, self.store, echo)
        self.lock = asyncio.Lock()
        self._folder: Folder | None = None
        self._folder_lock = threading.Lock()
        self._refit: asyncio.Task | None = None
        self.refits = 0  # keyword probe refits installed by this server
        self._refit_s = 0.0  # how long the last refit took
        self._swap(self.cat)
        if self.cat.songs or self.cat.images or self.cat.removed_songs or self.cat.removed_images:
            echo(f"live catalogue: {self.cat.summary()} (journal {self.store.journal})")
        if self.store.exists():  # a catalogue in use: its next change should not wait for the dictionaries
            threading.Thread(target=self._warm, name="live-catalogue-warm-up", daemon=True).start()

    def _warm(self) -> None:
        try:
            self.folder()
        except Exception:  # noqa: BLE001 (the next change builds the folder again and reports what fails)
            pass

    def folder(self) -> Folder:
        """The run's Folder, built and warmed once (LINE tables, bridge dictionaries, jieba's tagger); a change that
        comes while the start-up warm-up runs waits for it rather than loading the same things beside it."""
        with self._folder_lock:
            if self._folder is None:
                folder = live_io.make_folder(self.service.run, self.cat.base, self.service.corpus,
                                              self.cat.base_scorers)
                folder.edger.warm()
                self._folder = folder
            return self._folder

    def _swap(self, cat: LiveCatalogue) -> None:
        """Publish a new state (on the event loop: no request handler runs between these assignments)."""
        s = self.service
        encoder = getattr(s, "encoder", None)
        if cat.probe is not None and cat.probe_seen and encoder is not None and hasattr(encoder, "tagger"):
            probe = cat.probe
            encoder.tagger = lambda feats, logits: probe.predict_proba(feats)  # new photos: the refitted probe
        s.scorers, s.data, s._known = dict(cat.scorers), cat.data, set(cat.known_images)
        self.cat = cat

    def schedule_refit(self) -> None:
        """Refit the keyword probe in the background once images were added or removed (on the event loop).
        Changes that come while it runs are coalesced into the next round; each round is swapped in whole."""
        if self.cat.probe_behind and (self._refit is None or self._refit.done()):
            self._refit = asyncio.get_running_loop().create_task(self._refit_rounds())

    async def _refit_rounds(self) -> None:
        while self.cat.probe_behind:
            # a burst of uploads is learnt in one round, and rounds are spaced by their own duration: a stream of
            # changes costs the server at most about half a core of refitting
            await asyncio.sleep(max(REFIT_QUIET_S, self._refit_s))
            snap = self.cat
            try:
                t0 = time.perf_counter()
                probe = await asyncio.to_thread(snap.refit_probe)  # no lock held: changes keep being served
                self._refit_s = time.perf_counter() - t0
                async with self.lock:  # journalled and swapped like any change, onto the state of the moment
                    self._swap(await asyncio.to_thread(catalogue_probe.commit_probe, self.cat, probe, snap.image_changes,
                                                       self.store))
                    self.refits += 1
            except Exception as e:  # noqa: BLE001 (the next image change tries again; answers stay served)
                self.echo(f"live catalogue: keyword probe refit failed ({e}); the next image change retries it")
                return

    async def commit(self, change_of: Any, write: Any, timing: dict[str, float] | None = None) -> LiveCatalogue:
        """Build the change (worker thread), apply it, journal it, then swap the new state in; `timing` gets the
        milliseconds of the index updates ("apply") and of the durable journal write ("journal")."""
        timing = {} if timing is None else timing
        async with self.lock:
            cat = self.cat

            def work() -> LiveCatalogue:
                change = change_of(cat)
                cat.check(change)
                t0 = time.perf_counter()
                nxt = cat.apply(change)
                t1 = time.perf_counter()
                with self.store.lock():
                    write(change)
                timing.update(apply=1e3 * (t1 - t0), journal=1e3 * (time.perf_counter() - t1))
                return nxt

            try:
                nxt = await asyncio.to_thread(work)
            except CorpusError as e:
                raise ServiceError(422, "invalid_field", str(e)) from None
            except Img2SongError as e:
                status = 409 if "already in the catalogue" in str(e) else 404 if "not in the catalogue" in str(e) else 422
                raise ServiceError(status, {409: "conflict", 404: "not_found"}.get(status, "invalid_item"),
                                   str(e)) from None
            self._swap(nxt)
            self.schedule_refit()
            return nxt


def live_of(request: Request) -> LiveState:
    live = getattr(request.app.state, "live", None)
    if live is None:
        raise ServiceError(503, "unavailable", "the live catalogue is not loaded")
    return live


def _summary(cat: LiveCatalogue) -> dict[str, Any]:
    return {"songs": len(cat.data.corpus.songs), "images": len(cat.known_images), "added_songs": len(cat.songs),
            "added_images": len(cat.images), "removed_songs": len(cat.removed_songs),
            "removed_images": len(cat.removed_images), "scorers": dict(cat.notes), "keyword_probe": cat.probe_note()}


@router.post("/songs", status_code=201, summary="Add songs: a JSON object, or a list of them (songs.jsonl's fields)",
             response_model=AddResponse, responses=REFUSALS)
async def add_songs(request: Request) -> JSONResponse:
    t0 = time.perf_counter()
    live = live_of(request)
    raw = await request.body()
    try:
        doc = parse_json_text(raw.decode("utf-8"), "request body")
    except UnicodeDecodeError:
        raise ServiceError(400, "bad_request", "request body: not UTF-8 text") from None
    except CorpusError as e:
        raise ServiceError(400, "bad_json", str(e)) from None
    rows = doc if isinstance(doc, list) else [doc]
    if not rows or len(rows) > MAX_SONGS_PER_REQUEST:
        raise ServiceError(422, "invalid_field", f"request body: send 1 to {MAX_SONGS_PER_REQUEST} songs, got {len(rows)}")
    try:
        songs = [check_song(obj, "request body", j) for j, obj in enumerate(rows, 1)]
    except CorpusError as e:
        raise ServiceError(422, "invalid_field", str(e)) from None
    seen: dict[str, int] = {}
    for j, s in enumerate(songs, 1):
        if s.id in seen:
            raise ServiceError(422, "invalid_field", f"request body:{j}: field 'id' duplicate song id {s.id!r} "
                                                     f"(first at {seen[s.id]})")
        seen[s.id] = j
    timing: dict[str, float] = {}

    def change_of(cat: LiveCatalogue) -> Change:
        t = time.perf_counter()
        for s in songs:
            if cat.has_song(s.id):
                raise Img2SongError(f"song {s.id!r}: field 'id' is already in the catalogue")
        folder = live.folder()
        change = Change(tuple(folder.song(s) for s in songs))
        timing["foldin"] = 1e3 * (time.perf_counter() - t)
        return change

    def write(change: Change) -> None:
        with live.store.transaction("add", len(change.songs)) as put:
            for e in change.songs:
                put("song", journal.song_record(e))

    cat = await live.commit(change_of, write, timing)
    timing["total"] = 1e3 * (time.perf_counter() - t0)
    return JSONResponse({"added": {"songs": [s.id for s in songs]}, "catalogue": _summary(cat),
                         "timing_ms": {k: round(v, 3) for k, v in timing.items()}}, 201)


@router.post("/images", status_code=201, summary="Add a photo: multipart field `image` and the record's fields "
                                                 "(id, tags (repeat the field), caption, language, tag_language, ...)",
             response_model=AddResponse, responses=REFUSALS)
async def add_image(request: Request) -> JSONResponse:
    t0 = time.perf_counter()
    live = live_of(request)
    service = service_of(request)
    form = await request.form()
    unknown = sorted(set(form.keys()) - set(IMAGE_FIELDS) - {"image"})
    if unknown:
        raise ServiceError(422, "invalid_field", f"form field '{unknown[0]}': unknown (known: image, "
                                                 f"{', '.join(IMAGE_FIELDS)})")
    upload = form.get("image")
    if upload is None or isinstance(upload, str):
        raise ServiceError(422, "invalid_field", "form field 'image': the photo (a file upload) is required")
    obj: dict[str, Any] = {k: form.get(k) for k in IMAGE_FIELDS if k in form and k != "tags"}
    obj["tags"] = [t for v in form.getlist("tags") for t in (json.loads(v) if v.startswith("[") else [v])]
    try:
        image = check_image(obj, "form", 1, need_file=False)
    except (CorpusError, ValueError) as e:
        raise ServiceError(422, "invalid_field", str(e)) from None
    data = await upload.read()
    name = upload.filename or "upload"

    def encode() -> tuple[Any, Any, Any]:
        try:
            im = decode_photo(data, service.config.max_pixels, name)
        except PhotoError as e:
            status = 413 if e.kind == "decompression_bomb" else 415 if e.kind == "not_an_image" else 400
            raise ServiceError(status, e.kind, str(e)) from None
        f, lg, tg = service.encoder.encode([im])
        return f[0], None if lg is None else lg[0], None if tg is None else tg[0]

    t1 = time.perf_counter()
    feats, logits, tags = await service.cnn_pool.run(encode, deadline=time.monotonic() + service.config.deadline_s)
    timing = {"cnn": 1e3 * (time.perf_counter() - t1)}
    suffix = "." + (name.rsplit(".", 1)[-1][:8] if "." in name else "img")

    def change_of(cat: LiveCatalogue) -> Change:
        t = time.perf_counter()
        if image.id in cat.known_images or image.id in cat.removed_images:
            raise Img2SongError(f"image {image.id!r}: field 'id' is already in the catalogue")
        kept = live.store.store_photo(data, suffix)
        entry = live.folder().image(dataclasses.replace(image, file=str(kept)), feats, tags, logits)
        timing["foldin"] = 1e3 * (time.perf_counter() - t)
        return Change(images=(entry,))

    def write(change: Change) -> None:
        with live.store.transaction("add", 1) as put:
            put("image", journal.image_record(change.images[0], service.run.path))

    cat = await live.commit(change_of, write, timing)
    timing["total"] = 1e3 * (time.perf_counter() - t0)
    return JSONResponse({"added": {"images": [image.id]}, "keywords": cat.images[image.id].edges.keywords,
                         "catalogue": _summary(cat), "timing_ms": {k: round(v, 3) for k, v in timing.items()}}, 201)


async def _remove(request: Request, songs: tuple[str, ...], images: tuple[str, ...]) -> JSONResponse:
    live = live_of(request)
    change = Change(remove_songs=frozenset(songs), remove_images=frozenset(images))

    def write(_: Change) -> None:
        with live.store.transaction("remove", 1) as put:
            put("remove", {"songs": list(songs), "images": list(images)})

    cat = await live.commit(lambda _: change, write)
    return JSONResponse({"removed": {"songs": list(songs), "images": list(images)}, "catalogue": _summary(cat)})


@router.delete("/songs/{song_id:path}", summary="Remove a song: never recommended again",
               response_model=RemoveResponse, responses=REFUSALS)
async def remove_song(song_id: str, request: Request) -> JSONResponse:
    return await _remove(request, (song_id,), ())


@router.delete("/images/{image_id:path}", summary="Remove an image: no longer a neighbour nor a query id",
               response_model=RemoveResponse, responses=REFUSALS)
async def remove_image(image_id: str, request: Request) -> JSONResponse:
    return await _remove(request, (), (image_id,))


def attach(app: FastAPI, service: RecommendService, echo: Any = print) -> None:
    """Load the live catalogue into the service (journal replayed) and add the routes."""
    live = LiveState(service, echo)
    app.state.live = live
    describe = service.song

    def song(self: RecommendService, song_id: str) -> dict[str, Any]:  # a removed song is not in the catalogue
        if not live.cat.has_song(song_id):
            raise ServiceError(404, "unknown_song", f"unknown song id {song_id!r}")
        return describe(song_id)

    service.song = types.MethodType(song, service)
    app.include_router(router)
