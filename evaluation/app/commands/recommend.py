"""`img2song recommend`: songs for photos (files or corpus image ids), each with its reason."""
from __future__ import annotations

import typer

from evaluation.app.commands.options import DEFAULT_RUN, JsonOutput, Run, ScorerModules
from evaluation.stages import pipeline


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("recommend")
    def recommend_cmd(
        images: list[str] = typer.Argument(..., help="photo files, or image ids of the run's corpus"),
        scorer: str = typer.Option("ne", help="scorer name (ne, km, pop, ..., or a plug-in's)"),
        run: Run = DEFAULT_RUN,
        k: int = typer.Option(10, help="songs per photo"),
        scorer_module: ScorerModules = None,
        json_output: JsonOutput = False,
    ) -> None:
        """Recommend songs for photos, with the reason for each song."""
        pipeline.recommend(run, images, scorer, k, echo=typer.echo, scorer_modules=scorer_module or (),
                           as_json=json_output)
