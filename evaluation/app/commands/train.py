"""`img2song train`: LINE embeddings of a run's network, or of a network / C++ edge list given directly."""
from __future__ import annotations

from pathlib import Path

import typer

from engine.line.config import default as line_default
from engine.line.config import describe
from evaluation.stages import pipeline
from graph.common.errors import Img2SongError

_SUFFIX = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000}


def parse_samples(text: str | None, option: str = "--samples") -> int | None:
    """'20M' / '20m' / '20000000' -> 20000000 (the C++'s `-samples 20` means 20M)."""
    if text is None:
        return None
    t = text.strip().lower().replace("_", "")
    try:
        if t and t[-1] in _SUFFIX:
            return int(float(t[:-1]) * _SUFFIX[t[-1]])
        return int(t)
    except (ValueError, OverflowError):  # 'x', 'nan', 'infM'
        raise Img2SongError(f"{option}: expected a count like 20000000 or 20M, got {text!r}") from None


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("train")
    def train_cmd(
        run: Path | None = typer.Option(None, help="run directory: its network in, its embeddings out"),
        graph: Path | None = typer.Option(None, help="instead of --run: network.npz or the directory holding it"),
        out: Path | None = typer.Option(None, help="output directory (default: the run, or the --graph directory)"),
        edgelist: Path | None = typer.Option(None, help="instead of --graph: a `u v w` edge list (LINE C++ input)"),
        dim: int = typer.Option(line_default("dim"), help=describe("dim")),
        order: str = typer.Option(str(line_default("order")), help=describe("order")),
        samples: str | None = typer.Option(line_default("samples"), help=describe("samples")),
        negative: int = typer.Option(line_default("negative"), help=describe("negative")),
        lr: float = typer.Option(line_default("lr"), help=describe("lr")),
        threads: int | None = typer.Option(line_default("threads"), help=describe("threads")),
        device: str = typer.Option(line_default("device"), help=describe("device")),
        impl: str = typer.Option(line_default("impl"), help=describe("impl")),
        seed: int = typer.Option(line_default("seed"), help=describe("seed")),
        resume: bool = typer.Option(False, help="checkpoint into OUT/line.ckpt and resume from it"),
        checkpoint_every: str | None = typer.Option(
            None, help="with --resume: write OUT/line.ckpt every N sampled edges inside an order too, e.g. 2M "
                       "(rounded up to 262144-sample chunks; default 10M). A resume is bit-identical to an "
                       "uninterrupted run with --threads 1"),
    ) -> None:
        """Train LINE vertex embeddings (Tang et al. 2015) on a network."""
        pipeline.train_embeddings(run, graph, out, edgelist=edgelist, resume=resume, echo=typer.echo, dim=dim,
                                  order=order, samples=parse_samples(samples), negative=negative, lr=lr,
                                  threads=threads, device=device, impl=impl, seed=seed,
                                  **_checkpoint_every(checkpoint_every, resume))


def _checkpoint_every(text: str | None, resume: bool) -> dict[str, int]:
    """--checkpoint-every only means something with --resume (no checkpoint file is written without it)."""
    if text is None:
        return {}
    if not resume:
        raise Img2SongError("--checkpoint-every needs --resume (the checkpoint is OUT/line.ckpt)")
    every = parse_samples(text, "--checkpoint-every")
    if every is None or every < 1:
        raise Img2SongError(f"--checkpoint-every: expected a positive count like 2M, got {text!r}")
    return {"checkpoint_every": every}
