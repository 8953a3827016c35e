"""`train`: network (or C++ edge list) -> LINE embeddings.npz + line.json (config, timings, edges/s) in out_dir."""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from engine.line.config import LineConfig
from engine.line.foldin import tables_arrays
from engine.line.model import LINE
from graph.common.atomic import atomic_path, remove_stale_temps, write_json
from graph.common.errors import Img2SongError
from graph.common.readers import read_json
from graph.network import Network, read_edgelist
from graph.rundir import RunDir


def load_graph(graph: Network | str | Path | None = None, edgelist: str | Path | None = None) -> Network:
    """A Network as given, a network .npz (or the directory holding network.npz), or a `u v w` edge list."""
    if (graph is None) == (edgelist is None):
        raise Img2SongError("train: give exactly one of a graph (network.npz or its directory) and an edge list")
    if isinstance(graph, Network):
        return graph
    if edgelist is not None:
        path = Path(edgelist)
        if not path.is_file():
            raise Img2SongError(f"{path}: edge list file not found")
        network = read_edgelist(path)
    else:
        network = Network.load(graph)
        if network.num_edges == 0:
            src = Path(graph)
            raise Img2SongError(f"{src / 'network.npz' if src.is_dir() else src}: the network has no edges "
                                "(nothing to train on; check the corpus's keywords)")
    return network


INCOMPLETE = "incomplete"
LINE_TABLES = "line_tables.npz"  # raw per-order vertex and context tables: what a live fold-in needs


def check_embeddings_record(out_dir: str | Path) -> None:
    """Refuse embeddings.npz when line.json says its train was interrupted while writing the pair.

    train() writes line.json as 'incomplete' before embeddings.npz and replaces it with the full record after,
    so a reader never takes embeddings.npz of a killed train for a finished one. No line.json: accepted (a
    table written by other means).
    """
    rec_path = RunDir(out_dir).line_record
    if not rec_path.is_file():
        return
    rec = read_json(rec_path, "LINE training record")
    if not isinstance(rec, dict) or rec.get("status") == INCOMPLETE:
        raise Img2SongError(f"{rec_path}: the train that wrote {RunDir(out_dir).embeddings.name} did not finish; "
                            f"rerun `img2song train` (with --resume to continue from its checkpoint)")


def _kernel_build(cfg: LineConfig) -> dict[str, Any]:
    """Build or load the C++ kernel now when the run will use it, timed; {"seconds": 0} otherwise."""
    if not cfg.resolved_impl().startswith("cpu"):
        return {"seconds": 0.0, "compiled": False}
    from engine.line.cpu import timed_load_kernel

    try:
        return timed_load_kernel()
    except Img2SongError:  # LINE.fit falls back (impl 'auto') or reports it (impl 'cpu')
        return {"seconds": 0.0, "compiled": False}


def train(graph: Network | str | Path | None, out_dir: str | Path, edgelist: str | Path | None = None,
          resume: bool = False, echo=print, **config: Any) -> Path:
    """Fit LINE with `config` (LineConfig keys; unknown keys are an error) and write the run into out_dir."""
    cfg = LineConfig.from_dict(config)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise Img2SongError(f"{out}: --out exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    if resume and not cfg.checkpoint:
        cfg.checkpoint = str(RunDir(out).line_checkpoint)
    if cfg.checkpoint and not cfg.checkpoint_every:
        cfg.checkpoint_every = 10_000_000
    tic = time.perf_counter()
    network = load_graph(graph, edgelist)
    load_s = time.perf_counter() - tic
    kernel = _kernel_build(cfg)  # before fit: a first-time C++ compile is not training time
    model = LINE(**cfg.to_dict())
    tic = time.perf_counter()
    model.fit(network, resume=resume)
    fit_s = time.perf_counter() - tic
    source = str(edgelist if edgelist is not None else (graph if not isinstance(graph, Network) else "<memory>"))
    run = RunDir(out)
    write_json(run.line_record, {"status": INCOMPLETE, "source": source}, indent=2)  # before the table
    emb_path = model.embeddings_.save(run.embeddings, "npz")
    with atomic_path(run.path / LINE_TABLES, suffix=".npz") as tmp:  # for `img2song add` (engine/line/foldin.py)
        np.savez(tmp, **tables_arrays(model, network))
    doc = {
        "status": "complete",
        "config": cfg.to_dict(), "resolved": {"samples": model.samples_, "impl": model.impl_,
                                             "threads": cfg.resolved_threads(),
                                             "batch_size": cfg.resolved_batch_size(network.num_vertices)},
        "source": source,
        "network": {"vertices": network.num_vertices, "edges": network.num_edges, "directed": network.directed},
        "timings": {"load_s": round(load_s, 3), "kernel_build_s": round(float(kernel["seconds"]), 3),
                    "kernel_compiled": bool(kernel["compiled"]), "fit_s": round(fit_s, 3)},
        "orders": model.stats_, "embeddings": str(emb_path), "dim": int(model.embeddings_.vectors.shape[1]),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
    }
    path = write_json(run.line_record, doc, indent=2)
    run.record("train", cfg.to_dict(), {"embeddings": emb_path, "line": path})
    rates = ", ".join(f"order {o}: {s['edges_per_s'] / 1e6:.3f}M edges/s" for o, s in model.stats_.items())
    echo(f"LINE [{model.impl_}] trained {network.num_vertices} vertices, {model.samples_} samples per order "
         f"in {fit_s:.1f} s ({rates})")
    build = ("no C++ kernel" if not kernel.get("library") else
             f"C++ kernel {'compiled' if kernel['compiled'] else 'loaded'} in {float(kernel['seconds']):.1f} s")
    echo(f"apart from training: {'edge list' if edgelist is not None else 'network'} read in {load_s:.1f} s; {build}")
    echo(f"wrote {emb_path} and {path}")
    return out
