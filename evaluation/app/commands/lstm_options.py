"""Options shared by `img2song train-lstm` and `img2song lstm-retrieval` (--run: evaluation.app.commands.options)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

WordVectorsOpt = Annotated[Optional[Path], typer.Option(  # noqa: UP045 (typer needs Optional)
    help="word2vec text/binary or .npz vectors (default: LINE on the lyric co-occurrence network)")]
Epochs = Annotated[int, typer.Option(min=1, help="maximum epochs per model (early stopping on a validation split)")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]
