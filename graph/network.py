"""The weighted network handed to the engine: typed vertex table + compact edge arrays, one .npz file format."""
from __future__ import annotations

import json
from concurrent.futures import Future
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

import numpy as np

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.common.readers import load_npz, npz_meta
from graph.edgelist import parse_edgelist, read_in_background


class Kind(IntEnum):
    IMAGE = 0
    KEYWORD = 1
    SONG = 2
    OTHER = 3  # vertices of a plain edge list (no tripartite typing)
    WORD = 4  # lyric words beyond the keyword vocabulary: link songs no image can reach to songs that images reach


PREFIX = {Kind.IMAGE: "img:", Kind.KEYWORD: "kw:", Kind.SONG: "song:", Kind.OTHER: "", Kind.WORD: "word:"}


def vertex_id(kind: Kind, key: str) -> str:
    """Stable string id of a vertex: kind prefix + the record id (or the keyword itself)."""
    return PREFIX[Kind(kind)] + key


@dataclass
class Network:
    """Vertices 0..N-1 with string ids, kinds and labels; edges as int64 [E,2] + float32 [E] weights.

    `directed=False` (the tripartite network) stores each undirected edge once; `directed_edges()` gives both
    directions, which is what LINE's second order and the reference C++ edge list use.
    """

    ids: list[str]
    kinds: np.ndarray  # int8 [N], values of Kind
    labels: list[str]  # human-readable (keyword text, song title, image file)
    edges: np.ndarray  # int64 [E, 2]
    weights: np.ndarray  # float32 [E], > 0
    directed: bool = False

    def __post_init__(self) -> None:
        self.kinds = np.asarray(self.kinds, dtype=np.int8)
        self.edges = np.asarray(self.edges, dtype=np.int64).reshape(-1, 2)
        with np.errstate(over="ignore", invalid="ignore"):  # out-of-range weights are reported below, by value
            self.weights = np.asarray(self.weights, dtype=np.float32).reshape(-1)
        n = len(self.ids)
        if len(self.kinds) != n or len(self.labels) != n:
            raise Img2SongError(f"vertex table mismatch: {n} ids, {len(self.kinds)} kinds, {len(self.labels)} labels")
        if len(set(self.ids)) != n:
            seen: dict[str, int] = {}
            for i, v in enumerate(self.ids):
                if v in seen:
                    raise Img2SongError(f"duplicate vertex id {v!r} (vertices {seen[v]} and {i})")
                seen[v] = i
        if len(self.edges) != len(self.weights):
            raise Img2SongError(f"{len(self.edges)} edges but {len(self.weights)} weights")
        if len(self.edges) and (self.edges.min() < 0 or self.edges.max() >= n):
            raise Img2SongError("edge endpoint outside the vertex table")
        if len(self.weights) and not (np.isfinite(self.weights).all() and (self.weights > 0).all()):
            bad = int(np.flatnonzero(~(np.isfinite(self.weights) & (self.weights > 0)))[0])
            raise Img2SongError(f"edge {bad}: weight must be finite, positive and within float32 range, "
                                f"got {self.weights[bad]}")
        self._index: dict[str, int] | None = None

    @property
    def num_vertices(self) -> int:
        return len(self.ids)

    @property
    def num_edges(self) -> int:
        return len(self.edges)

    def index(self, vid: str) -> int:
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.ids)}
        return self._index[vid]

    def of_kind(self, kind: Kind) -> np.ndarray:
        return np.flatnonzero(self.kinds == int(kind))

    def directed_edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(src, dst, weight) with both directions of every undirected edge (as-is when directed)."""
        s, d, w = self.edges[:, 0], self.edges[:, 1], self.weights
        if self.directed:
            return s.copy(), d.copy(), w.copy()
        return np.concatenate([s, d]), np.concatenate([d, s]), np.concatenate([w, w])

    def degrees(self) -> np.ndarray:
        """Weighted out-degree over directed_edges() (what LINE's negative table uses)."""
        src, _, w = self.directed_edges()
        return np.bincount(src, weights=w, minlength=self.num_vertices).astype(np.float64)

    # --- views -------------------------------------------------------------------------------------------
    def to_networkx(self):
        import networkx as nx

        g = nx.DiGraph() if self.directed else nx.Graph()
        for vid, k, lab in zip(self.ids, self.kinds, self.labels):
            g.add_node(vid, kind=Kind(int(k)).name.lower(), label=lab)
        for (a, b), w in zip(self.edges.tolist(), self.weights.tolist()):
            g.add_edge(self.ids[a], self.ids[b], weight=w)
        return g

    @classmethod
    def from_networkx(cls, g) -> Network:
        ids = list(g.nodes)
        index = {v: i for i, v in enumerate(ids)}
        kinds = [Kind[str(g.nodes[v].get("kind", "other")).upper()] for v in ids]
        labels = [str(g.nodes[v].get("label", v)) for v in ids]
        edges = [(index[a], index[b]) for a, b in g.edges]
        weights = [float(d.get("weight", 1.0)) for _, _, d in g.edges(data=True)]
        return cls(ids, np.array(kinds, np.int8), labels, np.array(edges, np.int64).reshape(-1, 2),
                   np.array(weights, np.float32), directed=g.is_directed())

    # --- statistics --------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        deg = np.bincount(self.edges.reshape(-1), minlength=self.num_vertices)
        ek = self.kinds[self.edges] if self.num_edges else np.zeros((0, 2), np.int8)
        pair = lambda a, b: int((((ek[:, 0] == a) & (ek[:, 1] == b)) | ((ek[:, 0] == b) & (ek[:, 1] == a))).sum())
        out: dict[str, Any] = {
            "vertices": self.num_vertices,
            "edges": self.num_edges,
            "songs": int((self.kinds == Kind.SONG).sum()),
            "images": int((self.kinds == Kind.IMAGE).sum()),
            "keywords": int((self.kinds == Kind.KEYWORD).sum()),
            "words": int((self.kinds == Kind.WORD).sum()),
            "song_keyword_edges": pair(Kind.SONG, Kind.KEYWORD),
            "song_word_edges": pair(Kind.SONG, Kind.WORD),
            "image_keyword_edges": pair(Kind.IMAGE, Kind.KEYWORD),
            "image_song_edges": pair(Kind.IMAGE, Kind.SONG),
            "isolated_vertices": int((deg == 0).sum()),
            "degree": {},
        }
        for kind in (Kind.IMAGE, Kind.KEYWORD, Kind.SONG, Kind.WORD):
            d = deg[self.kinds == kind]
            if len(d):
                out["degree"][kind.name.lower()] = {
                    "min": int(d.min()), "median": float(np.median(d)), "mean": round(float(d.mean()), 3),
                    "max": int(d.max()),
                }
        return out

    # --- file format -------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write one .npz (atomic: temp file + rename)."""
        path = Path(path)
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez_compressed(
                tmp, ids=np.array(self.ids, dtype=object).astype(str), kinds=self.kinds,
                labels=np.array(self.labels, dtype=object).astype(str), edges=self.edges, weights=self.weights,
                meta=np.array(json.dumps({"format": "img2song-network", "version": 1, "directed": self.directed})),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Network:
        path = Path(path)
        z = load_npz(path, "network file", ("ids", "kinds", "labels", "edges", "weights", "meta"))
        meta = npz_meta(path, z, "network file")
        if meta.get("format") != "img2song-network":
            raise Img2SongError(f"{path}: not an img2song network file")
        try:
            return cls(z["ids"].tolist(), z["kinds"], z["labels"].tolist(), z["edges"], z["weights"],
                       directed=bool(meta.get("directed", False)))
        except Img2SongError as e:
            raise Img2SongError(f"{path}: {e}") from None
        except (ValueError, TypeError, OverflowError) as e:
            raise Img2SongError(f"{path}: unreadable network file ({e})") from None


def read_edgelist(path: str | Path) -> Network:
    """Read the reference LINE C++ input: one `u v w` per line, whitespace-separated, directed (vectorised)."""
    return _edgelist_network(parse_edgelist(path))


def read_edgelist_in_background(path: str | Path) -> Future:
    """read_edgelist(path) on a thread (the C++ pass holds no GIL): start it, import torch, then .result()."""
    return read_in_background(path, _edgelist_network)


def _edgelist_network(parsed) -> Network:
    names, src, dst, wts = parsed
    return Network(names, np.full(len(names), int(Kind.OTHER), np.int8), names, np.stack([src, dst], 1), wts,
                   directed=True)
