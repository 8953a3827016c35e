"""Under the photo protocol no scorer can reach a query image's keywords, tags or caption through what it is handed.

A plug-in written outside the project (tests/label_spy.py's source, written into tmp_path and registered with
--scorer-module) walks everything `img2song evaluate` hands it and every file under every path in it.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

from evaluation.app.cli import main
from evaluation.stages import pipeline
from evaluation.stages.rundir import RunDir
from tests.label_spy import SPY_SOURCE
from tests.scorer_contract import QUERY, TRAIN, make_run
from tests.serve_main import BACKBONE

SPY_MODULE = "img2song_outside_label_spy"


def caption_of(image_id: str) -> str:
    return f"caption written for {image_id} only: a heron at dusk"  # in no lyric; one per image


def spy_run(tmp_path: Path) -> Path:
    """make_run with a caption on every image, real features (CNN, ImageNet logits, keyword probe) and a trained
    LSTM with its lyric word vectors: every artefact a run has, so that every one is walked."""
    run = make_run(tmp_path)
    images = tmp_path / "corpus" / "images.jsonl"
    rows = [json.loads(x) for x in images.read_text(encoding="utf-8").splitlines()]
    images.write_text("".join(json.dumps({**r, "caption": caption_of(r["id"])}, ensure_ascii=False) + "\n"
                              for r in rows), encoding="utf-8")
    pipeline.features(run, backbone=BACKBONE, echo=lambda _: None)
    pipeline.train_lstm(run, epochs=1, device="cpu", progress=False, echo=lambda _: None)
    return run


def query_labels(run: Path) -> dict[str, list[str]]:
    """Every query image's keywords (keywords.json), tags and caption (the corpus's images.jsonl)."""
    r = RunDir(run)
    split, kw = r.load_split(), r.load_keywords()
    rows = {d["id"]: d for d in map(json.loads, (r.corpus_path() / "images.jsonl").read_text("utf-8").splitlines())}
    return {q: sorted(set(kw.images.get(q, {})) | set(rows[q].get("tags", [])) | {rows[q]["caption"]})
            for q in split.query}


def install_spy(tmp_path: Path, monkeypatch, run: Path) -> tuple[Path, Path]:
    """The spy's module in a folder outside the project, its label list and its output file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    module = outside / f"{SPY_MODULE}.py"
    module.write_text(SPY_SOURCE, encoding="utf-8")
    labels = query_labels(run)
    spy_dir = tmp_path / "spy"
    spy_dir.mkdir()
    spec = spy_dir / "labels.json"
    spec.write_text(json.dumps({"labels": labels, "captions": [caption_of(q) for q in labels]}, ensure_ascii=False),
                    encoding="utf-8")
    out = spy_dir / "out.json"
    monkeypatch.setenv("IMG2SONG_SPY_LABELS", str(spec))
    monkeypatch.setenv("IMG2SONG_SPY_OUT", str(out))
    monkeypatch.syspath_prepend(str(outside))
    sys.modules.pop(SPY_MODULE, None)  # a fresh walker per test
    return module, out


def test_spy_plugin_reaches_no_query_label_through_evaluate(tmp_path, monkeypatch, capsys):
    run = spy_run(tmp_path)
    module, out = install_spy(tmp_path, monkeypatch, run)
    toml = tmp_path / "photo.toml"
    toml.write_text('protocols = ["photo"]\nns = [0]\nn_boot = 20\n[scorers.label-spy]\n', encoding="utf-8")
    rc = main(["evaluate", "--run", str(run), "--config", str(toml), "--scorer-module", SPY_MODULE])
    err = capsys.readouterr().err
    spy = json.loads(out.read_text(encoding="utf-8"))
    print("spy summary:", json.dumps(spy, ensure_ascii=False, indent=1))  # the note quotes it (pytest -s)
    assert spy["leaks"] == [] and rc == 0, (rc, err, spy["leaks"])
    c = spy["counts"]
    # it really walked: fit once, every query, the corpus's songs and images, the LSTM and the query photos
    assert c["fit_calls"] == 1 and c["queries_walked"] == len(QUERY)
    assert c["objects"] > 100 and c["strings"] > 100 and c["arrays"] > 10
    assert c["paths"] >= len(TRAIN) + len(QUERY)  # the training images' files and each query's photo
    assert spy["files_visited"] == len(TRAIN) + len(QUERY)  # ... read to the byte: no other file is reachable
    assert json.loads((run / "report.json").read_text(encoding="utf-8"))["scorers"]["label-spy"]["queries"] == 3


def test_the_spy_finds_labels_where_they_are(tmp_path, monkeypatch):
    """The spy is not blind: handed the run directory, the corpus directory or a keyword map it reports each."""
    run = make_run(tmp_path)
    images = tmp_path / "corpus" / "images.jsonl"
    rows = [json.loads(x) for x in images.read_text(encoding="utf-8").splitlines()]
    images.write_text("".join(json.dumps({**r, "caption": caption_of(r["id"])}) + "\n" for r in rows), "utf-8")
    install_spy(tmp_path, monkeypatch, run)
    spy = importlib.import_module(SPY_MODULE)
    labels = query_labels(run)
    for handed, needle in [(run, "keywords.json"), (tmp_path / "corpus", "images.jsonl"),
                           ({"images": {"q2": {"花": 1.0}}}, "'q2' -> its label"),
                           ([("i1", "月"), ("q3", "船")], "'q3' with its label"),
                           (["a note", caption_of("q1")], "query caption")]:
        w = spy.Walker(labels, [caption_of(q) for q in labels])
        w.walk(handed, "handed")
        assert any(needle in leak for leak in w.leaks), (handed, w.leaks)
    clean = spy.Walker(labels, [caption_of(q) for q in labels])
    clean.walk({"vocabulary": ["月", "花", "船"], "images": {"i1": {"月": 1.0}}, "ids": ["q1", "q2", "q3"]}, "ok")
    assert clean.leaks == []  # keywords alone, and query ids alone, are no leak


def test_corpus_view_holds_training_images_with_the_corpus_files_and_refuses_escapes(tmp_path):
    from engine.inputs import CorpusView
    from graph.common.errors import CorpusError
    from graph.corpus import load_corpus

    run = make_run(tmp_path)
    corpus = load_corpus(RunDir(run).corpus_path())
    view = CorpusView.of(corpus, TRAIN)
    assert [i.id for i in view.images] == TRAIN and len(view.songs) == len(corpus.songs)
    assert all(view.image_path(i) == corpus.image_path(i) for i in TRAIN)
    assert not hasattr(view, "root") and "q1" not in view.image_files
    with pytest.raises(KeyError):
        view.image("q1")
    (tmp_path / "corpus" / "images" / "i1.png").unlink()
    (tmp_path / "corpus" / "images" / "i1.png").symlink_to(tmp_path / "spy")  # a file outside the corpus
    with pytest.raises(CorpusError, match="leads outside the corpus directory"):
        CorpusView.of(corpus, TRAIN)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-s"])
