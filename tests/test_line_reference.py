"""The PyTorch reference: the batched formula by hand, repeated rows accumulate, B=1 == the C++ loop."""
from __future__ import annotations

import numpy as np
import torch

from engine.line.reference import line_sigmoid, reference_step, sequential_step
from tests.line_contract import LINEContract


def _tables(n=6, d=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, d, generator=g) - 0.5).double(), (torch.rand(n, d, generator=g) - 0.5).double()


def _by_hand(V, C, src, dst, neg, lr, order):
    """The batched formula written out with loops over a numpy copy (every term from the pre-batch state)."""
    V0, C0 = V.numpy().copy(), (V if order == 1 else C).numpy().copy()
    dV, dC = np.zeros_like(V0), np.zeros_like(C0)
    for i in range(len(src)):
        u = V0[src[i]]
        for j, t in enumerate([dst[i]] + list(neg[i])):
            f = np.clip(u @ C0[t], -6, 6)
            g = ((1.0 if j == 0 else 0.0) - 1 / (1 + np.exp(-f))) * lr[i]
            dV[src[i]] += g * C0[t]
            dC[t] += g * u
    if order == 1:
        return V0 + dV + dC, None
    return V0 + dV, C0 + dC


def test_batched_step_equals_formula_by_hand_with_repeats():
    for order in (1, 2):
        V, C = _tables(seed=order)
        src, dst = [0, 0, 1, 2], [1, 1, 0, 0]  # repeated edge and repeated source
        neg = [[2, 2], [3, 0], [0, 4], [1, 1]]  # repeated negatives, a negative equal to the source
        lr = [0.5, 0.4, 0.3, 0.2]
        wantV, wantC = _by_hand(V, C, src, dst, neg, lr, order)
        reference_step(V, C, torch.tensor(src), torch.tensor(dst), torch.tensor(neg), torch.tensor(lr, dtype=torch.float64), order)
        np.testing.assert_allclose(V.numpy(), wantV, rtol=1e-12, atol=1e-12)
        if order == 2:
            np.testing.assert_allclose(C.numpy(), wantC, rtol=1e-12, atol=1e-12)


def test_repeated_indices_accumulate():
    """Two identical edges in one batch move the rows twice as far as one (x[idx] += g would move them once)."""
    V, C = _tables(seed=3)
    one_V, one_C = V.clone(), C.clone()
    src, dst, neg = torch.tensor([0]), torch.tensor([1]), torch.tensor([[2]])
    reference_step(one_V, one_C, src, dst, neg, 0.1, 2)
    reference_step(V, C, src.repeat(2), dst.repeat(2), neg.repeat(2, 1), 0.1, 2)
    V0, C0 = _tables(seed=3)
    np.testing.assert_allclose((V - V0).numpy(), 2 * (one_V - V0).numpy(), rtol=1e-12)
    np.testing.assert_allclose((C - C0).numpy(), 2 * (one_C - C0).numpy(), rtol=1e-12)


def test_one_edge_batches_equal_the_sequential_loop():
    V, C = _tables(n=20, d=8, seed=5)
    V2, C2 = V.clone(), C.clone()
    g = torch.Generator().manual_seed(1)
    src, dst = torch.randint(20, (30,), generator=g), torch.randint(20, (30,), generator=g)
    neg = torch.stack([torch.randperm(20, generator=g)[:4] for _ in range(30)])
    keep = ~((neg == dst[:, None]).any(1) | (neg == src[:, None]).any(1) | (src == dst))  # distinct rows per edge
    src, dst, neg = src[keep], dst[keep], neg[keep]
    for i in range(len(src)):
        reference_step(V, C, src[i:i + 1], dst[i:i + 1], neg[i:i + 1], 0.2, 2)
    sequential_step(V2, C2, src, dst, neg, 0.2, 2)
    np.testing.assert_allclose(V.numpy(), V2.numpy(), atol=1e-12)
    np.testing.assert_allclose(C.numpy(), C2.numpy(), atol=1e-12)


def test_sigmoid_argument_is_clamped():
    f = torch.tensor([-1e30, -7.0, 0.0, 7.0, 1e30, float("inf")])
    s = line_sigmoid(f)
    assert torch.isfinite(s).all()
    assert s[0] == s[1] == torch.sigmoid(torch.tensor(-6.0)) and s[3] == s[5] == torch.sigmoid(torch.tensor(6.0))


class TestReferenceContract(LINEContract):
    impl = "reference"
