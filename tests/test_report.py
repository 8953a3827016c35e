"""Report aggregates, files and the whole protocol on a tiny run (library and CLI), any registered scorer."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine.features.backbones import Backbone, register_backbone
from engine.scorers.base import Recommendation, Scorer, register_scorer
from evaluation.app.cli import main
from evaluation.measure.metrics import hit_at_k, pad_hits, precision_at_k
from evaluation.measure.report import build_report
from evaluation.stages.protocol import evaluate_run
from evaluation.stages.run_inputs import load_training_set
from evaluation.stages.rundir import RunDir
from tests.scorer_contract import QUERY, make_run


@register_scorer("test-first-songs")
class FirstSongs(Scorer):
    """Stands for a scorer added later (e.g. the LSTM): the first k songs of the corpus."""

    def fit(self, data):
        self.ids_ = [s.id for s in data.corpus.songs]
        return self

    def recommend(self, query, k=10):
        return [Recommendation(s, -j, "first songs") for j, s in enumerate(self.ids_[:k])]


@register_backbone("test-report-color")
class MeanColor(Backbone):
    feature_dim = 3
    num_classes = 1000

    def preprocess(self, img):
        return torch.from_numpy(np.asarray(img.convert("RGB").resize((4, 4)), np.float32) / 255).permute(2, 0, 1)

    def forward(self, x):
        f = x.mean(dim=(2, 3))
        return f, f @ torch.linspace(-1, 1, 3000).reshape(3, 1000)


ROWS = [  # scorer, n, image, hits
    ("ne", 5, "a", [0, 1, 0]), ("ne", 5, "b", [0, 0, 0]), ("ne", 5, "c", [1, 1, 1]), ("ne", 5, "d", [1]),
    ("km", 5, "a", [0, 0, 0]), ("km", 5, "b", [0, 0, 0]), ("km", 5, "c", [1, 0, 0]), ("km", 5, "d", [0]),
]


def rows():
    return [{"scorer": s, "n": n, "image": i, "keywords": ["月"], "songs": [f"s{j}" for j in range(len(h))],
             "hits": [bool(x) for x in h]} for s, n, i, h in ROWS]


def test_report_aggregates_and_files(tmp_path):
    rep = build_report(rows(), ["ne", "km"], [5], k=3, n_boot=200)
    doc = rep.to_json()
    assert doc["scorers"]["ne"]["hit_rate@3"]["5"] == 0.75
    assert doc["scorers"]["km"]["hit_rate@3"]["5"] == 0.25
    assert doc["scorers"]["ne"]["precision@3"]["5"] == pytest.approx((1 + 0 + 3 + 1) / 12)
    lo, hi = doc["scorers"]["ne"]["hit_rate@3_ci95"]["5"]
    assert lo <= 0.75 <= hi
    t = doc["paired_tests"]["ne_vs_km"]["5"]
    assert (t["only_first"], t["only_second"], t["diff"]) == (2, 0, 0.5)
    assert t["p_value"] == pytest.approx(0.5)
    assert "hit_rate@3" in doc["definitions"]
    paths = RunDir(tmp_path).save_report(rep)
    assert sorted(p.name for p in paths.values()) == ["per_query.jsonl", "report.json", "report.md", "report.png"]
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "| 5 | 0.750 [" in md and "McNemar" in md
    assert "0.913" not in md  # the paper's numbers are hit rate@10: shown only beside @10
    assert "0.913" not in build_report(rows(), ["ne", "km"], [5], k=10, n_boot=50).markdown()  # photo: no paper
    oracle = [{**r, "protocol": "oracle"} for r in rows()]
    md10 = build_report(oracle, ["ne", "km"], [5], k=10, n_boot=50, protocols=["oracle"]).markdown()
    assert "| n | ne | paper ne | km | paper km |" in md10 and "| 0.913 |" in md10 and "| 0.902 |" in md10
    # every aggregate can be recomputed from per_query.jsonl
    back = [json.loads(line) for line in paths["per_query"].read_text(encoding="utf-8").splitlines()]
    ne = pad_hits([r["hits"] for r in back if r["scorer"] == "ne"], 3)
    assert hit_at_k(ne).mean() == 0.75 and precision_at_k(ne, 3).mean() == pytest.approx(5 / 12)
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["scorers"] == doc["scorers"]


def test_evaluate_run_known_hits_and_any_registered_scorer(tmp_path):
    run = make_run(tmp_path)
    rep = evaluate_run(run, scorers=("ne", "km", "pop", "test-first-songs"), cache_dir=tmp_path / "cn",
                       n_boot=200, progress=False)
    # KM: q1 (月; related 明月, 风) hits s1 s5 s7 and the backfilled s4 (风); q2 (花; 雨) s3 s4; q3 (船; 舟) s2 s8
    km = rep.scorers["km"]
    assert km["hit_rate@10"] == {"0": 1.0, "5": 1.0, "10": 1.0, "50": 1.0, "100": 1.0}
    assert km["precision@10"]["5"] == pytest.approx(8 / 30)
    per = {(r["scorer"], r["n"], r["image"]): r for r in rep.rows}
    assert per[("km", 5, "q1")]["songs"][:3] == ["s1", "s5", "s7"] and per[("km", 5, "q1")]["hits"][:3] == [True] * 3
    # every row's hits agree with the lyrics
    lyrics = {s.id: s.lyrics for s in load_training_set(run).corpus.songs}
    words = {"q1": ["月", "明月", "风"], "q2": ["花", "雨"], "q3": ["船", "舟"]}
    for r in rep.rows:  # n = 0 is the strict check: the query's keyword alone
        ws = words[r["image"]][:1] if r["n"] == 0 else words[r["image"]]
        assert r["hits"] == [any(w in lyrics[s] for w in ws) for s in r["songs"]]
    assert rep.scorers["test-first-songs"]["queries"] == len(QUERY)
    assert set(rep.paired_tests) == {"ne_vs_km", "ne_vs_pop", "ne_vs_test-first-songs"}
    assert (run / "related_words.json").is_file() and (run / "report.md").is_file()


def test_cli_evaluate_recommend_and_features(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path)
    monkeypatch.chdir(tmp_path)  # relative paths in the run resolve here; caches stay under graph.common.paths
    assert main(["evaluate", "--run", str(run), "--scorers", "km,pop"]) == 0
    out = capsys.readouterr().out
    assert "km" in out and "report.json" in out
    assert set(json.loads((run / "report.json").read_text(encoding="utf-8"))["scorers"]) == {"km", "pop"}
    assert main(["recommend", "q1", "--run", str(run), "--scorer", "km", "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "title s1 - anon: 明月几时有 月光 月下" in out and "why: lyrics contain '月' x3" in out
    assert main(["recommend", "nothing-here", "--run", str(run)]) == 2
    assert "neither an image file nor an image id" in capsys.readouterr().err
    # features for every corpus image with a registered backbone, then a NEW photo through NE
    assert main(["features", "--run", str(run), "--backbone", "test-report-color"]) == 0
    assert "9 images: 9 computed" in capsys.readouterr().out
    assert (run / "features" / "tags.npz").is_file()
    photo = tmp_path / "corpus" / "images" / "q2.png"
    assert main(["recommend", str(photo), "--run", str(run), "--scorer", "ne", "--k", "2"]) == 0
    out = capsys.readouterr().out
    assert out.count("why: near image") == 2


def test_queries_a_scorer_cannot_answer_are_counted_for_it_and_kept_for_the_others(tmp_path):
    from engine.features.table import FeatureTable

    run = make_run(tmp_path)
    t = FeatureTable.load(run / "features" / "features.npz")
    t.subset([i for i in t.ids if i != "q3"]).save(run / "features" / "features.npz")
    rep = evaluate_run(run, scorers=("ne", "km"), cache_dir=tmp_path / "cn", n_boot=50, progress=False)
    assert rep.meta["queries_evaluated"] == 3 and rep.meta["queries_total"] == 3  # issue 22: kept for km
    assert list(rep.meta["scorer_skips"]["photo"]["ne"].values()) == [1]
    assert "needs CNN features for image <id>" in next(iter(rep.meta["scorer_skips"]["photo"]["ne"]))
    assert {r["image"] for r in rep.rows if r["scorer"] == "ne"} == {"q1", "q2"}
    assert {r["image"] for r in rep.rows if r["scorer"] == "km"} == {"q1", "q2", "q3"}
    assert rep.scorers["km"]["queries"] == 3 and rep.scorers["ne"]["queries"] == 2
    assert rep.scorers["ne"]["queries_failed"] == 1
