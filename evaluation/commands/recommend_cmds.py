"""`img2song recommend`, `img2song evaluate`, `img2song features`: thin shells over engine.run and evaluation."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from engine.scorers.base import Recommendation
from graph.common.errors import Img2SongError


def recommend(run: Path, images: list[str], scorer: str = "ne", k: int = 10,
              echo: Callable[[str], None] = print) -> list[list[Recommendation]]:
    """Top-k songs for each photo (file or corpus image id), printed with title, artist, first line, reason."""
    from engine.run import load_training_set, photo_queries
    from engine.scorers.base import get_scorer

    data = load_training_set(run)
    model = get_scorer(scorer).fit(data)
    out = []
    for img, q in zip(images, photo_queries(run, images, data)):
        recs = model.recommend(q, k)
        echo(f"{img}  [{scorer}]" + (f"  keywords: {', '.join(q.keywords)}" if q.keywords else ""))
        for rank, r in enumerate(recs, start=1):
            s = data.corpus.song(r.song_id)
            first = next((ln.strip() for ln in s.lyrics.splitlines() if ln.strip()), "")
            echo(f"{rank:3d}. {s.title} - {s.artist or 'unknown'}: {first[:60]}")
            echo(f"     why: {r.explanation}")
        out.append(recs)
    return out


def features(run: Path, backbone: str = "efficientnet-lite0", weights: Path | None = None,
             batch_size: int = 32, echo: Callable[[str], None] = print) -> dict:
    """Extract CNN features + keyword tags of every corpus image into <run>/features/."""
    from engine.run import compute_run_features

    res = compute_run_features(run, backbone, weights, batch_size=batch_size)
    for line in res["report"].lines():
        echo(line)
    echo(f"tags reach {len(res['meta']['tag_keywords_reachable'])} keywords of the vocabulary")
    echo("wrote " + ", ".join(str(p) for p in res["paths"].values()))
    return res


def evaluate(run: Path, scorers: list[str], conceptnet_db: Path | None = None,
             echo: Callable[[str], None] = print):
    """Hit-rate@10 / precision@10 report of the scorers on the run's held-out images."""
    from evaluation.protocol import evaluate_run

    rep = evaluate_run(run, scorers=scorers, conceptnet_db=conceptnet_db)
    k = rep.meta["k"]
    echo(f"{rep.meta['queries_evaluated']} query images; hit_rate@{k} by n:")
    for name, m in rep.scorers.items():
        echo(f"  {name:6s} " + "  ".join(f"n={n}: {v:.3f}" for n, v in m[f"hit_rate@{k}"].items()))
    echo("wrote " + ", ".join(str(Path(run) / f) for f in ("report.json", "report.md", "report.png",
                                                            "per_query.jsonl")))
    return rep


def _split_names(values: list[str]) -> list[str]:
    names = [n.strip() for v in values for n in v.split(",") if n.strip()]
    if not names:
        raise Img2SongError("--scorers: give at least one scorer name")
    return names


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("recommend")
    def recommend_cmd(
        images: list[str] = typer.Argument(..., help="photo files, or image ids of the run's corpus"),
        scorer: str = typer.Option("ne", help="scorer name (ne, km, pop, ...)"),
        run: Path = typer.Option(Path("runs/demo"), help="run directory"),
        k: int = typer.Option(10, help="songs per photo"),
    ) -> None:
        """Recommend songs for photos, with the reason for each song."""
        recommend(run, images, scorer, k, echo=typer.echo)

    @app.command("evaluate")
    def evaluate_cmd(
        run: Path = typer.Option(Path("runs/demo"), help="run directory"),
        scorers: list[str] = typer.Option(["ne,km,pop"], help="scorer names, comma-separated or repeated"),
        conceptnet_db: Path | None = typer.Option(None, help="a real ConceptNet SQLite DB (conceptnet-lite)"),
    ) -> None:
        """Image-to-song hit-rate@10 of the scorers against related-word ground truth (paper's Table 1)."""
        evaluate(run, _split_names(scorers), conceptnet_db, echo=typer.echo)

    @app.command("features")
    def features_cmd(
        run: Path = typer.Option(Path("runs/demo"), help="run directory"),
        backbone: str = typer.Option("efficientnet-lite0", help="efficientnet-lite0 | vgg19"),
        weights: Path | None = typer.Option(None, help="weights file (required for vgg19; never downloaded)"),
        batch_size: int = typer.Option(32),
    ) -> None:
        """Extract CNN features and keyword tags for all corpus images into the run."""
        features(run, backbone, weights, batch_size, echo=typer.echo)
