"""A run -> TrainingSet, and photos -> Queries: the stage layer's loaders of what scorers are handed.

The TrainingSet holds objects only (no run directory, no corpus directory): the corpus view has the training
images, and the trained LSTM and lyric word vectors are loaded here (through the run's storage, RunDir) and
handed as objects. Queries, for a new photo or a corpus image alike, carry features, ImageNet logits and the
predicted keyword distribution.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.inputs import CorpusView, Query, TrainingSet, known_image_query  # noqa: F401 (callers import it here)
from evaluation.stages.rundir import RunDir
from graph.bridge import Bridge, BridgeLexicon
from graph.common.errors import Img2SongError
from graph.corpus import Corpus
from graph.network import Network


def load_run_corpus(run: RunDir | str | Path) -> Corpus:
    return RunDir.of(run).load_corpus()


def run_vocabulary(run: RunDir | str | Path, network: Network | None = None) -> list[str]:
    """Keyword vocabulary of a run (tag-vector order): keywords.json 'vocabulary', else the network's keywords."""
    return RunDir.of(run).vocabulary(network)


def load_training_set(run: RunDir | str | Path, corpus: Corpus | None = None) -> TrainingSet:
    """Everything a scorer may learn from, read from a run directory; query images and their keywords stay out."""
    run = RunDir.of(run).require_dir()
    corpus = corpus or run.load_corpus()
    split = run.load_split()
    kw = run.load_keywords()
    tags, tag_source = run.load_tags(kw.vocabulary)
    query = set(split.query)
    return TrainingSet(
        corpus=CorpusView.of(corpus, split.train), network=run.load_network(), train_image_ids=split.train,
        image_keywords={i: w for i, w in kw.images.items() if i not in query},
        song_keywords=kw.songs, embeddings=run.load_embeddings(), features=run.load_features(), tags=tags,
        tag_vocab=kw.vocabulary, tag_source=tag_source, features_meta=run.load_features_meta(),
        logits=run.load_logits(), word_vectors=run.load_word_vectors(),
        lstm_models={a: m for a in (True, False) if (m := run.load_lstm(a)) is not None})


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
    probe = RunDir.of(run).load_keyword_probe() if data.tag_source == "keyword-probe" else None
    if probe is not None:
        return lambda feats, logits: probe.predict_proba(feats)
    from engine.features.tags import ImageNetTagger  # deferred: as above

    tagger = ImageNetTagger(data.tag_vocab, BridgeLexicon(Bridge.for_corpus(data.corpus), data.tag_vocab))
    return lambda feats, logits: None if logits is None else tagger.tag_probs(logits)
