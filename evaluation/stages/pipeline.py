"""The pipeline, one stage a function: build -> train -> export -> features -> LSTM -> evaluate -> recommend.

The CLI commands and the demo are thin shells over these functions, and a notebook calls them directly. Each
stage loads its inputs as objects from the run's storage (`RunDir`: one save_X / load_X pair per artefact), hands
them to the estimators in engine/ and graph/ (which never see the directory), saves what they return through the
storage and records itself in the run manifest under its `Stage`, so any stage can start from a directory written
by another stage, by the Python API or by the CLI. `echo` receives the lines a stage prints (what it did and where
it wrote).

This module holds the graph stages (build-graph, train) and re-exports the others, so that callers name every stage
as `pipeline.X`: pipeline_export (export), pipeline_models (features, keyword probe, LSTM), pipeline_scoring
(evaluate, fit_scorers, recommend).
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from evaluation.stages.pipeline_export import EXPORTS, export_embeddings, export_run, projector_info
from evaluation.stages.pipeline_models import (
    compute_run_features,
    features,
    lstm_retrieval,
    train_keyword_probe,
    train_lstm,
)
from evaluation.stages.pipeline_scoring import evaluate, fit_scorers, recommend
from evaluation.stages.rundir import RunDir, Stage
from graph import kinds
from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_EDGE_THRESHOLD, DEFAULT_KIND_BACKOFF
from graph.common.errors import Img2SongError
from graph.edge_model import setting_line

Echo = Callable[[str], None]
# the text encoder weighs image-keyword senses only when asked, in build-graph and in keywords alike: it removes
# some wrong senses but leaves a quarter of the starter's images with no keyword (README, "the bridge")
SENSE_ENCODER = False

__all__ = ["EXPORTS", "SENSE_ENCODER", "build_graph", "compute_run_features", "corpus_bridge", "evaluate",
           "export_embeddings", "export_run", "features", "fit_scorers", "lstm_retrieval", "projector_info",
           "recommend", "save_build", "train_embeddings", "train_keyword_probe", "train_lstm"]


def corpus_bridge(corpus, sense_encoder: bool = SENSE_ENCODER, echo: Echo = print,
                  edge_model: bool = DEFAULT_EDGE_MODEL, kind_backoff: bool = DEFAULT_KIND_BACKOFF,
                  edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD):
    """The corpus's bilingual bridge: with the text encoder weighing senses (graph.text.relatedness), or the
    dictionary and WordNet alone (`sense_encoder` False, or no encoder installed: it then says so); `edge_model`:
    whether the edge model drops weak image edges (below `edge_threshold`, None: the model file's), `kind_backoff`:
    whether an image reaching no keyword reaches its kinds' keywords (graph.bridge.Bridge)."""
    if not sense_encoder:
        from graph.bridge import Bridge

        return Bridge.for_corpus(corpus, edge_model=edge_model, kind_backoff=kind_backoff,
                                 edge_threshold=edge_threshold)
    from graph.text.relatedness import encoder_bridge

    return encoder_bridge(corpus, echo, edge_model, kind_backoff, edge_threshold)


def build_graph(corpus: str | Path, out: RunDir | str | Path, holdout: float = 0.2, seed: int = 0,
                scheme: str = "count", echo: Echo = print, context_words: int | None = None,
                sense_encoder: bool = SENSE_ENCODER, edge_model: bool = DEFAULT_EDGE_MODEL,
                kind_backoff: bool = DEFAULT_KIND_BACKOFF, edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD):
    """Load and validate the corpus, build the network, write it into the run, and print what was done
    (`edge_model`: whether the edge model drops weak image edges, below `edge_threshold` (None: the model file's),
    `kind_backoff`: whether an image reaching no keyword reaches its kinds' keywords; all recorded in run.json for
    the live catalogue)."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from graph.build import build_network
    from graph.corpus import KEYWORDS_FILE, load_corpus

    if Path(out).exists() and not Path(out).is_dir():
        raise Img2SongError(f"{out}: --out exists and is not a directory")
    out_abs, corpus_abs = Path(out).resolve(), Path(corpus).resolve()
    if out_abs == corpus_abs or corpus_abs in out_abs.parents:  # never write into a user's corpus
        raise Img2SongError(f"--out {out} is inside the corpus {corpus}: a run directory must be outside it")
    c = load_corpus(corpus)
    for line in c.report.lines():
        echo(line)
    if c.keywords is None:
        echo(f"no {KEYWORDS_FILE} in {corpus}: selecting keywords (the rule of `img2song keywords`)")
    else:
        echo(f"keywords: {len(c.keywords)} from {Path(corpus) / KEYWORDS_FILE}")
    from graph.context import ContextParams

    context = ContextParams() if context_words is None else ContextParams(per_song=context_words)
    bridge = corpus_bridge(c, sense_encoder, echo, edge_model, kind_backoff, edge_threshold)
    result = build_network(c, holdout=holdout, seed=seed, scheme=scheme, context=context, bridge=bridge)
    result.params["sense_encoder"] = bridge.relatedness is not None  # what the live catalogue's edges must use too
    echo(bridge.relatedness_line())
    echo(setting_line(bridge.edge_model, bridge.edge_threshold))
    echo(kinds.setting_line(bridge.kind_backoff))
    if result.selection is not None:
        echo(result.selection.table())
        echo(result.selection.summary())
        for line in result.selection.coverage_lines():
            echo(line)
    paths = save_build(RunDir.of(out), result)
    stats = result.stats()
    keys = ("songs", "images", "keywords", "words", "song_keyword_edges", "image_keyword_edges", "song_word_edges",
            "query_images", "isolated_vertices")
    echo("network statistics: " + json.dumps({k: stats[k] for k in keys}, ensure_ascii=False))
    echo(result.reach_line())
    if stats["skipped"]:
        echo("skipped while building: " + json.dumps(stats["skipped"], ensure_ascii=False))
    for w in result.warnings:
        echo(f"warning: {w}")
    echo(f"built in {result.seconds:.2f} s; wrote " + ", ".join(str(p) for p in paths.values()))
    return result


def save_build(run: RunDir, result: Any) -> dict[str, Path]:
    """Write a BuildResult into the run (network, stats, split, keywords; the selected keywords when build-graph
    chose them) and record the build, naming the corpus for every later stage."""
    run.create()
    paths = {"network": run.save_network(result.network), run.network_stats.name: run.save_network_stats(result.stats()),
             run.split.name: run.save_split(result.split), run.keywords.name: run.save_keywords(result.keyword_file)}
    if result.selection is not None:  # the selected vocabulary, ready to copy into the corpus and edit
        paths[run.selected_keywords.name] = run.save_selected_keywords(result.selection)
    top: dict[str, Any] = {}
    if result.corpus_root is not None:
        from graph.corpus_files import corpus_fingerprint

        top["corpus"] = str(result.corpus_root.resolve())
        top["corpus_fingerprint"] = result.corpus_fingerprint or corpus_fingerprint(result.corpus_root)
    paths["run"] = run.record(Stage.BUILD_GRAPH, result.params, {k: str(v) for k, v in paths.items()}, **top)
    return paths


def train_embeddings(run: RunDir | str | Path | None = None, graph: str | Path | None = None,
                     out: str | Path | None = None, edgelist: str | Path | None = None, resume: bool = False,
                     echo: Echo = print, **config: Any) -> Path:
    """LINE embeddings of a run's network (or of a given network / C++ edge list) into the run (or `out`)."""
    from graph.network import Network, read_edgelist_in_background

    if run is not None and (graph is not None or edgelist is not None):
        raise Img2SongError("train: give a run (--run) or a network (--graph / --edgelist), not both")
    if run is not None:
        r = RunDir.of(run).require_dir()
        graph, out = r.network, out or r.path
    elif out is None:
        if graph is None:
            raise Img2SongError("train: give --run DIR, or --graph / --edgelist with --out DIR")
        if edgelist is not None:
            raise Img2SongError("train --edgelist: give --out DIR for the embeddings")
        g = Path(graph)
        out = g if g.is_dir() else g.parent
    if graph is not None and not isinstance(graph, Network) and Path(graph).is_dir():  # a run holding network.npz
        graph = RunDir(graph).network
    # the edge list is read on a thread (C++, no GIL) while torch is imported below: start-up and reading overlap
    pending = read_edgelist_in_background(edgelist) if graph is None and edgelist and Path(edgelist).is_file() else None
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from engine.line.config import LineConfig
    from engine.line.foldin import tables_arrays
    from engine.line.train import fit_line, load_graph
    if resume and not config.get("checkpoint"):  # before the config is checked: checkpoint_every needs it
        config["checkpoint"] = str(RunDir.of(out).line_checkpoint)
    cfg = LineConfig.from_dict(config)
    target = RunDir.of(out).create()
    tic = time.perf_counter()
    network = pending.result() if pending is not None else load_graph(graph, edgelist)
    load_s = pending.seconds if pending is not None else time.perf_counter() - tic
    source = str(edgelist if edgelist is not None else (graph if not isinstance(graph, Network) else "<memory>"))
    model, record = fit_line(network, cfg, source, load_s, echo, resume,
                             "edge list" if edgelist is not None else "network",
                             waited_s=time.perf_counter() - tic if pending is not None else None)
    emb, line = target.save_embeddings(model.embeddings_, record, tables_arrays(model, network))
    target.record(Stage.TRAIN, cfg.to_dict(), {"embeddings": emb, "line": line})
    echo(f"wrote {emb} and {line}")
    return target.path
