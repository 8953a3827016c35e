"""`bench line` on a tiny graph: every CPU impl is measured through the registry, JSON is complete and sane."""
from __future__ import annotations

import json
import math

import pytest

from evaluation.bench import line as bench


@pytest.fixture(scope="module")
def tiny_records():
    return bench.run_bench([300], reference_graph=False, impls=["naive", "reference", "cpu", "cpu-fp16"],
                           threads=[1, 2],
                           dim=16, target_s=0.05, progress=False, bandwidth_mib=16)


def test_records_cover_every_impl_and_are_positive(tiny_records):
    assert [(r.impl, r.threads) for r in tiny_records] == [("naive", 1), ("reference", 1), ("cpu", 1), ("cpu", 2),
                                                           ("cpu-fp16", 1), ("cpu-fp16", 2)]
    for r in tiny_records:
        assert r.edges == 300 and r.directed_edges == 600 and r.vertices == 24 + 12 + 20
        assert r.samples >= 1 and r.seconds > 0 and math.isfinite(r.edges_per_s) and r.edges_per_s > 0
        assert r.edges_per_s == pytest.approx(r.samples / r.seconds)
        assert r.dim == 16 and r.negative == 5 and r.order == 2 and r.device == "cpu"
    naive = tiny_records[0]
    assert naive.vs_naive == pytest.approx(1.0)
    for r in tiny_records:
        assert r.vs_naive == pytest.approx(r.edges_per_s / naive.edges_per_s)
        assert r.vs_reference == pytest.approx(r.edges_per_s / tiny_records[1].edges_per_s)


def test_json_schema_and_table(tiny_records, tmp_path):
    out = bench.write_json(tiny_records, tmp_path / "sub" / "bench.json")
    doc = json.loads(out.read_text())
    assert set(doc) == {"machine", "ceilings", "records"} and not list(out.parent.glob("*.tmp"))
    assert doc["machine"]["torch"] and doc["machine"]["logical_cores"] >= 1
    assert len(doc["records"]) == 6
    for rec in doc["records"]:
        assert {"impl", "edges", "threads", "edges_per_s", "graph", "samples", "seconds"} <= set(rec)
        assert isinstance(rec["edges"], int) and isinstance(rec["threads"], int)
        assert math.isfinite(rec["edges_per_s"]) and rec["edges_per_s"] > 0
    table = bench.format_table(tiny_records, doc["machine"])
    assert "naive" in table and "0.67M" in table and "4e8" in table and doc["machine"]["cpu"] in table


def test_roofline_share_follows_the_stated_model(tiny_records):
    for r in tiny_records:
        value = 2 if r.impl == "cpu-fp16" else 4
        assert r.bytes_per_edge == 2 * (5 + 2) * 16 * value + (4 + 5) * 64  # d=16, K=5
        assert r.bandwidth_gbs > 0 and r.roofline_edges_per_s == pytest.approx(r.bandwidth_gbs * 1e9 /
                                                                                r.bytes_per_edge, rel=1e-2)
        assert r.roofline_share == pytest.approx(r.edges_per_s / r.roofline_edges_per_s)
    table = bench.format_table(tiny_records, bench.machine_info())
    assert "roof" in table and "bytes/edge" in table and "cpu x2" in table and "%" in table
    from engine.roofline import bytes_per_edge, nominal_gbs

    assert bytes_per_edge(128, 5) == 7744 and bytes_per_edge(128, 5, 2) == 7744 - 3584
    assert nominal_gbs("NVIDIA H200") == 4800.0 and nominal_gbs("a CPU") is None


def test_scaled_graph_sizes_and_bad_input():
    net = bench.scaled_graph(100_000)
    assert net.num_edges == 100_000 and net.stats()["keywords"] == 1000
    with pytest.raises(bench.Img2SongError):
        bench.scaled_graph(5)
    if not bench.torch.cuda.is_available():
        with pytest.raises(bench.Img2SongError, match="cuda"):
            bench.run_bench([300], reference_graph=False, gpu_only=True, progress=False)
        with pytest.raises(bench.Img2SongError, match="cuda"):
            bench.run_bench([300], reference_graph=False, device="cuda", progress=False)


def test_cli_bench_line_writes_json(tmp_path, capsys):
    from evaluation.app.cli import main

    out = tmp_path / "b.json"
    rc = main(["bench", "line", "--edges", "200", "--no-reference-graph", "--impl", "reference", "--dim", "8",
               "--seconds", "0.05", "--json", str(out)])
    assert rc == 0
    recs = json.loads(out.read_text())["records"]
    assert [(r["impl"], r["edges"]) for r in recs] == [("reference", 200)] and recs[0]["edges_per_s"] > 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert main(["bench", "line", "--edges", "5", "--no-reference-graph"]) == 2  # clear error, no traceback


def test_plan_per_machine_and_unknown_impl():
    cpu_plan = bench.bench_plan(None, [1, 2], 1, cuda=False)
    assert cpu_plan == [("naive", 1, "cpu"), ("reference", 1, "cpu"), ("cpu", 1, "cpu"), ("cpu", 2, "cpu")]
    assert bench.bench_plan(["cpu-fp16"], [1, 2]) == [("cpu-fp16", 1, "cpu"), ("cpu-fp16", 2, "cpu")]
    assert bench.bench_plan(None, [1, 2], cuda=True)[-1] == ("triton", 1, "cuda")
    assert bench.bench_plan(None, [1], gpu_only=True, cuda=True) == [
        ("naive", 1, "cuda"), ("reference", 1, "cuda"), ("triton", 1, "cuda"), ("triton-fused", 1, "cuda")]
    with pytest.raises(bench.Img2SongError, match="unknown impl 'trition'"):
        bench.bench_plan(["trition"], [1])
    with pytest.raises(bench.Img2SongError, match="nothing to run"):
        bench.bench_plan(["triton"], [1], cuda=False)
