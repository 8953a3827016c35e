"""build-graph stops with the cause when nothing links, warns about thin keywords; evaluate asks for --holdout."""
from __future__ import annotations

import json

import pytest

from evaluation.app.cli import main
from graph.build import build_network
from graph.common.errors import Img2SongError
from graph.corpus import load_corpus
from tests.conftest import TINY_IMAGES, make_corpus


def test_no_image_reaches_any_keyword(tmp_path, capsys):
    images = [dict(i, tags=["xyzzy"], caption="") for i in TINY_IMAGES]
    root = make_corpus(tmp_path / "c", images=images)
    with pytest.raises(Img2SongError, match=r"images\.jsonl: no image reaches any of the 7 keywords"):
        build_network(load_corpus(root), progress=False)
    out = tmp_path / "run"
    assert main(["build-graph", "--corpus", str(root), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no image reaches any" in err and "Traceback" not in err
    assert not (out / "network.npz").exists()  # nothing half-written


def test_no_song_reaches_any_keyword(tmp_path):
    root = make_corpus(tmp_path / "c")
    (root / "keywords.txt").write_text("# hand-made\n雪\n鹤\n", encoding="utf-8")
    with pytest.raises(Img2SongError, match=r"songs\.jsonl: no song reaches any of the 2 keywords .*雪, 鹤"):
        build_network(load_corpus(root), progress=False)


def test_warnings_and_per_keyword_counts(tmp_path, capsys):
    root = make_corpus(tmp_path / "c")
    out = tmp_path / "run"
    assert main(["build-graph", "--corpus", str(root), "--out", str(out), "--holdout", "0.25"]) == 0
    text = capsys.readouterr().out
    stats = json.loads((out / "network_stats.json").read_text(encoding="utf-8"))
    per = stats["per_keyword"]
    assert set(per) == {"月", "酒", "山", "江", "船", "雨", "花"}
    # 酒: 1 image (i6) -> fewer than 2 training images, and no query image
    assert per["酒"]["train_images"] + per["酒"]["query_images"] == 1
    assert per["月"]["songs"] == 2  # s1 and s5; the English s6 never reaches a Chinese keyword (no hit counts it)
    assert sum(v["query_images"] > 0 for v in per.values()) >= 1
    warned = [w for w in stats["warnings"] if "fewer than 2 training images" in w]
    assert warned and "酒 (1)" in warned[0] and f"warning: {warned[0]}" in text
    assert any("no query image" in w and "酒" in w for w in stats["warnings"])
    assert stats["vocabulary_source"] == "given"
    assert "reachability: 5/6 songs (83.3%) have edges" in text  # the English s6 reaches no keyword and no word
    assert stats["reachability"]["song_share_with_edges"] == round(5 / 6, 4)


def test_evaluate_without_query_images_asks_for_holdout(tmp_path, capsys):
    root = make_corpus(tmp_path / "c")
    out = tmp_path / "run"
    assert main(["build-graph", "--corpus", str(root), "--out", str(out), "--holdout", "0"]) == 0
    assert "no query images" in capsys.readouterr().out
    assert main(["evaluate", "--run", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no query images" in err and "--holdout" in err
