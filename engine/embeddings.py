"""EmbeddingTable: the KeyedTable view of vertex embeddings (selection by vertex kind) and the file formats.

Formats (``FORMATS``):

- ``npz``: one .npz with ids, vectors, a JSON header (format tag; the table's ``meta``) and, when known, kinds and
  labels (lossless).
- ``word2vec``: text, header ``"N d"``, then one ``"<key> v1 ... vd"`` line per vertex (9 significant digits,
  which round-trips float32 exactly).
- ``word2vec-binary``: the word2vec.c layout: header ``b"N d\\n"``, then per vertex ``key + b" "`` + d float32
  little-endian + ``b"\\n"``.
- ``projector``: a directory for the TensorBoard Embedding Projector: ``tensors.tsv`` (no header),
  ``metadata.tsv`` (header ``id\\tkind\\tlabel``) and ``projector_config.pbtxt``.

Key escaping (word2vec formats are whitespace-delimited): a key is the vertex id with ``%`` and every whitespace
character (``str.isspace``) percent-encoded as its UTF-8 bytes (``" "`` -> ``%20``, ``"\\u3000"`` ->
``%E3%80%80``, ``"%"`` -> ``%25``); everything else (Chinese included) is written as UTF-8. Loading undoes it, so
ids round-trip exactly, and gensim's ``KeyedVectors.load_word2vec_format`` reads the escaped keys with identical
vectors. word2vec files carry no kinds or labels: on load, kinds come from the id prefixes (``img:`` ``kw:``
``song:``, else OTHER). TSV cells escape backslash, tab, newline and carriage return as ``\\\\ \\t \\n \\r``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np

from engine.embedding_formats import FORMATS, SUFFIXES, escape_key, infer_format, kinds_from_ids, unescape_key
from engine.vectors import KeyedTable
from graph.common.errors import Img2SongError
from graph.network import Kind

__all__ = ["FORMATS", "SUFFIXES", "EmbeddingTable", "escape_key", "infer_format", "kinds_from_ids", "unescape_key"]

KindLike = Kind | str | int


def _as_kind(k: KindLike) -> int:
    if isinstance(k, str):
        try:
            return int(Kind[k.strip().upper()])
        except KeyError:
            raise Img2SongError(f"unknown vertex kind {k!r}; known: {', '.join(x.name.lower() for x in Kind)}") from None
    return int(Kind(int(k)))


class EmbeddingTable(KeyedTable):
    """Vectors of network vertices (ids like "song:<id>"): a KeyedTable with selection by vertex kind."""

    what = "embedding"
    key_name = "vertex id"

    def __repr__(self) -> str:
        return f"EmbeddingTable({len(self)} vertices, dim={self.dim})"

    def index(self, vid: str) -> int:
        """Row of vertex `vid` (KeyError when absent)."""
        return self.get_index(vid)

    def select(self, kind: KindLike | Sequence[KindLike]) -> Self:
        """Only the vertices of the given kind(s), e.g. select("song") for the song vectors."""
        if self.kinds is None:
            raise Img2SongError("embedding table has no vertex kinds; cannot select by kind")
        wanted = [kind] if isinstance(kind, (str, int, Kind)) else list(kind)
        return self.take(np.flatnonzero(np.isin(self.kinds, [_as_kind(k) for k in wanted])))

    def nearest(self, queries: np.ndarray, k: int = 10, metric: str = "euclidean",
                kind: KindLike | Sequence[KindLike] | None = None) -> tuple[list[list[str]], np.ndarray]:
        """Brute-force kNN over all vertices or those of `kind` (see KeyedTable.nearest)."""
        table = self if kind is None else self.select(kind)
        return KeyedTable.nearest(table, queries, k, metric)
