"""Scorer contract every scorer's tests inherit, plus tiny hand-made training sets and run directories.

Use: `class TestMyScorer(ScorerContract): name = "my"; def make_data(self, tmp_path): ...` (make_data defaults
to `tiny_training_set`); each scorer then passes the same protocol checks.
"""
from __future__ import annotations

import gzip
import json
from itertools import pairwise
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from engine.embeddings import EmbeddingTable
from engine.features.table import FeatureTable
from engine.scorers.base import (
    Query,
    Recommendation,
    Scorer,
    TrainingSet,
    get_scorer,
    load_scorer,
    scorer_names,
)
from evaluation.stages.rundir import RunDir, Stage
from graph.build import KeywordFile, Split
from graph.common.errors import Img2SongError
from graph.corpus import Corpus
from graph.network import Kind, Network, vertex_id
from graph.records import Image, Song

SONGS = [  # id, lyrics, popularity
    ("s1", "明月几时有 月光 月下", 9.0), ("s2", "大江东去 江上小船", 8.0), ("s3", "花落满地 细雨", 7.0),
    ("s4", "海棠花依旧 雨疏风骤", 6.0), ("s5", "月下山 千骑卷平冈", 5.0), ("s6", "浓睡不消残酒", 4.0),
    ("s7", "山间明月 清风", 3.0), ("s8", "小船 江水", 2.0),
]
IMAGES = {  # id -> keywords (weights 1)
    "i1": ["月"], "i2": ["月", "山"], "i3": ["花"], "i4": ["雨"], "i5": ["船", "江"], "i6": ["酒"], "q1": ["月"],
    "q2": ["花"], "q3": ["船"],
}
VOCAB = ["月", "山", "花", "雨", "船", "江", "酒"]
TRAIN = ["i1", "i2", "i3", "i4", "i5", "i6"]
QUERY = ["q1", "q2", "q3"]


def tiny_corpus(root: Path) -> Corpus:
    songs = [Song(i, f"title {i}", "anon", ly, "zh", pop) for i, ly, pop in SONGS]
    images = [Image(i, f"images/{i}.png", tuple(kws)) for i, kws in IMAGES.items()]
    return Corpus(root, songs, images, list(VOCAB), {"moon": ["月"], "flower": ["花"]})


def tiny_network(song_kw: dict[str, dict[str, float]]) -> Network:
    ids = [vertex_id(Kind.IMAGE, i) for i in TRAIN] + [vertex_id(Kind.KEYWORD, w) for w in VOCAB] + \
          [vertex_id(Kind.SONG, s) for s, _, _ in SONGS]
    kinds = [Kind.IMAGE] * len(TRAIN) + [Kind.KEYWORD] * len(VOCAB) + [Kind.SONG] * len(SONGS)
    index = {v: j for j, v in enumerate(ids)}
    edges, weights = [], []
    for i in TRAIN:
        for w in IMAGES[i]:
            edges.append((index[vertex_id(Kind.IMAGE, i)], index[vertex_id(Kind.KEYWORD, w)]))
            weights.append(1.0)
    for s, kws in song_kw.items():
        for w, c in kws.items():
            edges.append((index[vertex_id(Kind.SONG, s)], index[vertex_id(Kind.KEYWORD, w)]))
            weights.append(c)
    return Network(ids, np.array(kinds, np.int8), list(ids), np.array(edges), np.array(weights, np.float32))


def song_keywords() -> dict[str, dict[str, float]]:
    return {s: {w: float(ly.count(w)) for w in VOCAB if w in ly} for s, ly, _ in SONGS}


def tiny_training_set(root: Path, seed: int = 0) -> TrainingSet:
    """8 songs, 6 training + 3 query images; features = one-hot of the first keyword (+ noise); random NE."""
    rng = np.random.default_rng(seed)
    corpus = tiny_corpus(root)
    skw = song_keywords()
    net = tiny_network(skw)
    emb = EmbeddingTable(net.ids, rng.normal(size=(len(net.ids), 6)), net.kinds, net.labels)
    ids = list(IMAGES)
    feats = np.stack([np.eye(len(VOCAB))[VOCAB.index(IMAGES[i][0])] + 0.01 * rng.normal(size=len(VOCAB))
                      for i in ids])
    tags = np.stack([np.eye(len(VOCAB))[VOCAB.index(IMAGES[i][-1])] * 0.8 for i in ids])
    return TrainingSet(
        corpus=corpus, network=net, train_image_ids=list(TRAIN),
        image_keywords={i: {w: 1.0 for w in IMAGES[i]} for i in TRAIN}, song_keywords=skw, embeddings=emb,
        features=FeatureTable(ids, feats, {"backbone": "fake"}), tags=FeatureTable(ids, tags, {"vocabulary": VOCAB}),
        tag_vocab=list(VOCAB), features_meta={"backbone": "fake"})


def write_dump(path: Path, rows: list[tuple[str, str, str, float]]) -> Path:
    """A ConceptNet-format dump: uri, relation, start, end, {"weight": w} (gzip when the name ends .gz)."""
    lines = "".join(f"/a/[{r}/,{s}/,{e}/]\t{r}\t{s}\t{e}\t{json.dumps({'weight': w})}\n" for r, s, e, w in rows)
    if path.suffix == ".gz":
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(lines)
    else:
        path.write_text(lines, encoding="utf-8")
    return path


def make_run(tmp_path: Path, seed: int = 0) -> Path:
    """A complete run directory on disk (corpus with PNGs and a related-words dump, network, split, keywords,
    embeddings, features) whose contents equal tiny_training_set."""
    from PIL import Image as PILImage

    ts = tiny_training_set(tmp_path / "corpus", seed)
    corpus_dir = tmp_path / "corpus"
    (corpus_dir / "images").mkdir(parents=True, exist_ok=True)
    for k, img in enumerate(ts.corpus.images):
        PILImage.new("RGB", (8, 8), (30 * k, 90, 200)).save(corpus_dir / img.file)
    (corpus_dir / "songs.jsonl").write_text("".join(json.dumps(
        {"id": s.id, "title": s.title, "artist": s.artist, "lyrics": s.lyrics, "language": "zh",
         "popularity": s.popularity}, ensure_ascii=False) + "\n" for s in ts.corpus.songs), encoding="utf-8")
    (corpus_dir / "images.jsonl").write_text("".join(json.dumps(
        {"id": i.id, "file": i.file, "tags": list(i.tags)}, ensure_ascii=False) + "\n" for i in ts.corpus.images),
        encoding="utf-8")
    (corpus_dir / "lexicon.tsv").write_text("moon\t月\nflower\t花\n", encoding="utf-8")
    write_dump(corpus_dir / "related_words.tsv.gz", [
        ("/r/RelatedTo", "/c/zh/月", "/c/zh/明月", 3.0), ("/r/RelatedTo", "/c/zh/月", "/c/zh/风", 1.0),
        ("/r/RelatedTo", "/c/zh/花", "/c/zh/雨", 2.0), ("/r/Synonym", "/c/zh/船", "/c/zh/舟", 1.0)])
    run = RunDir(tmp_path / "run").create()
    run.save_network(ts.network)
    run.save_split(Split(TRAIN, QUERY))
    run.save_keywords(KeywordFile(VOCAB, {i: {w: 1.0 for w in kws} for i, kws in IMAGES.items()}, ts.song_keywords))
    run.record(Stage.BUILD_GRAPH, {"holdout": "by hand"}, corpus=str(corpus_dir))
    ts.embeddings.save(run.embeddings)  # written by other means: no line.json
    run.save_features(ts.features, None, ts.tags, {"backbone": "fake"})
    return run.path


class ScorerContract:
    """Protocol checks shared by every scorer (fit returns self, k distinct known songs, ranked, explained)."""

    name: str = ""
    params: ClassVar[dict] = {}

    def make_data(self, tmp_path: Path) -> TrainingSet:
        return tiny_training_set(tmp_path)

    def queries(self, data: TrainingSet) -> list[Query]:
        out = []
        for q in QUERY:
            kws = tuple(IMAGES[q])
            out.append(Query(image_id=q, keywords=kws, features=data.features[q], tag_probs=data.tags[q]))
        return out

    @pytest.fixture
    def fitted(self, tmp_path):
        data = self.make_data(tmp_path)
        scorer = get_scorer(self.name, **self.params)
        assert scorer.fit(data) is scorer
        return scorer, data

    def test_registered(self):
        assert self.name in scorer_names()
        assert get_scorer(self.name, **self.params).name == self.name

    def test_recommend_before_fit_is_a_clear_error(self):
        with pytest.raises(Img2SongError):
            get_scorer(self.name, **self.params).recommend(Query(image_id="q1", keywords=("月",)), 3)

    @pytest.mark.parametrize("k", [1, 3, 5])
    def test_k_distinct_known_songs_ranked_and_explained(self, fitted, k):
        scorer, data = fitted
        known = {s.id for s in data.corpus.songs}
        for q in self.queries(data):
            recs = scorer.recommend(q, k)
            assert 0 < len(recs) <= k
            assert all(isinstance(r, Recommendation) for r in recs)
            ids = [r.song_id for r in recs]
            assert len(set(ids)) == len(ids), f"duplicate songs {ids}"
            assert set(ids) <= known
            scores = [r.score for r in recs]
            assert all(a >= b for a, b in pairwise(scores)), f"scores not ranked: {scores}"
            assert all(r.explanation.strip() for r in recs)

    def test_deterministic(self, fitted):
        scorer, data = fitted
        for q in self.queries(data):
            assert scorer.recommend(q, 5) == scorer.recommend(q, 5)

    def test_batch_equals_single(self, fitted):
        scorer, data = fitted
        qs = self.queries(data)
        assert scorer.recommend_batch(qs, 4) == [scorer.recommend(q, 4) for q in qs]

    def test_saved_scorer_loads_and_answers_the_same(self, fitted, tmp_path):
        scorer, data = fitted
        path = scorer.save(tmp_path / "saved" / self.name, signature="sig-1")
        assert (path / "params.json").is_file() and not list(path.parent.glob(".*tmp"))
        loaded = Scorer.load(path)
        assert type(loaded) is type(scorer) and loaded.get_params() == scorer.get_params()
        assert load_scorer(path).get_params() == scorer.get_params()
        qs = self.queries(data) + [Query(image_id=q) for q in QUERY]  # image ids only: the scorer's own lookups
        for k in (1, 5):
            assert loaded.recommend_batch(qs, k) == scorer.recommend_batch(qs, k)


def set_song_title(corpus_dir: Path, song_id: str, title: str) -> None:
    """Rewrite one song's title in a corpus's songs.jsonl (e.g. to check that a report escapes it)."""
    path = corpus_dir / "songs.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    rows = [r | {"title": title} if r["id"] == song_id else r for r in rows]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
