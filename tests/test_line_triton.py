"""The Triton LINE kernel: parity with reference_step, device sampling, a small fit; run in Triton's interpreter.

TRITON_INTERPRET must be set before triton is first imported and must not leak into other tests, so the cases
(tests/line_triton_cases.py) run in a child pytest process with that variable set.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CASES = Path(__file__).with_name("line_triton_cases.py")


def test_triton_kernel_cases_in_interpreter():
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-o", "addopts=", "-p", "no:cacheprovider",
                        str(CASES)], check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    tail = (r.stdout + r.stderr)[-6000:]
    assert r.returncode == 0, tail
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|skipped|failed|error)", r.stdout)}
    # the cases really ran on CPU; the only skips allowed are the contract's 4 multi-seed quality fits
    assert counts.get("passed", 0) >= 13 and counts.get("skipped", 0) <= 4, tail


def test_cpu_without_interpreter_is_a_clear_error():
    from engine.line import triton_kernel as tk
    from graph.common.errors import Img2SongError

    if tk.interpreter_active():
        pytest.skip("this process already runs triton interpreted")
    with pytest.raises(Img2SongError, match="TRITON_INTERPRET=1"):
        tk.check_device("cpu")
    assert "cpu" not in tk.TritonImpl.devices


@pytest.mark.parametrize("exact", [True, False])
def test_kernels_compile_for_h100_with_vector_rows(exact):
    """AOT-compile for sm_90 (no GPU needed): catches compile-only errors; rows must use 16-byte loads/atomics."""
    from engine.line import triton_kernel as tk

    if tk.interpreter_active():
        pytest.skip("this process runs triton interpreted")
    try:
        ptx = tk.compile_ptx(128, 5, exact=exact)
    except ImportError as e:  # a triton build without its CUDA backend
        pytest.skip(f"no CUDA backend in this triton: {e}")
    tile = ptx["tile"]
    be, bd, nw = tk.launch_config(128, True)
    per_thread = be * bd // (nw * 32 * 4)  # 16-byte vectors of one row tile per thread
    assert per_thread >= 1
    assert ".target sm_90" in tile and tile.count("ld.global.v4") >= 7 * per_thread  # u + 6 context rows
    atomics = tile if not exact else ptx["scatter"]
    assert atomics.count("atom.global.gpu.relaxed.add.v4.f32") == 7 * per_thread  # 6 context rows + the source row
    odd = tk.compile_ptx(100, 3, exact=exact)["tile"]  # d not a power of two: masked tiles still build
    assert ".target sm_90" in odd


def test_deterministic_phase2_equals_index_add_and_repeats():
    """The GPU's fixed-order phase 2 (run here on CPU tensors): same sums as index_add_, repeated indices included."""
    from engine.line import triton_kernel as tk

    g = torch.Generator().manual_seed(0)
    n_rows, b, k, d, bd = 9, 64, 5, 12, 16  # d < BLOCK_D: the padded columns must not leak into the tables
    s = tk._Scratch(torch.randint(0, n_rows, (b,), generator=g), torch.randint(0, n_rows, (b, k + 1), generator=g),
                    torch.randn(b, k + 1, generator=g), torch.randn(b, bd, generator=g),
                    torch.randn(b, bd, generator=g))
    v0, c0 = torch.randn(n_rows, d, generator=g), torch.randn(n_rows, d, generator=g)
    for order in (1, 2):
        v, c = v0.clone(), c0.clone()
        ctx = v if order == 1 else c
        tk._scatter_deterministic(v, ctx, s, b)
        ev, ec = v0.clone().double(), c0.clone().double()
        ectx = ev if order == 1 else ec
        ectx.index_add_(0, s.tgt.reshape(-1), (s.g[:, :, None] * s.u[:, None, :d]).reshape(-1, d).double())
        ev.index_add_(0, s.src, s.gu[:, :d].double())
        assert torch.allclose(v.double(), ev, atol=1e-5) and torch.allclose(c.double(), ec, atol=1e-5)
        v2, c2 = v0.clone(), c0.clone()
        tk._scatter_deterministic(v2, v2 if order == 1 else c2, s, b)
        assert torch.equal(v, v2) and torch.equal(c, c2)
    assert not torch.are_deterministic_algorithms_enabled()  # the global flag is restored
