"""`make demo`: the whole pipeline on a corpus, one step after another, saying what it wrote where.

build graph -> train LINE -> export embeddings (4 formats) -> CNN features -> attention bi-LSTM (+ R@K protocol)
-> evaluate every scorer (hit-rate@10 report) -> recommendations for three sample images.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from evaluation.stages.rundir import RunDir
from graph.common.errors import Img2SongError


def _step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def run_demo(corpus: Path, out: Path, samples: int | None = None, lstm_epochs: int = 40,
             scorers: tuple[str, ...] = ("fused", "zs", "ne", "ne+", "km", "pop", "lstm", "lstm-base"),
             lstm: bool = True) -> dict:
    """Run every stage on `corpus` into `out`; returns {stage: seconds} and the report path."""
    # deferred: `--help` answers without loading the pipeline
    from evaluation.stages import pipeline
    from evaluation.stages.html_report import screenshot

    timings: dict[str, float] = {}
    t_all = time.perf_counter()

    t = _step(f"1/7 build the tripartite network of {corpus}")
    result = pipeline.build_graph(corpus, out, holdout=0.2, seed=0)
    timings["build_graph"] = time.perf_counter() - t

    from engine.line.config import DEFAULTS as line

    t = _step(f"2/7 train LINE embeddings (order {line.order}, d={line.dim}, K={line.negative}, 1 thread for a "
              "reproducible report)")
    # threads=1: Hogwild updates from 2 threads are not reproducible, and the demo's report should be
    pipeline.train_embeddings(out, samples=samples, threads=1, seed=0)  # LINE's defaults: engine/line/config.py
    timings["train_line"] = time.perf_counter() - t

    t = _step(f"3/7 export the embeddings in every format into {out / 'export'}")
    pipeline.export_run(out)
    timings["export"] = time.perf_counter() - t

    from engine.features.backbones import DEFAULT_BACKBONE

    t = _step(f"4/7 CNN features and keyword tags of every corpus image ({DEFAULT_BACKBONE})")
    pipeline.features(out)
    timings["features"] = time.perf_counter() - t

    # lstm / lstm-base score a query against every lyric through a cached index (engine/lstm/scoring.py: tens of
    # ms at 10,000 songs), so both are in the hit-rate table; step 5 trains the attention model they reuse.
    if lstm or "lstm" in scorers:
        t = _step("5/7 attention bi-LSTM: train the scorer, then R@K / median rank on both splits")
        pipeline.train_lstm(out, attention=True, epochs=lstm_epochs)
        pipeline.lstm_retrieval(out, epochs=lstm_epochs)
        timings["lstm"] = time.perf_counter() - t

    t = _step(f"6/7 evaluate scorers {', '.join(scorers)}: hit-rate@10 against related-word ground truth")
    pipeline.evaluate(out, list(scorers))
    run = RunDir(out)
    print(f"report: {run.report_html}")
    try:
        print(f"screenshot of its first screen: {screenshot(run)}")
    except Img2SongError as e:  # no Chromium on this machine: the page is there, only the picture is missing
        print(f"screenshot skipped: {e}")
    timings["evaluate"] = time.perf_counter() - t

    t = _step("7/7 fused recommendations for three sample query images (held out of the network)")
    queries = RunDir(out).load_split().query
    kw = result.image_keywords
    picked = [q for q in queries if kw.get(q)][:: max(1, len(queries) // 3)][:3]
    for q in picked:
        print(f"\n-- query image {q} (keywords {', '.join(kw[q])})")
        pipeline.recommend(out, [q], scorer="fused", k=10)
    timings["recommend"] = time.perf_counter() - t

    timings["total"] = time.perf_counter() - t_all
    print("\n== done in {:.0f} s ({})".format(timings["total"], ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()
                                                                          if k != "total")))
    print(f"outputs in {out}/: network.npz, embeddings.npz, export/, features/, lstm/, report.html, "
          f"report_screenshot.png, report.json, report.md, report.png, per_query.jsonl, recommendations.jsonl")
    return {"timings": timings, "report": out / "report.json"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path("data/starter"))
    ap.add_argument("--out", type=Path, default=Path("runs/demo"))
    ap.add_argument("--samples", type=int, default=None, help="LINE sampled edges per order (default: LINE's)")
    ap.add_argument("--lstm-epochs", type=int, default=40)
    args = ap.parse_args(argv)
    try:
        run_demo(args.corpus, args.out, args.samples, args.lstm_epochs)
    except Img2SongError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
