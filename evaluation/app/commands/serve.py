"""`img2song serve` (the HTTP service over a run) and `img2song bench serve` (its closed-loop benchmark)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evaluation.app.commands.evaluate import split_names
from evaluation.app.commands.options import DEFAULT_RUN, Run, ScorerModules, config_option
from evaluation.app.serve.config import ServeConfig, default

LOG_LEVELS = ["critical", "error", "warning", "info", "debug", "trace"]  # uvicorn's


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("serve")
    def serve_cmd(
        run: Run = DEFAULT_RUN,
        host: str = typer.Option("127.0.0.1", help="address to listen on"),
        port: int = typer.Option(8000, min=1, max=65535, help="TCP port"),
        scorers: list[str] = typer.Option(["ne,km,pop"], help="scorers to serve (the first is the default)"),
        max_upload_mb: float = typer.Option(default("max_upload_bytes") / 2**20, min=0.001,
                                            help="largest request body (an upload), MB"),
        max_pixels: int = config_option(ServeConfig, "max_pixels"),
        max_k: int = config_option(ServeConfig, "max_k"),
        max_batch: int = config_option(ServeConfig, "max_batch"),
        workers: int = config_option(ServeConfig, "workers"),
        torch_threads: int = config_option(ServeConfig, "torch_threads"),
        queue: int = config_option(ServeConfig, "queue"),
        deadline: float = config_option(ServeConfig, "deadline_s"),
        idle_timeout: float = config_option(ServeConfig, "idle_timeout_s"),
        log_level: str = typer.Option("warning", help=f"uvicorn log level: {', '.join(LOG_LEVELS)}"),
        scorer_module: ScorerModules = None,
    ) -> None:
        """Serve recommendations over HTTP: POST /recommend, /recommend/batch, GET /songs/{id}, /healthz, /metrics."""
        # deferred: uvicorn, FastAPI and torch load only when this command runs
        from evaluation.app.serve.server import serve

        if log_level not in LOG_LEVELS:
            raise typer.BadParameter(f"{log_level!r} is not one of {', '.join(LOG_LEVELS)}", param_hint="--log-level")
        names = split_names(scorers)
        cfg = ServeConfig(max_upload_bytes=int(max_upload_mb * 1024 * 1024), max_pixels=max_pixels, max_k=max_k,
                          max_batch=max_batch, workers=workers, torch_threads=torch_threads, queue=queue,
                          deadline_s=deadline, idle_timeout_s=idle_timeout, default_scorer=names[0])
        serve(run, host, port, names, cfg, log_level=log_level, echo=typer.echo, scorer_modules=scorer_module or ())

    @bench_app.command("serve")
    def bench_serve_cmd(
        run: Run = DEFAULT_RUN,
        scorer: str = typer.Option("ne", help="scorer asked for"),
        k: int = typer.Option(10, help="songs per answer"),
        clients: int = typer.Option(1, help="closed-loop clients per case"),
        requests: int = typer.Option(300, help="requests per case at most"),
        seconds: float = typer.Option(15.0, help="seconds per case at most"),
        cli_runs: int = typer.Option(2, help="runs of the one-process-per-answer baseline (0: none)"),
        url: Optional[str] = typer.Option(None, help="an already running server (default: start one)"),  # noqa: UP045
        json_out: Optional[Path] = typer.Option(None, "--json", help="write the cases here"),  # noqa: UP045
    ) -> None:
        """p50/p99 latency and requests/s of image-id queries and photo uploads against a server on loopback."""
        from evaluation.bench.serve import bench_serve  # deferred: as above

        bench_serve(run, scorer=scorer, k=k, clients=clients, requests=requests, seconds=seconds, url=url,
                    cli_runs=cli_runs, json_out=json_out, echo=typer.echo)
