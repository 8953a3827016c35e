"""The live catalogue's calibrated fold-in map, fitted once per run and kept in it (foldin_map.npz).

`img2song add` and `img2song serve` place new songs and photos with the neighbour map fitted on the run's LINE
tables and network (engine.line.foldin_map). Fitting it costs about 0.7 s CPU on the demo run; it is the same map
every time, so the first command saves it and later ones read it back. The file is keyed by a hash of what the fit
reads (the tables, the network, the kinds, the fit's constants): a map from other tables or another network is
never used, and a missing, stale or damaged file is refitted and rewritten (atomically, by RunDir).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from engine.line import foldin_map
from engine.line.foldin import LineTables
from engine.live.catalogue import FOLDED_KINDS
from evaluation.stages.derived import TypedHash, cached
from evaluation.stages.rundir import RunDir


def map_key(tables: LineTables, network: Any, kinds: Sequence[int]) -> str:
    """Hash of everything the map's fit reads: the tables' ids and rows, the network's ids, kinds and weighted
    edges, the kinds to fit, and the fit's constants and format."""
    h = TypedHash(f"map v{foldin_map.MAP_FORMAT} ridge {foldin_map.RIDGE!r} donors {foldin_map.DONORS}")
    h.array(np.array(sorted(int(k) for k in kinds), np.int64), np.array(tables.ids, dtype=str))
    for order in tables.orders:
        h.array(np.array(order), tables.vertex[order])
    if tables.context is not None:
        h.array(tables.context)
    h.array(np.array(network.ids, dtype=str), network.kinds, *network.directed_edges())
    return h.digest()


def calibrated_tables(run: RunDir, network: Any, kinds: Sequence[int] = FOLDED_KINDS,
                      echo: Callable[[str], None] | None = None) -> LineTables:
    """The run's LINE tables with the fold-in map for `kinds`: the saved one when it was fitted on these tables and
    this network, else fitted now and saved (a run that cannot be written to still gets the map, unsaved)."""
    tables = run.load_line_tables()
    key = map_key(tables, network, kinds)
    saved = cached("fold-in map", lambda: run.load_foldin_map(key),
                   lambda: tables.calibrated(network, kinds=kinds).neighbour_map,
                   lambda nmap: run.save_foldin_map(nmap, key), echo, verb="fitted", redo="fitting")
    return dataclasses.replace(tables, neighbour_map=saved)
