"""`img2song bench line`: LINE edges/s of every implementation on synthetic tripartite graphs (engine.bench)."""
from __future__ import annotations

from pathlib import Path

import typer

from engine.bench import DEFAULT_SIZES, bench_line


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @bench_app.command("line")
    def line_cmd(
        edges: list[int] = typer.Option(list(DEFAULT_SIZES), "--edges", help="graph size in edges; repeatable"),
        reference_graph: bool = typer.Option(True, help="also the 1.25M-edge graph of the reference C++ timing"),
        impls: list[str] = typer.Option(None, "--impl", help="naive, reference, cpu, triton, triton-fused; "
                                        "repeatable (default: all that run here)"),
        threads: list[int] = typer.Option([1, 2], "--threads", help="threads of the fused CPU kernel; repeatable"),
        baseline_threads: int = typer.Option(1, help="torch threads of the naive/reference baselines"),
        gpu_only: bool = typer.Option(False, help="naive, reference and triton on CUDA only"),
        dim: int = typer.Option(128),
        negative: int = typer.Option(5),
        order: int = typer.Option(2),
        seconds: float = typer.Option(2.0, help="target duration of each timed run"),
        batch_size: int = typer.Option(None, help="edges per step (default: per impl)"),
        json_out: Path = typer.Option(None, "--json", help="write one record per impl x graph x threads here"),
    ) -> None:
        """Measure LINE throughput (order 2, d=128, K=5 by default) and print it beside the design ceilings."""
        bench_line(edges, json_out=json_out, echo=typer.echo, reference_graph=reference_graph,
                   impls=impls or None, threads=threads, baseline_threads=baseline_threads, gpu_only=gpu_only,
                   dim=dim, negative=negative, order=order, target_s=seconds, batch_size=batch_size)
