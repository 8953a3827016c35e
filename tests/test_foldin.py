"""Out-of-sample fold-in: lands among the right songs, leaves the trained tables alone, matches a scalar loop."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.line import LINE
from engine.line.foldin import FoldInBase, fold_in, fold_in_many, fold_in_song, fold_in_songs
from graph.common.errors import Img2SongError
from graph.network import Network

GROUPS = [("a", "b"), ("c", "d"), ("e", "f"), ("g", "h")]


def tripartite() -> Network:
    """4 groups; each group's 6 songs and 4 images link to the group's 2 keywords only."""
    kws = [k for g in GROUPS for k in g]
    ids, kinds, edges, w = [f"kw:{k}" for k in kws], [1] * len(kws), [], []
    rng = np.random.default_rng(0)
    for gi, (x, y) in enumerate(GROUPS):
        for kind, prefix, count in ((2, "song", 6), (0, "img", 4)):
            for s in range(count):
                ids.append(f"{prefix}:g{gi}-{s}")
                kinds.append(kind)
                edges += [(len(ids) - 1, kws.index(x)), (len(ids) - 1, kws.index(y))]
                w += [float(rng.integers(1, 4)), float(rng.integers(1, 4))]
    return Network(ids, np.array(kinds, np.int8), ids, np.array(edges), np.array(w, np.float32))


def tiny_line(net: Network, order: int, d: int = 16, samples: int = 40_000, K: int = 5, batch: int = 16,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Minimal batched LINE (edge ∝ w, negatives ∝ deg^0.75, clamped σ, linear lr); np.add.at keeps repeats."""
    rng = np.random.default_rng(seed)
    src, dst, w = net.directed_edges()
    n = net.num_vertices
    V = ((rng.random((n, d)) - 0.5) / d).astype(np.float32)
    C = V if order == 1 else np.zeros((n, d), np.float32)
    e = rng.choice(len(src), size=samples, p=w / w.sum())
    pn = net.degrees() ** 0.75
    neg = rng.choice(n, size=(samples, K), p=pn / pn.sum())
    label = np.zeros(K + 1, np.float32)
    label[0] = 1
    for t in range(0, samples, batch):
        lr = np.float32(0.025 * max(1 - t / samples, 1e-4))
        u, tg = src[e[t:t + batch]], np.concatenate([dst[e[t:t + batch], None], neg[t:t + batch]], 1)
        Vu, Ct = V[u].copy(), C[tg].copy()
        g = (label - 1 / (1 + np.exp(-np.clip(np.einsum("bd,bkd->bk", Vu, Ct), -6, 6)))) * lr
        np.add.at(C, tg.reshape(-1), (g[..., None] * Vu[:, None, :]).reshape(-1, d))
        np.add.at(V, u, np.einsum("bk,bkd->bd", g, Ct))
    return V, C


@pytest.fixture(scope="module")
def trained():
    net = tripartite()
    V2, C2 = tiny_line(net, 2)
    V1, _ = tiny_line(net, 1, seed=1)
    return net, FoldInBase(net.ids, V2, C2, net.degrees()), FoldInBase(net.ids, V1, None, net.degrees())


def cosines(v: np.ndarray, M: np.ndarray) -> np.ndarray:
    return (M @ v) / np.linalg.norm(M, axis=1) / np.linalg.norm(v)


def song_rows(net: Network, group: int | None = None) -> np.ndarray:
    return np.array([i for i, v in enumerate(net.ids) if v.startswith("song:") and
                     (group is None or v.startswith(f"song:g{group}-"))])


@pytest.mark.parametrize("order", [2, 1])
def test_new_song_lands_among_songs_sharing_its_keywords(trained, order):
    net, base2, base1 = trained
    base = base2 if order == 2 else base1
    for gi, (x, y) in enumerate(GROUPS):
        v = fold_in({f"kw:{x}": 2.0, f"kw:{y}": 1.0}, base, order=order, samples=4000, seed=gi)
        same = cosines(v, np.asarray(base.vertex)[song_rows(net, gi)])
        others = cosines(v, np.asarray(base.vertex)[np.setdiff1d(song_rows(net), song_rows(net, gi))])
        assert same.min() > others.max() + 0.05, (gi, same.min(), others.max())


def test_fold_in_song_both_orders_matches_the_concatenated_table(trained):
    net, base2, base1 = trained
    unit = lambda m: m / np.linalg.norm(m, axis=1, keepdims=True)
    table = np.concatenate([unit(np.asarray(base1.vertex)), unit(np.asarray(base2.vertex))], 1)
    v = fold_in_song({1: base1, 2: base2}, {"e": 1.0, "f": 3.0}, samples=4000)  # bare keywords -> kw:e, kw:f
    assert v.shape == (32,) and np.allclose(np.linalg.norm(v[:16]), 1) and np.allclose(np.linalg.norm(v[16:]), 1)
    c = cosines(v, table[song_rows(net)])
    best = [net.ids[i] for i in song_rows(net)[np.argsort(-c)[:6]]]
    assert all(s.startswith("song:g2-") for s in best), best


def test_fold_in_never_changes_the_trained_tables(trained):
    net, base2, _ = trained
    vt, ct = torch.from_numpy(np.asarray(base2.vertex).copy()), torch.from_numpy(np.asarray(base2.context).copy())
    v0, c0 = vt.clone(), ct.clone()
    tbase = FoldInBase(net.ids, vt, ct, net.degrees())
    got = fold_in_many([{"kw:a": 1.0}, [("kw:c", 1.0), ("kw:d", 2.0)]], tbase, samples=2000)
    v1 = fold_in({"kw:a": 1.0}, tbase, order=1, samples=500)
    assert torch.equal(vt, v0) and torch.equal(ct, c0) and np.isfinite(v1).all()
    same = fold_in_many([{"kw:a": 1.0}, [("kw:c", 1.0), ("kw:d", 2.0)]], base2, samples=2000)  # numpy tables
    assert np.array_equal(got, same)


def test_deterministic_with_seed_and_batch_equals_single(trained):
    _, base2, _ = trained
    edges = {"kw:g": 1.0, "kw:h": 1.0}
    a, b = fold_in(edges, base2, samples=1500, seed=7), fold_in(edges, base2, samples=1500, seed=7)
    assert np.array_equal(a, b) and not np.array_equal(a, fold_in(edges, base2, samples=1500, seed=8))
    batch = fold_in_many([{"kw:a": 1.0}, edges], base2, samples=1500, seed=6)  # vertex b uses seed + b
    assert np.allclose(batch[1], a, atol=1e-6)


def scalar_fold_in(edges, base, order, K, T, lr0, seed):
    """The C++ inner loop written out for one vertex with frozen targets, drawing as fold_in documents."""
    vids, w = zip(*edges.items())
    pos = np.array([base.ids.index(v) for v in vids])
    tbl = np.asarray(base.context if order == 2 else base.vertex, np.float64)
    pcdf = np.cumsum(w) / np.sum(w)
    pn = base.degrees ** 0.75
    ncdf = np.cumsum(pn / pn.sum())
    rng = np.random.default_rng(seed)
    u = (rng.random(tbl.shape[1]) - 0.5) / tbl.shape[1]
    draws_p, draws_n = rng.random(T), rng.random((T, K))  # T <= one chunk
    for t in range(T):
        lr = lr0 * max(1 - t / T, 1e-4)
        err = np.zeros_like(u)
        targets = [pos[np.searchsorted(pcdf, draws_p[t], side="right")]]
        targets += [int(np.searchsorted(ncdf, r, side="right")) for r in draws_n[t]]
        for j, tg in enumerate(targets):
            f = min(max(float(u @ tbl[tg]), -6.0), 6.0)
            err += ((1.0 if j == 0 else 0.0) - 1 / (1 + np.exp(-f))) * lr * tbl[tg]
        u = u + err
    return u


@pytest.mark.parametrize("order", [1, 2])
def test_parity_with_a_scalar_loop(trained, order):
    _, base2, base1 = trained
    base = base2 if order == 2 else base1
    edges = {"kw:a": 1.0, "kw:c": 2.5, "song:g1-0": 0.5}
    got = fold_in(edges, base, order=order, negative=3, samples=300, lr=0.5, seed=3)
    ref = scalar_fold_in(edges, base, order, 3, 300, 0.5, 3)
    assert np.allclose(got, ref, rtol=1e-4, atol=1e-5), np.abs(got - ref).max()


def test_bad_input_is_named(trained):
    net, base2, base1 = trained
    with pytest.raises(Img2SongError, match=r"2 neighbour id\(s\) not in the trained network: 'kw:zz', 'song:x'"):
        fold_in({"kw:a": 1.0, "kw:zz": 1.0, "song:x": 2.0}, base2)
    with pytest.raises(Img2SongError, match=r"2 keyword\(s\) not in the trained network .*: 'nope', 'zz'"):
        fold_in_song(base2, {"nope": 1.0, "a": 1.0, "zz": 2.0})
    with pytest.raises(Img2SongError, match="must be finite and positive"):
        fold_in({"kw:a": -1.0}, base2)
    with pytest.raises(Img2SongError, match="has no edges"):
        fold_in({}, base2)
    with pytest.raises(Img2SongError, match="second order needs the trained context table"):
        fold_in({"kw:a": 1.0}, base1, order=2)
    with pytest.raises(Img2SongError, match="degrees"):
        FoldInBase(net.ids, base2.vertex, base2.context, np.ones(3))
    assert fold_in_songs([{"a": 1.0}, {"b": 1.0}], base1, samples=10).shape == (2, 16)


@pytest.mark.parametrize("order", [2, "both"])
def test_fold_in_song_with_the_project_line_estimator(order):
    net = tripartite()
    dim = 16 if order == "both" else 8  # 8 per order (torch's CPU index_add_ is pathologically slow at d=16 here)
    model = LINE(dim=dim, order=order, negative=5, samples=40_000, lr=0.025, threads=1, device="cpu", impl="reference",
                 batch_size=16, seed=0, progress=False).fit(net)
    before = {o: t.clone() for o, t in model.vertex_.items()}
    table = model.embeddings_
    v = fold_in_song(model, {"c": 2.0, "d": 1.0}, network=net, samples=4000)
    assert v.shape == (table.dim,)
    songs = table.select("song")
    c = cosines(v, songs.vectors)
    best = [songs.ids[i] for i in np.argsort(-c)[:6]]
    assert all(s.startswith("song:g1-") for s in best), best
    assert all(torch.equal(before[o], model.vertex_[o]) for o in before)
