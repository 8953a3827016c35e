"""`img2song bench lstm`: per-query latency of the LSTM scorer at catalogue size (evaluation.bench.lstm)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluation.bench.lstm import bench_lstm


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @bench_app.command("lstm")
    def lstm_cmd(
        songs: Annotated[int, typer.Option(min=1, max=10_000_000, help="synthetic lyrics in the catalogue")] = 10_000,
        queries: Annotated[int, typer.Option(min=1, max=1_000_000, help="timed queries of the index cases")] = 50,
        exhaustive_queries: Annotated[int, typer.Option(min=1, max=1_000_000, help="timed queries of the exhaustive (slow) cases")] = 2,
        threads: Annotated[int, typer.Option(min=1, max=1024, help="torch threads (the target is stated for 2 cores)")] = 2,
        seed: int = 0,
        json_out: Annotated[Optional[Path], typer.Option(  # noqa: UP045 (typer needs Optional here)
            "--json", help="write {cases: [...], ceiling_ms, params, machine} here")] = None,
    ) -> None:
        """LSTM scoring p50/p99 per query: exhaustive paths beside the cached index, with top-10 agreement."""
        bench_lstm(songs, queries, exhaustive_queries, threads, seed, json_out=json_out, echo=typer.echo)
