"""`img2song fit-scorers`: fit scorers once and keep them in <run>/scorers/<name>/ for recommend and serve."""
from __future__ import annotations

import typer

from evaluation.app.commands.evaluate import split_names
from evaluation.app.commands.options import DEFAULT_RUN, Run, ScorerModules
from evaluation.stages import pipeline


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("fit-scorers")
    def fit_scorers_cmd(
        run: Run = DEFAULT_RUN,
        scorers: list[str] = typer.Option(["ne,km,pop"], help="scorer names, comma-separated or repeated"),
        refit: bool = typer.Option(False, help="fit again even when the saved scorer is current"),
        scorer_module: ScorerModules = None,
    ) -> None:
        """Fit and save scorers into the run (kept when current; refitted when its inputs or code changed)."""
        pipeline.fit_scorers(run, split_names(scorers), refit=refit, echo=typer.echo,
                             scorer_modules=scorer_module or ())
