"""`img2song build-graph`: corpus -> tripartite network + statistics."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from graph.build import BuildResult, build_network
from graph.common.atomic import write_json
from graph.corpus import load_corpus


def build_graph(corpus: Path, out: Path, holdout: float = 0.2, seed: int = 0, scheme: str = "count",
                echo=print) -> BuildResult:
    """Load and validate the corpus, build the network, write it into `out`, and print what was done."""
    c = load_corpus(corpus)
    for line in c.report.lines():
        echo(line)
    result = build_network(c, holdout=holdout, seed=seed, scheme=scheme)
    paths = result.save(out)
    run_doc = {"corpus": str(Path(corpus).resolve()), "holdout": holdout, "seed": seed, "scheme": scheme}
    paths["run"] = write_json(Path(out) / "run.json", run_doc)
    stats = result.stats()
    keys = ("songs", "images", "keywords", "song_keyword_edges", "image_keyword_edges", "query_images",
            "isolated_vertices")
    echo("network statistics: " + json.dumps({k: stats[k] for k in keys}, ensure_ascii=False))
    if stats["skipped"]:
        echo("skipped while building: " + json.dumps(stats["skipped"], ensure_ascii=False))
    echo(f"built in {result.seconds:.2f} s; wrote " + ", ".join(str(p) for p in paths.values()))
    return result


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("build-graph")
    def build_graph_cmd(
        corpus: Path = typer.Option(..., help="corpus directory (songs.jsonl, images.jsonl, images/)"),
        out: Path = typer.Option(..., help="output directory (network.npz, network_stats.json, split.json)"),
        holdout: float = typer.Option(0.2, help="fraction of images held out of the network as queries"),
        seed: int = typer.Option(0),
        scheme: str = typer.Option("count", help="song-keyword weight: count | tfidf"),
    ) -> None:
        """Build the tripartite image-keyword-song network of a corpus."""
        build_graph(corpus, out, holdout, seed, scheme, echo=typer.echo)
