"""One validator for numeric settings: LINE's config and the LSTM estimator name the field, its range and the value."""
from __future__ import annotations

import re

import numpy as np
import pytest

from engine.line.config import LineConfig
from engine.lstm import LyricTagModel
from engine.number_checks import NumberRange
from graph.common.errors import Img2SongError

INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize("rng, text", [
    (NumberRange(whole=True, low=1), "an integer >= 1"),
    (NumberRange(low=0, low_open=True), "a number > 0"),
    (NumberRange(low=0), "a number >= 0"),
    (NumberRange(whole=True, low=0, high=1000), "an integer in 0..1000"),
    (NumberRange(whole=True, low=1, optional=True), "an integer >= 1 or None"),
    (NumberRange(low=0.5, low_open=True, high=2), "a number > 0.5 and <= 2"),
    (NumberRange(high=3), "a number <= 3"),
])
def test_range_in_words(rng, text):
    assert rng.describe() == text


@pytest.mark.parametrize("rng, good, bad", [
    (NumberRange(whole=True, low=1), [1, 7, np.int64(3)], [0, -1, 1.0, 1.5, True, "2", None, NAN]),
    (NumberRange(low=0, low_open=True), [1e-9, 3, 2.5, np.float32(0.1)], [0, -0.1, INF, NAN, False, None, "1"]),
    (NumberRange(low=0), [0, 0.0, 5], [-1e-12, -INF, INF, NAN, True]),
    (NumberRange(whole=True, low=0, high=10), [0, 10], [-1, 11, 10.0]),
    (NumberRange(whole=True, low=1, optional=True), [None, 1], [0, True, 2.0]),
])
def test_admits_exactly_the_range(rng, good, bad):
    assert all(rng.admits(v) for v in good), [v for v in good if not rng.admits(v)]
    assert not any(rng.admits(v) for v in bad), [v for v in bad if rng.admits(v)]


LSTM_BAD = [
    ("epochs", 0, "epochs must be an integer >= 1, got 0 (0 would save an untrained model)"),
    ("epochs", 2.5, "epochs must be an integer >= 1, got 2.5 (0 would save an untrained model)"),
    ("epochs", True, "epochs must be an integer >= 1, got True (0 would save an untrained model)"),
    ("negatives", 0, "negatives must be an integer >= 1, got 0"),
    ("negatives", "2", "negatives must be an integer >= 1, got '2'"),
    ("term_lr", 0, "term_lr must be a number > 0, got 0"),
    ("term_lr", INF, "term_lr must be a number > 0, got inf"),
    ("term_lr", NAN, "term_lr must be a number > 0, got nan"),
    ("attention_loss", -0.5, "attention_loss must be a number >= 0, got -0.5"),
    ("attention_loss", None, "attention_loss must be a number >= 0, got None"),
    ("threads", 0, "threads must be an integer >= 1 or None, got 0"),
    ("threads", 1.5, "threads must be an integer >= 1 or None, got 1.5"),
]


@pytest.mark.parametrize("field, value, message", LSTM_BAD)
def test_lstm_fit_names_the_bad_setting_and_value(field, value, message):
    """fit checks its settings before touching the data (empty arguments would fail later, with another error)."""
    pairs = [("i", "s")]
    with pytest.raises(Img2SongError) as err:
        LyricTagModel(progress=False, device="cpu", **{field: value}).fit(pairs, {"s": ["a"]}, {"i": np.ones(1)},
                                                                          ["a"], None)
    assert str(err.value) == message


def test_lstm_good_settings_pass_the_check():
    LyricTagModel(epochs=1, negatives=3, term_lr=0.5, attention_loss=0, threads=None).check_settings()


LINE_BAD = [
    ("dim", 0, "LINE config: field 'dim' must be an integer in 1..4096, got 0"),
    ("dim", 5000, "LINE config: field 'dim' must be an integer in 1..4096, got 5000"),
    ("dim", 8.0, "LINE config: field 'dim' must be an integer in 1..4096, got 8.0"),
    ("negative", -1, "LINE config: field 'negative' must be an integer in 0..1000, got -1"),
    ("negative", True, "LINE config: field 'negative' must be an integer in 0..1000, got True"),
    ("samples", 0, "LINE config: field 'samples' must be an integer >= 1 or None, got 0"),
    ("lr", 0.0, "LINE config: field 'lr' must be a number > 0, got 0.0"),
    ("lr", INF, "LINE config: field 'lr' must be a number > 0, got inf"),
    ("threads", -2, "LINE config: field 'threads' must be an integer >= 1 or None, got -2"),
    ("batch_size", "64", "LINE config: field 'batch_size' must be an integer >= 1 or None, got '64'"),
    ("checkpoint_every", 0, "LINE config: field 'checkpoint_every' must be an integer >= 1 or None, got 0"),
]


@pytest.mark.parametrize("field, value, message", LINE_BAD)
def test_line_config_names_the_bad_field_and_value(field, value, message):
    with pytest.raises(Img2SongError, match=f"^{re.escape(message)}$"):
        LineConfig(**{field: value})


def test_line_config_defaults_and_limits_pass():
    LineConfig()
    LineConfig(dim=4096, negative=0, samples=1, lr=1, threads=1, batch_size=1, checkpoint_every=1, checkpoint="x")
