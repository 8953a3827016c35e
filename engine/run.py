"""A run directory -> TrainingSet, and photos -> Queries: what every scorer and the recommend path read."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.scorers.base import Query, TrainingSet
from graph.bridge import Bridge, BridgeLexicon
from graph.common.errors import Img2SongError
from graph.corpus import Corpus, load_corpus
from graph.network import Kind, Network
from graph.rundir import RunDir


def load_run_corpus(run: RunDir | str | Path) -> Corpus:
    return load_corpus(RunDir.of(run).corpus_path(), check_files=False)


def run_vocabulary(run: RunDir | str | Path, network: Network | None = None) -> list[str]:
    """Keyword vocabulary of a run (tag-vector order): keywords.json 'vocabulary', else the network's keywords."""
    run = RunDir.of(run)
    try:
        return run.read_keywords().vocabulary
    except Img2SongError:
        if not run.keywords.is_file():
            raise
    net = network or Network.load(run.network)
    return [net.ids[i][len("kw:"):] for i in net.of_kind(Kind.KEYWORD)]


def load_training_set(run: RunDir | str | Path, corpus: Corpus | None = None) -> TrainingSet:
    """Everything a scorer may learn from, read from a run directory; query images and their keywords stay out."""
    # deferred: the tables and the CNN pull in torch, which not every caller of this module needs
    from engine.embeddings import EmbeddingTable
    from engine.features.table import FeatureTable

    run = RunDir.of(run).require_dir()
    corpus = corpus or load_run_corpus(run)
    network = Network.load(run.network)
    split = run.read_split()
    kw = run.read_keywords()
    if run.embeddings.is_file():
        from engine.line.train import check_embeddings_record

        check_embeddings_record(run.path)
    embeddings = EmbeddingTable.load(run.embeddings) if run.embeddings.is_file() else None
    features = FeatureTable.load(run.features) if run.features.is_file() else None
    tag_path, tag_source = ((run.keyword_probs, "keyword-probe") if run.keyword_probs.is_file()
                            else (run.tags, "imagenet-hypernyms"))
    tags = FeatureTable.load(tag_path) if tag_path.is_file() else None
    if tags is not None and tags.meta.get("vocabulary") != kw.vocabulary:
        raise Img2SongError(f"{tag_path}: tags were computed for another keyword vocabulary; "
                            f"rerun `img2song features --run {run.path}`")
    query = set(split.query)
    return TrainingSet(
        corpus=corpus, network=network, train_image_ids=split.train,
        image_keywords={i: w for i, w in kw.images.items() if i not in query},
        song_keywords=kw.songs, embeddings=embeddings, features=features, tags=tags, tag_vocab=kw.vocabulary,
        tag_source=tag_source if tags is not None else "", features_meta=run.read_features_meta(), run=run)


def photo_queries(run: RunDir | str | Path, images: list[str | Path], data: TrainingSet | None = None,
                  cache_dir: str | Path | None = None, progress: bool = False) -> list[Query]:
    """Queries for photos: a file is new (features with the run's backbone; tags for KM and the LSTM from the
    run's tag source: the keyword probe when there is one, else ImageNet hypernyms); a corpus
    image id reuses the run's features and tags, and a training image's known keywords (never a query image's)."""
    # deferred: the tables and the CNN pull in torch, which not every caller of this module needs
    from engine.features.extract import extract_features

    run = RunDir.of(run)
    data = data or load_training_set(run)
    known = {i.id for i in data.corpus.images}
    files = [Path(p) for p in images if Path(p).is_file()]
    for p in images:
        if not Path(p).is_file() and str(p) not in known:
            raise Img2SongError(f"{p}: neither an image file nor an image id of the run's corpus")
    feats: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    if files:
        meta = data.features_meta
        if not meta.get("backbone"):
            raise Img2SongError(f"{run.path}: no features yet; run `img2song features --run {run.path}` first")
        ext = extract_features([(str(p), p) for p in files], meta["backbone"], weights=meta.get("weights") or None,
                               cache_dir=cache_dir, progress=progress)
        if ext.report.skipped:
            raise Img2SongError("cannot read photo: " + "; ".join(ext.report.lines()[1:]))
        feats = {i: ext.features[i] for i in ext.features.ids}
        probs = photo_tagger(run, data)(ext.features.matrix, None if ext.logits is None else ext.logits.matrix)
        tags = {} if probs is None else dict(zip(ext.features.ids, probs))
    queries = []
    for p in images:
        if Path(p).is_file():
            queries.append(Query(path=Path(p), features=feats[str(p)], tag_probs=tags.get(str(p))))
        else:
            queries.append(known_image_query(data, str(p)))
    return queries


def photo_tagger(run: RunDir | str | Path, data: TrainingSet
                 ) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray | None]:
    """New photos' keyword tags from (features, ImageNet logits), from the run's tag source (TrainingSet.tag_source):
    the keyword probe when the run has one, else ImageNet hypernyms (None without logits). Loaded once."""
    run = RunDir.of(run)
    if data.tag_source == "keyword-probe" and run.keyword_probe.is_file():
        # deferred: the tables and the CNN pull in torch, which not every caller of this module needs
        from engine.features.probe import KeywordProbe

        probe = KeywordProbe.load(run.keyword_probe)
        return lambda feats, logits: probe.predict_proba(feats)
    from engine.features.tags import ImageNetTagger  # deferred: as above

    tagger = ImageNetTagger(data.tag_vocab, BridgeLexicon(Bridge(data.corpus.lexicon), data.tag_vocab))
    return lambda feats, logits: None if logits is None else tagger.tag_probs(logits)


def known_image_query(data: TrainingSet, image_id: str) -> Query:
    """A corpus image as a Query: the run's features and tags, and a training image's known keywords (a query
    image's keywords are never in the TrainingSet)."""
    i = image_id
    kws = tuple(w for w, _ in sorted(data.image_keywords.get(i, {}).items(), key=lambda x: (-x[1], x[0])))
    return Query(image_id=i, path=data.corpus.image_path(i), keywords=kws,
                 features=data.features[i] if data.features is not None and i in data.features else None,
                 tag_probs=data.tags[i] if data.tags is not None and i in data.tags else None)
