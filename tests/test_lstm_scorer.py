"""The `lstm` scorer: the shared scorer contract, a known-answer corpus, the train-lstm command and reuse."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.features.table import FeatureTable
from engine.scorers.base import Query, TrainingSet, get_scorer
from graph.common.errors import Img2SongError
from graph.corpus import Corpus
from graph.network import Kind, Network
from graph.records import Song
from tests.scorer_contract import ScorerContract, make_run

torch.set_num_threads(1)
FAST = {"epochs": 3, "hidden": 8, "wv_method": "ppmi", "wv_dim": 8, "device": "cpu"}


class TestLSTMContract(ScorerContract):
    name = "lstm"
    params = FAST


class TestLSTMBaselineContract(ScorerContract):
    name = "lstm"
    params = {**FAST, "attention": False}  # noqa: RUF012


class TestLSTMBaseContract(ScorerContract):
    name = "lstm-base"
    params = FAST


def test_lstm_base_is_the_no_attention_scorer():
    sc = get_scorer("lstm-base", **FAST)
    assert sc.attention is False and sc.get_params()["attention"] is False and sc.get_params()["epochs"] == 3


TOPICS = {"月": "明月 月光 月色 清辉", "花": "花开 花落 海棠 芬芳", "船": "小船 江水 渔舟 波浪"}
VOCAB = list(TOPICS)


def topic_data(root: Path) -> TrainingSet:
    """Songs whose lyrics are about one topic; training images tagged with that topic's keyword."""
    rng = np.random.default_rng(0)
    songs, skw = [], {}
    for n in range(24):
        kw = VOCAB[n % 3]
        words = TOPICS[kw].split() + ["时光", "归来", "故人", "长久", "天涯", "岁月"]
        lyric = " ".join([kw] + list(rng.choice(words, 10)))
        songs.append(Song(f"s{n}", f"t{n}", "anon", lyric, "zh", 1.0))
        skw[f"s{n}"] = {kw: float(lyric.count(kw))}
    img_ids = [f"i{n}" for n in range(36)]
    image_kw = {i: {VOCAB[n % 3]: 1.0} for n, i in enumerate(img_ids)}
    tags = np.stack([np.eye(3)[n % 3] * 0.8 + rng.uniform(0, 0.1, 3) for n in range(36)]).astype(np.float32)
    corpus = Corpus(root, songs, [], list(VOCAB), {})
    net = Network(["x"], np.array([int(Kind.OTHER)], np.int8), ["x"], np.zeros((0, 2)), np.zeros(0))
    return TrainingSet(corpus, net, img_ids[:30], {i: image_kw[i] for i in img_ids[:30]}, skw,
                       tags=FeatureTable(img_ids, tags, {"vocabulary": VOCAB}), tag_vocab=list(VOCAB))


@pytest.mark.parametrize("attention", [False, True])
def test_known_topics_are_recommended(tmp_path, attention):
    data = topic_data(tmp_path)
    # mse: 24 songs leave 2 validation songs, too few to early-stop the default MRL's noisier loss on this toy
    # (MRL learning is asserted in test_lstm_model.py::test_training_reduces_loss_and_retrieves_topic)
    sc = get_scorer("lstm", **{**FAST, "epochs": 30, "hidden": 12, "attention": attention, "loss": "mse"}).fit(data)
    song_topic = {s.id: VOCAB[int(s.id[1:]) % 3] for s in data.corpus.songs}
    hits = []
    for n in range(30, 36):
        recs = sc.recommend(Query(image_id=f"i{n}"), k=4)
        hits += [song_topic[r.song_id] == VOCAB[n % 3] for r in recs]
    assert np.mean(hits) >= 0.75  # chance is 1/3
    # an explicit tag vector answers the same as the stored one
    q = data.tags["i30"]
    assert sc.recommend(Query(tag_probs=q), 3) == sc.recommend(Query(image_id="i30"), 3)


def test_query_without_tags_is_a_clear_error(tmp_path):
    sc = get_scorer("lstm", **FAST).fit(topic_data(tmp_path))
    with pytest.raises(Img2SongError, match="tag vector"):
        sc.recommend(Query(image_id="nope"), 3)


def test_missing_tag_features_is_a_clear_error(tmp_path):
    data = topic_data(tmp_path)
    data.tags = None
    with pytest.raises(Img2SongError, match="features"):
        get_scorer("lstm", **FAST).fit(data)


def test_train_lstm_command_writes_checkpoint_that_fit_reuses(tmp_path):
    from evaluation.stages.pipeline import train_lstm
    from evaluation.stages.run_inputs import load_training_set

    run = make_run(tmp_path)
    lines: list[str] = []
    path = train_lstm(run, epochs=2, device="cpu", echo=lines.append)
    assert path == run / "lstm" / "lstm-attention.pt" and path.is_file()
    assert (run / "lstm" / "word_vectors.npz").is_file()
    assert any("wrote" in ln for ln in lines)
    data = load_training_set(run)
    reused = get_scorer("lstm", device="cpu").fit(data)
    assert not hasattr(reused.model_, "fit_seconds_")  # loaded, not retrained
    fresh = get_scorer("lstm", device="cpu", epochs=2, reuse=False).fit(data)
    q = Query(image_id="q1")
    assert [r.song_id for r in reused.recommend(q, 5)] == [r.song_id for r in fresh.recommend(q, 5)]
    with pytest.raises(Img2SongError, match="--loss"):
        train_lstm(run, loss="hinge", echo=lines.append)
