"""`img2song bench retrieval`: per-query NE / KM latency, per-call exact path vs indexes (evaluation.bench.retrieval)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from evaluation.bench.retrieval import bench_retrieval


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @bench_app.command("retrieval")
    def retrieval_cmd(
        songs: Annotated[int, typer.Option(help="synthetic songs (128-d NE vectors, lyrics)")] = 1_000_000,
        images: Annotated[int, typer.Option(help="synthetic training images (1280-d CNN features)")] = 100_000,
        queries: Annotated[int, typer.Option(help="timed queries of the index cases")] = 200,
        baseline_queries: Annotated[int, typer.Option(help="timed queries of the per-call (slow) cases")] = 5,
        index: Annotated[str, typer.Option(help="approximate image index: hnsw or ivf")] = "hnsw",
        seed: int = 0,
        full_song_lists: Annotated[bool, typer.Option(
            help="build the song lists of every image (default: those the queries reach, full time extrapolated)")
        ] = False,
        device: Annotated[str, typer.Option(help="device of the song lists' blocked top-k: cpu or cuda")] = "cpu",
        baseline_rows: Annotated[int, typer.Option(
            help="rows built by today's faiss path beside the blocked top-k (0: none)")] = 1024,
        km_only: Annotated[bool, typer.Option(help="only the keyword index and KM cases (no NE tables)")] = False,
        json_out: Annotated[Optional[Path], typer.Option(  # noqa: UP045 (typer needs Optional here)
            "--json", help="write {cases: [...], build, params, machine} here")] = None,
    ) -> None:
        """Latency p50/p99 and queries/s of NE and KM from features: before and with the retrieval indexes."""
        bench_retrieval(songs, images, json_out=json_out, echo=typer.echo, queries=queries,
                        baseline_queries=baseline_queries, index=index, seed=seed,
                        full_song_lists=full_song_lists, device=device, baseline_rows=baseline_rows, km_only=km_only)
