"""What the HTTP service answers with, without HTTP: a run's scorers, features and backbone, loaded once.

`RecommendService.from_run(run)` loads the training set, each scorer (saved in the run, or fitted once and saved
there) and the run's backbone. CNN forwards run on a bounded pool (`workers` threads, at most `queue` waiting);
a job still waiting at its deadline is dropped (the caller gets ServiceError 503). Fast scorers (NE, KM, POP:
milliseconds) answer on the event loop; slow ones (`pooled_scorers`, the LSTM) on one thread of their own.
"""
from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from engine.features.photo import PhotoEncoder, PhotoError, decode_photo
from engine.features.runtime import Forward, runtime_of_run
from engine.scorers.base import Query, Recommendation, Scorer, TrainingSet
from evaluation.app.serve.config import ServeConfig
from evaluation.stages.fitted import load_or_fit
from evaluation.stages.run_inputs import known_image_query, load_run_corpus, load_training_set, photo_tagger
from evaluation.stages.rundir import RunDir
from graph.common.errors import Img2SongError
from graph.corpus import Corpus


class ServiceError(Exception):
    """A request the service refuses: HTTP status, an error kind (metrics label) and a message for the client."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class BoundedPool:
    """ThreadPoolExecutor with a cap on waiting jobs and a per-job deadline checked when the job starts."""

    def __init__(self, workers: int, queue: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._slots = threading.BoundedSemaphore(workers + queue)
        self.name = name

    def submit(self, fn: Callable[..., Any], *args: Any, deadline: float) -> Future:
        if not self._slots.acquire(blocking=False):
            raise ServiceError(503, "busy", f"{self.name}: too many requests waiting; try again shortly")

        def job() -> Any:
            try:
                if time.monotonic() > deadline:
                    raise ServiceError(503, "over_deadline", f"{self.name}: request waited past its deadline")
                return fn(*args)
            finally:
                self._slots.release()

        try:
            return self._pool.submit(job)
        except RuntimeError:  # shutting down
            self._slots.release()
            raise ServiceError(503, "shutting_down", "the service is shutting down") from None

    async def run(self, fn: Callable[..., Any], *args: Any, deadline: float) -> Any:
        fut = self.submit(fn, *args, deadline=deadline)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(fut), timeout=max(0.0, deadline - time.monotonic()))
        except asyncio.TimeoutError:
            fut.cancel()
            raise ServiceError(503, "over_deadline", "request not answered within its deadline") from None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Answer:
    scorer: str
    items: list[tuple[str, list[Recommendation]]]  # (query label, songs)
    timing_ms: dict[str, float] = field(default_factory=dict)


class RecommendService:
    """Scorers by name over one run; photos through the run's backbone; songs described from the corpus."""

    def __init__(self, run: RunDir, data: TrainingSet, scorers: dict[str, Scorer], encoder: Any,
                 config: ServeConfig, load_report: dict[str, str] | None = None, corpus: Corpus | None = None) -> None:
        self.run, self.data, self.scorers, self.encoder, self.config = run, data, scorers, encoder, config
        self.corpus = corpus or data.corpus  # the whole corpus: any image id may be asked for
        self.load_report = load_report or {}
        self.started = time.time()
        self.cnn_pool = BoundedPool(config.workers, config.queue, "cnn")
        self.score_pool = BoundedPool(1, config.queue + config.max_batch, "score")
        self._known = {i.id for i in self.corpus.images}

    @classmethod
    def from_run(cls, run: RunDir | str | Path, scorers: Sequence[str] = ("ne", "km", "pop"),
                 config: ServeConfig | None = None, echo: Callable[[str], None] = print) -> RecommendService:
        config = config or ServeConfig()
        run = RunDir.of(run).require_dir()
        t0 = time.perf_counter()
        corpus = load_run_corpus(run)
        data = load_training_set(run, corpus)
        loaded, report = {}, {}
        for name in scorers:
            f = load_or_fit(run, name, data=data)
            loaded[name], report[name] = f.scorer, f.status
            echo(f"scorer {name}: {f.status} ({f.seconds:.2f} s) from {f.path}")
        if config.default_scorer not in loaded:
            raise Img2SongError(f"default scorer {config.default_scorer!r} is not among the served {list(loaded)}")
        encoder = PhotoEncoder(data.features_meta, photo_tagger(run, data))
        encoder.backbone = Forward(encoder.backbone, runtime_of_run(data.features_meta),  # the features stage's runtime
                                   threads=config.torch_threads).as_backbone()
        service = cls(run, data, loaded, encoder, config, report, corpus)
        if config.warmup:
            echo(f"warmed up in {service.warm_up():.1f} s")
        echo(f"backbone {data.features_meta.get('backbone')}; {len(data.corpus.songs)} songs, "
             f"{len(service._known)} images; loaded in {time.perf_counter() - t0:.1f} s")
        return service

    def warm_up(self) -> float:
        """One batch of every corpus image through each fast scorer and one photo through the CNN, so that the first
        requests do not pay for lazily built state (an image's NE song list, a keyword's lyric counts, kernels)."""
        t0 = time.perf_counter()
        queries = [known_image_query(self.data, i, self.corpus) for i in sorted(self._known)]
        for name, scorer in self.scorers.items():
            if name not in self.config.pooled_scorers:
                for start in range(0, len(queries), 256):
                    try:
                        scorer.recommend_batch(queries[start:start + 256], min(10, self.config.max_k))
                    except Img2SongError:
                        pass  # a query it cannot answer: requests will say so; the rest of the batch is warm enough
        self.encoder.encode([Image.new("RGB", (64, 64), (128, 128, 128))])
        return time.perf_counter() - t0

    # ------------------------------------------------------------------------------------------ checks
    def scorer(self, name: str | None) -> tuple[str, Scorer]:
        name = name or self.config.default_scorer
        if name not in self.scorers:
            raise ServiceError(400, "unknown_scorer", f"unknown scorer {name!r}; served: {', '.join(self.scorers)}")
        return name, self.scorers[name]

    def check_k(self, k: int | None) -> int:
        if k is None:
            return min(10, self.config.max_k)
        if not 1 <= k <= self.config.max_k:
            raise ServiceError(422, "bad_k", f"k must be between 1 and {self.config.max_k}, got {k}")
        return k

    def id_query(self, image_id: str) -> Query:
        if image_id not in self._known:
            raise ServiceError(404, "unknown_image", f"unknown image id {image_id!r}")
        return known_image_query(self.data, image_id, self.corpus)

    def song(self, song_id: str) -> dict[str, Any]:
        try:
            s = self.data.corpus.song(song_id)
        except KeyError:
            raise ServiceError(404, "unknown_song", f"unknown song id {song_id!r}") from None
        return {"id": s.id, "title": s.title, "artist": s.artist, "language": s.language,
                "popularity": s.popularity, "lyrics": s.lyrics}

    # ------------------------------------------------------------------------------------------ photos
    def _photos(self, uploads: Sequence[tuple[str, bytes]]) -> tuple[list[Query], dict[str, float]]:
        """Decode and encode uploads (runs on the CNN pool)."""
        t0 = time.perf_counter()
        try:
            images = [decode_photo(data, self.config.max_pixels, name) for name, data in uploads]
        except PhotoError as e:
            status = 413 if e.kind == "decompression_bomb" else 415 if e.kind == "not_an_image" else 400
            raise ServiceError(status, e.kind, str(e)) from None
        t1, c1 = time.perf_counter(), time.thread_time()
        feats, logits, tags = self.encoder.encode(images)
        t2, c2 = time.perf_counter(), time.thread_time()
        qs = [Query(path=Path(name), features=feats[j], tag_probs=None if tags is None else tags[j],
                    logits=None if logits is None else logits[j]) for j, (name, _) in enumerate(uploads)]
        # cnn_cpu: CPU time of the forward on its thread (torch_threads=1), which waits for no other process
        return qs, {"decode": 1e3 * (t1 - t0), "cnn": 1e3 * (t2 - t1), "cnn_cpu": 1e3 * (c2 - c1)}

    def _score(self, scorer: Scorer, name: str, queries: list[Query], k: int) -> list[list[Recommendation]]:
        try:
            return scorer.recommend_batch(queries, k)
        except Img2SongError as e:
            msg = str(e) if str(e).startswith(f"scorer '{name}'") else f"scorer '{name}': {e}"
            raise ServiceError(422, "cannot_answer", msg) from None

    async def answer(self, uploads: Sequence[tuple[str, bytes]], image_ids: Sequence[str], scorer: str | None,
                     k: int | None) -> Answer:
        """Songs for each upload and each image id (uploads first), within the request's deadline."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + self.config.deadline_s
        name, model = self.scorer(scorer)
        k = self.check_k(k)
        n = len(uploads) + len(image_ids)
        if n == 0:
            raise ServiceError(400, "no_image", "send an image upload (multipart field 'image') or 'image_id'")
        if n > self.config.max_batch:
            raise ServiceError(413, "batch_too_large", f"{n} images in one request, at most {self.config.max_batch}")
        queries = [self.id_query(i) for i in image_ids]
        timing: dict[str, float] = {}
        if uploads:
            photo_q, timing = await self.cnn_pool.run(self._photos, list(uploads), deadline=deadline)
            queries = photo_q + queries
        t1, c1 = time.perf_counter(), time.thread_time()
        if name in self.config.pooled_scorers:
            lists = await self.score_pool.run(self._score, model, name, queries, k, deadline=deadline)
        else:  # milliseconds: two thread hops would cost more than they spare the event loop
            lists = self._score(model, name, queries, k)
            timing["score_cpu"] = 1e3 * (time.thread_time() - c1)
        timing["score"] = 1e3 * (time.perf_counter() - t1)
        timing["total"] = 1e3 * (time.perf_counter() - t0)
        labels = [u for u, _ in uploads] + list(image_ids)
        return Answer(name, list(zip(labels, lists)), {s: round(v, 3) for s, v in timing.items()})

    def describe(self, recs: list[Recommendation]) -> list[dict[str, Any]]:
        out = []
        for r in recs:
            s = self.data.corpus.song(r.song_id)
            out.append({"id": s.id, "title": s.title, "artist": s.artist, "score": r.score,
                        "explanation": r.explanation})
        return out

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "run": str(self.run.path), "scorers": self.load_report,
                "default_scorer": self.config.default_scorer, "songs": len(self.data.corpus.songs),
                "images": len(self._known), "backbone": self.data.features_meta.get("backbone"),
                "uptime_s": round(time.time() - self.started, 1)}

    def shutdown(self) -> None:
        self.cnn_pool.shutdown()
        self.score_pool.shutdown()
