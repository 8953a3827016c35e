"""The alias tables packed the way the fused kernels (C++ CPU and Triton) read them: one row per draw.

edges: int32 [E, EDGE_COLUMNS] = (prob bits, src, dst of the column's edge, src, dst of its alias edge, 0, 0, 0),
so one 32-byte read per edge draw gives both candidate endpoints (no dependent lookup into src/dst arrays);
negatives: int32 [N, 2] = (prob bits, alias vertex). Probabilities are stored as the bits of their float32.
"""
from __future__ import annotations

import numpy as np

from engine.line.sampling import AliasTable, LineSamplers
from graph.common.errors import Img2SongError

EDGE_COLUMNS = 8  # int32 per packed edge column (32 bytes); the C++ kernel is compiled with this stride
MAX_EDGES = 2**32  # a column is drawn as mulhi(uint32 random, E)
MAX_VERTICES = 2**31  # vertex indices are int32


def check_packable(samplers: LineSamplers, who: str) -> None:
    """Sizes the packed tables can index, and alias tables that belong to this edge list."""
    n_e, n_n = len(samplers.edges), len(samplers.negatives)
    if n_e >= MAX_EDGES or samplers.num_vertices >= MAX_VERTICES:
        raise Img2SongError(f"{who}: needs < 2^32 directed edges and < 2^31 vertices "
                            f"(got {n_e} edges, {samplers.num_vertices} vertices)")
    if n_e != len(samplers.src) or n_n != samplers.num_vertices:
        raise Img2SongError(f"{who}: alias tables ({n_e} edges, {n_n} vertices) do not match the edge list "
                            f"({len(samplers.src)} edges, {samplers.num_vertices} vertices)")


def _prob_bits(table: AliasTable) -> np.ndarray:
    return table.prob.astype(np.float32).view(np.int32)


def pack_edge_table(samplers: LineSamplers, who: str = "LINE kernel") -> np.ndarray:
    """int32 [E, EDGE_COLUMNS]: prob bits, (src, dst) of the column's edge, (src, dst) of its alias, padding."""
    check_packable(samplers, who)
    e = samplers.edges
    t = np.zeros((len(e), EDGE_COLUMNS), dtype=np.int32)
    t[:, 0] = _prob_bits(e)
    t[:, 1], t[:, 2] = samplers.src, samplers.dst
    t[:, 3], t[:, 4] = samplers.src[e.alias], samplers.dst[e.alias]
    return t


def pack_neg_table(table: AliasTable) -> np.ndarray:
    """int32 [N, 2]: prob bits, alias vertex."""
    t = np.empty((len(table), 2), dtype=np.int32)
    t[:, 0] = _prob_bits(table)
    t[:, 1] = table.alias
    return t
