"""Per-kind figures: real-photo queries reported apart from drawings, with known hit rates and probe calibration."""
from __future__ import annotations

import numpy as np

from evaluation.measure.report import build_report
from evaluation.measure.subsets import image_kinds, kind_figures, kind_markdown
from graph.records import Image


def _rows():
    # 2 photos (one hit), 3 drawings (all hit) for scorer ne at n = 0
    hits = {"p1": [True], "p2": [False], "d1": [True], "d2": [False, True], "d3": [True]}
    return [{"protocol": "photo", "scorer": "ne", "n": 0, "image": i, "keywords": ["月"], "songs": ["s"] * len(h),
             "hits": h} for i, h in hits.items()]


def test_hit_rate_and_probe_calibration_per_kind():
    kinds = image_kinds([Image("p1", "a", kind="photo"), Image("p2", "b", kind="photo"), Image("d1", "c", kind="drawing"),
                         Image("d2", "d", kind="drawing"), Image("d3", "e")])
    assert kinds["d3"] == "unstated"
    tags = {"p1": [0.9, 0.1], "p2": [0.85, 0.15], "d1": [0.3, 0.7], "d2": [0.6, 0.4]}
    queries = {"p1": ["月"], "p2": ["花"], "d1": ["花"], "d2": ["月"], "d3": ["月"]}
    got = kind_figures(_rows(), kinds, 10, tags, ["月", "花"], queries, "keyword-probe")
    assert got["photo"]["queries"] == 2 and got["photo"]["hit_rate@10"]["photo"]["ne"]["0"] == 0.5
    assert got["drawing"]["hit_rate@10"]["photo"]["ne"]["0"] == 1.0  # d2 hits at rank 2 (within k)
    assert got["unstated"]["queries"] == 1
    photo = got["photo"]["keyword_probe"]
    assert photo["rows"] == 2 and photo["top1"] == 0.5 and photo["confident_wrong_0.8"] == 0.5
    assert got["drawing"]["keyword_probe"]["top1"] == 1.0
    assert kind_figures(_rows(), kinds, 1, tags, ["月", "花"], queries)["drawing"]["hit_rate@1"]["photo"]["ne"]["0"] \
        == 0.5  # d2 hits at rank 2: not within k = 1


def test_no_split_without_kinds_and_markdown_shows_the_photo_rows():
    assert kind_figures(_rows(), {}, 10) == {}
    kinds = {"p1": "photo", "p2": "photo", "d1": "drawing", "d2": "drawing", "d3": "drawing"}
    by_kind = kind_figures(_rows(), kinds, 10, {"p1": np.array([1.0, 0.0])}, ["月", "花"], {"p1": ["月"]}, "x")
    rep = build_report(_rows(), ["ne"], [0], meta={"by_kind": by_kind}, n_boot=50)
    md = rep.markdown()
    assert "## Query images by kind" in md and "| photo | 2 | photo | ne | n=0: 0.500 |" in md
    assert "| drawing | 3 | photo | ne | n=0: 1.000 |" in md and "| photo | 1 | 1.000 |" in md
    assert kind_markdown({}, 10) == []
