"""Fitted scorers kept in a run (<run>/scorers/<name>/): fitted once, then loaded; refitted when stale.

A saved scorer carries the signature of the run it was fitted on, by content: a hash of the manifest's input
stage records (build-graph, train, features, train-lstm-*, each with its parameters; any stage not known to be an
output counts as an input; finish times do not count) and of the bytes of the input files (network, split,
keywords, embeddings, features, logits, tags, keyword probe, LSTM checkpoints and word vectors, corpus files):
touching a file changes nothing, editing it does. When the run's signature differs, the parameters asked for
differ from the saved ones, or the source of any first-party module the scorer's class imports (transitively,
the plug-in's own module included: staleness.py) changed, the scorer is fitted again and saved.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.run import load_training_set
from engine.scorers.base import SCORERS, Scorer, TrainingSet, get_scorer
from engine.scorers.persist import load_scorer, read_params
from engine.scorers.staleness import code_modules, code_signature, file_hash
from graph.common.errors import Img2SongError
from graph.rundir import RunDir

OUTPUT_STAGES = frozenset({"export", "evaluate", "lstm-retrieval", "fit-scorers"})  # never a scorer's input
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")
CORPUS_FILES = ("songs.jsonl", "images.jsonl", "lexicon.tsv", "keywords.txt")


def run_signature(run: RunDir | str | Path) -> str:
    """Hash of everything a scorer of this run may have been fitted on (see the module docstring)."""
    run = RunDir.of(run)
    doc = run.read_manifest()
    stages = {k: {f: x for f, x in v.items() if f != "finished_at"} if isinstance(v, dict) else v
              for k, v in doc.get("stages", {}).items() if k not in OUTPUT_STAGES}
    top = {k: v for k, v in doc.items() if k != "stages"}
    files = {p.relative_to(run.path).as_posix(): p for p in (  # named inside the run: how its path is spelled,
        run.network, run.split, run.keywords, run.embeddings, run.features, run.logits,  # or where the run was
        run.tags, run.features_meta, run.keyword_probe, run.keyword_probs, run.word_vectors,  # copied, is no input
        run.lstm_checkpoint(True), run.lstm_checkpoint(False))}
    try:
        corpus = run.corpus_path()
        files |= {f"corpus/{f}": corpus / f for f in CORPUS_FILES}
    except Img2SongError:
        pass
    hashes = {name: h for name, p in files.items() if (h := file_hash(p)) is not None}
    blob = json.dumps({"top": top, "stages": stages, "files": hashes}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


@dataclass
class FittedScorer:
    """A scorer ready to answer, where it is kept, and how it got here (loaded, or fitted and why)."""

    name: str
    scorer: Scorer
    path: Path
    status: str  # "loaded" | "fitted (<reason>)"
    seconds: float


def scorer_path(run: RunDir, name: str) -> Path:
    """<run>/scorers/<name>; the name (a registry name or an experiment's scorer name) must be a plain file name."""
    if not SAFE_NAME.fullmatch(name):
        raise Img2SongError(f"scorer name {name!r}: use letters, digits and . _ + - only (it names a directory)")
    return run.scorer_dir(name)


def stale_reason(run: RunDir | str | Path, name: str, params: dict[str, Any] | None = None,
                 signature: str | None = None, kind: str | None = None) -> str | None:
    """Why <run>/scorers/<name> cannot be used as it is (None when it can); `kind`: registry type (default name)."""
    run = RunDir.of(run)
    path = scorer_path(run, name)
    if not (path / "params.json").is_file():
        return "not saved yet"
    try:
        doc = read_params(path)
    except Img2SongError as e:
        return f"unreadable ({e})"
    wanted = get_scorer(kind or name, **(params or {})).get_params()
    if doc["name"] != (kind or name) or doc["params"] != json.loads(json.dumps(wanted, default=str)):
        return "fitted with other parameters"
    modules = doc.get("code_modules")
    if (not isinstance(modules, list) or doc.get("code") is None or doc["code"] != code_signature(modules)
            or not set(code_modules(SCORERS.get(kind or name).__module__)) <= set(modules)):
        return "saved by other code (the scorer's modules changed)"
    if doc.get("signature") != (signature or run_signature(run)):
        return "the run's inputs changed since it was fitted"
    return None


def load_or_fit(run: RunDir | str | Path, name: str, params: dict[str, Any] | None = None,
                data: TrainingSet | None = None, refit: bool = False, kind: str | None = None) -> FittedScorer:
    """The run's saved scorer `name` when it is current; else fit it (on `data`, or the run's training set),
    save it into the run and record it in the manifest under stage 'fit-scorers'. `kind` is the registered
    scorer type when `name` is an experiment's own name for it (default: the name itself)."""
    run = RunDir.of(run).require_dir()
    path = scorer_path(run, name)
    t0 = time.perf_counter()
    sig = run_signature(run)
    reason = "asked to refit" if refit else stale_reason(run, name, params, sig, kind)
    if reason is None:
        try:
            return FittedScorer(name, load_scorer(path), path, "loaded", time.perf_counter() - t0)
        except Img2SongError as e:
            reason = f"unreadable ({e})"
    if data is None:
        data = load_training_set(run)
    scorer = get_scorer(kind or name, **(params or {})).fit(data)
    scorer.save(path, signature=sig)
    prev = run.stage("fit-scorers") or {}
    outputs = dict(prev.get("outputs", {}))
    outputs[name] = {"dir": str(path), "type": kind or name, "signature": sig, "params": scorer.get_params()}
    run.record("fit-scorers", {"scorers": sorted(outputs)}, outputs)
    return FittedScorer(name, scorer, path, f"fitted ({reason})", time.perf_counter() - t0)
