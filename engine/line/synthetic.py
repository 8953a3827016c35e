"""Synthetic tripartite networks with Zipf keyword popularity: the benchmark and test graphs for LINE."""
from __future__ import annotations

import numpy as np

from graph.common.errors import Img2SongError
from graph.network import Kind, Network, vertex_id


def _zipf_topk(rng: np.random.Generator, n_rows: int, logp: np.ndarray, k: int, chunk: int = 8192) -> np.ndarray:
    """k distinct columns per row drawn without replacement ∝ p (Gumbel top-k = successive sampling)."""
    out = np.empty((n_rows, k), dtype=np.int64)
    for lo in range(0, n_rows, chunk):
        hi = min(n_rows, lo + chunk)
        keys = logp[None, :] + rng.gumbel(size=(hi - lo, len(logp)))
        out[lo:hi] = np.argpartition(-keys, k - 1, axis=1)[:, :k]
    return out


def make_tripartite_powerlaw(
    n_songs: int = 100_000,
    n_images: int = 50_000,
    n_keywords: int = 1_000,
    song_deg: int = 10,
    image_deg: int = 5,
    seed: int = 0,
    zipf_s: float = 1.0,
) -> Network:
    """Songs and images each linked to `deg` distinct keywords drawn ∝ 1/rank^s; weights are small counts.

    Defaults give the benchmark graph: 151k vertices, 1.25M undirected edges (2.5M directed for LINE).
    """
    if min(song_deg, image_deg) < 1 or max(song_deg, image_deg) > n_keywords:
        raise ValueError(f"degrees must be in 1..n_keywords={n_keywords}, got {song_deg}, {image_deg}")
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, n_keywords + 1, dtype=np.float64)
    logp = -zipf_s * np.log(ranks)
    logp -= np.log(np.exp(logp).sum())
    kw0, song0, img0 = 0, n_keywords, n_keywords + n_songs
    song_kw = _zipf_topk(rng, n_songs, logp, song_deg)
    img_kw = _zipf_topk(rng, n_images, logp, image_deg)
    src = np.concatenate([np.repeat(np.arange(n_songs) + song0, song_deg),
                          np.repeat(np.arange(n_images) + img0, image_deg)])
    dst = np.concatenate([song_kw.reshape(-1), img_kw.reshape(-1)]) + kw0
    weights = rng.geometric(0.5, size=len(src)).astype(np.float32)  # counts 1, 2, 3... with P(c) = 2^-c
    ids = ([vertex_id(Kind.KEYWORD, f"k{i}") for i in range(n_keywords)]
           + [vertex_id(Kind.SONG, f"s{i}") for i in range(n_songs)]
           + [vertex_id(Kind.IMAGE, f"i{i}") for i in range(n_images)])
    kinds = np.concatenate([np.full(n_keywords, Kind.KEYWORD), np.full(n_songs, Kind.SONG),
                            np.full(n_images, Kind.IMAGE)]).astype(np.int8)
    labels = [f"k{i}" for i in range(n_keywords)] + [f"song {i}" for i in range(n_songs)] + [
        f"image {i}" for i in range(n_images)]
    return Network(ids, kinds, labels, np.stack([src, dst], 1), weights, directed=False)


REFERENCE_GRAPH_EDGES = 1_250_000  # 100k songs x 10 keywords + 50k images x 5 keywords, 1k Zipf keywords


def scaled_graph(edges: int, seed: int = 0) -> Network:
    """The reference-shaped tripartite graph scaled to ~`edges` undirected edges (songs:images 2:1, deg 10/5)."""
    if edges < 20:
        raise Img2SongError(f"bench graph needs at least 20 edges, got {edges}")
    scale = edges / REFERENCE_GRAPH_EDGES
    n_songs, n_images = max(1, round(100_000 * scale)), max(1, round(50_000 * scale))
    n_keywords = 1000 if n_songs >= 2000 else max(20, n_songs // 2)
    return make_tripartite_powerlaw(n_songs=n_songs, n_images=n_images, n_keywords=n_keywords, song_deg=10,
                                    image_deg=5, seed=seed)
