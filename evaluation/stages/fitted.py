"""Fitted scorers kept in a run (<run>/scorers/<name>/): fitted once, then loaded; refitted when stale.

A saved scorer carries the run's input signature (RunDir.input_signature: by content, the manifest's input stage
records and the bytes of the input files; touching a file changes nothing, editing it does). When the run's
signature differs, the parameters asked for differ from the saved ones, or the source of any first-party module
the scorer's class imports (transitively, the plug-in's own module included: engine/scorers/staleness.py)
changed, the scorer is fitted again and saved.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.scorers.base import SCORERS, Scorer, TrainingSet, get_scorer
from engine.scorers.staleness import code_modules, code_signature
from evaluation.stages.run_inputs import load_training_set
from evaluation.stages.rundir import RunDir, Stage
from graph.common.errors import Img2SongError


def run_signature(run: RunDir | str | Path) -> str:
    """Hash of everything a scorer of this run may have been fitted on (RunDir.input_signature)."""
    return RunDir.of(run).input_signature()


@dataclass
class FittedScorer:
    """A scorer ready to answer, where it is kept, and how it got here (loaded, or fitted and why)."""

    name: str
    scorer: Scorer
    path: Path
    status: str  # "loaded" | "fitted (<reason>)"
    seconds: float


def stale_reason(run: RunDir | str | Path, name: str, params: dict[str, Any] | None = None,
                 signature: str | None = None, kind: str | None = None) -> str | None:
    """Why <run>/scorers/<name> cannot be used as it is (None when it can); `kind`: registry type (default name)."""
    run = RunDir.of(run)
    run.scorer_dir(name)  # an unsafe name is an error, not a stale scorer
    try:
        doc = run.scorer_params(name)
    except Img2SongError as e:
        return f"unreadable ({e})"
    if doc is None:
        return "not saved yet"
    wanted = get_scorer(kind or name, **(params or {})).get_params()
    if doc["name"] != (kind or name) or doc["params"] != json.loads(json.dumps(wanted, default=str)):
        return "fitted with other parameters"
    modules = doc.get("code_modules")
    if (not isinstance(modules, list) or doc.get("code") is None or doc["code"] != code_signature(modules)
            or not set(code_modules(SCORERS.get(kind or name).__module__)) <= set(modules)):
        return "saved by other code (the scorer's modules changed)"
    if doc.get("signature") != (signature or run.input_signature()):
        return "the run's inputs changed since it was fitted"
    return None


def load_or_fit(run: RunDir | str | Path, name: str, params: dict[str, Any] | None = None,
                data: TrainingSet | None = None, refit: bool = False, kind: str | None = None) -> FittedScorer:
    """The run's saved scorer `name` when it is current; else fit it (on `data`, or the run's training set),
    save it into the run and record it in the manifest under stage 'fit-scorers'. `kind` is the registered
    scorer type when `name` is an experiment's own name for it (default: the name itself)."""
    run = RunDir.of(run).require_dir()
    path = run.scorer_dir(name)
    t0 = time.perf_counter()
    sig = run.input_signature()
    reason = "asked to refit" if refit else stale_reason(run, name, params, sig, kind)
    if reason is None:
        try:
            return FittedScorer(name, run.load_scorer(name), path, "loaded", time.perf_counter() - t0)
        except Img2SongError as e:
            reason = f"unreadable ({e})"
    if data is None:
        data = load_training_set(run)
    scorer = get_scorer(kind or name, **(params or {})).fit(data)
    run.save_scorer(name, scorer, signature=sig)
    prev = run.stage(Stage.FIT_SCORERS) or {}
    outputs = dict(prev.get("outputs", {}))
    outputs[name] = {"dir": str(path), "type": kind or name, "signature": sig, "params": scorer.get_params()}
    run.record(Stage.FIT_SCORERS, {"scorers": sorted(outputs)}, outputs)
    return FittedScorer(name, scorer, path, f"fitted ({reason})", time.perf_counter() - t0)
