"""The LINE estimator (scikit-learn style): fit(network) trains each order with a registered impl.

Order "both" follows the reference C++ workflow: `-order 1` and `-order 2` runs with dim/2 each and the same
sample count, then concatenate the L2-normalised vectors (concatenate.cpp + normalize.cpp). A single order keeps
the raw vertex vectors, as the C++ writes them.
"""
from __future__ import annotations

import hashlib
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from engine.embeddings import EmbeddingTable
from engine.line.config import CHUNK, LineConfig
from engine.line.config import DEFAULTS as D
from engine.line.impls import chunk_seed, get_impl, lr_schedule
from engine.line.sampling import LineSamplers
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.network import Network

CKPT_FORMAT = "img2song-line-checkpoint"


def network_fingerprint(network: Network) -> str:
    """Hash of ids, edges and weights: a checkpoint only resumes on the network it was written for."""
    h = hashlib.sha1()
    h.update("\n".join(network.ids).encode())
    h.update(np.ascontiguousarray(network.edges).tobytes())
    h.update(np.ascontiguousarray(network.weights).tobytes())
    h.update(b"directed" if network.directed else b"undirected")
    return h.hexdigest()


def init_tables(num_vertices: int, dim: int, order: int, seed: int, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Vertex U(-0.5, 0.5)/d, context 0 (the C++'s InitVector); drawn on the CPU so every device starts equal."""
    gen = torch.Generator().manual_seed(chunk_seed(seed, 100 + order, 0))
    vertex = ((torch.rand(num_vertices, dim, generator=gen) - 0.5) / dim).to(device)
    context = torch.zeros(num_vertices, dim, device=device) if order == 2 else vertex
    return vertex, context


def check_device(device: str) -> None:
    """A clear error for a CUDA device this machine does not have (instead of torch's RuntimeError later)."""
    if not str(device).startswith("cuda"):
        return
    if not torch.cuda.is_available():
        raise Img2SongError(f"device {device!r} requested but no CUDA GPU is available here; use --device cpu")
    index = str(device).partition(":")[2]
    if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
        raise Img2SongError(f"device {device!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def l2_normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


class LINE:
    """LINE vertex embeddings; after fit: embeddings_ (EmbeddingTable), vertex_/context_ {order: tensor},
    history_ (one record per chunk), stats_ (seconds and edges/s per order), degrees_."""

    def __init__(self, dim: int = D.dim, order: int | str = D.order, negative: int = D.negative,
                 samples: int | None = D.samples, lr: float = D.lr, threads: int | None = D.threads,
                 device: str = D.device, impl: str = D.impl, batch_size: int | None = D.batch_size, seed: int = D.seed,
                 checkpoint: str | None = D.checkpoint, checkpoint_every: int | None = D.checkpoint_every,
                 progress: bool = D.progress):  # defaults: engine/line/config.py, stated once
        self.dim, self.order, self.negative, self.samples, self.lr = dim, order, negative, samples, lr
        self.threads, self.device, self.impl, self.batch_size, self.seed = threads, device, impl, batch_size, seed
        self.checkpoint, self.checkpoint_every, self.progress = checkpoint, checkpoint_every, progress

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in LineConfig.__dataclass_fields__}

    @property
    def config(self) -> LineConfig:
        return LineConfig(**self.get_params())

    # --- training ------------------------------------------------------------------------------------
    def fit(self, network: Network, resume: bool = False) -> LINE:
        """Train every order on `network` (both directions of each undirected edge); resume from `checkpoint`."""
        cfg = self.config
        check_device(cfg.device)
        samplers = LineSamplers.from_network(network)
        total = cfg.resolved_samples(len(samplers.src))
        impl_name = self._impl_name(cfg)
        impl = get_impl(impl_name)(samplers, negative=cfg.negative, lr=float(cfg.lr), threads=cfg.resolved_threads(),
                                   batch_size=cfg.resolved_batch_size(network.num_vertices),
                                   device=cfg.device)
        if str(cfg.device).split(":")[0] not in type(impl).devices:
            raise Img2SongError(f"LINE impl {impl_name!r} does not run on {cfg.device!r} (runs on {type(impl).devices})")
        fingerprint = network_fingerprint(network)
        state = self._load_checkpoint(cfg, total, fingerprint, impl_name) if resume else None
        tables: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        history: list[dict[str, Any]] = state["history"] if state else []
        stats: dict[str, Any] = state["stats"] if state else {}
        for order in cfg.orders:
            if state and str(order) in state["tables"]:
                vt, ct = state["tables"][str(order)]
                vertex = vt.to(cfg.device)
                context = ct.to(cfg.device) if order == 2 else vertex
                start_chunk = state["next_chunk"][str(order)]
            else:
                vertex, context = init_tables(network.num_vertices, cfg.dim_per_order, order, cfg.seed, cfg.device)
                start_chunk = 0
            tables[order] = (vertex, context)
            self._train_order(cfg, impl, order, vertex, context, total, start_chunk, tables, history, stats,
                              fingerprint, impl_name)
        self.vertex_ = {o: v for o, (v, _) in tables.items()}
        self.context_ = {o: c for o, (v, c) in tables.items() if o == 2}
        self.history_, self.stats_ = history, stats
        self.samples_, self.impl_, self.degrees_ = total, impl_name, network.degrees()
        self.embeddings_ = self._table(network)
        return self

    def fit_transform(self, network: Network, resume: bool = False):
        return self.fit(network, resume=resume).embeddings_

    def _impl_name(self, cfg: LineConfig) -> str:
        name = cfg.resolved_impl()
        if cfg.impl == "auto" and name == "cpu":
            try:
                from engine.line.cpu import load_kernel

                load_kernel()
            except Img2SongError as e:
                warnings.warn(f"{e}; falling back to impl='reference'", stacklevel=3)
                return "reference"
        return name

    def _train_order(self, cfg, impl, order, vertex, context, total, start_chunk, tables, history, stats,
                     fingerprint, impl_name) -> None:
        n_chunks = -(-total // CHUNK)
        every = -(-cfg.checkpoint_every // CHUNK) if cfg.checkpoint_every else None
        key = str(order)
        seconds = stats.get(key, {}).get("seconds", 0.0)
        bar = tqdm(total=total, initial=min(total, start_chunk * CHUNK), unit="edge", unit_scale=True,
                   desc=f"LINE order {order} [{impl_name}]", disable=not cfg.progress, leave=False)
        try:
            for c in range(start_chunk, n_chunks):
                t0 = c * CHUNK
                n = min(CHUNK, total - t0)
                tic = time.perf_counter()
                impl.train(vertex, context, order, t0, n, total, chunk_seed(cfg.seed, order, c))
                if vertex.is_cuda:
                    torch.cuda.synchronize(vertex.device)
                dt = time.perf_counter() - tic
                seconds += dt
                history.append({"order": order, "chunk": c, "samples_done": t0 + n, "seconds": round(dt, 6),
                                "edges_per_s": round(n / dt, 1) if dt > 0 else None,
                                "lr_end": float(lr_schedule(t0 + n, total, cfg.lr))})
                bar.update(n)
                done = (t0 + n) / max(seconds, 1e-12)
                stats[key] = {"samples": t0 + n, "seconds": round(seconds, 6), "edges_per_s": round(done, 1)}
                if every and (c + 1) % every == 0 and c + 1 < n_chunks:
                    self._save_checkpoint(cfg, total, fingerprint, impl_name, tables, order, c + 1, history, stats)
        finally:
            bar.close()
        if not torch.isfinite(vertex).all() or (order == 2 and not torch.isfinite(context).all()):
            raise Img2SongError(f"LINE order {order}: training produced non-finite values (impl {impl_name!r})")
        if cfg.checkpoint and cfg.checkpoint_every:
            self._save_checkpoint(cfg, total, fingerprint, impl_name, tables, order, n_chunks, history, stats)

    def _table(self, network: Network) -> EmbeddingTable:
        orders = sorted(self.vertex_)
        mats = [self.vertex_[o].detach().cpu().numpy().astype(np.float32) for o in orders]
        vectors = np.concatenate([l2_normalise(m) for m in mats], axis=1) if len(mats) == 2 else mats[0]
        return EmbeddingTable(network.ids, vectors, network.kinds, network.labels)

    # --- checkpoints ---------------------------------------------------------------------------------
    def _save_checkpoint(self, cfg, total, fingerprint, impl_name, tables, order, next_chunk, history, stats) -> Path:
        """Atomic write (temp file + os.replace) of tables, progress and the RNG position (seed + next chunk)."""
        path = Path(cfg.checkpoint)
        done = {str(o): (-(-total // CHUNK) if o < order else next_chunk) for o in tables}
        payload = {
            "format": CKPT_FORMAT, "version": 1, "config": cfg.to_dict(), "samples": total,
            "network": fingerprint, "impl": impl_name, "next_chunk": done,
            "rng": {"seed": cfg.seed, "scheme": "chunk c of order o draws from chunk_seed(seed, o, c)"},
            "tables": {str(o): (v.detach().cpu().clone(), c.detach().cpu().clone() if o == 2 else None)
                       for o, (v, c) in tables.items()},
            "history": list(history), "stats": dict(stats),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path

    def _load_checkpoint(self, cfg, total, fingerprint, impl_name) -> dict[str, Any] | None:
        if not cfg.checkpoint:
            raise Img2SongError("LINE: resume needs `checkpoint` (the file written by an earlier run)")
        path = Path(cfg.checkpoint)
        if not path.is_file():
            return None  # nothing written yet: a fresh start
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises several types for a damaged file
            raise Img2SongError(f"{path}: unreadable LINE checkpoint ({e})") from None
        if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
            raise Img2SongError(f"{path}: not a LINE checkpoint")
        if state["network"] != fingerprint:
            raise Img2SongError(f"{path}: checkpoint was written for a different network")
        old = state["config"]
        for key in ("dim", "order", "negative", "lr", "seed", "device"):
            if old.get(key) != cfg.to_dict()[key]:
                raise Img2SongError(f"{path}: checkpoint field {key!r} is {old.get(key)!r}, this run has "
                                    f"{cfg.to_dict()[key]!r}")
        if state["samples"] != total:
            raise Img2SongError(f"{path}: checkpoint field 'samples' is {state['samples']}, this run has {total}")
        if state["impl"] != impl_name:
            raise Img2SongError(f"{path}: checkpoint field 'impl' is {state['impl']!r}, this run has {impl_name!r}")
        return state
