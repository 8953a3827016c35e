"""Options several commands take, each declared once here (name, default, help) and reused by every command."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

DEFAULT_RUN = Path("runs/demo")  # where `make demo` writes; every command's --run defaults to it

Run = Annotated[Path, typer.Option("--run", help="run directory (written by build-graph)")]

ScorerModules = Annotated[Optional[list[str]], typer.Option(  # noqa: UP045 (typer needs Optional)
    "--scorer-module", help="import this module first (a dotted name on PYTHONPATH or a .py file); it registers "
    "your scorer with engine.scorers.base.register_scorer; repeatable. Installed entry points "
    "(group img2song.scorers) need no option")]

# --edge-model/--no-edge-model (keywords, build-graph, bridge); its default is graph.bridge.DEFAULT_EDGE_MODEL
EdgeModel = Annotated[bool, typer.Option(
    "--edge-model/--no-edge-model", help="drop each image-keyword edge the bridge draws that the edge model "
    "(graph/edge_model.py, a logistic regression trained on hand-labelled edges) gives P(right) below its threshold; "
    "--no-edge-model keeps every drawn edge (the bridge's rules alone). build-graph records the setting in run.json "
    "and the live catalogue links new images with it")]


def _edge_threshold(value: Optional[float]) -> Optional[float]:  # noqa: UP045 (typer needs Optional)
    """--edge-threshold checked as it is parsed (graph.bridge.checked_threshold: 0 < P < 1), before any work."""
    from graph.bridge import checked_threshold

    return checked_threshold(value)


# --edge-threshold P (keywords, build-graph, bridge); its default is graph.bridge.DEFAULT_EDGE_THRESHOLD (None)
EdgeThreshold = Annotated[Optional[float], typer.Option(  # noqa: UP045 (typer needs Optional)
    "--edge-threshold", metavar="P", callback=_edge_threshold, show_default="the model file's threshold",
    help="the edge model's drop point, a P(right) strictly between 0 and 1: lower keeps more edges (more images "
    "reach a keyword) at a lower share of right ones, higher keeps fewer, surer ones; the default is the threshold "
    "graph/edge_model.json was trained with. Cross-validated on 2,599 hand-labelled edges (`python "
    "tests/fixtures/train_edge_model.py --fit-only`): 0.79 keeps 82% of edges at precision 0.918, 0.70 keeps 92% "
    "at 0.900, 0.50 keeps 98% at 0.881. Ignored with --no-edge-model. build-graph records it in run.json and the "
    "live catalogue links new images with it")]

# --kind-backoff/--no-kind-backoff (keywords, build-graph, bridge); its default is graph.bridge.DEFAULT_KIND_BACKOFF
KindBackoff = Annotated[bool, typer.Option(
    "--kind-backoff/--no-kind-backoff", help="an image none of whose texts reaches a keyword reaches the keywords "
    "of the nearest WordNet kind its English caption or tags name (graph/kinds.py: lark -> ... -> bird -> 鸟); "
    "--no-kind-backoff gives such an image no edge. build-graph records the setting in run.json and the live "
    "catalogue links new images with it")]

JsonOutput = Annotated[bool, typer.Option(
    "--json", help="print one JSON document on stdout instead of the text (status lines go to stderr)")]


def config_option(config: type, name: str, **extra: Any) -> Any:
    """A typer option whose default, help and lower bound are the config dataclass field's (stated once there)."""
    import dataclasses

    f = {x.name: x for x in dataclasses.fields(config)}[name]
    low = f.metadata.get("min")
    return typer.Option(f.default, help=f.metadata["help"], **({"min": low} if low is not None else {}), **extra)
