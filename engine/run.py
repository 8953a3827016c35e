"""A run directory -> TrainingSet, and photos -> Queries: the stage layer's loaders of what scorers are handed.

The TrainingSet holds objects only (no run directory, no corpus directory): the corpus view has the training
images, and the trained LSTM and lyric word vectors are loaded here and handed as objects. Queries, for a new
photo or a corpus image alike, carry features, ImageNet logits and the predicted keyword distribution.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.inputs import CorpusView, Query, TrainingSet
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
    logits = FeatureTable.load(run.logits) if run.logits.is_file() else None
    tag_path, tag_source = ((run.keyword_probs, "keyword-probe") if run.keyword_probs.is_file()
                            else (run.tags, "imagenet-hypernyms"))
    tags = FeatureTable.load(tag_path) if tag_path.is_file() else None
    if tags is not None and tags.meta.get("vocabulary") != kw.vocabulary:
        raise Img2SongError(f"{tag_path}: tags were computed for another keyword vocabulary; "
                            f"rerun `img2song features --run {run.path}`")
    query = set(split.query)
    word_vectors, lstm_models = load_lstm_artefacts(run)
    return TrainingSet(
        corpus=CorpusView.of(corpus, split.train), network=network, train_image_ids=split.train,
        image_keywords={i: w for i, w in kw.images.items() if i not in query},
        song_keywords=kw.songs, embeddings=embeddings, features=features, tags=tags, tag_vocab=kw.vocabulary,
        tag_source=tag_source if tags is not None else "", features_meta=run.read_features_meta(), logits=logits,
        word_vectors=word_vectors, lstm_models=lstm_models)


def load_lstm_artefacts(run: RunDir) -> tuple[Any, dict[bool, Any]]:
    """The run's lyric word vectors and trained LSTMs (from `img2song train-lstm`), as objects; none when absent."""
    wv, models = None, {}
    if run.word_vectors.is_file():
        from engine.lstm.wordvectors import WordVectors  # deferred: torch, as above

        wv = WordVectors.load_npz(run.word_vectors)
    for attention in (True, False):
        if run.lstm_checkpoint(attention).is_file():
            from engine.lstm.train import LyricTagModel  # deferred: torch, as above

            models[attention] = LyricTagModel.load(run.lstm_checkpoint(attention), device="cpu")
    return wv, models


def photo_queries(run: RunDir | str | Path, images: list[str | Path], data: TrainingSet | None = None,
                  cache_dir: str | Path | None = None, progress: bool = False,
                  corpus: Corpus | None = None) -> list[Query]:
    """Queries for photos: a file is new (features and ImageNet logits with the run's backbone; the predicted
    keyword distribution from the run's tag source: the keyword probe when there is one, else ImageNet hypernyms);
    a corpus image id reuses the run's features, logits and tags, and a training image's known keywords (never a
    query image's). `corpus`: the run's whole corpus (loaded when not given)."""
    # deferred: the tables and the CNN pull in torch, which not every caller of this module needs
    from engine.features.extract import extract_features

    run = RunDir.of(run)
    data = data or load_training_set(run, corpus)
    corpus = corpus or load_run_corpus(run)
    known = {i.id for i in corpus.images}
    files = [Path(p) for p in images if Path(p).is_file()]
    for p in images:
        if not Path(p).is_file() and str(p) not in known:
            raise Img2SongError(f"{p}: neither an image file nor an image id of the run's corpus")
    feats: dict[str, Any] = {}
    tags: dict[str, Any] = {}
    logits: dict[str, Any] = {}
    if files:
        meta = data.features_meta
        if not meta.get("backbone"):
            raise Img2SongError(f"{run.path}: no features yet; run `img2song features --run {run.path}` first")
        ext = extract_features([(str(p), p) for p in files], meta["backbone"], weights=meta.get("weights") or None,
                               cache_dir=cache_dir, progress=progress)
        if ext.report.skipped:
            raise Img2SongError("cannot read photo: " + "; ".join(ext.report.lines()[1:]))
        feats = {i: ext.features[i] for i in ext.features.ids}
        logits = {} if ext.logits is None else {i: ext.logits[i] for i in ext.logits.ids}
        probs = photo_tagger(run, data)(ext.features.matrix, None if ext.logits is None else ext.logits.matrix)
        tags = {} if probs is None else dict(zip(ext.features.ids, probs))
    queries = []
    for p in images:
        if Path(p).is_file():
            queries.append(Query(path=Path(p), features=feats[str(p)], tag_probs=tags.get(str(p)),
                                 logits=logits.get(str(p))))
        else:
            queries.append(known_image_query(data, str(p), corpus))
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


def known_image_query(data: TrainingSet, image_id: str, corpus: Corpus | CorpusView | None = None,
                      keywords: tuple[str, ...] | None = None) -> Query:
    """A corpus image as a Query: the run's features, logits and tags, and a training image's known keywords (a
    query image's keywords are never in the TrainingSet; `keywords` overrides them: the oracle protocol's).
    `corpus` resolves the image's file (default: the training set's view, which knows training images only)."""
    i = image_id
    if keywords is None:
        keywords = tuple(w for w, _ in sorted(data.image_keywords.get(i, {}).items(), key=lambda x: (-x[1], x[0])))
    try:
        path = (corpus or data.corpus).image_path(i)
    except KeyError:
        path = None

    def row(table: Any) -> np.ndarray | None:
        return table[i] if table is not None and i in table else None

    return Query(image_id=i, path=path, keywords=tuple(keywords), features=row(data.features),
                 tag_probs=row(data.tags), logits=row(data.logits))
