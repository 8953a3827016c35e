"""Seeded LSTM fits against weights recorded from the code before train.py was split (refactors change nothing).

The fixture holds every state_dict tensor, the loss history, the best epoch and the validation songs of three tiny
seeded fits (attention MRL with the defaults, the paper's baseline with MSE, attention with the optional losses),
made on one torch thread (LyricTagModel's default) by `python tests/test_lstm_fit_fixture.py --write` on the
session-8 main (a7ca166), before engine/lstm/train.py was split, with the fits' word vectors. The epochs run, the
best epoch and the validation songs must be equal; every weight, loss and the tag mean equal to float32 rounding
(RTOL, ATOL): a refactor of the fit that reorders one random draw, or changes one step, moves weights far beyond
that and fails it. Exact equality held on the AMD EPYC (AVX2) machine that recorded it (torch 2.14.1), not on an
Intel Xeon with AVX-512 (session 12): torch's kernels there round the last bit of some sums differently (losses
differ by ~1e-7 relative, weights by at most 3.1e-5); rewrite the fixture only from a known-good commit, never
from new code.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.lstm import LyricTagModel, WordVectors, train_word_vectors

FIXTURE = Path(__file__).parent / "fixtures" / "lstm_seeded_fits.npz"
RTOL, ATOL = 1e-3, 1e-4  # another CPU's rounding over the fit's steps (measured: at most 3.1e-5), not a changed fit
CASES = {
    "attention_mrl": {"lr": 3e-2, "epochs": 12, "patience": 1},  # stops early at epoch 3, restores epoch 2
    "baseline_mse_paper": {"attention": False, "loss": "mse", "skip": False, "output": "mlp", "match": False},
    "attention_options": {"attention_loss": 1.0, "match_pool": "max", "negatives": 3, "negative_pool": "catalogue",
                          "pooling": "weighted", "term_lr": 3.0},
}


def _data():
    """5 topics; each song mixes its topic's words with filler; each image peaks on its topic's tag."""
    rng = np.random.default_rng(11)
    topics = [f"t{k}" for k in range(5)]
    songs = {}
    for s in range(40):
        t = topics[s % 5]
        toks = [t] + [f"{t}w{j}" for j in rng.integers(0, 4, 4)] + [f"f{j}" for j in rng.integers(0, 15, 8)]
        rng.shuffle(toks)
        songs[f"s{s}"] = toks
    for s in range(15):  # unpaired lyrics: catalogue negatives
        songs[f"u{s}"] = [f"f{j}" for j in rng.integers(0, 15, 5)]
    images = {}
    for i in range(60):
        v = rng.uniform(0, 0.1, 5).astype(np.float32)
        v[i % 5] = 0.9
        images[f"i{i}"] = v
    pairs = [(f"i{i}", f"s{s}") for s in range(40) for i in rng.choice(np.arange(s % 5, 60, 5), 2, replace=False)]
    return topics, songs, images, pairs


def _word_vectors(songs: dict[str, list[str]], recorded: bool) -> WordVectors:
    """The fits' word vectors: as recorded in the fixture (the fit alone is under test, not ARPACK's rounding on
    another machine's BLAS), or trained (when writing the fixture)."""
    if recorded:
        with np.load(FIXTURE) as z:
            return WordVectors(z["words"].tolist(), z["vectors"])
    return train_word_vectors([songs[k] for k in sorted(songs)], dim=8, method="ppmi", min_count=1)


def _fit(case: str, recorded: bool = True) -> LyricTagModel:
    topics, songs, images, pairs = _data()
    wv = _word_vectors(songs, recorded)
    kw = {"hidden": 5, "epochs": 4, "patience": 2, "val_fraction": 0.2, "seed": 3, "progress": False, "device": "cpu",
          **CASES[case]}
    return LyricTagModel(**kw).fit(pairs, songs, images, topics, wv)


def _record(m: LyricTagModel) -> dict[str, np.ndarray]:
    out = {f"state/{k}": v.detach().cpu().numpy() for k, v in m.model_.state_dict().items()}
    out["meta"] = np.array(json.dumps({"history": m.history_, "best_epoch": m.best_epoch_,
                                       "validation_songs": m.validation_songs_, "tag_mean": m.tag_mean_.tolist()}))
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_seeded_fit_equals_the_recorded_weights(case):
    want = np.load(FIXTURE)
    got = _record(_fit(case))
    prefix = f"{case}:"
    names = sorted(k[len(prefix):] for k in want.files if k.startswith(prefix))
    assert names == sorted(got), "the model's parameter names changed"
    for k in names:
        a, b = got[k], want[prefix + k]
        if k == "meta":
            got_meta, want_meta = json.loads(str(a)), json.loads(str(b))
            history = [(h["epoch"], h["train_loss"], h["val_loss"]) for h in got_meta.pop("history")]
            recorded = [(h["epoch"], h["train_loss"], h["val_loss"]) for h in want_meta.pop("history")]
            assert [h[0] for h in history] == [h[0] for h in recorded]  # the same epochs run, the same stop
            assert np.allclose(np.array(history)[:, 1:], np.array(recorded)[:, 1:], rtol=RTOL, atol=ATOL), case
            assert set(got_meta) == set(want_meta) and got_meta["best_epoch"] == want_meta["best_epoch"]
            assert got_meta["validation_songs"] == want_meta["validation_songs"]
            assert np.allclose(got_meta["tag_mean"], want_meta["tag_mean"], rtol=RTOL, atol=ATOL)
            continue
        assert a.shape == b.shape and a.dtype == b.dtype, k
        assert np.allclose(a, b, rtol=RTOL, atol=ATOL), (
            f"{case} {k}: max |diff| {np.abs(a.astype(np.float64) - b).max():.3g}")


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_lstm_fit_fixture.py --write   (only from a known-good commit)")
    torch.set_num_threads(1)
    arrays = {f"{case}:{k}": v for case in sorted(CASES) for k, v in _record(_fit(case, recorded=False)).items()}
    wv = _word_vectors(_data()[1], recorded=False)
    np.savez_compressed(FIXTURE, words=np.array(wv.words, dtype=str), vectors=wv.vectors, **arrays)
    print(f"wrote {len(arrays)} arrays for {len(CASES)} fits to {FIXTURE}")
