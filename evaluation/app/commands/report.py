"""`img2song report --run DIR [--open] [--screenshot]`: regenerate report.html of an evaluated run."""
from __future__ import annotations

import webbrowser
from collections.abc import Callable
from pathlib import Path

import typer

from evaluation.app.commands.options import DEFAULT_RUN, Run
from evaluation.stages.rundir import RunDir, Stage
from graph.common.errors import Img2SongError


def report(run: Path, open_browser: bool = False, screenshot: bool = False, max_cards: int = 500,
           echo: Callable[[str], None] = print) -> dict[str, Path]:
    """Render <run>/report.html from report.json, per_query.jsonl, recommendations.jsonl and the corpus."""
    # deferred: a command loads only its own stage (the page reads the run through engine and jinja2)
    from evaluation.stages import html_report

    started = RunDir(run).stage(Stage.EVALUATE) or {}
    if started.get("incomplete"):  # a killed evaluate: its outputs may be half old, half new
        raise Img2SongError(f"{RunDir(run).manifest}: `img2song evaluate` (evaluation {started.get('evaluation_id')}, "
                            f"started {started.get('started_at')}) did not finish, so report.json, per_query.jsonl "
                            f"and recommendations.jsonl may mix two evaluations: rerun `img2song evaluate --run {run}`")
    paths = {"html": html_report.write_html_report(run, max_cards=max_cards)}
    echo(f"wrote {paths['html']} (thumbnails in {RunDir(run).report_assets / 'thumbs'})")
    if screenshot:
        paths["screenshot"] = html_report.screenshot(run)
        echo(f"screenshot: {paths['screenshot']}")
    if open_browser:
        webbrowser.open(paths["html"].resolve().as_uri())
        echo(f"opened {paths['html']} in the default browser")
    return paths


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("report")
    def report_cmd(
        run: Run = DEFAULT_RUN,
        open_browser: bool = typer.Option(False, "--open", help="open the page in the default browser"),
        screenshot: bool = typer.Option(False, "--screenshot", help="also write report_screenshot.png "
                                        "(headless Chromium)"),
        max_cards: int = typer.Option(500, help="query cards shown at most (first by image id)"),
    ) -> None:
        """Regenerate report.html (a self-contained page: tables, plots, one card per query image)."""
        report(run, open_browser, screenshot, max_cards, echo=typer.echo)
