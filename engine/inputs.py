"""What a scorer is handed, at the bottom of engine/: a TrainingSet to learn from, a Query to answer.

Under the photo protocol nothing here reaches a query image's keywords, tags or caption: the corpus view holds
the training images only (with their own files, never the corpus directory), there is no run directory, and the
trained LSTM and lyric word vectors come as objects loaded by the stage layer (tests/test_labels_out_of_reach.py
walks all of it). The per-image tables (CNN features, ImageNet logits, predicted keyword distribution) cover the
query images too: they are what a new photo has, computed from pixels.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from graph.corpus import Corpus
from graph.network import Network
from graph.records import Image, Song

if TYPE_CHECKING:  # annotations only: importing the tables here would pull torch into every scorer import
    from engine.embeddings import EmbeddingTable
    from engine.features.table import FeatureTable


@dataclass(frozen=True)
class Query:
    """One image to recommend for: what a new photo has. Scorers read the fields they need and fail clearly when
    one is missing. Evaluation queries and served photos fill the same fields the same way."""

    image_id: str | None = None
    path: Path | None = None
    keywords: tuple[str, ...] = ()  # known keywords: a training image's, or a query's under the oracle protocol
    features: np.ndarray | None = None  # CNN representation of the image (backbone of the run)
    tag_probs: np.ndarray | None = None  # predicted keyword distribution (TrainingSet.tag_vocab order)
    logits: np.ndarray | None = None  # ImageNet class logits of the run's backbone (None when it has no head)


@dataclass
class CorpusView:
    """The part of a corpus a scorer may read: every song, the training images with their files, the keyword
    vocabulary and the lexicon. No query image, no corpus directory (its images.jsonl holds every label)."""

    songs: list[Song]
    images: list[Image]  # training images only
    image_files: dict[str, Path]  # training image id -> its file
    keywords: list[str] | None = None
    lexicon: dict[str, list[str]] = field(default_factory=dict)  # English word -> Chinese keywords

    @classmethod
    def of(cls, corpus: Corpus, image_ids: Iterable[str]) -> CorpusView:
        """The view of `corpus` with only the images `image_ids` (the training split)."""
        keep = set(image_ids)
        images = [i for i in corpus.images if i.id in keep]
        base = Path(corpus.root).resolve()
        folders: dict[PurePosixPath, Path | None] = {}

        def file_of(img: Image) -> Path:
            """corpus.image_path's answer at a tenth of its cost: each folder resolved once, each file lstat'ed."""
            rel = PurePosixPath(img.file)
            if img.file and not rel.is_absolute() and ".." not in rel.parts and "\\" not in img.file:
                if rel.parent not in folders:
                    folder = base.joinpath(*rel.parent.parts).resolve()
                    folders[rel.parent] = folder if folder.is_relative_to(base) else None
                folder = folders[rel.parent]
                if folder is not None and not (folder / rel.name).is_symlink():
                    return folder / rel.name
            return corpus.image_path(img)  # anything else: resolved and confined to the corpus (or an error)

        return cls(list(corpus.songs), images, {i.id: file_of(i) for i in images},
                   None if corpus.keywords is None else list(corpus.keywords), dict(corpus.lexicon))

    def song(self, song_id: str) -> Song:
        if getattr(self, "_songs_by_id", None) is None:
            self._songs_by_id = {s.id: s for s in self.songs}
        return self._songs_by_id[song_id]

    def image(self, image_id: str) -> Image:
        if getattr(self, "_images_by_id", None) is None:
            self._images_by_id = {i.id: i for i in self.images}
        return self._images_by_id[image_id]

    def image_path(self, image: Image | str) -> Path:
        return self.image_files[image if isinstance(image, str) else image.id]


@dataclass
class TrainingSet:
    """Everything a scorer may learn from: training images, all songs, the network and the run's artefacts as
    objects (query images are held out of the network and the corpus view; their keywords live in the
    evaluation's own object, which scorers never receive)."""

    corpus: CorpusView | Corpus  # a CorpusView from the stage layer (a hand-made set in tests may use a Corpus)
    network: Network
    train_image_ids: list[str]
    image_keywords: dict[str, dict[str, float]]  # training image id -> keyword -> weight (as in the network)
    song_keywords: dict[str, dict[str, float]]  # song id -> keyword -> weight
    embeddings: EmbeddingTable | None = None  # LINE vectors over network vertex ids
    features: FeatureTable | None = None  # image id -> CNN vector
    tags: FeatureTable | None = None  # image id -> predicted keyword distribution (tag_vocab order)
    tag_vocab: list[str] = field(default_factory=list)
    tag_source: str = ""  # "keyword-probe" (learnt from the training images) or "imagenet-hypernyms"
    features_meta: dict[str, Any] = field(default_factory=dict)  # backbone and weights of `features`
    logits: FeatureTable | None = None  # image id -> ImageNet class logits of the backbone
    word_vectors: Any = None  # the run's lyric word vectors (engine.lstm.wordvectors.WordVectors), when trained
    lstm_models: dict[bool, Any] = field(default_factory=dict)  # attention? -> LyricTagModel from `train-lstm`


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
