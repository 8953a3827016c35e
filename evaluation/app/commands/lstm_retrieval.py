"""`img2song lstm-retrieval`: the image2song R@K / median-rank protocol of the LSTM scorer."""
from __future__ import annotations

import typer

from evaluation.app.commands.lstm_options import Device, Epochs, WordVectorsOpt
from evaluation.app.commands.options import DEFAULT_RUN, Run
from evaluation.stages import pipeline


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("lstm-retrieval")
    def lstm_retrieval_cmd(run: Run = DEFAULT_RUN, word_vectors: WordVectorsOpt = None, epochs: Epochs = 40,
                           device: Device = "auto",
                           loss: str = typer.Option("mrl", help="mrl | mse | cpl (paper eqs. 13, 11, 12)")) -> None:
        """R@1/5/10 and median rank (both directions, both variants) on song- and image-disjoint splits."""
        pipeline.lstm_retrieval(run, word_vectors, epochs, device, echo=typer.echo, loss=loss)
