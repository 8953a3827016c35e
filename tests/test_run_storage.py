"""One layer owns the run directory: the storage (evaluation/stages/rundir.py) is imported only by the stage layer, no
function in engine/ or graph/ takes a run directory, and every save_X / load_X pair round-trips typed objects.

What "takes a run directory" means here, read from the code with `ast` (every function and method of every module
under engine/ and graph/):
- a parameter named like a run: `run`, `run_dir`, `rundir`, `run_path`, `run_root`, `out_run`;
- a parameter whose annotation names the storage class `RunDir` (or the module `rundir`);
- a string literal equal to the file name of a run artefact (`embeddings.npz`, `line.json`, `run.json`, ... taken
  from RunDir's own path properties), which is how a function given any directory would find its way into a run.
  `keywords.txt` is left out: it is also the corpus's keyword file (graph.corpus reads it from the corpus).
"""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.stages.rundir import RunDir, Stage
from graph.build import KeywordFile, Split
from graph.common.errors import Img2SongError
from tests.test_import_flow import ROOT, _graph, reach

RUN_PARAMS = {"run", "run_dir", "rundir", "run_path", "run_root", "out_run"}
STORAGE = "evaluation.stages.rundir"


def run_file_names() -> set[str]:
    r = RunDir("x")
    names = {getattr(r, k).name for k, v in vars(RunDir).items() if isinstance(v, property)}
    names |= {r.lstm_checkpoint(True).name, r.lstm_checkpoint(False).name}
    return {n for n in names if "." in n} - {"keywords.txt"}


def run_dir_takers(root: Path = ROOT) -> list[str]:
    """Every `file:function: why` of engine/ and graph/ that takes or opens a run directory (module docstring)."""
    files = run_file_names()
    bad = []
    for pkg in ("engine", "graph"):
        for path in sorted((root / pkg).rglob("*.py")):
            rel = path.relative_to(root)
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    a = node.args
                    for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                        if arg is None:
                            continue
                        ann = ast.unparse(arg.annotation) if arg.annotation is not None else ""
                        if arg.arg in RUN_PARAMS:
                            bad.append(f"{rel}:{node.name}: parameter {arg.arg!r}")
                        elif "RunDir" in ann or "rundir" in ann:
                            bad.append(f"{rel}:{node.name}: parameter {arg.arg}: {ann}")
                elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in files:
                    bad.append(f"{rel}:{node.lineno}: run file name {node.value!r}")
    return bad


def test_no_engine_or_graph_function_takes_a_run_directory():
    assert run_dir_takers() == []


def test_the_storage_is_imported_by_the_stage_layer_only():
    graph = _graph()
    importers = sorted(m for m, targets in graph.items() if STORAGE in targets)
    assert importers and all(m.startswith(("evaluation.stages.", "evaluation.bench.", "evaluation.app."))
                             for m in importers), importers
    # and nothing below the stage layer reaches it through another module either
    below = [m for m in graph if m.split(".")[0] in ("graph", "engine") or m.startswith("evaluation.measure.")]
    seen, todo = set(below), list(below)
    while todo:
        for t in graph[todo.pop()]:
            if t not in seen:
                seen.add(t)
                todo.append(t)
    assert STORAGE not in seen
    # the pipeline's stages, the loaders of what scorers are handed and the saved-scorer cache go through it
    assert {"evaluation.stages.pipeline", "evaluation.stages.run_inputs", "evaluation.stages.fitted"} <= set(importers)


def test_the_check_sees_a_run_taker(tmp_path):
    (tmp_path / "engine").mkdir()
    (tmp_path / "graph").mkdir()
    (tmp_path / "engine" / "a.py").write_text(
        "def fit(x, run_dir):\n    pass\n\n"
        "def load(p: 'RunDir | str'):\n    pass\n\n"
        "def sneaky(d):\n    return d / 'embeddings.npz'\n", encoding="utf-8")
    (tmp_path / "graph" / "b.py").write_text("KEYWORDS = 'keywords.txt'  # the corpus's file: allowed\n",
                                             encoding="utf-8")
    assert run_dir_takers(tmp_path) == ["engine/a.py:fit: parameter 'run_dir'",
                                        "engine/a.py:load: parameter p: 'RunDir | str'",
                                        "engine/a.py:8: run file name 'embeddings.npz'"]


def test_stages_are_recorded_by_enum_only(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.record(Stage.TRAIN, {"dim": 8}, {"embeddings": tmp_path / "e.npz"})
    assert run.stage(Stage.TRAIN)["params"] == {"dim": 8}
    assert json.loads(run.manifest.read_text(encoding="utf-8"))["stages"]["train"]["outputs"] == {
        "embeddings": str(tmp_path / "e.npz")}
    with pytest.raises(TypeError, match="Stage"):
        run.record("train", {})
    assert Stage.train_lstm(True) is Stage.TRAIN_LSTM_ATTENTION and Stage.train_lstm(False).value == "train-lstm-baseline"
    assert {s.value for s in Stage if s.is_output} == {"export", "evaluate", "lstm-retrieval", "fit-scorers"}


def test_save_and_load_pairs_round_trip(tmp_path):
    from engine.embeddings import EmbeddingTable
    from engine.features.probe import KeywordProbe
    from engine.features.table import FeatureTable
    from graph.network import Kind, Network, vertex_id

    run = RunDir(tmp_path / "r").create()
    ids = [vertex_id(Kind.IMAGE, "a"), vertex_id(Kind.KEYWORD, "月"), vertex_id(Kind.SONG, "s")]
    net = Network(ids, np.array([Kind.IMAGE, Kind.KEYWORD, Kind.SONG], np.int8), ["a", "月", "s"],
                  np.array([[0, 1], [2, 1]], np.int64), np.array([1.0, 2.0], np.float32), directed=False)
    run.save_network(net)
    back = run.load_network()
    assert back.ids == ids and np.array_equal(back.edges, net.edges)

    run.save_split(Split(["a"], ["q"]))
    assert run.load_split() == Split(["a"], ["q"])
    kw = KeywordFile(["月"], {"a": {"月": 1.0}, "q": {"月": 2.0}}, {"s": {"月": 3.0}})
    run.save_keywords(kw)
    assert run.load_keywords() == kw and run.vocabulary() == ["月"]

    assert run.load_embeddings() is None
    table = EmbeddingTable(ids, np.arange(6, dtype=np.float32).reshape(3, 2))
    emb, line = run.save_embeddings(table, {"source": "test", "dim": 2})
    assert np.array_equal(run.load_embeddings().vectors, table.vectors)
    assert json.loads(line.read_text(encoding="utf-8"))["status"] == "complete"
    line.write_text(json.dumps({"status": "incomplete"}), encoding="utf-8")  # a train killed while writing
    with pytest.raises(Img2SongError, match="did not finish"):
        run.load_embeddings()

    feats = FeatureTable(["a", "q"], np.eye(2, dtype=np.float32), {"backbone": "fake"})
    tags = FeatureTable(["a", "q"], np.full((2, 1), 1.0, np.float32), {"vocabulary": ["月"]})
    paths = run.save_features(feats, None, tags, {"backbone": "fake"})
    assert set(paths) == {"features", "tags", "meta"} and run.load_logits() is None
    assert np.array_equal(run.load_features().matrix, feats.matrix)
    assert run.load_tags()[1] == "imagenet-hypernyms" and run.load_features_meta() == {"backbone": "fake"}
    other = FeatureTable(["a", "q"], np.ones((2, 1), np.float32), {"vocabulary": ["花"]})
    other.save(run.tags)
    with pytest.raises(Img2SongError, match="another keyword vocabulary"):
        run.load_tags()

    x = np.random.default_rng(0).normal(size=(20, 2)).astype(np.float32)
    probe = KeywordProbe(seed=0, vocabulary=["月", "花"]).fit(x, np.stack([x[:, 0] > 0, x[:, 0] <= 0], 1) * 1.0)
    probs = FeatureTable(["a", "q"], probe.predict_proba(feats.matrix), {"vocabulary": ["月"]})
    run.save_keyword_probe(probe, probs)
    assert np.allclose(run.load_keyword_probe().predict_proba(feats.matrix), probs.matrix)
    assert run.load_tags()[1] == "keyword-probe"

    with pytest.raises(Img2SongError, match="use letters"):
        run.scorer_dir("../x")
    assert run.scorer_params("ne") is None
    # no temp file of any writer is left behind
    assert not [p for p in run.path.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]


def test_the_input_signature_follows_content_not_mtime(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.save_split(Split(["a"], ["q"]))
    run.record(Stage.BUILD_GRAPH, {"seed": 0})
    sig = run.input_signature()
    st = run.split.stat()
    import os

    os.utime(run.split, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    run.record(Stage.EVALUATE, {"k": 10})  # an output stage: no scorer's input
    assert run.input_signature() == sig
    run.save_split(Split(["a", "b"], ["q"]))
    assert run.input_signature() != sig


REPORT_ATTRS = {"report_json", "report_md", "report_png", "per_query", "recommendations", "report_html",
                "report_screenshot", "related_words", "lstm_retrieval"}


def report_writers(root: Path = ROOT) -> list[str]:
    """Every `file:line` outside the storage that hands one of the run's report paths (RunDir.report_json, ...) or a
    report file name (alone or as `dir / name`) to a call, which is how a writer or reader would open it: the
    report artefacts are written and read through save_X / load_X only."""
    names = {getattr(RunDir("x"), a).name for a in REPORT_ATTRS}
    bad = []
    for pkg in ("graph", "engine", "evaluation"):
        for path in sorted((root / pkg).rglob("*.py")):
            if path.name.startswith("rundir"):  # the storage: rundir.py and its mixins
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Call):
                    continue
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    leaf = arg.right if isinstance(arg, ast.BinOp) and isinstance(arg.op, ast.Div) else arg
                    if (isinstance(leaf, ast.Attribute) and leaf.attr in REPORT_ATTRS) or (
                            isinstance(leaf, ast.Constant) and leaf.value in names):
                        bad.append(f"{path.relative_to(root)}:{node.lineno}: {ast.unparse(arg)}")
    return bad


def test_report_artefacts_are_written_through_the_storage_only(tmp_path):
    assert report_writers() == []
    (tmp_path / "evaluation").mkdir()
    (tmp_path / "evaluation" / "w.py").write_text(
        "def f(run, doc):\n    write_json(run.report_json, doc)\n    open(p / 'per_query.jsonl')\n", encoding="utf-8")
    assert report_writers(tmp_path) == ["evaluation/w.py:2: run.report_json", "evaluation/w.py:3: p / 'per_query.jsonl'"]


def test_report_save_and_load_pairs_round_trip(tmp_path):
    from evaluation.measure.report import Report, build_report

    rows = [{"protocol": "photo", "scorer": s, "n": n, "image": i, "keywords": ["月"], "songs": ["s1", "s2"],
             "hits": [h, False], "evaluation_id": "e1"}
            for s in ("ne", "km") for n in (0, 5) for i, h in (("a", True), ("b", s == "ne"), ("c", False))]
    rep = build_report(rows, ["ne", "km"], [0, 5], k=2, n_boot=50, meta={"evaluation_id": "e1", "run": "r"})
    rep.retrieval = {"retrieval": {"song-disjoint": {"attention": {"image2song": {"R@10": 0.5, "med_r": 3.0}}}},
                     "details": {"pairs": 3}}
    run = RunDir(tmp_path / "r")
    paths = run.save_report(rep)
    assert {p.name for p in paths.values()} == {"report.json", "report.md", "per_query.jsonl", "report.png"}
    back = run.load_report()
    assert isinstance(back, Report) and back.rows == rows
    assert back.to_json() == rep.to_json() and back.markdown() == rep.markdown()
    assert back.meta == rep.meta and back.protocols == rep.protocols and back.diagnostics == rep.diagnostics
    recs = [{"protocol": "photo", "scorer": "ne", "image": "a", "songs": ["s1"], "scores": [0.5],
             "explanations": ["月"], "details": [None], "evaluation_id": "e1"}]
    run.save_recommendations(recs)
    assert run.load_recommendations() == recs
    assert run.save_report_html("<html>月</html>").read_text(encoding="utf-8") == "<html>月</html>"
    assert run.load_related_words() == {}
    run.save_related_words({"source_id": "x", "n_max": 5, "words": {"月": ["月亮"]}})
    assert run.load_related_words()["words"] == {"月": ["月亮"]}
    assert run.load_lstm_retrieval() is None
    run.save_lstm_retrieval(rep.retrieval)
    assert run.load_lstm_retrieval() == rep.retrieval
    assert not [p for p in run.path.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]
    # bad files are errors naming the file, not tracebacks or silent empties
    run.report_json.write_text("[1]", encoding="utf-8")
    with pytest.raises(Img2SongError, match="report.json: expected a JSON object"):
        run.load_report()
    run.report_json.write_text('{"k": 10}', encoding="utf-8")
    with pytest.raises(Img2SongError, match="field 'scorers'"):
        run.load_report()
    run.per_query.write_text('{"scorer": "ne"}\n{oops\n', encoding="utf-8")
    with pytest.raises(Img2SongError, match=r"per_query.jsonl:2: malformed JSON"):
        run.load_per_query()


def test_following_the_run_from_the_evaluate_stage_stays_in_the_stage_layer():
    """Every module the evaluate stage (evaluation/stages/protocol.py) reaches that names the storage class or a run
    directory is in the stage layer; below it (measure, engine, graph) arrive objects only."""
    graph = _graph()
    reached = sorted(m for m in reach(graph, ["evaluation.stages.protocol"]) if m.split(".")[0] in
                     ("graph", "engine", "evaluation"))
    assert len(reached) > 30
    naming = [m for m in reached if "RunDir" in _graph_source(m)]
    assert naming and all(m.startswith("evaluation.stages.") for m in naming), naming
    assert {"evaluation.stages.rundir", "evaluation.stages.run_inputs"} <= set(naming)


def _graph_source(module: str) -> str:
    from tests.test_import_flow import _modules

    return _modules()[module].read_text(encoding="utf-8")
