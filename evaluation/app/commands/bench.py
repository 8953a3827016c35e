"""`img2song bench line`: LINE edges/s of every implementation on synthetic tripartite graphs (evaluation.bench.line)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from engine.line.config import default as line_default
from engine.line.config import describe
from evaluation.bench.line import DEFAULT_SIZES, bench_line


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @bench_app.command("line")
    def line_cmd(
        edges: Annotated[Optional[list[int]], typer.Option(  # noqa: UP045 (typer needs Optional here)
            "--edges", help=f"graph size in edges; repeatable (default {' '.join(map(str, DEFAULT_SIZES))})")] = None,
        reference_graph: Annotated[bool, typer.Option(
            help="also the 1.25M-edge graph of the reference C++ timing")] = True,
        impls: Annotated[Optional[list[str]], typer.Option(  # noqa: UP045
            "--impl", help="naive, reference, cpu, triton, triton-fused; repeatable (default: all that run here)")
        ] = None,
        threads: Annotated[Optional[list[int]], typer.Option(  # noqa: UP045
            "--threads", help="threads of the fused CPU kernel; repeatable (default 1 2)")] = None,
        baseline_threads: Annotated[int, typer.Option(help="torch threads of the naive/reference baselines")] = 1,
        gpu_only: Annotated[bool, typer.Option(help="naive, reference and triton on CUDA only")] = False,
        device: Annotated[str, typer.Option(
            help="cpu, or cuda: the Triton impls (exact, fused) beside the reference impl on the GPU")] = "cpu",
        dim: Annotated[int, typer.Option(help=describe("dim"))] = line_default("dim"),
        negative: Annotated[int, typer.Option(help=describe("negative"))] = line_default("negative"),
        order: int = 2,
        seconds: Annotated[float, typer.Option(help="target duration of each timed run")] = 2.0,
        batch_size: Annotated[Optional[int], typer.Option(help="edges per step (default: per impl)")] = None,  # noqa: UP045
        json_out: Annotated[Optional[Path], typer.Option(  # noqa: UP045
            "--json", help="write one record per impl x graph x threads here")] = None,
    ) -> None:
        """Measure LINE throughput (order 2, LINE's d and K by default) and print it beside the design ceilings."""
        bench_line(edges or list(DEFAULT_SIZES), json_out=json_out, echo=typer.echo,
                   reference_graph=reference_graph, impls=impls or None, threads=threads or [1, 2],
                   baseline_threads=baseline_threads, gpu_only=gpu_only, device=device, dim=dim, negative=negative,
                   order=order,
                   target_s=seconds, batch_size=batch_size)
