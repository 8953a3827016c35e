"""`serve(run, host, port)`: load a run's scorers, features and backbone once, then answer over HTTP (uvicorn)."""
from __future__ import annotations

import gc
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import faiss
import torch
import uvicorn
from PIL import Image

from evaluation.app.serve.app import create_app
from evaluation.app.serve.config import ServeConfig
from evaluation.app.serve.guard import StallGuard, idle_closing
from evaluation.app.serve.service import RecommendService
from evaluation.measure.experiment import import_scorer_modules
from evaluation.stages.rundir import RunDir


def serve(run: RunDir | str | Path, host: str = "127.0.0.1", port: int = 8000,
          scorers: Sequence[str] = ("ne", "km", "pop"), config: ServeConfig | None = None,
          log_level: str = "warning", echo: Callable[[str], None] = print, scorer_modules: Sequence[str] = ()) -> None:
    """Blocks until SIGINT/SIGTERM; uvicorn then stops accepting, finishes in-flight requests, and the pools stop.
    `scorer_modules`: the user's modules that register plug-in scorers (imported first)."""
    import_scorer_modules(scorer_modules)
    # every upload's size is checked against config.max_pixels right after PIL reads its header (a 413), so
    # PIL's own warning for large images would only repeat that in the log
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

    config = config or ServeConfig()
    # one thread a team: on a busy 2-core machine an idle team member spinning after each kNN or forward steals
    # the core the event loop needs (an image-id answer took 4x longer)
    torch.set_num_threads(config.torch_threads)
    faiss.omp_set_num_threads(config.torch_threads)
    service = RecommendService.from_run(run, scorers, config, echo=echo)
    gc.collect()
    gc.freeze()  # the loaded run (corpus, tables, scorers) never changes: keep it out of every later GC pass
    app = create_app(service, echo=echo)
    cfg = service.config
    echo(f"serving {RunDir.of(run).path} on http://{host}:{port} (API docs at /docs, metrics at /metrics); "
         f"limits: upload {cfg.max_upload_bytes} bytes, {cfg.max_pixels} pixels, k <= {cfg.max_k}, "
         f"{cfg.workers} CNN worker(s) x {cfg.torch_threads} torch thread(s), queue {cfg.queue}, "
         f"deadline {cfg.deadline_s} s")
    # a stalled body gets a JSON 408 after the deadline, or 503 as soon as shutdown starts, so that SIGTERM never
    # waits on a silent client; connections with no request under way close after the idle timeout
    guard = StallGuard(app, read_timeout_s=cfg.deadline_s, metrics=app.state.metrics)
    server = uvicorn.Server(uvicorn.Config(guard, host=host, port=port, log_level=log_level,
                                           http=idle_closing(cfg.idle_timeout_s),
                                           timeout_graceful_shutdown=cfg.deadline_s))
    guard.server = server
    server.run()
