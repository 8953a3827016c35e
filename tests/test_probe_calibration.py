"""Keyword probe calibration: ECE and confident-and-wrong known answers, out-of-fold rows free of their own fold."""
from __future__ import annotations

import numpy as np
import pytest

from engine.features.probe import (
    KeywordProbe,
    calibration_figures,
    confident_wrong_rate,
    expected_calibration_error,
)


def test_ece_known_answers():
    # 10 rows at 0.9 confidence, 5 right: one bin, |0.5 - 0.9| = 0.4
    p = np.tile([0.9, 0.1], (10, 1))
    truth = [{0}] * 5 + [{1}] * 5
    assert expected_calibration_error(p, truth) == pytest.approx(0.4)
    assert confident_wrong_rate(p, truth) == pytest.approx(0.5)
    # 0.6-confident rows right 60% of the time and 1.0-confident rows always right: calibrated
    p2 = np.vstack([np.tile([0.6, 0.4], (10, 1)), np.tile([1.0, 0.0], (5, 1))])
    truth2 = [{0}] * 6 + [{1}] * 4 + [{0}] * 5
    assert expected_calibration_error(p2, truth2) == pytest.approx(0.0, abs=1e-12)
    assert confident_wrong_rate(p2, truth2) == 0.0  # the wrong rows were at 0.6 < 0.8
    fig = calibration_figures(p, truth)
    assert fig["rows"] == 10 and fig["top1"] == 0.5 and fig["ece_15_bins"] == pytest.approx(0.4)


def _noisy(seed: int, n: int = 240, d: int = 40, v: int = 5, noise: float = 0.35):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(v, d)) * 0.8
    label = rng.integers(0, v, n)
    x = centres[label] + rng.normal(size=(n, d))
    flip = rng.random(n) < noise
    label[flip] = rng.integers(0, v, flip.sum())
    return x, np.eye(v)[label], label


def test_out_of_fold_rows_never_see_their_own_fold():
    x, y, _ = _noisy(0, n=60, d=8, v=3)
    probe = KeywordProbe(seed=0, folds=3, max_iter=50).fit(x, y)
    oof = probe.cross_val_predict(x, y)
    fold = np.random.default_rng(1).permutation(len(x)) % 3  # the probe's fold assignment (seed + 1)
    i = int(np.flatnonzero(fold == 0)[0])
    same = fold == 0
    # another label on row i changes no prediction of its fold (the fold's model never saw row i)
    y2 = y.copy()
    y2[i] = np.roll(y2[i], 1)
    oof2 = KeywordProbe(seed=0, folds=3, max_iter=50).fit(x, y2).cross_val_predict(x, y2)
    assert np.allclose(oof2[same], oof[same], atol=1e-6)
    # a huge feature value on row i changes the global standardisation: the fold's rows other than i must not move
    # (a probe standardising with the statistics of every row would leak row i into its own fold)
    x3 = x.copy()
    x3[i] *= 1000
    oof3 = KeywordProbe(seed=0, folds=3, max_iter=50).fit(x3, y).cross_val_predict(x3, y)
    others = same.copy()
    others[i] = False
    assert np.allclose(oof3[others], oof[others], atol=1e-6)
    # parity with the reference: a probe fitted on the other folds, calibrated on its own validation split
    ref = KeywordProbe(seed=0, folds=3, max_iter=50, calibration="validation").fit(x[~same], y[~same])
    assert np.allclose(ref.predict_proba(x[same]), oof[same], atol=1e-5)


def test_out_of_fold_temperature_calibrates_held_out_rows():
    x, y, label = _noisy(3, n=600)
    xt, yt, test = x[:300], y[:300], [{int(t)} for t in label[300:]]
    probe = KeywordProbe(seed=0).fit(xt, yt)
    p = probe.predict_proba(x[300:])
    raw = KeywordProbe._proba((x[300:] - probe.mean_) / probe.scale_, probe.coef_, probe.intercept_, 1.0)
    ece, ece_raw = expected_calibration_error(p, test), expected_calibration_error(raw, test)
    assert ece < 0.2 and ece < ece_raw  # the fitted temperature beats none on 300 rows it never saw
    assert confident_wrong_rate(p, test) <= 0.10
    assert probe.validation_["calibration"] == "out-of-fold" and probe.validation_["out_of_fold"]["rows"] == 300


def test_bad_calibration_option_is_refused():
    from graph.common.errors import Img2SongError

    with pytest.raises(Img2SongError, match="calibration must be one of"):
        KeywordProbe(calibration="isotonic").fit(np.zeros((8, 2)) + np.arange(8)[:, None], np.eye(2)[[0, 1] * 4])


def test_parallel_folds_are_bitwise_repeatable_and_leave_torch_threads_as_they_were():
    import torch

    rng = np.random.default_rng(7)
    x = rng.normal(size=(120, 16)).astype(np.float32)
    y = np.eye(4)[rng.integers(0, 4, 120)]
    before = torch.get_num_threads()
    runs = [KeywordProbe(seed=0, folds=4, max_iter=30).fit(x, y) for _ in range(3)]
    assert torch.get_num_threads() == before
    oofs = [p.cross_val_predict(x, y) for p in runs]
    for p, oof in zip(runs[1:], oofs[1:]):  # folds fitted on a thread pool, in whatever order: same bits
        assert np.array_equal(p.coef_, runs[0].coef_) and p.temperature_ == runs[0].temperature_
        assert np.array_equal(oof, oofs[0])


def test_warm_started_path_reaches_the_cold_optimum():
    from engine.features.probe import _fit_path, _fit_softmax

    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 8))
    y = np.eye(3)[rng.integers(0, 3, 200)]
    path = _fit_path(x, y, (1e-1, 1e-2), max_iter=500, seed=0)
    cold = _fit_softmax(x, y, 1e-2, max_iter=500, seed=0)
    assert np.allclose(path[1e-2][0], cold[0], atol=2e-3) and np.allclose(path[1e-2][1], cold[1], atol=2e-3)


def _objective(x: np.ndarray, y: np.ndarray, w: np.ndarray, b: np.ndarray, l2: float) -> float:
    """What _fit_softmax minimises, in float64."""
    z = x @ w + b
    z = z - z.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-(y * logp).sum(1).mean() + l2 * (w * w).sum())


def test_path_stops_where_the_validation_loss_rises_and_chooses_what_the_full_grid_chooses():
    from engine.features.probe import _fit_path, _nll

    grid = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
    x, y, _ = _noisy(5, n=120, d=20, v=4, noise=0.2)  # few rows for 20 dimensions: weak l2 overfits
    xf, yf, xv, yv = x[:80], y[:80], x[80:], y[80:]
    full = _fit_path(xf, yf, grid, max_iter=100, seed=0, tol=1e-5)
    curve = [_nll(xv @ w + b, yv) for w, b in (full[g] for g in sorted(grid, reverse=True))]
    best = int(np.argmin(curve))
    assert 0 < best < len(grid) - 1 and curve[best + 1] > curve[best]  # the case this test is about: a rise
    walked = _fit_path(xf, yf, grid, max_iter=100, seed=0, tol=1e-5, score=lambda w, b: _nll(xv @ w + b, yv))
    assert len(walked) == best + 2 < len(full)  # stopped at the first rise: the weaker fits were never made
    for l2, (w, b) in walked.items():  # the fits it made are the full walk's, bit for bit
        assert np.array_equal(w, full[l2][0]) and np.array_equal(b, full[l2][1])
    choice = min(walked, key=lambda g: _nll(xv @ walked[g][0] + walked[g][1], yv))
    assert choice == sorted(grid, reverse=True)[best]
    # a validation loss that keeps falling walks the whole grid
    x2, y2, _ = _noisy(6, n=400, d=6, v=3, noise=0.0)
    walked2 = _fit_path(x2[:300], y2[:300], (1.0, 1e-1, 1e-2), max_iter=100, seed=0, tol=1e-5,
                        score=lambda w, b: _nll(x2[300:] @ w + b, y2[300:]))
    assert sorted(walked2) == [1e-2, 1e-1, 1.0]


def test_tolerance_stops_at_the_converged_optimum():
    from engine.features.probe import _fit_softmax

    x, y, _ = _noisy(8, n=300, d=40, v=6)
    for l2 in (1e-1, 1e-2, 1e-3):
        ref = _fit_softmax(x, y, l2, max_iter=3000, seed=0, tol=0.0)  # run to float32's floor
        fast = _fit_softmax(x, y, l2, max_iter=100, seed=0, tol=1e-5)
        gap = _objective(x, y, *fast, l2) - _objective(x, y, *ref, l2)
        assert abs(gap) < 1e-4, (l2, gap)
        p_ref, p_fast = (np.argmax(x @ w + b, 1) for w, b in (ref, fast))
        assert np.mean(p_ref == p_fast) >= 0.99


def test_final_probe_fitted_beside_the_folds_is_the_one_fitted_alone():
    x, y, _ = _noisy(9, n=150, d=12, v=4)
    alone = KeywordProbe(seed=0, folds=3, calibration="validation").fit(x, y)
    beside = KeywordProbe(seed=0, folds=3).fit(x, y)  # its final fit runs on the folds' pool
    assert np.array_equal(alone.coef_, beside.coef_) and np.array_equal(alone.intercept_, beside.intercept_)
    assert alone.l2_ == beside.l2_ and alone.validation_["top1"] == beside.validation_["top1"]
    assert beside.validation_["validation_temperature"] == alone.temperature_  # then recalibrated on the folds
    assert beside.temperature_ != alone.temperature_ and beside.validation_["out_of_fold"]["rows"] == 150


def test_tolerance_is_saved_and_loaded(tmp_path):
    x, y, _ = _noisy(10, n=60, d=5, v=3)
    probe = KeywordProbe(seed=0, folds=2, tol=1e-4, calibration="validation").fit(x, y)
    back = KeywordProbe.load(probe.save(tmp_path / "probe.npz"))
    assert back.tol == 1e-4 and np.array_equal(back.predict_proba(x), probe.predict_proba(x))
