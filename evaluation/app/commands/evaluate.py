"""`img2song evaluate`: hit-rate@10 / precision@10 of the scorers against related-word ground truth."""
from __future__ import annotations

from pathlib import Path

import typer

from evaluation.app.commands.options import DEFAULT_RUN, JsonOutput, Run, ScorerModules
from evaluation.stages import pipeline
from graph.common.errors import Img2SongError


def split_names(values: list[str] | None) -> list[str] | None:
    if not values:
        return None  # the config's scorers, else ne, km, pop
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        raise Img2SongError("--scorers: give at least one scorer name")
    return names


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("evaluate")
    def evaluate_cmd(
        run: Run = DEFAULT_RUN,
        scorers: list[str] = typer.Option(None, help="scorer names, comma-separated or repeated "
                                          "(default: the config's, else ne,km,pop)"),
        conceptnet_db: Path | None = typer.Option(None, help="a real ConceptNet SQLite DB (conceptnet-lite)"),
        config: Path | None = typer.Option(None, help="experiment TOML: named scorers and parameters, k, ns, "
                                           "seed, n_boot, protocols (README: Experiments as files)"),
        scorer_module: ScorerModules = None,
        json_output: JsonOutput = False,
    ) -> None:
        """Image-to-song hit-rate@10 of the scorers against related-word ground truth (paper's Table 1)."""
        pipeline.evaluate(run, split_names(scorers), conceptnet_db, echo=typer.echo, config=config,
                          scorer_modules=scorer_module or (), as_json=json_output)
