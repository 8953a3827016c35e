"""Keywords from pixels: a calibrated linear probe over CNN features, learnt from the training images' keywords.

Multinomial logistic regression on standardised features with soft targets (an image's keyword weights,
normalised), fitted full-batch with L-BFGS until an iteration changes the loss by less than `tol`. The L2 strength is
chosen on a seeded validation split of the training images (lowest validation log-loss; the grid walked strongest
first, each fit warm-started from the last: the problem is convex; the walk stops once the validation loss rises)
and the final model is refitted on every training image with it.
Calibration (calibration="out-of-fold", the default): every training image gets logits from a probe fitted on the
other folds, with every statistic (standardisation, L2, its own temperature) refitted inside the fold; the final
temperature is the one that minimises the log-loss of those out-of-fold logits (more rows than a validation split,
and rows of every kind the training set has). calibration="validation" fits it on the validation split alone.
Query images are never seen. ECE and the confident-and-wrong rate measure the result (expected_calibration_error).
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.common.readers import load_npz, npz_meta

DEFAULT_L2 = (1e-4, 1e-3, 1e-2, 1e-1)
CALIBRATIONS = ("out-of-fold", "validation")
ECE_BINS = 15
CONFIDENT = 0.8  # a top-1 probability at least this high is a confident answer
TORCH_LBFGS_TOL = 1e-9  # torch's own tolerance_change: what probes saved before `tol` existed were fitted with


def _fit_softmax(x: np.ndarray, y: np.ndarray, l2: float, max_iter: int, seed: int,
                 start: tuple[np.ndarray, np.ndarray] | None = None, tol: float = TORCH_LBFGS_TOL
                 ) -> tuple[np.ndarray, np.ndarray]:
    """W [d, V], b [V] minimising mean soft-label cross-entropy + l2 * |W|^2 (full batch, L-BFGS).

    The problem is strictly convex, so `start` (a solution for a neighbouring l2 on the same rows) changes only how
    fast L-BFGS gets there, not where: the regularisation path is walked with warm starts."""
    import torch

    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32)
    if start is None:
        g = torch.Generator().manual_seed(seed)
        w0 = torch.randn(x.shape[1], y.shape[1], generator=g, dtype=torch.float32) * 1e-3
        b0 = torch.zeros(y.shape[1], dtype=torch.float32)
    else:
        w0, b0 = (torch.tensor(a, dtype=torch.float32) for a in start)
    w, b = w0.requires_grad_(), b0.requires_grad_()
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, history_size=20, line_search_fn="strong_wolfe",
                            tolerance_change=tol)

    def closure():
        opt.zero_grad()
        loss = -(yt * torch.log_softmax(xt @ w + b, dim=1)).sum(1).mean() + l2 * (w * w).sum()
        loss.backward()
        return loss

    with single_thread():
        opt.step(closure)
    return w.detach().numpy(), b.detach().numpy()


@contextmanager
def single_thread():
    """torch on one intra-op thread while probes fit: [n x d] @ [d x V] is small (a thread team only spins, 40x
    slower on a busy box), the folds run on threads of their own, and one setting for all keeps results bitwise
    the same however the folds are scheduled. Nested uses leave the outermost to restore the setting."""
    import torch

    global _single_depth
    with _single_lock:
        if _single_depth == 0:
            _single_saved[0] = torch.get_num_threads()
            torch.set_num_threads(1)
        _single_depth += 1
    try:
        yield
    finally:
        with _single_lock:
            _single_depth -= 1
            if _single_depth == 0:
                torch.set_num_threads(_single_saved[0])


_single_lock = threading.Lock()
_single_depth = 0
_single_saved = [1]


def _fit_path(x: np.ndarray, y: np.ndarray, grid: Sequence[float], max_iter: int, seed: int,
              score: Callable[[np.ndarray, np.ndarray], float] | None = None, tol: float = TORCH_LBFGS_TOL
              ) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """One solution per l2, strongest first, each starting from the previous one. With `score` (validation
    log-loss), the walk stops at the first l2 whose score is worse than the previous one's: past the minimum of a
    unimodal validation curve the weaker fits (the slowest to converge) cannot be chosen."""
    out: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    prev, last = None, np.inf
    for l2 in sorted(grid, reverse=True):
        prev = out[l2] = _fit_softmax(x, y, l2, max_iter, seed, start=prev, tol=tol)
        if score is not None:
            now = score(*prev)
            if now > last:
                break
            last = now
    return out


def cpu_count() -> int:
    """Cores this process may run on (affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _nll(logits: np.ndarray, y: np.ndarray) -> float:
    return float(-(y * _log_softmax(logits)).sum(1).mean())


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature T > 0 minimising the validation log-loss of logits / T (golden-section on log T)."""
    lo, hi = np.log(0.05), np.log(20.0)
    phi = (np.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = hi - phi * (hi - lo), lo + phi * (hi - lo)
        if _nll(logits / np.exp(a), y) < _nll(logits / np.exp(b), y):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))


def topk_accuracy(probs: np.ndarray, truth: Sequence[set[int]], k: int) -> float:
    """Share of rows whose k most probable classes include one of the row's true classes."""
    if not len(truth):
        return float("nan")
    top = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return float(np.mean([bool(set(t.tolist()) & s) for t, s in zip(top, truth)]))


def _top1_hits(probs: np.ndarray, truth: Sequence[set[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(top-1 probability, whether the top-1 class is one of the row's true classes) per row."""
    top = np.argmax(probs, axis=1)
    return probs[np.arange(len(probs)), top], np.array([int(t) in s for t, s in zip(top, truth)], dtype=bool)


def expected_calibration_error(probs: np.ndarray, truth: Sequence[set[int]], bins: int = ECE_BINS) -> float:
    """Top-1 ECE: rows binned by top-1 probability into `bins` equal-width bins over [0, 1]; the row-weighted mean
    |accuracy - mean confidence| of the bins (a hit = the top-1 class is one of the row's true classes)."""
    if not len(truth):
        return float("nan")
    conf, hit = _top1_hits(np.asarray(probs, dtype=np.float64), truth)
    which = np.minimum((conf * bins).astype(int), bins - 1)
    gap = sum(abs(hit[which == b].mean() - conf[which == b].mean()) * (which == b).sum()
              for b in range(bins) if (which == b).any())
    return float(gap / len(conf))


def confident_wrong_rate(probs: np.ndarray, truth: Sequence[set[int]], threshold: float = CONFIDENT) -> float:
    """Share of rows whose top-1 probability is >= threshold and whose top-1 class is wrong."""
    if not len(truth):
        return float("nan")
    conf, hit = _top1_hits(np.asarray(probs, dtype=np.float64), truth)
    return float(np.mean((conf >= threshold) & ~hit))


def calibration_figures(probs: np.ndarray, truth: Sequence[set[int]]) -> dict[str, float | int]:
    """Rows, top-1, top-1 ECE (ECE_BINS bins), mean top-1 probability and the confident-and-wrong rate."""
    probs = np.asarray(probs, dtype=np.float64)
    if not len(truth):
        return {"rows": 0}
    conf, hit = _top1_hits(probs, truth)
    return {"rows": len(truth), "top1": round(float(hit.mean()), 4), "mean_confidence": round(float(conf.mean()), 4),
            f"ece_{ECE_BINS}_bins": round(expected_calibration_error(probs, truth), 4),
            f"confident_wrong_{CONFIDENT}": round(confident_wrong_rate(probs, truth), 4)}


def keyword_targets(ids: Sequence[str], weights: dict[str, dict[str, float]],
                    vocabulary: Sequence[str]) -> np.ndarray:
    """[len(ids), V] keyword weights of each image in vocabulary order (words outside the vocabulary dropped)."""
    index = {w: j for j, w in enumerate(vocabulary)}
    y = np.zeros((len(ids), len(vocabulary)), np.float64)
    for r, i in enumerate(ids):
        for w, weight in weights.get(i, {}).items():
            if w in index:
                y[r, index[w]] = weight
    return y


def _fingerprint(x: np.ndarray, y: np.ndarray) -> str:
    import hashlib

    return hashlib.sha1(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()


@dataclass
class KeywordProbe:
    """fit(features, soft keyword targets) -> self; predict_proba(features) -> calibrated keyword distribution."""

    l2_grid: tuple[float, ...] = DEFAULT_L2
    val_fraction: float = 0.2
    folds: int = 5
    max_iter: int = 100
    seed: int = 0
    vocabulary: list[str] = field(default_factory=list)
    calibration: str = "out-of-fold"  # where the temperature is fitted: "out-of-fold" | "validation"
    tol: float = 1e-5  # L-BFGS stops when an iteration changes the loss (or every weight) by less than this

    def fit(self, x: np.ndarray, y: np.ndarray) -> KeywordProbe:
        x, y = self._check(x, y)
        if len(x) < 4:
            raise Img2SongError(f"keyword probe: needs at least 4 training images with keywords, got {len(x)}")
        if self.calibration not in CALIBRATIONS:
            raise Img2SongError(f"keyword probe: calibration must be one of {CALIBRATIONS}, got {self.calibration!r}")
        self.mean_ = x.mean(0)
        self.scale_ = x.std(0) + 1e-6
        z = (x - self.mean_) / self.scale_
        self._oof = None
        if self.calibration != "out-of-fold":
            with single_thread():
                self._fit_main(z, y)
            return self
        # the final probe and the out-of-fold probes are independent fits: they share one pool (the final one
        # first, it is the largest), so the stage's wall time is its CPU time over the cores, not final + folds
        with single_thread(), ThreadPoolExecutor(max(1, min(self.folds + 1, cpu_count()))) as pool:
            main = pool.submit(self._fit_main, z, y)
            proba, logits = self._out_of_fold(x, y, pool)
            main.result()
        self._oof = (_fingerprint(x, y), proba)
        self.temperature_ = _fit_temperature(logits, y)
        all_truth = [set(np.flatnonzero(r > 0).tolist()) for r in y]
        self.validation_.update({"temperature": self.temperature_, "validation_temperature": self.validation_[
            "temperature"], "out_of_fold": calibration_figures(self._proba_logits(logits), all_truth)})
        return self

    def _fit_main(self, z: np.ndarray, y: np.ndarray) -> None:
        """L2 and temperature on a seeded validation split of the standardised rows, then the refit on all."""
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(z))
        n_val = max(1, int(round(self.val_fraction * len(z))))
        val, fit = order[:n_val], order[n_val:]
        path = _fit_path(z[fit], y[fit], self.l2_grid, self.max_iter, self.seed,
                         score=lambda w, b: _nll(z[val] @ w + b, y[val]), tol=self.tol)
        scores = {l2: (_nll(z[val] @ w + b, y[val]), w, b) for l2, (w, b) in path.items()}
        self.l2_ = min(scores, key=lambda l2: (scores[l2][0], l2))
        _, w, b = scores[self.l2_]
        self.temperature_ = _fit_temperature(z[val] @ w + b, y[val])
        truth = [set(np.flatnonzero(r > 0).tolist()) for r in y[val]]
        p_val = self._proba(z[val], w, b, self.temperature_)
        self.validation_ = {"images": int(n_val), "l2": self.l2_, "temperature": self.temperature_,
                            "log_loss": {str(k): round(v[0], 5) for k, v in scores.items()},
                            "top1": topk_accuracy(p_val, truth, 1), "top3": topk_accuracy(p_val, truth, 3),
                            "calibration": self.calibration}
        self.coef_, self.intercept_ = _fit_softmax(z, y, self.l2_, self.max_iter, self.seed, start=(w, b),
                                                   tol=self.tol)

    def refit(self, x: np.ndarray, y: np.ndarray) -> KeywordProbe:
        """A NEW probe fitted on (x, y) from this one's solution (a live catalogue's images changed): the
        standardisation measured again on the new rows, this one's weights re-expressed in it as the warm start,
        the L2 strength and temperature kept as chosen at fit. The objective is strictly convex, so the start
        changes only how fast L-BFGS converges, not where (the full fit's answer for that L2 and standardisation)."""
        self._check_fitted()
        x, y = self._check(x, y)
        if len(x) < 4:
            raise Img2SongError(f"keyword probe: needs at least 4 training images with keywords, got {len(x)}")
        if x.shape[1] != len(self.mean_) or y.shape[1] != self.coef_.shape[1]:
            raise Img2SongError(f"keyword probe: refit rows {x.shape} x {y.shape[1]} keywords do not match the "
                                f"probe's {len(self.mean_)} features x {self.coef_.shape[1]} keywords")
        new = KeywordProbe(self.l2_grid, self.val_fraction, self.folds, self.max_iter, self.seed,
                           list(self.vocabulary), self.calibration, self.tol)
        new.mean_, new.scale_ = x.mean(0), x.std(0) + 1e-6
        w = np.asarray(self.coef_, np.float64)
        # the same logits in the new standardisation: z_old = z_new * (s_new / s_old) + (m_new - m_old) / s_old
        w0 = (new.scale_ / self.scale_)[:, None] * w
        b0 = np.asarray(self.intercept_, np.float64) + ((new.mean_ - self.mean_) / self.scale_) @ w
        with single_thread():
            new.coef_, new.intercept_ = _fit_softmax((x - new.mean_) / new.scale_, y, self.l2_, self.max_iter,
                                                     self.seed, start=(w0, b0), tol=self.tol)
        new.l2_, new.temperature_ = self.l2_, self.temperature_
        refits = int(self.validation_.get("refit", {}).get("refits", 0)) + 1
        new.validation_ = {**self.validation_, "refit": {"images": int(len(x)), "refits": refits}}
        return new

    def _out_of_fold(self, x: np.ndarray, y: np.ndarray, pool: ThreadPoolExecutor | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, untempered logits) of each row from a probe fitted on the other folds, every statistic
        (standardisation, L2, temperature) refitted inside the fold."""
        fold = np.random.default_rng(self.seed + 1).permutation(len(x)) % max(2, self.folds)
        proba = np.zeros(y.shape, dtype=np.float64)
        logits = np.zeros(y.shape, dtype=np.float64)

        def fit_fold(f: int) -> KeywordProbe:  # fits only the other folds' rows: nothing of fold f reaches it
            return KeywordProbe(self.l2_grid, self.val_fraction, self.folds, self.max_iter, self.seed,
                                list(self.vocabulary), "validation", self.tol).fit(x[fold != f], y[fold != f])

        folds = np.unique(fold).tolist()
        with single_thread(), ExitStack() as stack:
            if pool is None:
                pool = stack.enter_context(ThreadPoolExecutor(max(1, min(len(folds), cpu_count()))))
            inners = list(pool.map(fit_fold, folds))  # torch releases the GIL: the folds fit side by side
        for f, inner in zip(folds, inners):
            te = fold == f
            zt = (x[te] - inner.mean_) / inner.scale_
            logits[te] = zt @ inner.coef_ + inner.intercept_
            proba[te] = self._proba_logits(logits[te] / inner.temperature_)
        return proba, logits

    def cross_val_predict(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Out-of-fold probabilities for the training images (each row from a probe that never saw it, with its
        standardisation, L2 and temperature fitted without it)."""
        self._check_fitted()
        x, y = self._check(x, y)
        cached = getattr(self, "_oof", None)
        if cached is not None and cached[0] == _fingerprint(x, y):
            return cached[1].astype(np.float32)
        return self._out_of_fold(x, y)[0].astype(np.float32)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self._check_fitted()
        x = np.atleast_2d(np.asarray(x, dtype=np.float64))
        if x.shape[1] != len(self.mean_):
            raise Img2SongError(f"keyword probe: features have dimension {x.shape[1]}, the probe's "
                                f"{len(self.mean_)} (another backbone?)")
        z = (x - self.mean_) / self.scale_
        return self._proba(z, self.coef_, self.intercept_, self.temperature_).astype(np.float32)

    @staticmethod
    def _proba(z: np.ndarray, w: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
        return np.exp(_log_softmax((z @ w + b) / t))

    def _proba_logits(self, logits: np.ndarray) -> np.ndarray:
        return np.exp(_log_softmax(logits))

    def _check(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
            raise Img2SongError(f"keyword probe: features {x.shape} and targets {y.shape} do not pair up")
        if not (np.isfinite(x).all() and np.isfinite(y).all()) or (y < 0).any():
            raise Img2SongError("keyword probe: features and targets must be finite, targets >= 0")
        s = y.sum(1, keepdims=True)
        if (s <= 0).any():
            raise Img2SongError("keyword probe: every training image needs at least one keyword")
        return x, y / s

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise Img2SongError("keyword probe is not fitted: call fit() first")

    def save(self, path: str | Path) -> Path:
        self._check_fitted()
        path = Path(path)
        meta = {"vocabulary": self.vocabulary, "validation": self.validation_, "l2_grid": list(self.l2_grid),
                "seed": self.seed, "folds": self.folds, "max_iter": self.max_iter, "val_fraction": self.val_fraction,
                "calibration": self.calibration, "tol": self.tol}
        import json

        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, coef=self.coef_, intercept=self.intercept_, mean=self.mean_, scale=self.scale_,
                     temperature=np.array(self.temperature_), l2=np.array(self.l2_),
                     meta=np.array(json.dumps(meta, ensure_ascii=False)))
        return path

    @classmethod
    def load(cls, path: str | Path) -> KeywordProbe:
        path = Path(path)
        z = load_npz(path, "keyword probe file", ("coef", "intercept", "mean", "scale", "temperature", "l2", "meta"))
        meta = npz_meta(path, z, "keyword probe file")
        try:
            probe = cls(tuple(meta["l2_grid"]), meta["val_fraction"], meta["folds"], meta["max_iter"],
                        meta["seed"], list(meta["vocabulary"]), meta.get("calibration", "validation"),
                        meta.get("tol", TORCH_LBFGS_TOL))
            probe.coef_, probe.intercept_ = z["coef"], z["intercept"]
            probe.mean_, probe.scale_ = z["mean"], z["scale"]
            probe.temperature_, probe.l2_ = float(z["temperature"]), float(z["l2"])
            probe.validation_ = meta["validation"]
        except (ValueError, KeyError, TypeError) as e:
            raise Img2SongError(f"{path}: not a keyword probe file ({e})") from None
        return probe
