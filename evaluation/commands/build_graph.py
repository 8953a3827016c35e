"""`img2song build-graph`: corpus -> tripartite network + statistics in a run directory."""
from __future__ import annotations

from pathlib import Path

import typer

from evaluation import pipeline


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("build-graph")
    def build_graph_cmd(
        corpus: Path = typer.Option(..., help="corpus directory (songs.jsonl, images.jsonl, images/)"),
        out: Path = typer.Option(..., help="run directory (network.npz, network_stats.json, split.json, run.json)"),
        holdout: float = typer.Option(0.2, help="fraction of images held out of the network as queries"),
        seed: int = typer.Option(0),
        scheme: str = typer.Option("count", help="song-keyword weight: count | tfidf"),
    ) -> None:
        """Build the tripartite image-keyword-song network of a corpus."""
        pipeline.build_graph(corpus, out, holdout, seed, scheme, echo=typer.echo)
