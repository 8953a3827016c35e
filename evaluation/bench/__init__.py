"""Benchmarks: each prints throughput and latency beside a baseline run in the same process (one timing helper: engine/timing.py)."""
