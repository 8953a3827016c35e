"""The live catalogue's fold-in map is fitted once per run and read back after (foldin_map.npz, owned by RunDir):
the same rows as a fresh fit, never a stale map (other network or tables), a damaged file refitted, never a traceback."""
from __future__ import annotations

import numpy as np
import pytest

from engine.line import LINE, foldin
from engine.line.foldin import tables_arrays
from engine.line.foldin_map import NeighbourMap
from engine.line.synthetic import make_tripartite_powerlaw
from evaluation.stages.catalogue_foldmap import calibrated_tables, map_key
from evaluation.stages.rundir import RunDir
from graph.network import Kind, Network

KINDS = (int(Kind.SONG), int(Kind.IMAGE))


@pytest.fixture(scope="module")
def trained():
    net = make_tripartite_powerlaw(n_songs=240, n_images=120, n_keywords=20, song_deg=4, image_deg=3, seed=0)
    model = LINE(dim=16, order="both", negative=5, samples=60_000, lr=0.025, threads=1, device="cpu",
                 impl="reference", seed=0, progress=False).fit(net)
    return net, tables_arrays(model, net)


@pytest.fixture
def run(tmp_path, trained):
    net, arrays = trained
    rd = RunDir(tmp_path / "run").create()
    np.savez(rd.line_tables, **arrays)
    return rd


@pytest.fixture
def fits(monkeypatch):
    """Counts the map's fits (the real fit runs)."""
    calls = []
    real = foldin.fit_neighbour_map

    def counted(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(foldin, "fit_neighbour_map", counted)
    return calls


def embeds(tables, net) -> np.ndarray:
    """Seeded calibrated rows of a few songs and images from their own edges (the donor draw included)."""
    src, dst, w = net.directed_edges()
    out = []
    for kind in (Kind.SONG, Kind.IMAGE):
        for v in net.of_kind(kind)[:8]:
            m = src == v
            out.append(tables.embed([(net.ids[j], float(x)) for j, x in zip(dst[m], w[m])], seed=int(v), kind=kind))
    return np.array(out)


def test_second_build_reads_the_saved_map_and_places_items_identically(run, trained, fits):
    net, _ = trained
    said = []
    first = calibrated_tables(run, net, KINDS, said.append)
    assert len(fits) == 1 and run.foldin_map.is_file()
    assert "saved to" in said[0] and str(run.foldin_map) in said[0]
    assert first.neighbour_map.kinds() == set(KINDS)
    again = calibrated_tables(run, net, KINDS, said.append)
    assert len(fits) == 1 and len(said) == 1  # read back: no fit, nothing to say
    np.testing.assert_array_equal(embeds(again, net), embeds(first, net))
    for k, w in first.neighbour_map.weights.items():
        assert again.neighbour_map.weights[k].dtype == w.dtype and np.array_equal(again.neighbour_map.weights[k], w)
    assert not list(run.path.glob(".*tmp*"))  # the atomic write left no temp file


def _with_weight(net: Network, factor: float) -> Network:
    w = np.array(net.weights, dtype=np.float64)
    w[0] *= factor
    return Network(net.ids, net.kinds, net.labels, net.edges, w)


def test_a_changed_network_or_changed_tables_refit(run, trained, fits):
    net, arrays = trained
    calibrated_tables(run, net, KINDS)
    key = map_key(run.load_line_tables(), net, KINDS)
    other = _with_weight(net, 2.0)  # one edge's weight
    assert map_key(run.load_line_tables(), other, KINDS) != key
    refit = calibrated_tables(run, other, KINDS)
    assert len(fits) == 2
    assert run.load_foldin_map(map_key(run.load_line_tables(), other, KINDS)) is not None  # rewritten for it
    assert run.load_foldin_map(key) is None  # the old one is stale now, never read
    fresh = run.load_line_tables().calibrated(other, kinds=KINDS)
    np.testing.assert_array_equal(embeds(refit, net), embeds(fresh, net))
    changed = dict(arrays, vertex2=arrays["vertex2"] * np.float32(1.5))  # retrained tables, same network
    np.savez(run.line_tables, **changed)
    calibrated_tables(run, other, KINDS)
    assert len(fits) == 4  # (fresh above was the third)
    assert map_key(run.load_line_tables(), other, (int(Kind.SONG),)) != map_key(run.load_line_tables(), other, KINDS)


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage", "array missing", "not finite"])
def test_a_damaged_saved_map_is_refitted_and_rewritten(run, trained, fits, damage):
    net, _ = trained
    good = embeds(calibrated_tables(run, net, KINDS), net)
    raw = run.foldin_map.read_bytes()
    if damage == "truncated":
        run.foldin_map.write_bytes(raw[: len(raw) // 2])
    elif damage == "empty":
        run.foldin_map.write_bytes(b"")
    elif damage == "garbage":
        run.foldin_map.write_bytes(b"not an npz at all" * 10)
    else:
        with np.load(run.foldin_map) as z:
            arrays = dict(z)
        name = next(k for k in arrays if k.startswith("weights_"))
        if damage == "array missing":
            del arrays[name]
        else:
            arrays[name] = np.full_like(arrays[name], np.nan)
        np.savez(run.foldin_map, **arrays)
    said = []
    tables = calibrated_tables(run, net, KINDS, said.append)
    assert len(fits) == 2, said
    assert str(run.foldin_map) in said[0] and "fitting the fold-in map again" in said[0]
    assert "saved to" in said[1]
    np.testing.assert_array_equal(embeds(tables, net), good)
    key = map_key(run.load_line_tables(), net, KINDS)
    assert isinstance(run.load_foldin_map(key), NeighbourMap)  # rewritten whole


def test_a_run_that_cannot_be_written_still_gets_the_map(run, trained, fits, monkeypatch):
    net, _ = trained

    def refuse(*a, **k):
        raise PermissionError(13, "Permission denied", str(run.foldin_map))

    monkeypatch.setattr(RunDir, "save_foldin_map", refuse)
    said = []
    tables = calibrated_tables(run, net, KINDS, said.append)
    assert tables.neighbour_map.kinds() == set(KINDS) and "not saved" in said[0]
    assert not run.foldin_map.exists()
