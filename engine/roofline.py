"""The memory roofline of LINE: bytes moved per edge update, and the bandwidth of the device it runs on.

Model (second-order LINE, d dimensions, K negatives, tables of `value_bytes` per element): one sampled edge reads
and writes the source's vertex row, the target's context row and K negatives' context rows, (K + 2) rows of d
values, each read once and written once: 2 (K + 2) d value_bytes; plus (4 + K) cache lines of 64 bytes for the
sampling tables (the edge alias table's two probes, its two endpoints, and one negative-table entry per negative).
First order: the same with vertex rows. At d = 128, K = 5, fp32: 7,168 + 576 = 7,744 bytes per edge.

Ceiling: bandwidth / bytes per edge. The bandwidth is measured in the same process by a STREAM-like triad
(a = b + s c over arrays far larger than the last-level cache, counting 3 array sweeps; the best of `repeats`)
with torch on the bench's threads (CPU) or on the GPU; the GPU's nominal peak (H200: 4.8 TB/s, H100 SXM: 3.35
TB/s) is printed beside it where the device is known. Hot rows of a power-law graph sit in cache, so a kernel can
pass this DRAM ceiling; a share above 100% says the tables are partly cache-resident, not that the model is wrong.
"""
from __future__ import annotations

import time

import torch

CACHE_LINE = 64
NOMINAL_GBS = {"H200": 4800.0, "H100": 3350.0, "A100": 2039.0, "L40S": 864.0}  # vendor peak, GB/s


def bytes_per_edge(dim: int, negative: int, value_bytes: int = 4) -> int:
    """Bytes moved per sampled edge: 2 (K + 2) d value_bytes of rows + (4 + K) cache lines (module doc)."""
    return 2 * (negative + 2) * dim * value_bytes + (4 + negative) * CACHE_LINE


def measure_bandwidth(device: str = "cpu", threads: int | None = None, mib: int = 128, repeats: int = 5) -> float:
    """Best triad bandwidth in bytes/s over three arrays of `mib` MiB each (torch, on `device`)."""
    dev = torch.device(device)
    n = mib * 2**20 // 4
    old = torch.get_num_threads()
    if dev.type == "cpu" and threads:
        torch.set_num_threads(int(threads))
    try:
        b = torch.ones(n, dtype=torch.float32, device=dev)
        c = torch.full((n,), 2.0, dtype=torch.float32, device=dev)
        a = torch.empty_like(b)
        best = float("inf")
        for _ in range(repeats + 1):  # the first sweep pays page faults: not counted
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            torch.add(b, c, alpha=3.0, out=a)
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t) if _ else best
        return 3 * n * 4 / best
    finally:
        torch.set_num_threads(old)


def nominal_gbs(device_name: str | None) -> float | None:
    """The vendor's peak memory bandwidth of a known GPU (GB/s), else None."""
    for key, gbs in NOMINAL_GBS.items():
        if device_name and key in device_name:
            return gbs
    return None


def ceiling_edges_per_s(bandwidth: float, dim: int, negative: int, value_bytes: int = 4) -> float:
    return bandwidth / bytes_per_edge(dim, negative, value_bytes)
