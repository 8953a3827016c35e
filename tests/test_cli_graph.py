"""CLI: build-graph writes the network and its statistics; bad input exits 2 with one clean line."""
from __future__ import annotations

import json
import subprocess
import sys

from evaluation.app.cli import main


def test_build_graph_command(tiny_corpus_dir, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["build-graph", "--corpus", str(tiny_corpus_dir), "--out", str(out), "--holdout", "0.2"]) == 0
    stats = json.loads((out / "network_stats.json").read_text(encoding="utf-8"))
    for key in ("songs", "images", "keywords", "song_keyword_edges", "image_keyword_edges"):
        assert isinstance(stats[key], int) and stats[key] > 0
    split = json.loads((out / "split.json").read_text(encoding="utf-8"))
    assert stats["images"] == len(split["train"]) and stats["query_images"] == len(split["query"])
    assert (out / "network.npz").is_file() and (out / "keywords.json").is_file()
    printed = capsys.readouterr().out
    assert "network statistics" in printed and str(out) in printed


def test_corpus_error_is_one_clean_line(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "songs.jsonl").write_text('{"id": "a", "title": "t", "language": "zh"}\n', encoding="utf-8")
    (bad / "images.jsonl").write_text("", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "evaluation.app.cli", "build-graph", "--corpus", str(bad), "--out",
                           str(tmp_path / "o")], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "songs.jsonl:1: field 'lyrics' required field is missing" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "o").exists()
