"""A scorer written outside the project (a .py file in tmp_path) through every command that takes a scorer:
fit-scorers, recommend, evaluate and serve (a real server subprocess on loopback), by --scorer-module alone.
Its answers depend on the Query's ImageNet logits, so they also show that a photo's logits reach a scorer."""
from __future__ import annotations

import json
import sys

from evaluation.app.cli import main
from evaluation.bench.client import Client, start_server, stop_server
from evaluation.stages import pipeline
from evaluation.stages.fitted import stale_reason
from evaluation.stages.rundir import RunDir
from tests.scorer_contract import QUERY, make_run
from tests.serve_main import BACKBONE

MODULE = "img2song_outside_logits_scorer"
NAME = "outside-logits"
PLUGIN = '''
import numpy as np

from engine.scorers.base import Recommendation, Scorer, register_scorer
from graph.common.errors import Img2SongError


@register_scorer("outside-logits")
class OutsideLogits(Scorer):
    """Songs by popularity, rotated by the photo's top ImageNet class: needs features, logits and tag_probs."""

    def __init__(self, shift: int = 0):
        self.shift = shift

    def fit(self, data):
        self.song_ids_ = [s.id for s in sorted(data.corpus.songs, key=lambda s: (-s.popularity, s.id))]
        self.classes_ = int(data.logits.vectors.shape[1])
        return self

    def recommend(self, query, k=10):
        for field in ("features", "logits", "tag_probs"):
            if getattr(query, field) is None:
                raise Img2SongError(f"scorer 'outside-logits': the query has no {field}")
        top = int(np.argmax(query.logits))
        assert len(query.logits) == self.classes_
        r = (top + self.shift) % len(self.song_ids_)
        order = self.song_ids_[r:] + self.song_ids_[:r]
        return [Recommendation(s, float(-j), f"ImageNet class {top}") for j, s in enumerate(order[:k])]
'''


def test_an_outside_plugin_runs_through_fit_scorers_recommend_evaluate_and_serve(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path)
    pipeline.features(run, backbone=BACKBONE, echo=lambda _: None)  # features, ImageNet logits, keyword probe
    outside = tmp_path / "outside"
    outside.mkdir()
    plugin = outside / f"{MODULE}.py"
    plugin.write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(outside))  # restored after the test (the option would add it for good)
    sys.modules.pop(MODULE, None)
    opt = ["--scorer-module", str(plugin)]

    assert main(["fit-scorers", "--run", str(run), "--scorers", NAME, *opt]) == 0
    assert f"{NAME}: fitted (not saved yet)" in capsys.readouterr().out
    doc = json.loads((RunDir(run).scorer_dir(NAME) / "params.json").read_text(encoding="utf-8"))
    assert MODULE in doc["code_modules"] and "engine.scorers.base" in doc["code_modules"] and doc["code"]

    photo = tmp_path / "corpus" / "images" / "q2.png"
    assert main(["recommend", str(photo), "q1", "--run", str(run), "--scorer", NAME, "--k", "3", *opt]) == 0
    out = capsys.readouterr().out
    assert "fitted" not in out and out.count("why: ImageNet class") == 6  # loaded, answered from the logits

    assert main(["evaluate", "--run", str(run), "--scorers", NAME, *opt]) == 0
    capsys.readouterr()
    rep = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert rep["scorers"][NAME]["queries"] == len(QUERY) and not rep.get("scorer_skips")

    proc, url = start_server(run, ["--scorers", NAME, *opt], module="tests.serve_main", log=tmp_path / "serve.log")
    client = Client(url)
    try:
        health = client.get("/healthz").json()
        assert health["scorers"] == {NAME: "loaded"}
        up = client.post("/recommend", [("k", "4")], [("image", "q2.png", photo.read_bytes())])
        by_id = client.post("/recommend", image_id="q2", k=4)
        assert up.status == by_id.status == 200, (up.body, by_id.body)
        assert all(s["explanation"].startswith("ImageNet class") for s in up.json()["songs"])
        # the same photo uploaded, or named by id (its logits from the run), answers the same
        assert [s["id"] for s in up.json()["songs"]] == [s["id"] for s in by_id.json()["songs"]]
    finally:
        client.close()
        stop_server(proc)

    # an edit of the plug-in's own module makes its saved state stale; the next fit-scorers refits
    plugin.write_text(PLUGIN.replace("rotated by", "turned by"), encoding="utf-8")
    assert stale_reason(run, NAME) == "saved by other code (the scorer's modules changed)"
    assert main(["fit-scorers", "--run", str(run), "--scorers", NAME, *opt]) == 0
    assert f"{NAME}: fitted (saved by other code" in capsys.readouterr().out
    sys.modules.pop(MODULE, None)


def test_a_missing_plugin_file_is_a_clear_error_on_every_command(tmp_path, capsys):
    run = make_run(tmp_path)
    missing = str(tmp_path / "nope.py")
    for argv in (["fit-scorers", "--run", str(run)], ["recommend", "q1", "--run", str(run)],
                 ["evaluate", "--run", str(run)], ["serve", "--run", str(run), "--port", "1"]):
        assert main([*argv, "--scorer-module", missing]) == 2, argv
        assert f"scorer module {missing!r}: no such file" in capsys.readouterr().err


STATEFUL = '''
from engine.scorers.base import Recommendation, Scorer, register_scorer


class Memo:
    """A plug-in's own artefact with save(path) / load(path)."""

    def __init__(self, ids):
        self.ids = list(ids)

    def save(self, path):
        path.write_text("\\n".join(self.ids), encoding="utf-8")

    @classmethod
    def load(cls, path):
        return cls(path.read_text(encoding="utf-8").split("\\n"))


@register_scorer("outside-stateful")
class Stateful(Scorer):
    def fit(self, data):
        self.memo_ = Memo(s.id for s in data.corpus.songs)
        return self

    def recommend(self, query, k=10):
        return [Recommendation(s, float(-j), "memo") for j, s in enumerate(self.memo_.ids[:k])]
'''


def test_a_plugin_saves_and_loads_its_own_artefact_classes(tmp_path, monkeypatch):
    from engine.scorers.base import load_scorer
    from evaluation.measure.experiment import import_scorer_modules
    from tests.scorer_contract import tiny_training_set

    (tmp_path / "outside_stateful_mod.py").write_text(STATEFUL, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import_scorer_modules(["outside_stateful_mod"])
    from engine.scorers.base import get_scorer

    s = get_scorer("outside-stateful").fit(tiny_training_set(tmp_path / "corpus"))
    back = load_scorer(s.save(tmp_path / "saved"))
    assert type(back.memo_).__module__ == "outside_stateful_mod" and back.memo_.ids == s.memo_.ids
    sys.modules.pop("outside_stateful_mod", None)
