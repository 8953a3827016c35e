"""`img2song export`: convert an embedding table between formats (word2vec text/binary, npz, projector)."""
from __future__ import annotations

from pathlib import Path

import typer

from engine.embeddings import FORMATS, EmbeddingTable
from graph.common.errors import Img2SongError


def export_embeddings(embeddings: Path, out: Path, format: str, kind: list[str] | None = None,
                      source_format: str | None = None, echo=print) -> Path:
    """Load a table (format from its suffix unless given), keep the chosen kinds, write `out` in `format`."""
    if format not in FORMATS:
        raise Img2SongError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    table = EmbeddingTable.load(embeddings, source_format)
    if kind:
        table = table.select(kind)
        if not len(table):
            raise Img2SongError(f"{embeddings}: no vertices of kind {', '.join(kind)}")
    path = table.save(out, format)
    echo(f"wrote {len(table)} vectors (dim {table.dim}) as {format} to {path}")
    return path


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("export")
    def export_cmd(
        embeddings: Path = typer.Option(..., help="embedding table (.npz, .txt/.vec word2vec, .bin, projector dir)"),
        format: str = typer.Option(..., "--format", help="word2vec | word2vec-binary | npz | projector"),
        out: Path = typer.Option(..., help="output file (a directory for projector)"),
        kind: list[str] = typer.Option(None, help="keep only this vertex kind (song, image, keyword); repeatable"),
        source_format: str = typer.Option(None, help="format of --embeddings when its suffix does not tell"),
    ) -> None:
        """Write an embedding table in another format (word2vec keys escape whitespace as %XX)."""
        export_embeddings(embeddings, out, format, kind or None, source_format, echo=typer.echo)
