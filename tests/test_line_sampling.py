"""Alias tables and negative sampling: exact encoded distributions and chi-square tests of seeded draws."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from engine.line.sampling import AliasTable, LineSamplers, TorchSamplers, negative_weights
from engine.line.synthetic import make_tripartite_powerlaw
from graph.common.errors import Img2SongError


def pooled_chisquare(counts: np.ndarray, expected: np.ndarray) -> float:
    """Chi-square p-value with the cells expecting < 5 pooled into one (when there are any)."""
    big = expected >= 5
    obs, exp = counts[big], expected[big]
    if (~big).any():
        obs, exp = np.append(obs, counts[~big].sum()), np.append(exp, expected[~big].sum())
    return float(stats.chisquare(obs, exp * obs.sum() / exp.sum())[1])


@pytest.mark.parametrize("weights", [
    [1.0, 2.0, 3.0, 4.0],
    [0.0, 1.0, 0.0, 3.0],  # zero weights: never drawn
    [1e6] + [1.0] * 999,  # one huge column feeds every small one
    list(np.random.default_rng(0).pareto(1.0, 5000) + 1e-3),
    list(np.random.default_rng(1).integers(0, 4, 3000).astype(float)),
])
def test_table_encodes_exactly_the_normalised_weights(weights):
    w = np.asarray(weights, float)
    t = AliasTable.build(w)
    assert ((t.prob >= 0) & (t.prob <= 1)).all() and ((t.alias >= 0) & (t.alias < len(w))).all()
    np.testing.assert_allclose(t.implied(), w / w.sum(), atol=1e-12)


def test_many_small_random_tables():
    rng = np.random.default_rng(2)
    for _ in range(300):
        w = rng.integers(0, 3, rng.integers(1, 40)).astype(float)
        if w.sum() == 0:
            continue
        np.testing.assert_allclose(AliasTable.build(w).implied(), w / w.sum(), atol=1e-12)


def test_bad_weights_are_rejected():
    for w in ([], [0.0, 0.0], [1.0, -1.0], [1.0, float("nan")]):
        with pytest.raises(Img2SongError):
            AliasTable.build(np.asarray(w, float))


def test_torch_draws_pass_chi_square():
    w = np.array([5.0, 1.0, 0.5, 3.0, 0.0, 10.0, 2.5])
    t = AliasTable.build(w).to_torch()
    draws = t.draw(200_000, torch.Generator().manual_seed(0)).numpy()
    counts = np.bincount(draws, minlength=len(w))
    assert counts[4] == 0
    keep = w > 0
    chi2, p = stats.chisquare(counts[keep], w[keep] / w.sum() * counts.sum())
    assert p > 1e-3, (chi2, p)
    # seeded: the same generator seed gives the same draws
    again = t.draw(200_000, torch.Generator().manual_seed(0)).numpy()
    np.testing.assert_array_equal(draws, again)


def test_negatives_follow_degree_to_the_three_quarters():
    net = make_tripartite_powerlaw(300, 200, 30, 5, 3, seed=4)
    s = LineSamplers.from_network(net)
    deg = net.degrees()  # weighted out-degree over both directions (undirected network)
    np.testing.assert_allclose(s.negatives.implied(), deg**0.75 / (deg**0.75).sum(), rtol=1e-9)
    draws = TorchSamplers(s).draw(50_000, 5, torch.Generator().manual_seed(1))[2].numpy().ravel()
    counts = np.bincount(draws, minlength=net.num_vertices)
    expected = s.negatives.implied() * len(draws)
    assert pooled_chisquare(counts, expected) > 1e-3


def test_negative_degree_counts_both_endpoints_like_the_cpp():
    # directed a->b (w 2), b->c (w 1): C++ degree a=2, b=3, c=1
    w = negative_weights(3, np.array([0, 1]), np.array([1, 2]), np.array([2.0, 1.0]))
    np.testing.assert_allclose(w, np.array([2.0, 3.0, 1.0]) ** 0.75)


def test_edge_draws_follow_weights_and_pair_endpoints():
    net = make_tripartite_powerlaw(100, 50, 10, 3, 2, seed=5)
    s = LineSamplers.from_network(net)
    src, dst, neg = TorchSamplers(s).draw(100_000, 2, torch.Generator().manual_seed(2))
    assert neg.shape == (100_000, 2)
    pairs = set(zip(s.src.tolist(), s.dst.tolist()))
    assert all(p in pairs for p in zip(src[:2000].tolist(), dst[:2000].tolist()))
    by_src = np.bincount(src.numpy(), minlength=net.num_vertices)
    want = np.bincount(s.src, weights=s.weight, minlength=net.num_vertices)
    want = want / want.sum() * len(src)
    assert pooled_chisquare(by_src, want) > 1e-3


def test_synthetic_graph_shape():
    net = make_tripartite_powerlaw(1000, 500, 100, 10, 5, seed=0)
    assert net.num_edges == 1000 * 10 + 500 * 5 and net.num_vertices == 1600
    kw_deg = np.bincount(net.edges[:, 1], minlength=100)[:100]
    assert kw_deg[0] > 5 * np.median(kw_deg)  # Zipf: the top keyword is a hub
    assert len({tuple(e) for e in net.edges.tolist()}) == net.num_edges  # distinct keywords per item
