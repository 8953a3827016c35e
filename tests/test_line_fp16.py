"""16-bit LINE tables (impl 'cpu-fp16'): same link-prediction quality as float32, tables kept in sync."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.line import get_impl
from engine.line.cpu import load_kernel
from engine.line.model import init_tables
from engine.line.sampling import LineSamplers
from tests.line_contract import quality, sbm


@pytest.fixture(scope="module", autouse=True)
def kernel():
    return load_kernel()


@pytest.mark.parametrize("order", [1, 2])
def test_fp16_tables_match_fp32_link_prediction(order):
    """The issue's protocol (tests/line_contract.py): mean AUC over 3 seeds within 0.01 of the float32 kernel."""
    fp32 = quality("cpu", "cpu", "sbm", order, 60_000)
    fp16 = quality("cpu-fp16", "cpu", "sbm", order, 60_000)
    assert fp32 > 0.65 and abs(fp16 - fp32) <= 0.01, (fp16, fp32)


def test_fp16_copies_follow_the_float32_tables():
    net = sbm()
    samplers = LineSamplers.from_network(net)
    impl = get_impl("cpu-fp16")(samplers, negative=5, lr=0.025, threads=1, batch_size=1, device="cpu")
    vertex, context = init_tables(net.num_vertices, 16, 2, 0, "cpu")
    before = vertex.clone()
    impl.train(vertex, context, 2, 0, 5000, 10_000, 1)
    v16 = impl._copies[(id(vertex), id(context))][0]
    assert torch.equal(vertex, before) and context.abs().sum() == 0  # trained on the copies: no copy-back per call
    impl.sync(vertex, context, 2)
    assert vertex.dtype == torch.float32 and torch.equal(vertex, v16.float()) and context.abs().sum() > 0
    impl.train(vertex, context, 2, 5000, 5000, 10_000, 2)
    assert impl._copies[(id(vertex), id(context))][0] is v16  # reused after sync, not converted again
    impl.sync(vertex, context, 2)
    assert torch.equal(vertex, v16.float())
    with torch.no_grad():
        vertex.mul_(0.5)  # a change made outside the impl (e.g. a resumed checkpoint)
    impl.sync(vertex, context, 2)  # stale copies are never written over it
    assert torch.equal(vertex, v16.float() * 0.5)
    impl.train(vertex, context, 2, 0, 1, 10_000, 3)
    assert impl._copies[(id(vertex), id(context))][0] is not v16
    assert np.isfinite(vertex.numpy()).all() and np.isfinite(context.numpy()).all()


def test_fit_with_fp16_tables_returns_the_trained_values():
    """LINE.fit syncs once per order: its tables equal the impl's float16 copies and differ from the start."""
    from engine.line import LINE

    net = sbm()
    model = LINE(dim=16, order=2, samples=20_000, impl="cpu-fp16", threads=1, progress=False).fit(net)
    start, _ = init_tables(net.num_vertices, 16, 2, 0, "cpu")
    v = model.vertex_[2]
    assert not torch.equal(v, start) and torch.equal(v, v.half().float()) and model.context_[2].abs().sum() > 0


@pytest.mark.parametrize("vertices", [6, 400])
def test_fused_fp16_edge_equals_float32_rounded_once(vertices):
    """One edge on float16 tables = the float32 kernel's edge on the same values, each result rounded to nearest
    once. 6 vertices: repeated rows (the scratch path) are common; 400: all rows distinct (the fused F16C path)."""
    rng = np.random.default_rng(vertices)
    src = rng.integers(vertices, size=8 * vertices)
    dst = (src + 1 + rng.integers(vertices - 1, size=len(src))) % vertices
    samplers = LineSamplers.from_arrays(vertices, src, dst, rng.random(len(src)) + 0.5)
    from engine.line.packing import pack_edge_table, pack_neg_table

    et, ng = torch.from_numpy(pack_edge_table(samplers)), torch.from_numpy(pack_neg_table(samplers.negatives))
    checked = 0
    for seed in range(150):
        v16 = torch.from_numpy((rng.random((vertices, 128), np.float32) - 0.5).astype(np.float16))
        c16 = torch.from_numpy((rng.random((vertices, 128), np.float32) - 0.5).astype(np.float16))
        v32, c32 = torch.from_numpy(v16.numpy().astype(np.float32)), torch.from_numpy(c16.numpy().astype(np.float32))
        for v, c in ((v16, c16), (v32, c32)):
            torch.ops.img2song.line_train(v, c, et, ng, 2, 5, 0.5, 0, 1, 10, seed, 1)
        assert np.array_equal(v16.numpy(), v32.numpy().astype(np.float16)), seed
        assert np.array_equal(c16.numpy(), c32.numpy().astype(np.float16)), seed
        checked += int(not np.array_equal(v16.numpy().astype(np.float32), v32.numpy()))  # moved off the fp16 grid
    assert checked >= 140
