"""`img2song features`: CNN features and keyword tags of every corpus image, into the run."""
from __future__ import annotations

from pathlib import Path

import typer

from engine.features.backbones import DEFAULT_BACKBONE, backbone_names
from evaluation.app.commands.options import DEFAULT_RUN, Run
from evaluation.stages import pipeline


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("features")
    def features_cmd(
        run: Run = DEFAULT_RUN,
        backbone: str = typer.Option(DEFAULT_BACKBONE, help=" | ".join(backbone_names())),
        weights: Path | None = typer.Option(None, help="weights file (required for vgg19; never downloaded)"),
        batch_size: int = typer.Option(32, min=1, help="images per forward"),
        device: str = typer.Option("cpu", help="cpu, cuda, cuda:N"),
        runtime: str = typer.Option("auto", help="auto | eager | channels-last | compile | onnxruntime | openvino "
                                                 "(auto: onnxruntime on a CPU, channels-last on CUDA)"),
        precision: str = typer.Option("fp32", help="fp32 | bf16 | fp16 (autocast; CUDA only)"),
    ) -> None:
        """Extract CNN features and keyword tags for all corpus images into the run."""
        pipeline.features(run, backbone, weights, batch_size, echo=typer.echo, device=device, runtime=runtime,
                          precision=precision)
