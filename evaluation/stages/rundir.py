"""The storage of one run directory: one owner, one typed `save_X` / `load_X` pair per artefact, the manifest of
stages and the input signature of saved scorers.

In the manner of PyTorch-BigGraph's checkpoint storage: the stage functions (evaluation.stages.pipeline and the stage
layer above engine) hand `RunDir` objects (a Network, an EmbeddingTable, a FeatureTable, a KeywordProbe, a trained
LSTM, a fitted scorer) and ask it for objects back; no estimator below sees the directory. Every write is atomic
(temp file + rename, or a whole directory swapped in), and every stage records in `run.json` what it wrote and
with which parameters under its `Stage` name, so a run written by the Python API and one written by the CLI are the
same thing. Nothing in graph/ or engine/ imports this module (tests/test_run_storage.py checks it).

This module holds the layout (every artefact's path), the manifest, the corpus link and the input signature; the
save/load pairs are mixins by concern: rundir_graph (build-graph, train), rundir_models (features, probe, LSTM,
scorers), rundir_reports (evaluate's outputs) and rundir_derived (what commands derive from the others and keep:
the fold-in map, the LSTM's encoded lyrics, the lyric words' document frequencies).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluation.stages.rundir_derived import DerivedFiles
from evaluation.stages.rundir_graph import GraphFiles
from evaluation.stages.rundir_io import INCOMPLETE, read_json
from evaluation.stages.rundir_models import ModelFiles
from evaluation.stages.rundir_reports import ReportFiles
from graph.common.atomic import remove_stale_temps, write_json
from graph.common.errors import Img2SongError
from graph.corpus_files import FINGERPRINTED_FILES, corpus_fingerprint

if TYPE_CHECKING:
    from graph.corpus import Corpus

__all__ = ["INCOMPLETE", "MANIFEST_FORMAT", "SAFE_NAME", "RunDir", "Stage", "read_json"]

MANIFEST_FORMAT = 1
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]*")  # a saved scorer's name names a directory


class Stage(str, Enum):
    """The stages that record themselves in run.json (the value is the manifest key and the CLI command)."""

    BUILD_GRAPH = "build-graph"
    TRAIN = "train"
    EXPORT = "export"
    FEATURES = "features"
    KEYWORD_PROBE = "keyword-probe"
    TRAIN_LSTM_ATTENTION = "train-lstm-attention"
    TRAIN_LSTM_BASELINE = "train-lstm-baseline"
    LSTM_RETRIEVAL = "lstm-retrieval"
    FIT_SCORERS = "fit-scorers"
    EVALUATE = "evaluate"

    @classmethod
    def train_lstm(cls, attention: bool) -> Stage:
        return cls.TRAIN_LSTM_ATTENTION if attention else cls.TRAIN_LSTM_BASELINE

    @property
    def is_output(self) -> bool:
        """Stages whose records are no scorer's input (they never change what a scorer was fitted on)."""
        return self in (Stage.EXPORT, Stage.EVALUATE, Stage.LSTM_RETRIEVAL, Stage.FIT_SCORERS)


class RunDir(GraphFiles, ModelFiles, ReportFiles, DerivedFiles):
    """Paths, manifest and every artefact of one run directory: the only code that knows its layout (the save_X /
    load_X pairs live in the mixins, one module per concern)."""

    MANIFEST = "run.json"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    @classmethod
    def of(cls, run: RunDir | str | Path) -> RunDir:
        return run if isinstance(run, RunDir) else cls(run)

    def require_dir(self) -> RunDir:
        if not self.path.is_dir():
            raise Img2SongError(f"{self.path}: run directory not found")
        return self

    def create(self) -> RunDir:
        """Make the directory (an error when a file stands there) and clear temp files of killed writers."""
        if self.path.exists() and not self.path.is_dir():
            raise Img2SongError(f"{self.path}: --out exists and is not a directory")
        self.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.path)
        return self

    # ------------------------------------------------------------------------------------- artefact paths
    manifest = property(lambda self: self.path / self.MANIFEST)
    network = property(lambda self: self.path / "network.npz")
    network_stats = property(lambda self: self.path / "network_stats.json")
    split = property(lambda self: self.path / "split.json")
    keywords = property(lambda self: self.path / "keywords.json")
    selected_keywords = property(lambda self: self.path / "keywords.txt")  # when build-graph selected them
    embeddings = property(lambda self: self.path / "embeddings.npz")
    line_record = property(lambda self: self.path / "line.json")
    line_tables = property(lambda self: self.path / "line_tables.npz")  # raw per-order tables: a fold-in needs them
    line_checkpoint = property(lambda self: self.path / "line.ckpt")
    foldin_map = property(lambda self: self.path / "foldin_map.npz")  # a cache: the fold-in map add/serve fit
    derived_dir = property(lambda self: self.path / "derived")  # caches keyed by what produced them
    content_df = property(lambda self: self.derived_dir / "content_df.npz")  # lyric words' document frequencies
    export_dir = property(lambda self: self.path / "export")
    features_dir = property(lambda self: self.path / "features")
    features = property(lambda self: self.features_dir / "features.npz")
    logits = property(lambda self: self.features_dir / "logits.npz")
    tags = property(lambda self: self.features_dir / "tags.npz")
    features_meta = property(lambda self: self.features_dir / "features.json")
    keyword_probe = property(lambda self: self.features_dir / "keyword_probe.npz")
    keyword_probs = property(lambda self: self.features_dir / "keyword_probs.npz")
    lstm_dir = property(lambda self: self.path / "lstm")
    word_vectors = property(lambda self: self.lstm_dir / "word_vectors.npz")
    lstm_retrieval = property(lambda self: self.lstm_dir / "retrieval.json")
    scorers_dir = property(lambda self: self.path / "scorers")
    related_words = property(lambda self: self.path / "related_words.json")
    report_json = property(lambda self: self.path / "report.json")
    report_md = property(lambda self: self.path / "report.md")
    report_png = property(lambda self: self.path / "report.png")
    per_query = property(lambda self: self.path / "per_query.jsonl")
    recommendations = property(lambda self: self.path / "recommendations.jsonl")  # songs with explanations
    report_html = property(lambda self: self.path / "report.html")
    report_assets = property(lambda self: self.path / "report_assets")
    report_thumbnails = property(lambda self: self.report_assets / "thumbs")  # report.html's (linked relatively)
    report_screenshot = property(lambda self: self.path / "report_screenshot.png")

    def lstm_checkpoint(self, attention: bool) -> Path:
        return self.lstm_dir / f"lstm-{'attention' if attention else 'baseline'}.pt"

    def lyric_index(self, name: str) -> Path:
        """derived/lyric_index-<name>.npz: a cache, the LSTM scorer <name>'s encoded catalogue lyrics."""
        self.scorer_dir(name)  # the same plain name
        return self.derived_dir / f"lyric_index-{name}.npz"

    def scorer_dir(self, name: str) -> Path:
        """<run>/scorers/<name>; the name (a registry name or an experiment's scorer name) must be a plain name."""
        if not SAFE_NAME.fullmatch(name):
            raise Img2SongError(f"scorer name {name!r}: use letters, digits and . _ + - only (it names a directory)")
        return self.scorers_dir / name

    # ------------------------------------------------------------------------------------------ manifest
    def read_manifest(self) -> dict[str, Any]:
        """run.json ({} when absent). Older runs hold only {"corpus", "holdout", "seed", "scheme"}."""
        if not self.manifest.is_file():
            return {}
        doc = read_json(self.manifest, "run manifest")
        if not isinstance(doc, dict):
            raise Img2SongError(f"{self.manifest}: expected a JSON object")
        return doc

    def record(self, stage: Stage, params: dict[str, Any], outputs: dict[str, Any] | None = None,
               **top: Any) -> Path:
        """Note in run.json that `stage` finished, with its parameters and outputs (atomic rewrite)."""
        doc = self.read_manifest()
        doc.setdefault("format", MANIFEST_FORMAT)
        doc.update(top)
        stages = doc.setdefault("stages", {})
        stages[_stage(stage)] = {"params": _jsonable(params), "outputs": _jsonable(outputs or {}),
                                 "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        return write_json(self.manifest, doc)

    def begin(self, stage: Stage, **info: Any) -> Path:
        """Note in run.json that `stage` is rewriting its outputs; `record` replaces the note when it finishes, so
        a reader finding it knows the stage was interrupted and its outputs may mix two runs."""
        doc = self.read_manifest()
        doc.setdefault("format", MANIFEST_FORMAT)
        doc.setdefault("stages", {})[_stage(stage)] = {
            "incomplete": True, **_jsonable(info),
            "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        return write_json(self.manifest, doc)

    def stage(self, stage: Stage) -> dict[str, Any] | None:
        return self.read_manifest().get("stages", {}).get(_stage(stage))

    # -------------------------------------------------------------------------------------------- corpus
    def corpus_path(self) -> Path:
        """The corpus named in run.json: absolute, else relative to the working directory, else to the run."""
        doc = read_json(self.manifest, "run manifest",
                        "is this a run directory? `img2song build-graph --corpus C --out DIR` writes it")
        if not isinstance(doc, dict) or not isinstance(doc.get("corpus"), str):
            raise Img2SongError(f"{self.manifest}: field 'corpus' (path of the corpus directory) is missing")
        p = Path(doc["corpus"])
        for cand in ([p] if p.is_absolute() else [p, self.path / p]):
            if cand.is_dir():
                self._check_fingerprint(cand, doc.get("corpus_fingerprint"))
                return cand
        raise Img2SongError(f"{self.manifest}: field 'corpus': directory {doc['corpus']} not found")

    def load_corpus(self) -> Corpus:
        """The run's corpus (its files unchanged since build-graph; image files are not probed here)."""
        from graph.corpus import load_corpus  # deferred: the corpus readers are not every command's

        return load_corpus(self.corpus_path(), check_files=False)

    def _check_fingerprint(self, corpus: Path, recorded: Any) -> None:
        """An error naming the corpus file whose content changed since build-graph (runs built before the
        fingerprint was recorded are not checked)."""
        if not isinstance(recorded, dict):
            return
        now = corpus_fingerprint(corpus)
        for name, digest in recorded.items():
            if now.get(name) != digest:
                how = ("was removed" if now.get(name) is None else "was added" if digest is None
                       else "changed (content differs)")
                raise Img2SongError(
                    f"{corpus / name}: {how} since build-graph built the run {self.path}; the run's graph, split "
                    f"and scorers no longer match the corpus: rebuild it with `img2song build-graph --corpus "
                    f"{corpus} --out {self.path}` (then rerun the later stages)")

    def input_signature(self) -> str:
        """Hash, by content, of everything a scorer of this run may have been fitted on: the manifest's input stage
        records (parameters, not finish times; any stage not known to be an output counts) and the bytes of the
        input files (network, split, keywords, embeddings, features, logits, tags, keyword probe, LSTM checkpoints
        and word vectors, corpus files). Touching a file changes nothing; editing it does."""
        doc = self.read_manifest()
        outputs = {s.value for s in Stage if s.is_output}
        stages = {k: {f: x for f, x in v.items() if f != "finished_at"} if isinstance(v, dict) else v
                  for k, v in doc.get("stages", {}).items() if k not in outputs}
        top = {k: v for k, v in doc.items() if k != "stages"}
        files = {p.relative_to(self.path).as_posix(): p for p in (  # named inside the run: how its path is
            self.network, self.split, self.keywords, self.embeddings, self.features, self.logits,  # spelled, or
            self.tags, self.features_meta, self.keyword_probe, self.keyword_probs,  # where the run was copied,
            self.word_vectors, self.lstm_checkpoint(True), self.lstm_checkpoint(False))}  # is no input
        try:
            corpus = self.corpus_path()
            files |= {f"corpus/{f}": corpus / f for f in FINGERPRINTED_FILES}
        except Img2SongError:
            pass
        from engine.scorers.staleness import (
            file_hash,  # deferred: only fit-scorers, recommend and serve need it
        )

        hashes = {name: h for name, p in files.items() if (h := file_hash(p)) is not None}
        blob = json.dumps({"top": top, "stages": stages, "files": hashes}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]


def _stage(stage: Stage) -> str:
    if not isinstance(stage, Stage):
        raise TypeError(f"a run records a Stage, not {stage!r}")
    return stage.value


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)
