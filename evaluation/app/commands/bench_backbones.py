"""`img2song bench backbones`: keyword-probe accuracy, NN keyword agreement and extraction speed per backbone."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from evaluation.app.commands.options import DEFAULT_RUN, Run


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @bench_app.command("backbones")
    def backbones_cmd(
        run: Run = DEFAULT_RUN,
        backbone: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045 (typer needs Optional here)
            "--backbone", help="repeatable; the first is the speed baseline (default: every EfficientNet-Lite)")
        ] = None,
        k: Annotated[int, typer.Option(help="nearest training images per query")] = 5,
        batch_size: int = 32,
        speed_images: Annotated[int, typer.Option(help="images timed per round (no cache)")] = 96,
        rounds: Annotated[int, typer.Option(help="interleaved timing rounds; the fastest counts")] = 3,
        max_images: Annotated[Optional[int], typer.Option(  # noqa: UP045
            help="score every backbone on a seeded sample of this many images (default: all)")] = None,
        json_out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
            "--json", help="output (default <run>/bench/backbones.json)")] = None,
    ) -> None:
        """Compare CNN backbones on a run's split and print the table (ratios vs the first backbone)."""
        from evaluation.bench.backbones import DEFAULT_BACKBONES

        compare_run_backbones(run, backbone or DEFAULT_BACKBONES, k=k, batch_size=batch_size,
                              speed_images=speed_images, rounds=rounds, out=json_out, max_images=max_images,
                              echo=typer.echo)


def compare_run_backbones(run: Path, backbones: Sequence[str], out: Path | None = None, **kw: Any) -> Any:
    """evaluation.bench.backbones on the run's corpus and split; the JSON goes to `out` (default
    <run>/bench/backbones.json)."""
    from evaluation.bench.backbones import compare_backbones
    from evaluation.stages.rundir import RunDir

    r = RunDir.of(run).require_dir()
    return compare_backbones(r.load_corpus(), r.load_split(), r.load_keywords(), out or r.path / "bench" /
                             "backbones.json", backbones, source=str(r.path), **kw)
