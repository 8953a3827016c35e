"""LINE training as an estimator call: a network (or C++ edge list) in, the fitted LINE and its training record
(config, timings, edges/s) out; the train stage (evaluation.stages.pipeline) saves both into the run."""
from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from engine.line.config import LineConfig
from engine.line.model import LINE
from graph.common.errors import Img2SongError
from graph.network import Network, read_edgelist


def load_graph(graph: Network | str | Path | None = None, edgelist: str | Path | None = None) -> Network:
    """A Network as given, a network .npz, or a `u v w` edge list."""
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
            raise Img2SongError(f"{graph}: the network has no edges "
                                "(nothing to train on; check the corpus's keywords)")
    return network


def _kernel_build(cfg: LineConfig) -> dict[str, Any]:
    """Build or load the C++ kernel now when the run will use it, timed; {"seconds": 0} otherwise."""
    if not cfg.resolved_impl().startswith("cpu"):
        return {"seconds": 0.0, "compiled": False}
    from engine.line.cpu import timed_load_kernel

    try:
        return timed_load_kernel()
    except Img2SongError:  # LINE.fit falls back (impl 'auto') or reports it (impl 'cpu')
        return {"seconds": 0.0, "compiled": False}


def fit_line(network: Network, cfg: LineConfig, source: str = "<memory>", load_s: float = 0.0, echo=print,
             resume: bool = False, read_from: str = "network",
             waited_s: float | None = None) -> tuple[LINE, dict[str, Any]]:
    """Fit LINE with `cfg` on `network`; returns the fitted model and its training record (line.json's fields).

    `waited_s`: when the network was read on a thread during start-up, how long the caller then waited for it.
    """
    if cfg.checkpoint and not cfg.checkpoint_every:
        cfg.checkpoint_every = 10_000_000
    kernel = _kernel_build(cfg)  # before fit: a first-time C++ compile is not training time
    model = LINE(**cfg.to_dict())
    tic = time.perf_counter()
    model.fit(network, resume=resume)
    fit_s = time.perf_counter() - tic
    record = {
        "config": cfg.to_dict(), "resolved": {"samples": model.samples_, "impl": model.impl_,
                                             "threads": cfg.resolved_threads(),
                                             "batch_size": cfg.resolved_batch_size(network.num_vertices)},
        "source": source,
        "network": {"vertices": network.num_vertices, "edges": network.num_edges, "directed": network.directed},
        "timings": {"load_s": round(load_s, 3),
                    **({"load_waited_s": round(waited_s, 3)} if waited_s is not None else {}),
                    "kernel_build_s": round(float(kernel["seconds"]), 3),
                    "kernel_compiled": bool(kernel["compiled"]), "fit_s": round(fit_s, 3)},
        "orders": model.stats_, "dim": int(model.embeddings_.vectors.shape[1]),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
    }
    rates = ", ".join(f"order {o}: {s['edges_per_s'] / 1e6:.3f}M edges/s" for o, s in model.stats_.items())
    echo(f"LINE [{model.impl_}] trained {network.num_vertices} vertices, {model.samples_} samples per order "
         f"in {fit_s:.1f} s ({rates})")
    build = ("no C++ kernel" if not kernel.get("library") else
             f"C++ kernel {'compiled' if kernel['compiled'] else 'loaded'} in {float(kernel['seconds']):.1f} s")
    read = f"{read_from} read in {load_s:.1f} s"
    if waited_s is not None:
        read += f" (on a thread during start-up; waited {waited_s:.1f} s for it)"
    echo(f"apart from training: {read}; {build}")
    return model, record
