"""NE, KM and POP: the shared contract plus hand-made corpora with known answers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.embeddings import EmbeddingTable
from engine.features.table import FeatureTable
from engine.scorers.base import Query, TrainingSet, get_scorer
from graph.common.errors import Img2SongError
from graph.corpus import Corpus
from graph.network import Kind, Network, vertex_id
from graph.records import Song
from tests.scorer_contract import ScorerContract, tiny_training_set


class TestNEContract(ScorerContract):
    name = "ne"


class TestKMContract(ScorerContract):
    name = "km"


class TestPOPContract(ScorerContract):
    name = "pop"


# --- NE: a geometry with a known answer -----------------------------------------------------------------
def ne_data(root: Path) -> TrainingSet:
    """Images a,b,c,d on a line in CNN space; songs placed in NE space so each image's song order is known."""
    imgs = ["a", "b", "c", "d"]
    songs = [f"s{j}" for j in range(1, 8)]
    ids = [vertex_id(Kind.IMAGE, i) for i in imgs] + [vertex_id(Kind.SONG, s) for s in songs]
    kinds = [Kind.IMAGE] * 4 + [Kind.SONG] * 7
    ne = {  # 1-D NE coordinates
        "img:a": 0.0, "img:b": 10.0, "img:c": 20.0, "img:d": 30.0,
        "song:s1": 0.1, "song:s2": 0.3, "song:s3": 9.8, "song:s4": 10.6, "song:s5": 19.0, "song:s6": 21.5,
        "song:s7": 29.0,
    }
    vec = np.array([[ne[v], 0.0] for v in ids])
    net = Network(ids, np.array(kinds, np.int8), ids, np.zeros((0, 2)), np.zeros(0))
    corpus = Corpus(root, [Song(s, s, "x", "歌词", "zh", 1.0) for s in songs], [], None, {})
    feats = FeatureTable(imgs, np.array([[0.0], [1.0], [5.0], [6.0]]))
    return TrainingSet(corpus, net, imgs, {}, {}, EmbeddingTable(ids, vec, np.array(kinds, np.int8), ids), feats)


def test_ne_known_answer_with_duplicate_backfill(tmp_path):
    # query near a (CNN 0.1): neighbours a (0.1), b (0.9), c (4.9), d (5.9)
    # a's songs by NE distance: s1 (0.1), s2 (0.3), s3, s4 ...; b's: s3 (0.2), s4 (0.6), s2 ...
    ne = get_scorer("ne", n_images=2, songs_per_image=2).fit(ne_data(tmp_path))
    recs = ne.recommend(Query(features=np.array([0.1])), k=4)
    assert [r.song_id for r in recs] == ["s1", "s2", "s3", "s4"]
    assert "near image a" in recs[0].explanation and "0.100" in recs[0].explanation
    assert "near image b" in recs[2].explanation
    # k=6 > n_images*songs_per_image: further images fill in (c: s5 then s6)
    recs = ne.recommend(Query(features=np.array([0.1])), k=6)
    assert [r.song_id for r in recs] == ["s1", "s2", "s3", "s4", "s5", "s6"]
    assert "near image c" in recs[4].explanation


def test_ne_duplicates_backfilled_from_the_same_image(tmp_path):
    # move b's NE vector next to a's: b's nearest songs are s2, s1 (both taken by a), so b must backfill
    # with its next nearest, s3 and s4, instead of dropping out
    data = ne_data(tmp_path)
    vec = data.embeddings.vectors.copy()
    vec[data.embeddings.index("img:b")] = [0.25, 0.0]
    data.embeddings = EmbeddingTable(data.embeddings.ids, vec, data.embeddings.kinds, data.embeddings.labels)
    ne = get_scorer("ne", n_images=2, songs_per_image=2).fit(data)
    recs = ne.recommend(Query(features=np.array([0.1])), k=4)
    assert [r.song_id for r in recs] == ["s1", "s2", "s3", "s4"]
    assert ["near image a" in r.explanation for r in recs] == [True, True, False, False]
    assert all("near image b" in r.explanation for r in recs[2:])


def test_ne_query_by_image_id_and_missing_features(tmp_path):
    ne = get_scorer("ne", n_images=1, songs_per_image=2).fit(ne_data(tmp_path))
    assert [r.song_id for r in ne.recommend(Query(image_id="d"), 2)] == ["s7", "s6"]
    with pytest.raises(Img2SongError, match="features"):
        ne.recommend(Query(image_id="unknown"), 2)
    with pytest.raises(Img2SongError, match="dimension"):
        ne.recommend(Query(features=np.zeros(3)), 2)


def test_ne_fit_needs_features_and_embeddings(tmp_path):
    data = ne_data(tmp_path)
    data.features = None
    with pytest.raises(Img2SongError, match="img2song features"):
        get_scorer("ne").fit(data)
    data = ne_data(tmp_path)
    data.embeddings = None
    with pytest.raises(Img2SongError, match="embeddings"):
        get_scorer("ne").fit(data)


def test_ne_skips_training_images_without_features(tmp_path):
    data = ne_data(tmp_path)
    data.features = data.features.subset(["a", "b", "c"])
    ne = get_scorer("ne").fit(data)
    assert ne.image_ids_ == ["a", "b", "c"]
    assert ne.skipped_ == {"training image without CNN features": 1}


# --- KM -----------------------------------------------------------------------------------------------
def km_data(root: Path) -> TrainingSet:
    songs = [Song("x1", "", "", "月 月 月", "zh", 1.0), Song("x2", "", "", "月光", "zh", 9.0),
             Song("x3", "", "", "明月", "zh", 5.0), Song("x4", "", "", "江水", "zh", 100.0),
             Song("x5", "", "", "花与月", "zh", 5.0), Song("x6", "", "", "Moon over the MOON", "en", 0.0)]
    net = Network([], np.zeros(0, np.int8), [], np.zeros((0, 2)), np.zeros(0))
    return TrainingSet(Corpus(root, songs, []), net, [], {}, {}, tag_vocab=["月", "江", "moon"])


def test_km_ranks_by_occurrences_then_popularity_then_seeded_tie(tmp_path):
    km = get_scorer("km", seed=3).fit(km_data(tmp_path))
    recs = km.recommend(Query(image_id="q", keywords=("月",)), k=6)
    ids = [r.song_id for r in recs]
    assert ids[:2] == ["x1", "x2"]  # 3 occurrences; then 1 occurrence with popularity 9
    assert set(ids[2:4]) == {"x3", "x5"}  # equal count and popularity: seeded order
    assert "'月' x3" in recs[0].explanation
    assert ids[4] == "x4" and "backfill" in recs[4].explanation  # no match left: most popular
    # the tie order is drawn once at fit (issue 23): the same for every query, and it differs between seeds
    orders = {tuple(r.song_id for r in km.recommend(Query(image_id=f"q{j}", keywords=("月",)), 4))[2:]
              for j in range(20)}
    assert len(orders) == 1
    data = km_data(tmp_path)
    by_seed = {tuple(r.song_id for r in get_scorer("km", seed=s).fit(data).recommend(
        Query(image_id="q", keywords=("月",)), 4))[2:] for s in range(20)}
    assert by_seed == {("x3", "x5"), ("x5", "x3")}


def test_km_case_insensitive_multi_keyword_and_no_backfill(tmp_path):
    km = get_scorer("km", backfill=False).fit(km_data(tmp_path))
    recs = km.recommend(Query(image_id="q", keywords=("moon", "江")), k=10)
    assert [r.song_id for r in recs] == ["x6", "x4"]  # 2 'moon' (any case) beat 1 '江'


def test_km_uses_top_cnn_tag_keyword_when_no_keywords(tmp_path):
    km = get_scorer("km").fit(km_data(tmp_path))
    recs = km.recommend(Query(path=Path("new.png"), tag_probs=np.array([0.1, 0.7, 0.2])), k=1)
    assert recs[0].song_id == "x4" and "江" in recs[0].explanation
    with pytest.raises(Img2SongError, match="tag mass"):
        km.recommend(Query(path=Path("new.png"), tag_probs=np.array([0.01, 0.0, 0.0])), k=1)
    with pytest.raises(Img2SongError, match="keywords or CNN tags"):
        km.recommend(Query(path=Path("new.png")), k=1)


# --- POP ----------------------------------------------------------------------------------------------
def pop_data(root: Path) -> TrainingSet:
    songs = [Song(f"p{j:03d}", "", "", "歌", "zh", float(j)) for j in range(150)]
    net = Network([], np.zeros(0, np.int8), [], np.zeros((0, 2)), np.zeros(0))
    return TrainingSet(Corpus(root, songs, []), net, [], {}, {})


def test_pop_draws_from_the_top_100_seeded_per_query(tmp_path):
    pop = get_scorer("pop").fit(pop_data(tmp_path))
    draws = [pop.recommend(Query(image_id=f"q{j}"), 10) for j in range(30)]
    for recs in draws:
        pops = [r.score for r in recs]
        assert len(recs) == 10 and min(pops) >= 50.0  # popularity 50..149 are the top 100
        assert pops == sorted(pops, reverse=True)
    assert len({tuple(r.song_id for r in recs) for recs in draws}) == 30
    assert pop.recommend(Query(image_id="q7"), 10) == draws[7]
    other_seed = get_scorer("pop", seed=1).fit(pop_data(tmp_path))
    assert other_seed.recommend(Query(image_id="q7"), 10) != draws[7]
    # every one of the top 100 is drawn eventually, nothing else
    seen = {r.song_id for j in range(300) for r in pop.recommend(Query(image_id=f"z{j}"), 10)}
    assert seen == {f"p{j:03d}" for j in range(50, 150)}


def test_unknown_scorer_is_a_clear_error():
    with pytest.raises(Img2SongError, match="unknown scorer"):
        get_scorer("nope")


def test_tiny_training_set_is_consistent(tmp_path):
    data = tiny_training_set(tmp_path)
    assert data.features.meta["backbone"] == "fake"
    assert all(vertex_id(Kind.IMAGE, i) in data.embeddings for i in data.train_image_ids)
