"""One owner of a run directory: the path of every artefact, the manifest of stages, typed reads of graph files.

In the manner of PyTorch-BigGraph's checkpoint storage: every stage (build, train, features, LSTM, scorers,
evaluation, report) asks a `RunDir` where its artefacts go and records in `run.json` what it wrote and with which
parameters, so a run written by the Python API and one written by the CLI are the same thing. Artefacts of later
layers (embeddings, features, reports) are read by the classes that own their formats (EmbeddingTable,
FeatureTable, Report), at the paths named here; this module sits in graph (the bottom of the import flow).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graph.common.atomic import write_json
from graph.common.errors import Img2SongError
from graph.common.readers import read_json as read_json_file

MANIFEST_FORMAT = 1
# corpus files whose content the graph was built from: fingerprinted at build-graph, checked whenever a stage
# finds the run's corpus (a song deleted or edited since would otherwise surface as a KeyError or a silent 0.0)
FINGERPRINTED_FILES = ("songs.jsonl", "images.jsonl", "keywords.txt", "lexicon.tsv")
_HASHES: dict[tuple, str] = {}  # (path, size, mtime_ns, ctime_ns, inode) -> sha256: each file hashed once a process


@dataclass(frozen=True)
class Split:
    """Training images (in the network) and held-out query images (for evaluation only)."""

    train: list[str]
    query: list[str]


@dataclass(frozen=True)
class KeywordFile:
    """keywords.json: the vocabulary (tag-vector order) and keyword weights of every image and song."""

    vocabulary: list[str]
    images: dict[str, dict[str, float]]
    songs: dict[str, dict[str, float]]


def read_json(path: Path, what: str, hint: str = "") -> Any:
    """Parse a run file; a missing or malformed file is an error naming it (and the command that writes it)."""
    if not path.is_file():
        raise Img2SongError(f"{path}: {what} not found" + (f" ({hint})" if hint else ""))
    return read_json_file(path, what)  # guarded: non-UTF-8, malformed JSON and NaN / Infinity name file and line


class RunDir:
    """Paths, manifest and graph-level artefacts of one run directory."""

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

    # ------------------------------------------------------------------------------------- artefact paths
    manifest = property(lambda self: self.path / self.MANIFEST)
    network = property(lambda self: self.path / "network.npz")
    network_stats = property(lambda self: self.path / "network_stats.json")
    split = property(lambda self: self.path / "split.json")
    keywords = property(lambda self: self.path / "keywords.json")
    selected_keywords = property(lambda self: self.path / "keywords.txt")  # when build-graph selected them
    embeddings = property(lambda self: self.path / "embeddings.npz")
    line_record = property(lambda self: self.path / "line.json")
    line_checkpoint = property(lambda self: self.path / "line.ckpt")
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
    report_assets = property(lambda self: self.path / "report_assets")  # report.html's thumbnails
    report_screenshot = property(lambda self: self.path / "report_screenshot.png")

    def lstm_checkpoint(self, attention: bool) -> Path:
        return self.lstm_dir / f"lstm-{'attention' if attention else 'baseline'}.pt"

    def scorer_dir(self, name: str) -> Path:
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

    def record(self, stage: str, params: dict[str, Any], outputs: dict[str, Any] | None = None,
               **top: Any) -> Path:
        """Note in run.json that `stage` finished, with its parameters and outputs (atomic rewrite)."""
        doc = self.read_manifest()
        doc.setdefault("format", MANIFEST_FORMAT)
        doc.update(top)
        stages = doc.setdefault("stages", {})
        stages[stage] = {"params": _jsonable(params), "outputs": _jsonable(outputs or {}),
                         "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        return write_json(self.manifest, doc)

    def begin(self, stage: str, **info: Any) -> Path:
        """Note in run.json that `stage` is rewriting its outputs; `record` replaces the note when it finishes, so
        a reader finding it knows the stage was interrupted and its outputs may mix two runs."""
        doc = self.read_manifest()
        doc.setdefault("format", MANIFEST_FORMAT)
        doc.setdefault("stages", {})[stage] = {
            "incomplete": True, **_jsonable(info),
            "started_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
        return write_json(self.manifest, doc)

    def stage(self, stage: str) -> dict[str, Any] | None:
        return self.read_manifest().get("stages", {}).get(stage)

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

    # ------------------------------------------------------------------------------ graph-level artefacts
    def read_split(self) -> Split:
        doc = read_json(self.split, "train/query split", "written by `img2song build-graph`")
        for key in ("train", "query"):
            if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
                raise Img2SongError(f"{self.split}: field '{key}' must be a list of image ids")
        return Split([str(i) for i in doc["train"]], [str(i) for i in doc["query"]])

    def read_keywords(self) -> KeywordFile:
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

    def read_features_meta(self) -> dict[str, Any]:
        """features/features.json ({} when features were not extracted yet)."""
        return read_json(self.features_meta, "feature description") if self.features_meta.is_file() else {}


def corpus_fingerprint(corpus: str | Path) -> dict[str, str | None]:
    """sha256 of each fingerprinted corpus file (None when absent), by content, not by modification time."""
    return {name: _sha256(Path(corpus) / name) for name in FINGERPRINTED_FILES}


def _sha256(path: Path) -> str | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        raise Img2SongError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not path.is_file():
        return None  # a FIFO or folder in place of a corpus file: the corpus reader says what it is
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    if key not in _HASHES:
        h = hashlib.sha256()
        try:
            with path.open("rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
        except OSError as e:
            raise Img2SongError(f"{path}: cannot be read ({e.strerror or e})") from None
        _HASHES[key] = h.hexdigest()
    return _HASHES[key]


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
