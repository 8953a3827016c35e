"""LINEContract: the tests every LINE implementation passes (inherit it, set `impl`, like implicit's test mixin).

Class attributes a concrete test class may set: impl (registry name), device, samples (per fit; keep small for
slow back-ends such as the Triton interpreter), quality_samples (link-prediction runs), auc_tol.
"""
from __future__ import annotations

import functools

import networkx as nx
import numpy as np
import pytest
import torch

from engine.line import LINE, get_impl
from engine.line.reference import reference_step, sequential_step
from engine.line.sampling import LineSamplers
from graph.common.errors import Img2SongError
from graph.network import Kind, Network


def les_miserables() -> Network:
    return Network.from_networkx(nx.les_miserables_graph())


def sbm(seed: int = 0) -> Network:
    g = nx.stochastic_block_model([40, 40, 40, 40], [[0.25 if i == j else 0.01 for j in range(4)] for i in range(4)],
                                  seed=seed)
    g = nx.relabel_nodes(g, {v: f"n{v}" for v in g.nodes})
    for n in g.nodes:
        g.nodes[n].pop("block", None)
    return Network.from_networkx(g)


GRAPHS = {"les_miserables": les_miserables, "sbm": sbm}


def link_split(net: Network, frac: float = 0.15, seed: int = 0):
    """Hold out `frac` of the edges whose removal keeps both endpoints in the graph; pair each with non-edges."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(net.num_edges)
    deg = np.bincount(net.edges.reshape(-1), minlength=net.num_vertices)
    held = []
    for e in order:
        a, b = net.edges[e]
        if len(held) < frac * net.num_edges and deg[a] > 1 and deg[b] > 1:
            held.append(e)
            deg[a] -= 1
            deg[b] -= 1
    keep = np.setdiff1d(np.arange(net.num_edges), held)
    train = Network(net.ids, net.kinds, net.labels, net.edges[keep], net.weights[keep], directed=net.directed)
    existing = {tuple(sorted(e)) for e in net.edges.tolist()}
    neg = []
    while len(neg) < 5 * len(held):
        a, b = rng.integers(net.num_vertices, size=2)
        if a != b and (min(a, b), max(a, b)) not in existing:
            neg.append((a, b))
    return train, net.edges[held], np.array(neg)


def link_auc(vectors: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC AUC of cosine similarity: held-out edges vs non-edges (ties count one half)."""
    x = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sp = (x[pos[:, 0]] * x[pos[:, 1]]).sum(1)
    sn = (x[neg[:, 0]] * x[neg[:, 1]]).sum(1)
    return float((sp[:, None] > sn[None, :]).mean() + 0.5 * (sp[:, None] == sn[None, :]).mean())


@functools.cache
def quality(impl: str, device: str, graph: str, order: int, samples: int, seeds: tuple[int, ...] = (0, 1, 2)) -> float:
    """Mean held-out link-prediction AUC over `seeds` (one seed's AUC varies by ~0.01: too noisy for 0.01 parity)."""
    train, pos, neg = link_split(GRAPHS[graph]())
    aucs = []
    for seed in seeds:
        model = LINE(dim=16, order=order, samples=samples, impl=impl, device=device, threads=1, seed=seed,
                     batch_size=16, progress=False).fit(train)
        aucs.append(link_auc(model.vertex_[order].detach().cpu().numpy(), pos, neg))
    return float(np.mean(aucs))


class LINEContract:
    impl: str = ""
    device: str = "cpu"
    samples: int = 40_000
    quality_samples: int = 60_000
    quality_seeds: tuple[int, ...] = (0, 1, 2)
    auc_tol: float = 0.01

    def model(self, **kw) -> LINE:
        args = dict(dim=16, order=2, samples=self.samples, impl=self.impl, device=self.device, threads=1, seed=0,
                    progress=False)
        args.update(kw)
        return LINE(**args)

    def test_fit_returns_self_with_learned_state(self):
        net = les_miserables()
        m = self.model()
        assert m.fit(net) is m
        assert m.impl_ == self.impl and m.samples_ == self.samples
        assert m.embeddings_.ids == net.ids and list(m.embeddings_.kinds) == list(net.kinds)
        assert m.history_[-1]["samples_done"] == self.samples and m.stats_["2"]["edges_per_s"] > 0

    @pytest.mark.parametrize("order", [1, 2, "both"])
    def test_shapes(self, order):
        net = les_miserables()
        m = self.model(order=order, dim=12).fit(net)
        n = net.num_vertices
        assert m.embeddings_.vectors.shape == (n, 12)
        orders = [1, 2] if order == "both" else [order]
        assert sorted(m.vertex_) == orders and sorted(m.context_) == [o for o in orders if o == 2]
        for o in orders:
            assert tuple(m.vertex_[o].shape) == (n, 6 if order == "both" else 12)
        if 2 in orders:
            assert m.context_[2].data_ptr() != m.vertex_[2].data_ptr()  # separate context table
            assert m.context_[2].abs().sum() > 0  # the context table was trained

    def test_deterministic_with_one_thread(self):
        net = sbm()
        a = self.model(seed=3).fit(net).embeddings_.vectors
        b = self.model(seed=3).fit(net).embeddings_.vectors
        c = self.model(seed=4).fit(net).embeddings_.vectors
        np.testing.assert_array_equal(a, b)
        assert np.abs(a - c).max() > 1e-3

    def test_both_is_concat_of_normalised_orders(self):
        m = self.model(order="both", dim=16).fit(les_miserables())
        v = m.embeddings_.vectors
        for half, o in ((v[:, :8], 1), (v[:, 8:], 2)):
            raw = m.vertex_[o].detach().cpu().numpy()
            np.testing.assert_allclose(half, raw / np.linalg.norm(raw, axis=1, keepdims=True), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), np.sqrt(2), rtol=1e-5)

    @pytest.mark.parametrize("order", [1, 2])
    def test_given_batch_parity_with_reference(self, order):
        """One batch of given edges/negatives (with repeated rows) == the reference formula of the impl's semantics."""
        impl = get_impl(self.impl)(LineSamplers.from_network(les_miserables()), negative=3, lr=0.025, threads=1,
                                   batch_size=64, device=self.device)
        if not hasattr(impl, "apply"):
            pytest.skip(f"impl {self.impl!r} has no given-batch mode")
        g = torch.Generator().manual_seed(order)
        v0, c0 = (torch.rand(12, 16, generator=g) - 0.5), (torch.rand(12, 16, generator=g) - 0.5)
        src, dst = torch.randint(12, (50,), generator=g), torch.randint(12, (50,), generator=g)
        neg, lr = torch.randint(12, (50, 3), generator=g), torch.linspace(0.3, 0.1, 50)
        v, c = v0.clone().to(self.device), c0.clone().to(self.device)
        impl.apply(v, c if order == 2 else v, src.to(self.device), dst.to(self.device), neg.to(self.device),
                   lr.to(self.device), order)
        v1, c1 = v0.clone(), c0.clone()
        (sequential_step if impl.semantics == "sequential" else reference_step)(v1, c1, src, dst, neg, lr, order)
        np.testing.assert_allclose(v.cpu().numpy(), v1.numpy(), atol=2e-5)
        if order == 2:
            np.testing.assert_allclose(c.cpu().numpy(), c1.numpy(), atol=2e-5)
        assert (v1 - v0).abs().max() > 1e-2

    @pytest.mark.parametrize("order", [1, 2])
    @pytest.mark.parametrize("graph", ["les_miserables", "sbm"])
    def test_link_prediction_matches_reference(self, graph, order):
        ref = quality("reference", self.device, graph, order, self.quality_samples, self.quality_seeds)
        got = quality(self.impl, self.device, graph, order, self.quality_samples, self.quality_seeds)
        assert got > 0.6 and ref > 0.6, (got, ref)
        assert abs(got - ref) <= self.auc_tol, (got, ref)

    def test_saturated_step_stays_finite(self):
        """|u·c| far beyond ±6 (and lr 10): σ's argument is clamped, so every update is finite and |g| <= lr."""
        net = les_miserables()
        impl = get_impl(self.impl)(LineSamplers.from_network(net), negative=5, lr=10.0, threads=1, batch_size=32,
                                   device=self.device)
        g = torch.Generator().manual_seed(0)
        v = ((torch.rand(net.num_vertices, 16, generator=g) - 0.5) * 1e3).to(self.device)
        c = ((torch.rand(net.num_vertices, 16, generator=g) - 0.5) * 1e3).to(self.device)
        impl.train(v, c, 2, 0, 64, 64, 7)
        assert torch.isfinite(v).all() and torch.isfinite(c).all()

    def test_divergent_run_fails_loudly(self):
        """lr 10 on a hub of huge degree diverges for any faithful LINE: fit must raise, never return inf/NaN."""
        n = 300
        edges = np.array([(0, i) for i in range(1, n)] + [(i, i % (n - 1) + 1) for i in range(1, n)])
        w = np.array([1e6] * (n - 1) + [1.0] * (n - 1), np.float32)
        net = Network([f"v{i}" for i in range(n)], np.full(n, int(Kind.OTHER), np.int8), [str(i) for i in range(n)],
                      edges, w)
        m = self.model(lr=10.0, samples=self.samples)
        try:
            m.fit(net)
        except Img2SongError as e:
            assert "non-finite" in str(e)
        else:
            assert np.isfinite(m.embeddings_.vectors).all()
