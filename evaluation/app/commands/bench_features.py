"""`img2song bench features`: decode, forward and end-to-end images/s of every CNN runtime, in one process."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.features.backbones import DEFAULT_BACKBONE
from graph.common.errors import Img2SongError


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @bench_app.command("features")
    def features_cmd(
        run: Annotated[Optional[Path], typer.Option(help="run directory (its corpus images)")] = None,  # noqa: UP045
        corpus: Annotated[Optional[Path], typer.Option(help="corpus folder instead of a run")] = None,  # noqa: UP045
        images: Annotated[int, typer.Option(help="how many images (the first N of the corpus)")] = 128,
        runtimes: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
            "--runtime", help="eager, channels-last, compile, onnxruntime, openvino; repeatable "
                              "(default: all but compile, which takes minutes to compile)")] = None,
        backbone: str = DEFAULT_BACKBONE,
        batch_size: int = 32,
        rounds: Annotated[int, typer.Option(help="interleaved rounds; the best is reported")] = 3,
        threads: Annotated[Optional[int], typer.Option(help="forward threads (default: the cores)")] = None,  # noqa: UP045
        decode_workers: Annotated[Optional[int], typer.Option(  # noqa: UP045
            help="decoder threads (default: sized with the forward's)")] = None,
        device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N (runtimes eager, channels-last, compile)")] = "cpu",
        precision: Annotated[str, typer.Option(help="fp32 | bf16 | fp16 (CUDA autocast)")] = "fp32",
        json_out: Annotated[Optional[Path], typer.Option("--json", help="write the figures here")] = None,  # noqa: UP045
    ) -> None:
        """Images/s of decode, raw forward and cold end-to-end extraction per runtime, beside today's path."""
        from evaluation.bench.features import DEFAULT_BENCH_RUNTIMES, bench_features
        from evaluation.stages.run_inputs import load_run_corpus
        from graph.common.atomic import write_json
        from graph.corpus import load_corpus

        if (run is None) == (corpus is None):
            raise Img2SongError("give exactly one of --run DIR or --corpus DIR")
        c = load_run_corpus(run) if run is not None else load_corpus(corpus)
        items = [(img.id, c.image_path(img)) for img in c.images[:images]]
        res = bench_features(items, runtimes or list(DEFAULT_BENCH_RUNTIMES), backbone=backbone,
                             batch_size=batch_size, rounds=rounds, threads=threads, decode_workers=decode_workers,
                             device=device, precision=precision, echo=typer.echo)
        if json_out is not None:
            typer.echo(f"wrote {write_json(json_out, json.loads(json.dumps(res)))}")
