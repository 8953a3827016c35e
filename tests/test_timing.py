"""engine/timing.py, the one timing helper of every bench: known answers, and no bench computing its own."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from engine.timing import Latency, percentiles_ms, time_calls, timed
from tests.test_import_flow import ROOT

SUMMARIES = ("percentile", "median", "quantile", "nanpercentile", "nanmedian")


def bench_modules(root: Path = ROOT) -> list[Path]:
    """Every benchmark module: a file named bench*.py, or any file under a `bench` package."""
    return sorted(p for pkg in ("engine", "evaluation", "graph") for p in (root / pkg).rglob("*.py")
                  if p.name.startswith("bench") or "bench" in p.relative_to(root).parts[:-1])


def own_percentiles(paths: list[Path], root: Path = ROOT) -> list[str]:
    """`file:line: call` of every np.percentile / median / quantile a bench module calls itself."""
    bad = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in SUMMARIES:
                bad.append(f"{path.relative_to(root).as_posix()}:{node.lineno}: {ast.unparse(node.func)}")
    return bad


def test_latency_known_answers():
    lat = Latency.of([0.001, 0.002, 0.003, 0.004])
    assert lat.n == 4 and lat.p50_ms == pytest.approx(2.5) and lat.mean_ms == pytest.approx(2.5)
    assert lat.p99_ms == pytest.approx(3.97)  # numpy's linear interpolation: 3 + 0.97 * (4 - 3)
    assert lat.per_s == pytest.approx(4 / 0.010)
    assert lat.to_dict(1) == {"n": 4, "p50_ms": 2.5, "p99_ms": 4.0, "mean_ms": 2.5, "per_s": 400.0}
    assert Latency.of([]) is None
    assert percentiles_ms([0.0010004, 0.0030004]) == {"p50_ms": 2.0, "p99_ms": 2.98, "n": 2}
    assert percentiles_ms([]) == {"p50_ms": None, "p99_ms": None, "n": 0}


def test_time_calls_warms_up_then_times_each_call_in_order():
    seen: list[int] = []
    times, out = time_calls(lambda j: seen.append(j) or j * j, 4, warmup=2, clock="cpu")
    assert seen == [0, 1, 0, 1, 2, 3] and out == [0, 1, 4, 9]
    assert times.shape == (4,) and (times >= 0).all()
    total, wall, cpu = timed(lambda: float((np.ones((200, 200)) @ np.ones((200, 200))).sum()))
    assert total == 200.0 ** 3 and wall > 0 and cpu > 0
    with pytest.raises(KeyError):
        time_calls(lambda j: j, 1, clock="sundial")


def test_no_bench_computes_its_own_percentiles(tmp_path):
    mods = bench_modules()
    assert len(mods) >= 10, mods  # the benches are found, engine's and evaluation's
    assert own_percentiles(mods) == []
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "bench_x.py").write_text(
        "import numpy as np\np50 = np.percentile(ms, 50)\nmid = np.median(ms)\n", encoding="utf-8")
    assert own_percentiles(bench_modules(tmp_path), tmp_path) == [
        "engine/bench_x.py:2: np.percentile", "engine/bench_x.py:3: np.median"]
