"""`img2song export`: convert an embedding table between formats (word2vec text/binary, npz, projector)."""
from __future__ import annotations

from pathlib import Path

import typer

from evaluation.stages import pipeline
from evaluation.stages.rundir import RunDir
from graph.common.errors import Img2SongError


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        embeddings: Path = typer.Option(None, help="embedding table (.npz, .txt/.vec word2vec, .bin, projector dir)"),
        run: Path = typer.Option(None, help="instead of --embeddings: the run's embeddings.npz"),
        format: str = typer.Option(..., "--format", help="word2vec | word2vec-binary | npz | projector"),
        out: Path = typer.Option(..., help="output file (a directory for projector)"),
        kind: list[str] = typer.Option(None, help="keep only this vertex kind (song, image, keyword); repeatable"),
        source_format: str = typer.Option(None, help="format of --embeddings when its suffix does not tell"),
        corpus: Path = typer.Option(None, help="projector: corpus for labels and image thumbnails (default: the "
                                    "corpus of the run holding the embeddings)"),
    ) -> None:
        """Write an embedding table in another format (word2vec keys escape whitespace as %XX)."""
        if (embeddings is None) == (run is None):
            raise Img2SongError("export: give exactly one of --embeddings FILE and --run DIR")
        src = embeddings if embeddings is not None else RunDir(run).embeddings
        pipeline.export_embeddings(src, out, format, kind or None, source_format, corpus, echo=typer.echo)
