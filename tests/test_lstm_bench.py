"""`img2song bench lstm` run tiny through the CLI: every case measured, the index agrees with the exhaustive path."""
from __future__ import annotations

import json

from evaluation.app.cli import main as cli_main


def test_cli_bench_lstm_tiny(tmp_path, capsys):
    out = tmp_path / "b.json"
    rc = cli_main(["bench", "lstm", "--songs", "300", "--queries", "3", "--exhaustive-queries", "2",
                   "--threads", "1", "--json", str(out)])
    assert rc in (0, None)
    doc = json.loads(out.read_text())
    names = [c["name"] for c in doc["cases"]]
    assert names == ["attention/second-lstm/exhaustive", "attention/pool/exhaustive", "attention/pool/index",
                     "baseline/pool/index"]
    for c in doc["cases"]:
        assert c["p50_ms"] >= 0 and c["queries"] >= 2
        if "index" in c["name"]:
            assert c["top10_overlap"] == 1.0  # exact: the same top 10 as the model's own forward pass
    assert doc["params"]["songs"] == 300 and "load_avg_1min" in doc["machine"]
    assert "attention index p50" in capsys.readouterr().out
