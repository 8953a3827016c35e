"""The catalogue journal's durability rule, the fast paths of a fold-in, and the bridge's memo they rely on.

Journal: one fsync per transaction (after its commit record), and a recovery that cuts any damage inside the last
transaction (what a power cut before that sync can leave) but refuses damage followed by a later transaction.
Speed paths: `nearest_rows` (a float32 pass, float64 on the candidates) equals a brute-force float64 ranking with
ties by row; the bridge's memo never changes an image's edges; the live edger links an image exactly as
build-graph does (graph.captions.image_keywords, back-off included).
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from engine.knn import KnnTable
from engine.live import indexes as ix
from evaluation.stages.catalogue_journal import CatalogueStore
from graph.common.errors import Img2SongError


def _journal(tmp_path, transactions: list[int]) -> tuple[CatalogueStore, list[int]]:
    """A store with one committed transaction per entry (that many items); returns it and each one's end offset."""
    store = CatalogueStore(tmp_path / "run")
    ends = []
    for t, n in enumerate(transactions):
        with store.transaction("add", n) as put:
            for j in range(n):
                put("song", {"n": f"{t}-{j}"})
        ends.append(store.journal.stat().st_size)
    return store, ends


def test_one_fsync_per_transaction_whatever_its_items(tmp_path, monkeypatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    store, _ = _journal(tmp_path, [1, 5, 40])
    assert len(synced) == 3  # per-line syncs would be 3 + 7 + 42
    assert [len(t.records) for t in store.recover()] == [1, 5, 40]


@pytest.mark.parametrize("how", ["zeroed", "torn", "garbled", "lost"])
def test_damage_inside_the_last_transaction_is_cut_as_an_unfinished_change(tmp_path, how):
    cases = 0
    for victim in range(5):  # begin, three items, commit of the last transaction
        store, ends = _journal(tmp_path / f"{how}{victim}", [2, 3])
        data = bytearray(store.journal.read_bytes())
        lines = data[ends[0]:].split(b"\n")[:-1]
        start = ends[0] + sum(len(x) + 1 for x in lines[:victim])
        stop = start + len(lines[victim])
        if how == "zeroed":  # a page the power cut never wrote
            data[start:stop] = bytes(stop - start)
        elif how == "torn":
            del data[start + (stop - start) // 2:stop + 1]
        elif how == "garbled":
            data[start + 10] = (data[start + 10] + 1) % 256 or 1
        else:
            del data[start:stop + 1]
        store.journal.write_bytes(bytes(data))
        said: list[str] = []
        txns = store.recover(said.append)
        assert [len(t.records) for t in txns] == [2], (how, victim)
        assert store.journal.stat().st_size == ends[0] and "discarded an unfinished change" in said[0]
        cases += 1
    assert cases == 5


def test_damage_followed_by_a_later_transaction_is_refused_naming_the_line(tmp_path):
    store, ends = _journal(tmp_path, [2, 1])
    data = bytearray(store.journal.read_bytes())
    second = data.index(b"\n") + 1  # line 2: the first transaction's first item
    data[second + 5] = ord("#")
    store.journal.write_bytes(bytes(data))
    with pytest.raises(Img2SongError, match=r"journal.jsonl:2: damaged journal record followed by a later change"):
        store.recover()
    assert store.journal.read_bytes() == bytes(data)  # nothing cut


def _brute(q: np.ndarray, t: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    d = np.sqrt(((t.astype(np.float64) - q.astype(np.float64)) ** 2).sum(1))
    order = np.lexsort((np.arange(len(t)), d))[:m]
    return d[order], order


def test_nearest_rows_equal_a_float64_brute_force_with_ties_by_row():
    rng = np.random.default_rng(7)
    checked = 0
    for dim, n, m in ((256, 3000, 20), (8, 500, 30), (3, 200, 50)):
        t = rng.standard_normal((n, dim)).astype(np.float32)
        t /= np.linalg.norm(t, axis=1, keepdims=True)
        t[n // 2:n // 2 + 40] = t[5]  # exact duplicates: ties broken by row
        t[n // 3:n // 3 + 40] = t[9] + rng.standard_normal((40, dim)).astype(np.float32) * 1e-4  # near-ties
        table = KnnTable(t)
        queries = np.vstack([t[5], t[9], t[9] + 1e-5, rng.standard_normal((5, dim)).astype(np.float32)])
        d, i = ix.nearest_rows(queries, table, m)
        for q, dq, iq in zip(queries, d, i):
            bd, bi = _brute(q, t, m)
            assert np.array_equal(iq, bi) and np.allclose(dq, bd, rtol=0, atol=1e-12)
            checked += 1
    assert checked == 24


def test_extend_table_carries_the_squared_norms_over():
    rng = np.random.default_rng(3)
    t = KnnTable(rng.standard_normal((50, 16)).astype(np.float32))
    ix.nearest_rows(t.vectors[:1], t, 5)  # measures the norms once
    rows = rng.standard_normal((7, 16)).astype(np.float32)
    grown = ix.extend_table(t, rows, "t")
    assert np.array_equal(grown._live_sq, np.einsum("ij,ij->i", grown.vectors, grown.vectors))
    q = rows[2] + 1e-3
    assert np.array_equal(ix.nearest_rows(q[None], grown, 9)[1][0], _brute(q, grown.vectors, 9)[1])


def test_bridge_memo_and_live_edger_link_images_as_build_graph_does():
    """One Bridge over many images (its memo shared) gives every image the edges a fresh memo gives, and the
    live edger gives build-graph's (graph.captions.image_keywords: file-name captions and the back-off)."""
    from engine.live.edges import CatalogueEdger
    from graph.bridge import Bridge
    from graph.captions import image_keywords
    from graph.records import Image

    vocab = ["月", "花", "鸟", "树", "船", "山", "水", "灯", "钟", "面", "球", "门", "雨"]
    tags = [("moon over the lake",), ("bird on a branch", "tree"), ("boat", "river"), ("clock face",),
            ("lamp", "light"), ("face", "clock"), ("flowers in the rain",), ("mountain", "tree", "bird"),
            ("basketball",), ("door", "gate"), ("moon", "boat", "water"), ("Palmtree",), ("clock face five oclock",)]
    images = [Image(f"i{k}", f"i{k}.jpg", tg, caption, "en", "en")
              for k, tg in enumerate(tags) for caption in ("", "RedFox_2.png", "a bird near the moon")]
    images.append(Image("zh", "z.jpg", ("月亮", "小船"), "船在水上", "zh", "zh"))
    shared = Bridge({})
    edger = CatalogueEdger(vocab, shared, [], {}, set())
    fresh = Bridge({})
    linked = 0
    for img in images:
        fresh._memo.clear()
        want = image_keywords(img, fresh, frozenset(vocab))[0]
        assert image_keywords(img, shared, frozenset(vocab))[0] == want, img
        assert edger.image(img).keywords == {k: float(v) for k, v in sorted(want.items()) if v > 0}, img
        linked += bool(want)
    assert len(images) == 40 and linked >= 30
