"""`img2song related`: the ground truth's related words of any word, from the source `evaluate` would use."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer


def related_words(words: list[str], corpus: Path | None = None, conceptnet_db: Path | None = None, n: int = 20,
                  echo: Callable[[str], None] = print) -> dict[str, list[str]]:
    """Top-n related words per word: the given DB, else the corpus dump, else the open-thesauri DB (built once)."""
    from evaluation.measure.groundtruth import ground_truth_source
    from evaluation.measure.thesauri import ThesauriBuild

    dump = corpus / "related_words.tsv.gz" if corpus is not None else None
    source = ground_truth_source(conceptnet_db, dump, echo=echo)
    echo(f"source: {source.description}")
    if source.build:
        echo(ThesauriBuild(**source.build).summary())
    out = {}
    for w in words:
        out[w] = source.related(w, n)
        echo(f"{w}: " + (", ".join(out[w]) if out[w] else "(no related word)"))
    return out


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("related")
    def related_cmd(
        words: list[str] = typer.Argument(None, help="words (Chinese or English); none: just build/show the DB"),
        corpus: Path | None = typer.Option(None, help="use this corpus's related_words.tsv.gz when it has one"),
        conceptnet_db: Path | None = typer.Option(None, help="a real ConceptNet SQLite DB (conceptnet-lite)"),
        n: int = typer.Option(20, min=1, help="related words per word"),
    ) -> None:
        """Related words of the evaluation's ground truth (builds the open-thesauri DB on first use)."""
        related_words(words or [], corpus, conceptnet_db, n, echo=typer.echo)
