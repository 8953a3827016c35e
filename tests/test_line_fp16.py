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
    impl.train(vertex, context, 2, 0, 5000, 10_000, 1)
    v16 = impl._copies[(id(vertex), id(context))][0]
    assert vertex.dtype == torch.float32 and torch.equal(vertex, v16.float()) and context.abs().sum() > 0
    impl.train(vertex, context, 2, 5000, 5000, 10_000, 2)
    assert impl._copies[(id(vertex), id(context))][0] is v16  # reused, not converted again
    with torch.no_grad():
        vertex.mul_(0.5)  # a change made outside the impl (e.g. a resumed checkpoint)
    impl.train(vertex, context, 2, 0, 1, 10_000, 3)
    assert impl._copies[(id(vertex), id(context))][0] is not v16
    assert np.isfinite(vertex.numpy()).all() and np.isfinite(context.numpy()).all()
