"""The storage of one run directory: one owner, one typed `save_X` / `load_X` pair per artefact, the manifest of
stages and the input signature of saved scorers.

In the manner of PyTorch-BigGraph's checkpoint storage: the stage functions (evaluation.stages.pipeline and the stage
layer above engine) hand `RunDir` objects (a Network, an EmbeddingTable, a FeatureTable, a KeywordProbe, a trained
LSTM, a fitted scorer) and ask it for objects back; no estimator below sees the directory. Every write is atomic
(temp file + rename, or a whole directory swapped in), and every stage records in `run.json` what it wrote and
with which parameters under its `Stage` name, so a run written by the Python API and one written by the CLI are the
same thing. Nothing in graph/ or engine/ imports this module (tests/test_run_storage.py checks it).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graph.build import KeywordFile, Split
from graph.common.atomic import atomic_path, remove_stale_temps, write_json, write_text
from graph.common.errors import Img2SongError
from graph.common.readers import iter_jsonl, load_npz
from graph.common.readers import read_json as read_json_file
from graph.corpus_files import FINGERPRINTED_FILES, corpus_fingerprint

if TYPE_CHECKING:
    from engine.embeddings import EmbeddingTable
    from engine.features.probe import KeywordProbe
    from engine.features.table import FeatureTable
    from engine.line.foldin import LineTables
    from engine.line.foldin_map import NeighbourMap
    from engine.lstm.train import LyricTagModel
    from engine.lstm.wordvectors import WordVectors
    from engine.scorers.base import Scorer
    from evaluation.measure.report import Report
    from graph.corpus import Corpus
    from graph.network import Network
    from graph.vocabulary import KeywordSelection

MANIFEST_FORMAT = 1
INCOMPLETE = "incomplete"  # line.json's status while embeddings.npz is being rewritten
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


def read_json(path: Path, what: str, hint: str = "") -> Any:
    """Parse a run file; a missing or malformed file is an error naming it (and the command that writes it)."""
    if not path.is_file():
        raise Img2SongError(f"{path}: {what} not found" + (f" ({hint})" if hint else ""))
    return read_json_file(path, what)  # guarded: non-UTF-8, malformed JSON and NaN / Infinity name file and line


class RunDir:
    """Paths, manifest and every artefact of one run directory: the only code that knows its layout."""

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

    # ---------------------------------------------------------------------------------- build-graph's files
    def save_network(self, network: Network) -> Path:
        return network.save(self.network)

    def load_network(self) -> Network:
        from graph.network import Network

        return Network.load(self.network)

    def save_network_stats(self, stats: dict[str, Any]) -> Path:
        return write_json(self.network_stats, stats)

    def save_split(self, split: Split) -> Path:
        return write_json(self.split, {"train": list(split.train), "query": list(split.query)})

    def load_split(self) -> Split:
        doc = read_json(self.split, "train/query split", "written by `img2song build-graph`")
        for key in ("train", "query"):
            if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
                raise Img2SongError(f"{self.split}: field '{key}' must be a list of image ids")
        return Split([str(i) for i in doc["train"]], [str(i) for i in doc["query"]])

    def save_keywords(self, keywords: KeywordFile) -> Path:
        return write_json(self.keywords, {"vocabulary": list(keywords.vocabulary), "images": keywords.images,
                                          "songs": keywords.songs})

    def save_selected_keywords(self, selection: KeywordSelection) -> Path:
        """keywords.txt: the vocabulary build-graph selected (no keywords.txt in the corpus), ready to copy and edit."""
        return selection.write(self.selected_keywords)

    def load_keywords(self) -> KeywordFile:
        doc = read_json(self.keywords, "keyword file", "written by `img2song build-graph`")
        for key in ("images", "songs"):
            if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
                raise Img2SongError(f"{self.keywords}: field '{key}' must map ids to {{keyword: weight}}")
        vocab = doc.get("vocabulary")
        if not isinstance(vocab, list):
            raise Img2SongError(f"{self.keywords}: field 'vocabulary' must be a list of keywords")

        def table(key: str) -> dict[str, dict[str, float]]:
            out: dict[str, dict[str, float]] = {}
            for i, kw in doc[key].items():
                if not isinstance(kw, dict) or not all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                                       for w in kw.values()):
                    raise Img2SongError(f"{self.keywords}: field '{key}.{i}' must map keywords to numbers")
                out[str(i)] = {str(k): float(w) for k, w in kw.items()}
            return out

        return KeywordFile([str(w) for w in vocab], table("images"), table("songs"))

    def vocabulary(self, network: Network | None = None) -> list[str]:
        """Keyword vocabulary (tag-vector order): keywords.json 'vocabulary', else the network's keywords."""
        try:
            return self.load_keywords().vocabulary
        except Img2SongError:
            if not self.keywords.is_file():
                raise
        from graph.network import Kind

        net = network or self.load_network()
        return [net.ids[i][len("kw:"):] for i in net.of_kind(Kind.KEYWORD)]

    # ------------------------------------------------------------------------------------ LINE embeddings
    def save_embeddings(self, table: EmbeddingTable, record: dict[str, Any],
                        tables: dict[str, Any] | None = None) -> tuple[Path, Path]:
        """embeddings.npz (and `tables`, LINE's raw per-order arrays, into line_tables.npz) and line.json as one
        set: line.json says 'incomplete' while they are rewritten and is replaced by `record` after, so a reader
        never takes the tables of a killed train for a finished one."""
        write_json(self.line_record, {"status": INCOMPLETE, "source": record.get("source", "")}, indent=2)
        emb = table.save(self.embeddings, "npz")
        if tables is not None:
            import numpy as np

            with atomic_path(self.line_tables, suffix=".npz") as tmp:
                np.savez(tmp, **tables)
        return emb, write_json(self.line_record, {"status": "complete", **record, "embeddings": str(emb)}, indent=2)

    def load_line_tables(self) -> LineTables:
        """The raw LINE tables of both orders (`img2song add` folds new vertices in against them)."""
        from engine.line.foldin import tables_from_arrays  # deferred: torch

        if not self.line_tables.is_file():
            raise Img2SongError(f"{self.line_tables}: the run keeps no raw LINE tables, which a fold-in needs; "
                                f"rerun `img2song train --run {self.path}` (train writes them beside embeddings.npz)")
        self.check_embeddings()
        arrays = load_npz(self.line_tables, "LINE tables", ["ids", "degrees", "params", "lr"],
                          ["vertex1", "vertex2", "context2"])
        return tables_from_arrays(arrays, str(self.line_tables))

    def save_foldin_map(self, nmap: NeighbourMap, key: str) -> Path:
        """foldin_map.npz: the live catalogue's fold-in map under `key`, the hash of what it was fitted on (atomic)."""
        import numpy as np

        with atomic_path(self.foldin_map, suffix=".npz") as tmp:
            np.savez(tmp, key=np.array(key), **nmap.to_arrays())
        return self.foldin_map

    def load_foldin_map(self, key: str) -> NeighbourMap | None:
        """The saved map when it was fitted on what `key` names, else None (none saved, or a stale one); a damaged
        file is an Img2SongError naming it."""
        from engine.line.foldin_map import NeighbourMap  # deferred: scipy

        if not self.foldin_map.is_file():
            return None
        arrays = load_npz(self.foldin_map, "fold-in map", ["key"], every=True)
        if str(arrays["key"]) != key:
            return None
        return NeighbourMap.from_arrays(arrays, str(self.foldin_map))

    def check_embeddings(self) -> None:
        """Refuse embeddings.npz when line.json says its train was interrupted while writing the pair (no
        line.json: accepted, a table written by other means)."""
        if not self.line_record.is_file():
            return
        rec = read_json(self.line_record, "LINE training record")
        if not isinstance(rec, dict) or rec.get("status") == INCOMPLETE:
            raise Img2SongError(f"{self.line_record}: the train that wrote {self.embeddings.name} did not finish; "
                                f"rerun `img2song train` (with --resume to continue from its checkpoint)")

    def load_embeddings(self) -> EmbeddingTable | None:
        """The run's LINE table (None before `train`); an interrupted train's table is an error."""
        if not self.embeddings.is_file():
            return None
        from engine.embeddings import EmbeddingTable  # deferred: torch

        self.check_embeddings()
        return EmbeddingTable.load(self.embeddings)

    # ------------------------------------------------------------------------------------------- features
    def save_features(self, features: FeatureTable, logits: FeatureTable | None, tags: FeatureTable | None,
                      meta: dict[str, Any]) -> dict[str, Path]:
        remove_stale_temps(self.features_dir)
        paths = {"features": features.save(self.features)}
        if logits is not None:
            paths["logits"] = logits.save(self.logits)
        if tags is not None:
            paths["tags"] = tags.save(self.tags)
        paths["meta"] = write_json(self.features_meta, meta)
        return paths

    def _table(self, path: Path) -> FeatureTable | None:
        from engine.features.table import FeatureTable  # deferred: torch

        return FeatureTable.load(path) if path.is_file() else None

    def load_features(self) -> FeatureTable | None:
        return self._table(self.features)

    def load_logits(self) -> FeatureTable | None:
        return self._table(self.logits)

    def load_tags(self, vocabulary: list[str] | None = None) -> tuple[FeatureTable | None, str]:
        """(keyword tags of every image, their source): the keyword probe's when the run has one, else ImageNet
        hypernyms'; tags for another keyword vocabulary (default: the run's) are an error."""
        path, source = ((self.keyword_probs, "keyword-probe") if self.keyword_probs.is_file()
                        else (self.tags, "imagenet-hypernyms"))
        tags = self._table(path)
        if tags is not None and tags.meta.get("vocabulary") != (vocabulary or self.vocabulary()):
            raise Img2SongError(f"{path}: tags were computed for another keyword vocabulary; "
                                f"rerun `img2song features --run {self.path}`")
        return tags, source if tags is not None else ""

    def load_features_meta(self) -> dict[str, Any]:
        """features/features.json ({} when features were not extracted yet)."""
        return read_json(self.features_meta, "feature description") if self.features_meta.is_file() else {}

    def save_keyword_probe(self, probe: KeywordProbe, probs: FeatureTable) -> dict[str, Path]:
        return {"probe": probe.save(self.keyword_probe), "probs": probs.save(self.keyword_probs)}

    def load_keyword_probe(self) -> KeywordProbe | None:
        if not self.keyword_probe.is_file():
            return None
        from engine.features.probe import KeywordProbe  # deferred: torch

        return KeywordProbe.load(self.keyword_probe)

    def load_keyword_probs(self) -> FeatureTable | None:
        return self._table(self.keyword_probs)

    # ------------------------------------------------------------------------------------------------ LSTM
    def save_word_vectors(self, vectors: WordVectors) -> Path:
        return vectors.save(self.word_vectors)

    def load_word_vectors(self) -> WordVectors | None:
        if not self.word_vectors.is_file():
            return None
        from engine.lstm.wordvectors import WordVectors  # deferred: torch

        return WordVectors.load_npz(self.word_vectors)

    def save_lstm(self, model: LyricTagModel) -> Path:
        return model.save(self.lstm_checkpoint(model.attention))

    def load_lstm(self, attention: bool) -> LyricTagModel | None:
        if not self.lstm_checkpoint(attention).is_file():
            return None
        from engine.lstm.train import LyricTagModel  # deferred: torch

        return LyricTagModel.load(self.lstm_checkpoint(attention), device="cpu")

    def save_lstm_retrieval(self, doc: dict[str, Any]) -> Path:
        return write_json(self.lstm_retrieval, doc)

    def load_lstm_retrieval(self) -> dict[str, Any] | None:
        """lstm/retrieval.json (None before `img2song lstm-retrieval`)."""
        return read_json(self.lstm_retrieval, "LSTM retrieval figures") if self.lstm_retrieval.is_file() else None

    # --------------------------------------------------------------------------------------- saved scorers
    def save_scorer(self, name: str, scorer: Scorer, signature: str) -> Path:
        return scorer.save(self.scorer_dir(name), signature=signature)

    def load_scorer(self, name: str) -> Scorer:
        from engine.scorers.persist import load_scorer  # deferred: the scorers pull in torch

        return load_scorer(self.scorer_dir(name))

    def scorer_params(self, name: str) -> dict[str, Any] | None:
        """The saved scorer's params.json (None when it was never saved)."""
        from engine.scorers.persist import read_params

        path = self.scorer_dir(name)
        return read_params(path) if (path / "params.json").is_file() else None

    # --------------------------------------------------------------------------------- evaluate's outputs
    def save_report(self, report: Report) -> dict[str, Path]:
        """report.json, report.md, per_query.jsonl (the rows every figure comes from) and report.png, each atomic."""
        self.path.mkdir(parents=True, exist_ok=True)
        return {"json": write_json(self.report_json, report.to_json()),
                "markdown": write_text(self.report_md, report.markdown()),
                "per_query": _write_jsonl(self.per_query, report.rows),
                "plot": report.plot(self.report_png)}

    def load_report(self) -> Report:
        """The last evaluate's Report with its per-query rows (report.json first: run `evaluate` before)."""
        from evaluation.measure.report import Report  # deferred: matplotlib and the metrics

        doc = read_json(self.report_json, "evaluation report", "written by `img2song evaluate`")
        return Report.from_json(doc, self.load_per_query(), str(self.report_json))

    def load_per_query(self) -> list[dict[str, Any]]:
        """per_query.jsonl's rows ([] when absent); a malformed line is an error naming file and line."""
        return _read_jsonl(self.per_query)

    def save_recommendations(self, rows: list[dict[str, Any]]) -> Path:
        """recommendations.jsonl: one row per protocol, scorer and query (songs, scores, explanations)."""
        return _write_jsonl(self.recommendations, rows)

    def load_recommendations(self) -> list[dict[str, Any]]:
        return _read_jsonl(self.recommendations)

    def save_report_html(self, html: str) -> Path:
        """report.html (its thumbnails are written by the page builder into `report_thumbnails`, atomically)."""
        return write_text(self.report_html, html)

    def save_report_screenshot(self, width: int = 1280, height: int = 900) -> Path:
        """report_screenshot.png: the first screen of report.html in headless Chromium (written atomically)."""
        from evaluation.measure.browser import (
            screenshot_page,  # deferred: only `report --screenshot` and the demo
        )

        return screenshot_page(self.report_html, self.report_screenshot, width, height)

    def save_related_words(self, doc: dict[str, Any]) -> Path:
        """related_words.json: the ground truth's related words per keyword, with the key of their source."""
        return write_json(self.related_words, doc)

    def load_related_words(self) -> dict[str, Any]:
        """related_words.json ({} when absent or not an object: the cache is rebuilt)."""
        doc = read_json(self.related_words, "related words cache") if self.related_words.is_file() else {}
        return doc if isinstance(doc, dict) else {}

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


def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    return write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in iter_jsonl(path)] if path.is_file() else []


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
