"""A saved scorer is stale when the content of its inputs or of any first-party module its class imports changed;
touching a file (mtime) or re-running a stage with the same parameters changes nothing."""
from __future__ import annotations

import hashlib
import os

import engine.scorers.staleness as staleness
from engine.scorers.staleness import code_modules, module_file
from evaluation.stages.fitted import load_or_fit, run_signature, stale_reason
from evaluation.stages.rundir import RunDir, Stage
from tests.scorer_contract import make_run

SONG_LISTS = "engine.index.song_lists"
OTHER_CODE = "saved by other code (the scorer's modules changed)"


def test_code_modules_follow_imports_transitively_without_importing(tmp_path, monkeypatch):
    # ne+ imports ne, which imports engine.index.song_lists: the ancestry-only hash of main missed it for ne+
    assert SONG_LISTS in code_modules("engine.scorers.ne") and SONG_LISTS in code_modules("engine.scorers.ne_plus")
    assert SONG_LISTS not in code_modules("engine.scorers.pop")
    assert "engine.knn" in code_modules("engine.scorers.ne")  # never hashed on main
    # a plug-in package: relative and deferred imports are followed; third-party ones are not
    pkg = tmp_path / "myplug"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "helper.py").write_text("import numpy\nX = 1\n")
    (pkg / "sub" / "deferred.py").write_text("Y = 2\n")
    (pkg / "scorer.py").write_text("from .sub import helper\n\ndef f():\n    from myplug.sub.deferred import Y\n"
                                   "    from engine.scorers.pop import POPScorer\n    return Y\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mods = code_modules("myplug.scorer")
    assert {"myplug", "myplug.scorer", "myplug.sub", "myplug.sub.helper", "myplug.sub.deferred",
            "engine.scorers.pop"} <= set(mods)
    assert not any(m.startswith("numpy") for m in mods) and "myplug.scorer" not in __import__("sys").modules
    assert module_file("myplug.sub.helper") == pkg / "sub" / "helper.py"


def test_editing_song_lists_makes_ne_and_ne_plus_stale(tmp_path, monkeypatch):
    run = RunDir(make_run(tmp_path))
    for name in ("ne", "ne+", "pop"):
        load_or_fit(run, name)
        assert stale_reason(run, name) is None
    real = module_file(SONG_LISTS)
    before = hashlib.sha256(real.read_bytes()).hexdigest()
    read = staleness.read_source

    def edited(module: str) -> bytes | None:  # the file as if someone edited it; the real file stays as it is
        src = read(module)
        return src + b"\n# an edit\n" if module == SONG_LISTS and src is not None else src

    monkeypatch.setattr(staleness, "read_source", edited)
    assert stale_reason(run, "ne") == OTHER_CODE and stale_reason(run, "ne+") == OTHER_CODE
    assert stale_reason(run, "pop") is None  # pop does not import it
    assert load_or_fit(run, "ne+").status == f"fitted ({OTHER_CODE})"
    assert stale_reason(run, "ne+") is None  # saved again under the edited code
    assert hashlib.sha256(real.read_bytes()).hexdigest() == before


def test_touching_inputs_or_rerunning_a_stage_unchanged_keeps_the_scorer(tmp_path):
    run = RunDir(make_run(tmp_path))
    load_or_fit(run, "ne")
    sig = run_signature(run)
    for p in (run.embeddings, run.features, run.network, run.split):
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched: mtime 5 s later
    run.features.write_bytes(run.features.read_bytes())  # rewritten with the same bytes
    stage = run.stage(Stage.BUILD_GRAPH)
    run.record(Stage.BUILD_GRAPH, stage["params"], stage["outputs"])  # same stage again: only its finish time moves
    assert run_signature(run) == sig
    assert stale_reason(run, "ne") is None and load_or_fit(run, "ne").status == "loaded"
    lexicon = run.corpus_path() / "lexicon.tsv"
    lexicon.write_text(lexicon.read_text(encoding="utf-8") + "rain\t雨\n", encoding="utf-8")  # content changed
    assert run_signature(run) != sig and stale_reason(run, "ne") == "the run's inputs changed since it was fitted"


def test_editing_a_plugin_helper_makes_it_stale_and_touching_it_does_not(tmp_path, monkeypatch):
    """A plug-in package outside the project: its scorer module imports a helper module of its own. Touching the
    helper (mtime only) keeps the saved scorer; editing its content makes it stale, and it is refitted."""
    import importlib
    import sys

    from engine.scorers.names import SCORERS

    pkg = tmp_path / "plugins" / "stale_plug"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "helper.py").write_text("POOL = 5\n", encoding="utf-8")
    (pkg / "scorer.py").write_text(
        "from engine.scorers.base import register_scorer\nfrom engine.scorers.pop import POPScorer\n\n"
        "from .helper import POOL\n\n\n@register_scorer('stale-plug')\nclass StalePlug(POPScorer):\n"
        "    def __init__(self, pool: int = POOL, seed: int = 0) -> None:\n        super().__init__(pool, seed)\n",
        encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path / "plugins"))
    monkeypatch.setattr(SCORERS, "_classes", dict(SCORERS._classes))  # the registration goes with the test
    for m in ("stale_plug", "stale_plug.helper", "stale_plug.scorer"):
        sys.modules.pop(m, None)
    importlib.import_module("stale_plug.scorer")
    assert {"stale_plug", "stale_plug.helper", "stale_plug.scorer"} <= set(code_modules("stale_plug.scorer"))

    run = RunDir(make_run(tmp_path))
    assert load_or_fit(run, "stale-plug").status == "fitted (not saved yet)"
    assert stale_reason(run, "stale-plug") is None
    helper = pkg / "helper.py"
    st = helper.stat()
    os.utime(helper, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touched, same content
    assert stale_reason(run, "stale-plug") is None and load_or_fit(run, "stale-plug").status == "loaded"
    helper.write_text("POOL = 5  # an edit that changes no behaviour still changes the code\n", encoding="utf-8")
    assert stale_reason(run, "stale-plug") == OTHER_CODE
    assert load_or_fit(run, "stale-plug").status == f"fitted ({OTHER_CODE})"
    assert stale_reason(run, "stale-plug") is None
    for m in ("stale_plug", "stale_plug.helper", "stale_plug.scorer"):
        sys.modules.pop(m, None)
