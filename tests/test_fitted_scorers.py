"""Saved scorers in a run: fit once, load after, refit when stale; the saved directory's format and its errors."""
from __future__ import annotations

import json

import numpy as np
import pytest

import engine.scorers.persist as persist
from engine.embeddings import EmbeddingTable
from engine.scorers.base import Query, get_scorer, load_scorer
from engine.scorers.ne import NEScorer
from evaluation.app.cli import main
from evaluation.stages import pipeline
from evaluation.stages.fitted import load_or_fit, run_signature, stale_reason
from evaluation.stages.rundir import RunDir, Stage
from graph.common.errors import Img2SongError
from tests.scorer_contract import make_run, tiny_training_set

QUERIES = [Query(image_id=q) for q in ("q1", "q2", "q3")]


def test_fit_scorers_saves_records_and_the_next_call_loads(tmp_path):
    run = RunDir(make_run(tmp_path))
    first = pipeline.fit_scorers(run, ["ne", "km", "pop"], echo=lambda _: None)
    assert {n: f.status for n, f in first.items()} == {n: "fitted (not saved yet)" for n in ("ne", "km", "pop")}
    for n in ("ne", "km", "pop"):
        doc = json.loads((run.scorer_dir(n) / "params.json").read_text(encoding="utf-8"))
        assert doc["name"] == n and doc["signature"] == run_signature(run)
        assert (run.scorer_dir(n) / "arrays.npz").is_file()
    rec = run.stage(Stage.FIT_SCORERS)
    assert sorted(rec["outputs"]) == ["km", "ne", "pop"] and rec["outputs"]["ne"]["signature"] == run_signature(run)
    lines: list[str] = []
    again = pipeline.fit_scorers(run, ["ne", "km", "pop"], echo=lines.append)
    assert all(f.status == "loaded" for f in again.values()) and all(" kept " in ln for ln in lines)
    for n in ("ne", "km", "pop"):
        assert again[n].scorer.recommend_batch(QUERIES, 4) == first[n].scorer.recommend_batch(QUERIES, 4)


def test_recommend_loads_the_saved_scorer_and_never_refits(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path)
    assert main(["fit-scorers", "--run", str(run), "--scorers", "ne"]) == 0
    assert "ne: fitted (not saved yet)" in capsys.readouterr().out

    def boom(self, data):
        raise AssertionError("refitted")

    monkeypatch.setattr(NEScorer, "fit", boom)
    assert main(["recommend", "q1", "--run", str(run), "--scorer", "ne", "--k", "3"]) == 0
    assert capsys.readouterr().out.count("why: near image") == 3


def test_changed_inputs_or_params_refit(tmp_path):
    run = RunDir(make_run(tmp_path))
    a = load_or_fit(run, "ne")
    assert stale_reason(run, "ne") is None
    assert stale_reason(run, "ne", {"n_images": 2}) == "fitted with other parameters"
    b = load_or_fit(run, "ne", {"n_images": 2})
    assert b.status == "fitted (fitted with other parameters)" and b.scorer.n_images == 2
    # new LINE vectors: the signature changes (file and manifest), the saved NE answers from the old ones
    emb = EmbeddingTable.load(run.embeddings)
    rng = np.random.default_rng(7)
    EmbeddingTable(emb.ids, rng.normal(size=emb.vectors.shape), emb.kinds, emb.labels).save(run.embeddings)
    run.record(Stage.TRAIN, {"seed": 7})
    assert stale_reason(run, "ne", {"n_images": 2}) == "the run's inputs changed since it was fitted"
    c = load_or_fit(run, "ne", {"n_images": 2})
    assert c.status.startswith("fitted (the run's inputs changed")
    assert not np.array_equal(c.scorer.song_vectors_, b.scorer.song_vectors_)
    assert load_or_fit(run, "ne", {"n_images": 2}).status == "loaded"
    assert a.scorer.n_images == 5
    # saved by other code (the scorer's or its index's module changed): refitted, never loaded half-understood
    params = run.scorer_dir("ne") / "params.json"
    doc = json.loads(params.read_text(encoding="utf-8"))
    assert "engine.scorers.ne" in doc["code_modules"] and "engine.index.image" in doc["code_modules"]
    params.write_text(json.dumps({**doc, "code": "0" * 20}), encoding="utf-8")
    assert stale_reason(run, "ne", {"n_images": 2}) == "saved by other code (the scorer's modules changed)"
    assert load_or_fit(run, "ne", {"n_images": 2}).status.startswith("fitted (saved by other code")


def test_unreadable_saved_scorer_is_refitted_by_the_run_and_an_error_when_loaded(tmp_path):
    run = RunDir(make_run(tmp_path))
    load_or_fit(run, "km")
    params = run.scorer_dir("km") / "params.json"
    doc = json.loads(params.read_text(encoding="utf-8"))
    params.write_text(json.dumps({**doc, "params": {**doc["params"], "bogus": 1}}), encoding="utf-8")
    with pytest.raises(Img2SongError, match=r"params.json: field 'params'.*bogus"):
        load_scorer(run.scorer_dir("km"))
    params.write_text("{not json", encoding="utf-8")
    with pytest.raises(Img2SongError, match=r"params\.json:1: malformed JSON"):
        load_scorer(run.scorer_dir("km"))
    f = load_or_fit(run, "km")
    assert f.status.startswith("fitted (unreadable") and load_scorer(run.scorer_dir("km")).name == "km"


def test_save_is_atomic_and_refuses_what_it_cannot_restore(tmp_path, monkeypatch):
    data = tiny_training_set(tmp_path)
    with pytest.raises(Img2SongError, match="not fitted"):
        get_scorer("pop").save(tmp_path / "x")
    pop = get_scorer("pop").fit(data)
    path = pop.save(tmp_path / "pop")
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    pop.extra_ = (1, 2)  # a tuple would come back from JSON as a list: refused, the saved copy stays
    with pytest.raises(Img2SongError, match="'extra_'.*does not survive JSON"):
        pop.save(path)
    pop.extra_ = np.array([object()])
    with pytest.raises(Img2SongError, match="'extra_'.*Python objects"):
        pop.save(path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    ne = get_scorer("ne").fit(data)
    ne.index_ = Blob(b"xyz")  # an attribute with its own save/load goes to its own file ...
    ne.save(tmp_path / "ne")
    assert (tmp_path / "ne" / "index_").read_bytes() == b"xyz"
    with pytest.raises(Img2SongError, match="is not one of the project's"):  # ... loaded only from engine.*
        load_scorer(tmp_path / "ne")
    monkeypatch.setattr(persist, "ARTEFACT_MODULES", ("engine.", "tests."))
    assert load_scorer(tmp_path / "ne").index_.data == b"xyz"


class Blob:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def save(self, path):
        path.write_bytes(self.data)

    @classmethod
    def load(cls, path):
        return cls(path.read_bytes())


def test_an_experiment_name_keeps_its_own_saved_scorer_and_unsafe_names_are_refused(tmp_path):
    run = RunDir(make_run(tmp_path))
    a = load_or_fit(run, "ne-two", {"n_images": 2}, kind="ne")
    assert a.scorer.name == "ne" and a.scorer.n_images == 2
    assert json.loads((run.scorer_dir("ne-two") / "params.json").read_text(encoding="utf-8"))["name"] == "ne"
    assert load_or_fit(run, "ne-two", {"n_images": 2}, kind="ne").status == "loaded"
    assert load_or_fit(run, "ne").scorer.n_images == 5  # the plain name is another directory
    assert run.stage(Stage.FIT_SCORERS)["outputs"]["ne-two"]["type"] == "ne"
    with pytest.raises(Img2SongError, match="names a directory"):
        load_or_fit(run, "../outside", kind="ne")
    assert not (run.path / "outside").exists()
