"""`img2song build-graph`: corpus -> tripartite network + statistics in a run directory."""
from __future__ import annotations

from pathlib import Path

import typer

from evaluation.app.commands.options import EdgeModel, EdgeThreshold, KindBackoff
from evaluation.stages import pipeline
from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_EDGE_THRESHOLD, DEFAULT_KIND_BACKOFF
from graph.context import ContextParams


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("build-graph")
    def build_graph_cmd(
        corpus: Path = typer.Option(..., help="corpus directory (songs.jsonl, images.jsonl, images/)"),
        out: Path = typer.Option(..., help="run directory (network.npz, network_stats.json, split.json, run.json)"),
        holdout: float = typer.Option(0.2, help="fraction of images held out of the network as queries"),
        seed: int = typer.Option(0),
        scheme: str = typer.Option("count", help="song-keyword weight: count | tfidf"),
        context_words: int = typer.Option(ContextParams.per_song,
                                          help="lyric words beyond the keywords linked per song, so that songs "
                                               "without a keyword get an embedding (0: none)"),
        sense_encoder: bool = typer.Option(pipeline.SENSE_ENCODER, "--sense-encoder/--no-sense-encoder",
                                           help="weigh image-keyword edges also by the text encoder's relatedness "
                                                "to the image (fewer wrong senses, fewer images reaching a "
                                                "keyword; see `img2song bridge`)"),
        edge_model: EdgeModel = DEFAULT_EDGE_MODEL,
        kind_backoff: KindBackoff = DEFAULT_KIND_BACKOFF,
        edge_threshold: EdgeThreshold = DEFAULT_EDGE_THRESHOLD,
    ) -> None:
        """Build the tripartite image-keyword-song network of a corpus."""
        pipeline.build_graph(corpus, out, holdout, seed, scheme, echo=typer.echo, context_words=context_words,
                             sense_encoder=sense_encoder, edge_model=edge_model,
                             kind_backoff=kind_backoff, edge_threshold=edge_threshold)
