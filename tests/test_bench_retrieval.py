"""`bench retrieval` run tiny through the CLI: every case measured, JSON complete, indexed KM equals the scan."""
from __future__ import annotations

import json

import numpy as np

from evaluation.app.cli import main as cli_main
from evaluation.bench.retrieval import synthetic_tables


def test_synthetic_tables_are_clustered_and_typed():
    t = synthetic_tables(500, 400, 10, clusters=8, seed=1)
    assert t.image_features.shape == (400, 1280) and t.image_features.dtype == np.float32
    assert t.song_vectors.shape == (500, 128) and t.query_features.shape == (10, 1280) and len(t.lyrics) == 500
    np.testing.assert_allclose(t.query_tags.sum(1), 1.0, rtol=1e-5)
    # clustered: a row's nearest neighbour is much closer than a random row
    x = t.image_features[:50].astype(np.float64)
    d = np.sqrt(((x[:, None] - t.image_features[None].astype(np.float64)) ** 2).sum(-1))
    d[np.arange(50), np.arange(50)] = np.inf
    assert np.median(d.min(1)) < 0.5 * np.median(d)


def test_cli_bench_retrieval_tiny(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli_main(["bench", "retrieval", "--songs", "3000", "--images", "600", "--queries", "20",
                   "--baseline-queries", "2", "--json", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "targets: NE p50" in printed and "wrote" in printed
    doc = json.loads(out.read_text())
    names = [c["name"] for c in doc["cases"]]
    assert names == ["ne/per-call-exact", "ne/index-exact", "ne/index-hnsw", "km/per-call-scan",
                     "km/index-per-query-tie", "km/index"]
    for c in doc["cases"]:
        assert 0 < c["p50_ms"] <= c["p99_ms"] and c["qps"] > 0 and c["queries"] >= 2
    hnsw = doc["cases"][2]
    assert 0.9 <= hnsw["recall_at_10"] <= 1.0 and 0.0 <= hnsw["song_overlap_at_10"] <= 1.0
    assert "answers equal the scan's: yes" in doc["cases"][5]["notes"]
    assert doc["build"]["keyword_index_same_postings"] is True
    assert doc["build"]["image_index"] == "hnsw" and doc["build"]["ef_search"] >= 16
    assert doc["build"]["song_lists_rows"] > 0 and doc["params"]["songs"] == 3000
    assert doc["build"]["song_lists_same_as_baseline"] is True and doc["build"]["song_lists_baseline_rows"] > 0
    assert cli_main(["bench", "retrieval", "--index", "lsh", "--songs", "10", "--images", "10"]) == 2


def test_cli_bench_retrieval_builds_the_full_song_lists(tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = cli_main(["bench", "retrieval", "--songs", "2000", "--images", "300", "--queries", "5",
                   "--baseline-queries", "1", "--full-song-lists", "--device", "cpu", "--baseline-rows", "50",
                   "--json", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    b = doc["build"]
    assert b["song_lists_full"] is True and b["song_lists_rows"] == 300 and b["song_lists_device"] == "cpu"
    assert b["song_lists_same_as_baseline"] is True and b["song_lists_baseline_rows"] == 50
    assert "measured" in capsys.readouterr().out


def test_cli_bench_retrieval_km_only(tmp_path):
    out = tmp_path / "k.json"
    assert cli_main(["bench", "retrieval", "--km-only", "--songs", "3000", "--queries", "10",
                     "--baseline-queries", "2", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [c["name"] for c in doc["cases"]] == ["km/per-call-scan", "km/index-per-query-tie", "km/index"]
    assert doc["build"]["keyword_index_same_postings"] is True and "answers equal the scan's: yes" in \
        doc["cases"][2]["notes"]
