"""A run directory on disk -> TrainingSet (and the features step that fills runs/<name>/features/).

Layout: run.json ({"corpus": path, ...}), network.npz, split.json ({"train": [...], "query": [...]}),
keywords.json ({"vocabulary": [...], "images": {id: {kw: w}}, "songs": {id: {kw: w}}}), embeddings.npz,
features/{features,logits,tags}.npz + features/features.json.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.scorers.base import TrainingSet
from graph.common.atomic import write_json
from graph.common.errors import Img2SongError
from graph.corpus import Corpus, load_corpus
from graph.network import Kind, Network

FEATURES_DIR = "features"
FEATURES_FILE = "features.npz"
LOGITS_FILE = "logits.npz"
TAGS_FILE = "tags.npz"
FEATURES_META = "features.json"


def read_json(path: Path, what: str) -> Any:
    """Parse a run file; missing or malformed files raise an error naming the file."""
    if not path.is_file():
        raise Img2SongError(f"{path}: {what} not found (is this a run directory made by the pipeline?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise Img2SongError(f"{path}: malformed JSON ({e})") from None


def corpus_path(run_dir: str | Path) -> Path:
    """The corpus named in run.json: absolute, else relative to the working directory, else to the run."""
    run_dir = Path(run_dir)
    doc = read_json(run_dir / "run.json", "run description")
    if not isinstance(doc, dict) or not isinstance(doc.get("corpus"), str):
        raise Img2SongError(f"{run_dir / 'run.json'}: field 'corpus' (path of the corpus directory) is missing")
    p = Path(doc["corpus"])
    for cand in ([p] if p.is_absolute() else [p, run_dir / p]):
        if cand.is_dir():
            return cand
    raise Img2SongError(f"{run_dir / 'run.json'}: field 'corpus': directory {doc['corpus']} not found")


def load_run_corpus(run_dir: str | Path) -> Corpus:
    return load_corpus(corpus_path(run_dir), check_files=False)


def run_vocabulary(run_dir: str | Path, network: Network | None = None) -> list[str]:
    """Keyword vocabulary of a run (tag-vector order): keywords.json 'vocabulary', else the network's keywords."""
    run_dir = Path(run_dir)
    kw = read_json(run_dir / "keywords.json", "keyword file")
    if isinstance(kw, dict) and isinstance(kw.get("vocabulary"), list):
        return [str(w) for w in kw["vocabulary"]]
    net = network or Network.load(run_dir / "network.npz")
    return [net.ids[i][len("kw:"):] for i in net.of_kind(Kind.KEYWORD)]


def _split(run_dir: Path) -> tuple[list[str], list[str]]:
    doc = read_json(run_dir / "split.json", "train/query split")
    for key in ("train", "query"):
        if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
            raise Img2SongError(f"{run_dir / 'split.json'}: field '{key}' must be a list of image ids")
    return [str(i) for i in doc["train"]], [str(i) for i in doc["query"]]


def _keywords(run_dir: Path) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    doc = read_json(run_dir / "keywords.json", "keyword file")
    for key in ("images", "songs"):
        if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
            raise Img2SongError(f"{run_dir / 'keywords.json'}: field '{key}' must map ids to {{keyword: weight}}")
    return ({str(i): {str(k): float(w) for k, w in d.items()} for i, d in doc["images"].items()},
            {str(i): {str(k): float(w) for k, w in d.items()} for i, d in doc["songs"].items()})


def features_meta(run_dir: str | Path) -> dict[str, Any]:
    """features/features.json of a run ({} when features were not extracted yet)."""
    p = Path(run_dir) / FEATURES_DIR / FEATURES_META
    return read_json(p, "feature description") if p.is_file() else {}


def load_training_set(run_dir: str | Path, corpus: Corpus | None = None) -> TrainingSet:
    """Everything a scorer may learn from, read from a run directory (query images' keywords go to extras)."""
    from engine.embeddings import EmbeddingTable
    from engine.features.table import FeatureTable

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise Img2SongError(f"{run_dir}: run directory not found")
    corpus = corpus or load_run_corpus(run_dir)
    network = Network.load(run_dir / "network.npz")
    train, query = _split(run_dir)
    image_kw, song_kw = _keywords(run_dir)
    vocab = run_vocabulary(run_dir, network)
    emb_path = run_dir / "embeddings.npz"
    embeddings = EmbeddingTable.load(emb_path) if emb_path.is_file() else None
    fdir = run_dir / FEATURES_DIR
    features = FeatureTable.load(fdir / FEATURES_FILE) if (fdir / FEATURES_FILE).is_file() else None
    tags = FeatureTable.load(fdir / TAGS_FILE) if (fdir / TAGS_FILE).is_file() else None
    if tags is not None and tags.meta.get("vocabulary") != vocab:
        raise Img2SongError(f"{fdir / TAGS_FILE}: tags were computed for another keyword vocabulary; "
                            f"rerun `img2song features --run {run_dir}`")
    query_set = set(query)
    return TrainingSet(
        corpus=corpus, network=network, train_image_ids=train,
        image_keywords={i: kw for i, kw in image_kw.items() if i not in query_set},
        song_keywords=song_kw, embeddings=embeddings, features=features, tags=tags, tag_vocab=vocab,
        extras={"run_dir": run_dir, "query_image_ids": query,
                "query_keywords": {i: image_kw.get(i, {}) for i in query},
                "features_meta": features_meta(run_dir)})


def compute_run_features(run_dir: str | Path, backbone: str = "efficientnet-lite0", weights: str | Path | None = None,
                         cache_dir: str | Path | None = None, batch_size: int = 32, device: str = "cpu",
                         progress: bool = True) -> dict[str, Any]:
    """Extract CNN features + keyword tags for every corpus image into <run>/features/; returns paths and report."""
    from engine.features.cache import DEFAULT_CACHE_DIR
    from engine.features.extract import extract_features
    from engine.features.tags import ImageNetTagger

    run_dir = Path(run_dir)
    corpus = load_run_corpus(run_dir)
    items = [(img.id, corpus.image_path(img)) for img in corpus.images]
    ext = extract_features(items, backbone, weights=weights, cache_dir=cache_dir or DEFAULT_CACHE_DIR,
                           batch_size=batch_size, device=device, progress=progress)
    fdir = run_dir / FEATURES_DIR
    paths: dict[str, Any] = {"features": ext.features.save(fdir / FEATURES_FILE)}
    covered: list[str] = []
    if ext.logits is not None:
        paths["logits"] = ext.logits.save(fdir / LOGITS_FILE)
        tagger = ImageNetTagger(run_vocabulary(run_dir), corpus.lexicon)
        paths["tags"] = tagger.table(ext.logits).save(fdir / TAGS_FILE)
        covered = tagger.covered_keywords
    meta = {"backbone": ext.features.meta["backbone"], "weights": ext.features.meta["weights"],
            "feature_dim": ext.features.dim, "images": len(ext.features), "report": ext.report.to_dict(),
            "tag_keywords_reachable": covered}
    paths["meta"] = write_json(fdir / FEATURES_META, meta)
    return {"paths": paths, "report": ext.report, "meta": meta}


def photo_queries(run_dir: str | Path, images: list[str | Path], data: TrainingSet | None = None,
                  cache_dir: str | Path | None = None, progress: bool = False) -> list[Any]:
    """Queries for photos: a file is new (features with the run's backbone, keywords from CNN tags for KM);
    a corpus image id reuses the run's features, tags and known keywords."""
    from engine.features.cache import DEFAULT_CACHE_DIR
    from engine.features.extract import extract_features
    from engine.features.tags import ImageNetTagger
    from engine.scorers.base import Query

    run_dir = Path(run_dir)
    data = data or load_training_set(run_dir)
    known = {i.id for i in data.corpus.images}
    files = [Path(p) for p in images if Path(p).is_file()]
    for p in images:
        if not Path(p).is_file() and str(p) not in known:
            raise Img2SongError(f"{p}: neither an image file nor an image id of the run's corpus")
    feats: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    if files:
        meta = data.extras.get("features_meta") or {}
        if not meta.get("backbone"):
            raise Img2SongError(f"{run_dir}: no features yet; run `img2song features --run {run_dir}` first")
        ext = extract_features([(str(p), p) for p in files], meta["backbone"], weights=meta.get("weights") or None,
                               cache_dir=cache_dir or DEFAULT_CACHE_DIR, progress=progress)
        if ext.report.skipped:
            raise Img2SongError("cannot read photo: " + "; ".join(ext.report.lines()[1:]))
        feats = {i: ext.features[i] for i in ext.features.ids}
        if ext.logits is not None:
            tagger = ImageNetTagger(data.tag_vocab, data.corpus.lexicon)
            tags = dict(zip(ext.logits.ids, tagger.tag_probs(ext.logits.matrix)))
    queries = []
    all_kw = {**data.image_keywords, **data.extras.get("query_keywords", {})}
    for p in images:
        if Path(p).is_file():
            queries.append(Query(path=Path(p), features=feats[str(p)], tag_probs=tags.get(str(p))))
        else:
            i = str(p)
            kws = tuple(w for w, _ in sorted(all_kw.get(i, {}).items(), key=lambda x: (-x[1], x[0])))
            queries.append(Query(
                image_id=i, path=data.corpus.image_path(i), keywords=kws,
                features=data.features[i] if data.features is not None and i in data.features else None,
                tag_probs=data.tags[i] if data.tags is not None and i in data.tags else None))
    return queries
