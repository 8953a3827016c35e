"""Regression tests for issue 22's second hostile pass, cases the first batch (test_hostile_pass2.py) left:
a corpus edited after build-graph (4), a killed evaluate's mixed outputs (18), symlink loops and a full disk at the
faiss index (11), a stalled client at shutdown and idle connections (10, 19)."""
from __future__ import annotations

import json
import os

import pytest

from evaluation.cli import main
from graph.common.errors import Img2SongError
from graph.rundir import RunDir
from tests.conftest import make_corpus


@pytest.fixture
def built(tmp_path):
    """A tiny corpus and a run built from it (graph only)."""
    corpus = make_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    assert main(["build-graph", "--corpus", str(corpus), "--out", str(run), "--holdout", "0.2"]) == 0
    return corpus, run


def test_case04_run_records_a_content_fingerprint_and_an_unchanged_corpus_passes(built):
    corpus, run = built
    doc = json.loads((run / "run.json").read_text(encoding="utf-8"))
    fp = doc["corpus_fingerprint"]
    assert set(fp) >= {"songs.jsonl", "images.jsonl"} and all(len(fp[n]) == 64 for n in ("songs.jsonl", "images.jsonl"))
    os.utime(corpus / "songs.jsonl", ns=(1, 1))  # touched, same content: by content, not mtime
    assert RunDir(run).corpus_path() == corpus.resolve()


@pytest.mark.parametrize("name, edit", [
    ("songs.jsonl", lambda p: p.write_text("".join(p.read_text(encoding="utf-8").splitlines(True)[1:]),
                                           encoding="utf-8")),  # a song deleted
    ("images.jsonl", lambda p: p.write_text(p.read_text(encoding="utf-8").replace("moon", "mooon"),
                                            encoding="utf-8")),  # a tag edited, same line count
    ("songs.jsonl", lambda p: p.unlink()),
])
def test_case04_corpus_edited_after_build_graph_is_refused_naming_the_file(built, capsys, name, edit):
    corpus, run = built
    st = (corpus / name).stat()
    edit(corpus / name)
    if (corpus / name).exists():
        os.utime(corpus / name, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: caught by content
    with pytest.raises(Img2SongError, match=f"{name}: .*since build-graph.*rebuild"):
        RunDir(run).corpus_path()
    capsys.readouterr()
    code = main(["recommend", "--run", str(run), "--scorer", "pop", str(corpus / "images" / "i1.png")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(corpus / name) in err and "build-graph" in err and "Traceback" not in err
    assert not (run / "scorers" / "pop").exists()  # refused before any scorer was fitted on the stale corpus


def test_case04_runs_built_before_the_fingerprint_still_load(built):
    corpus, run = built
    doc = json.loads((run / "run.json").read_text(encoding="utf-8"))
    doc.pop("corpus_fingerprint", None)  # as run.json was written before this check existed
    (run / "run.json").write_text(json.dumps(doc), encoding="utf-8")
    assert RunDir(run).corpus_path() == corpus.resolve()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A tiny real run (tests/scorer_contract.make_run), evaluated once with KM and POP."""
    from evaluation.protocol import evaluate_run
    from tests.scorer_contract import make_run

    root = tmp_path_factory.mktemp("eval")
    run = make_run(root)
    evaluate_run(run, scorers=("km", "pop"), cache_dir=root / "cn", k=3, n_boot=20, progress=False)
    return run


def _ids(path) -> set:
    return {json.loads(line).get("evaluation_id") for line in path.read_text(encoding="utf-8").splitlines()}


def test_case18_evaluate_stamps_one_evaluation_id_into_all_its_outputs(evaluated):
    eid = json.loads((evaluated / "report.json").read_text(encoding="utf-8"))["evaluation_id"]
    assert eid and _ids(evaluated / "per_query.jsonl") == {eid} == _ids(evaluated / "recommendations.jsonl")
    stage = RunDir(evaluated).stage("evaluate")
    assert stage["outputs"]["evaluation_id"] == eid and not stage.get("incomplete")
    assert main(["report", "--run", str(evaluated)]) == 0


def test_case18_killed_evaluate_is_refused_by_report_not_rendered_as_a_mix(evaluated, tmp_path, monkeypatch, capsys):
    import shutil

    from evaluation import protocol

    run = tmp_path / "run"
    shutil.copytree(evaluated, run)
    old_recs = (run / "recommendations.jsonl").read_bytes()

    def killed(*_a, **_k):  # the process dies after report.json and per_query.jsonl, before recommendations.jsonl
        raise KeyboardInterrupt

    monkeypatch.setattr(protocol, "write_recommendations", killed)
    with pytest.raises(KeyboardInterrupt):
        protocol.evaluate_run(run, scorers=("km", "pop"), cache_dir=run.parent / "cn", k=3, n_boot=20,
                              progress=False)
    monkeypatch.undo()
    assert (run / "recommendations.jsonl").read_bytes() == old_recs  # old and new outputs side by side
    capsys.readouterr()
    code = main(["report", "--run", str(run)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "did not finish" in err and "rerun `img2song evaluate" in err and "Traceback" not in err
    # even with run.json's mark gone (copied files, an older manifest), the mix itself is named
    doc = json.loads((run / "run.json").read_text(encoding="utf-8"))
    doc["stages"].pop("evaluate")
    (run / "run.json").write_text(json.dumps(doc), encoding="utf-8")
    code = main(["report", "--run", str(run)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "different `img2song evaluate` runs" in err and "recommendations.jsonl" in err and "per_query.jsonl" in err
