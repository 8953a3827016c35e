"""`img2song train-lstm` and `img2song lstm-retrieval`: the attention bi-LSTM scorer and its R@K protocol."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from graph.common.errors import Img2SongError


def train_lstm(run: Path, loss: str = "mse", attention: bool = True, word_vectors: Path | None = None,
               epochs: int = 12, device: str = "auto", echo=print) -> Path:
    """Train on the run's training images, save the checkpoint, print where and how training went."""
    from engine.scorers.lstm import train_run_model

    if loss not in ("mse", "cpl", "mrl"):
        raise Img2SongError(f"--loss must be mse, cpl or mrl, got {loss!r}")
    scorer, path = train_run_model(run, attention, loss, str(word_vectors) if word_vectors else None, epochs, device)
    m = scorer.model_
    last = m.history_[-1] if m.history_ else {}
    echo(f"{m.variant} bi-LSTM ({loss}) on {len(scorer.pairs_.pairs)} pairs, {len(scorer.pairs_.songs)} songs: "
         f"{len(m.history_)} epochs, best {getattr(m, 'best_epoch_', '?')}, last {last}, {m.fit_seconds_:.1f} s "
         f"on {m.device_}; word vectors: {m.word_vectors_.source}")
    echo(f"wrote {path}")
    return path


def lstm_retrieval(run: Path, word_vectors: Path | None = None, epochs: int = 12, device: str = "auto",
                   echo=print) -> dict:
    """R@K / med r of both variants on the two splits; prints the markdown table beside the paper's."""
    from evaluation.retrieval import render_markdown, retrieval_result

    res = retrieval_result(run, word_vectors=word_vectors, epochs=epochs, device=device)
    echo(render_markdown(res.metrics, res.details))
    echo(f"wrote {res.details['written']}")
    return res.metrics


Run = Annotated[Path, typer.Option(help="run directory (network, keywords.json, features/tags.npz)")]
WordVectorsOpt = Annotated[Optional[Path], typer.Option(  # noqa: UP045 (typer needs Optional)
    help="word2vec text/binary or .npz vectors (default: LINE on the lyric co-occurrence network)")]
Epochs = Annotated[int, typer.Option(help="maximum epochs per model (early stopping on a validation split)")]
Device = Annotated[str, typer.Option(help="auto | cpu | cuda")]


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("train-lstm")
    def train_lstm_cmd(
        run: Run,
        loss: Annotated[str, typer.Option(help="mse | cpl (cosine proximity) | mrl (margin ranking)")] = "mse",
        attention: Annotated[bool, typer.Option("--attention/--no-attention",
                                                help="tag attention, or the paper's baseline")] = True,
        word_vectors: WordVectorsOpt = None,
        epochs: Epochs = 12,
        device: Device = "auto",
    ) -> None:
        """Train the attention bi-LSTM scorer of a run (saved to <run>/lstm/, reused by the `lstm` scorer)."""
        train_lstm(run, loss, attention, word_vectors, epochs, device, echo=typer.echo)

    @app.command("lstm-retrieval")
    def lstm_retrieval_cmd(run: Run, word_vectors: WordVectorsOpt = None, epochs: Epochs = 12,
                           device: Device = "auto") -> None:
        """R@1/5/10 and median rank (both directions, both variants) on song- and image-disjoint splits."""
        lstm_retrieval(run, word_vectors, epochs, device, echo=typer.echo)
