"""`img2song train-lstm`: the attention bi-LSTM scorer of a run."""
from __future__ import annotations

from typing import Annotated

import typer

from evaluation.app.commands.lstm_options import Device, Epochs, WordVectorsOpt
from evaluation.app.commands.options import DEFAULT_RUN, Run
from evaluation.stages import pipeline


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("train-lstm")
    def train_lstm_cmd(
        run: Run = DEFAULT_RUN,
        loss: Annotated[str, typer.Option(help="mrl (margin ranking) | mse | cpl (cosine proximity)")] = "mrl",
        attention: Annotated[bool, typer.Option("--attention/--no-attention",
                                                help="tag attention, or the paper's baseline")] = True,
        word_vectors: WordVectorsOpt = None,
        epochs: Epochs = 40,
        device: Device = "auto",
    ) -> None:
        """Train the attention bi-LSTM scorer of a run (saved to <run>/lstm/, reused by the `lstm` scorer)."""
        pipeline.train_lstm(run, loss, attention, word_vectors, epochs, device, echo=typer.echo)
