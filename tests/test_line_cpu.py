"""The fused C++ kernel: deterministic mode == the sequential C++ loop; Hogwild threads; the LINE contract."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from engine.line.cpu import CpuImpl, apply_edges, load_kernel
from engine.line.packing import pack_edge_table, pack_neg_table
from engine.line.reference import sequential_step
from engine.line.sampling import AliasTable, LineSamplers
from engine.line.synthetic import make_tripartite_powerlaw
from graph.common.errors import Img2SongError
from tests.line_contract import LINEContract


@pytest.fixture(scope="module", autouse=True)
def kernel():
    return load_kernel()


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("d", [128, 13, 64])
def test_given_edges_match_the_sequential_reference(order, d):
    """Covers the fast path (distinct rows), and the general path: repeated targets and, for order 1, a negative
    equal to the source (the C++ then updates u itself mid-edge)."""
    g = torch.Generator().manual_seed(d + order)
    n, b, k = 40, 300, 5
    V = (torch.rand(n, d, generator=g) - 0.5) / d * 20
    C = (torch.rand(n, d, generator=g) - 0.5) / d * 20
    src, dst = torch.randint(n, (b,), generator=g), torch.randint(n, (b,), generator=g)
    neg = torch.randint(n, (b, k), generator=g)
    neg[:20, 0] = src[:20]
    neg[20:40, 1] = neg[20:40, 2]
    lr = torch.linspace(0.1, 0.01, b)
    V1, C1, V2, C2 = V.clone(), C.clone(), V.clone(), C.clone()
    sequential_step(V1, C1, src, dst, neg, lr, order)
    apply_edges(V2, C2, src, dst, neg, lr, order)
    np.testing.assert_allclose(V2.numpy(), V1.numpy(), atol=5e-6, rtol=1e-4)
    np.testing.assert_allclose(C2.numpy(), C1.numpy(), atol=5e-6, rtol=1e-4)
    assert (V1 - V).abs().max() > 1e-2


def test_packed_edge_table_encodes_both_endpoints():
    s = LineSamplers.from_network(make_tripartite_powerlaw(200, 100, 20, 4, 3, seed=1))
    t = pack_edge_table(s)
    np.testing.assert_array_equal(t[:, 1], s.src)
    np.testing.assert_array_equal(t[:, 4], s.dst[s.edges.alias])
    np.testing.assert_allclose(t[:, 0].view(np.float32), s.edges.prob, rtol=1e-6)


def test_packed_negative_table_and_mismatched_alias_tables():
    s = LineSamplers.from_network(make_tripartite_powerlaw(50, 30, 10, 3, 2, seed=2))
    t = pack_neg_table(s.negatives)
    np.testing.assert_array_equal(t[:, 1], s.negatives.alias)
    np.testing.assert_array_equal(t[:, 0].view(np.float32), s.negatives.prob.astype(np.float32))
    other = dataclasses.replace(s, negatives=AliasTable.build(np.ones(s.num_vertices + 1)))
    with pytest.raises(Img2SongError, match=r"alias tables \(\d+ edges, \d+ vertices\) do not match"):
        pack_edge_table(other)


def test_in_kernel_sampling_follows_edge_weights():
    """On a star with edge weights 1:2:3:4 (order 2, no negatives, tiny lr so σ stays ~1/2), the context row of
    leaf j moves by ~lr/2 per draw of edge (hub, j): its total movement is proportional to the draw count."""
    from graph.network import Network

    n = 5
    edges = np.array([(0, j) for j in range(1, n)])
    w = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    net = Network([f"v{i}" for i in range(n)], np.full(n, 3, np.int8), [str(i) for i in range(n)], edges, w,
                  directed=True)
    impl = CpuImpl(LineSamplers.from_network(net), negative=0, lr=1e-6, threads=1, batch_size=1, device="cpu")
    V = torch.zeros(n, 4)
    V[0, 0] = 1.0  # u = the hub row; with context ~0 each draw adds ~lr·(1 − σ(0))·u to leaf j's context
    C = torch.zeros(n, 4)
    draws = 200_000
    impl.train(V, C, 2, 0, draws, 10**12, 11)  # total huge: lr stays ~constant
    moved = C[1:, 0].numpy()
    share = moved / moved.sum()
    np.testing.assert_allclose(share, w / w.sum(), atol=0.01)


def test_two_threads_run_hogwild_and_stay_finite():
    net = make_tripartite_powerlaw(2000, 1000, 50, 5, 3, seed=2)
    impl = CpuImpl(LineSamplers.from_network(net), negative=5, lr=0.025, threads=2, batch_size=1, device="cpu")
    V = (torch.rand(net.num_vertices, 32) - 0.5) / 32
    C = torch.zeros_like(V)
    impl.train(V, C, 2, 0, 200_000, 200_000, 5)
    assert torch.isfinite(V).all() and torch.isfinite(C).all()
    assert (C != 0).any(dim=1).float().mean() > 0.9  # nearly every vertex served as a context


class TestCpuContract(LINEContract):
    impl = "cpu"


def test_a_built_kernel_reloads_from_its_stamp_without_the_compiler_probe():
    """A fresh process loads the stamped library directly: no compiler probe, no cpp_extension build check."""
    import subprocess
    import sys

    code = ("import engine.line.cpu as c; c._native_ok = None; "
            "name = c.load_kernel(); import torch; print(name, c.BUILD_INFO['compiled'], "
            "torch.ops.img2song.line_train is not None)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0].startswith("img2song_line_cpu_") and out[1:] == ["False", "True"]
