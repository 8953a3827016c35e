"""`img2song add` / `img2song remove`: songs and photos into and out of a trained run, no retraining
(evaluation/stages/catalogue.py); `img2song bench foldin`: fold-in against a full retrain (evaluation/bench/foldin.py)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from evaluation.app.commands.options import DEFAULT_RUN, Run


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("add")
    def add_cmd(
        run: Run = DEFAULT_RUN,
        songs: Optional[Path] = typer.Option(None, help="new songs, one JSON object a line (songs.jsonl's fields)"),  # noqa: UP045
        images: Optional[Path] = typer.Option(None, help="new images, one JSON object a line (images.jsonl's "  # noqa: UP045
                                               "fields; 'file' relative to this file's folder)"),
    ) -> None:
        """Add songs and photos to a trained run: edges by build-graph's rules, LINE rows by fold-in, every saved
        scorer's state updated; journalled in <run>/catalogue (a killed add leaves the run as before)."""
        from evaluation.stages.catalogue import add  # deferred: torch

        add(run, songs, images, echo=typer.echo)

    @app.command("remove")
    def remove_cmd(
        run: Run = DEFAULT_RUN,
        songs: list[str] = typer.Option([], "--songs", help="song ids to remove (repeat the option)"),
        images: list[str] = typer.Option([], "--images", help="image ids to remove (repeat the option)"),
    ) -> None:
        """Remove songs and images from a run's catalogue: never recommended or answered again."""
        from evaluation.stages.catalogue import remove  # deferred: torch

        remove(run, songs, images, echo=typer.echo)

    @bench_app.command("foldin")
    def bench_foldin_cmd(
        corpus: Path = typer.Option(Path("data/starter"), help="corpus directory"),
        out: Path = typer.Option(Path("runs/bench-foldin"), help="working directory (two runs per training seed are built there)"),
        share: float = typer.Option(0.1, help="share of songs and of training images held out, then folded in"),
        seed: int = typer.Option(0, help="seed of the hold-out draw and the split; the first training seed"),
        seeds: int = typer.Option(3, help="training seeds (seed, seed + 1, ...: LINE, keyword probe, scorers): "
                                          "figures are means over them, FOLDED - FULL with a 95% interval"),
        timing_items: int = typer.Option(200, help="items timed one by one for the p50 / p99 figures"),
        json_out: Optional[Path] = typer.Option(None, "--json", help="write the figures here"),  # noqa: UP045
        reuse: bool = typer.Option(False, help="reuse the two runs an earlier call built in --out (same corpus, "
                                               "share and seed): time and compare only"),
    ) -> None:
        """Hold out songs and images, train, fold them in; compare hit@10 / p@10 with a retrain on everything."""
        from evaluation.bench.foldin import bench_foldin  # deferred: torch

        bench_foldin(corpus, out, share=share, seed=seed, timing_items=timing_items, json_out=json_out,
                     echo=typer.echo, reuse=reuse, seeds=seeds)
