"""The LSTM's checkpoint file: hyperparameters, weights, word vectors, tag vocabulary and the learned song terms.

One torch file per fitted model, written atomically; `load_model` rebuilds the estimator, reading files from
before a setting existed with the value those files were trained with.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.lstm.dataset import tag_word_ids
from engine.lstm.device import pick_device
from engine.lstm.model import TagAttentionBiLSTM
from engine.lstm.prior import PRIOR_FEATURES
from engine.lstm.wordvectors import WordVectors
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError

# The estimator is engine.lstm.train.LyricTagModel; it is not imported here because train imports this module.
LyricTagModel = Any

FORMAT = "img2song-lstm"
SAVED_PARAMS = ("attention", "loss", "hidden", "max_len", "top_k", "pooling", "epochs", "batch_size", "lr", "alpha",
                "eps", "patience", "val_fraction", "margin", "seed", "center", "readout", "skip", "output", "match",
                "prior", "negatives", "negative_pool", "lexical", "attention_loss", "match_pool", "term_lr")
# settings older files lack, as those files were trained: no "readout" (the second bi-LSTM), no skip/match/prior/
# lexical, negatives from the pairs, one learning rate ("center" absent means off: the constructor's value is kept)
BEFORE_SETTING = {"readout": "lstm", "skip": False, "output": "mlp", "match": False, "prior": False,
                  "negative_pool": "pairs", "lexical": False, "term_lr": 1.0}


def _atomic_torch_save(obj: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


def build_network(est: LyricTagModel, vectors: np.ndarray, device: torch.device) -> TagAttentionBiLSTM:
    """The estimator's network for its settings and learned song terms (the one constructor fit and load share)."""
    return TagAttentionBiLSTM(vectors, len(est.tag_vocab_), hidden=est.hidden, attention=est.attention,
                              pooling=est.pooling, readout=est.readout, skip=est.skip, output=est.output,
                              match=est.match and est.attention, match_pool=est.match_pool,
                              tag_words=est.tag_word_ids_, prior=len(PRIOR_FEATURES) if est.uses_prior_ else 0,
                              lexical=est.uses_lexical_).to(device)


def save_model(est: LyricTagModel, path: str | Path) -> Path:
    """Atomic checkpoint: hyperparameters, weights, word vectors and tag vocabulary."""
    params = {k: getattr(est, k) for k in SAVED_PARAMS}
    state = {k: v.detach().cpu() for k, v in est.model_.state_dict().items()}
    return _atomic_torch_save({"format": FORMAT, "version": 1, "params": params, "state": state,
                               "words": est.word_vectors_.words, "vectors": est.word_vectors_.vectors,
                               "tag_vocab": est.tag_vocab_, "history": getattr(est, "history_", []),
                               "tag_mean": est.tag_mean_, "uses_prior": getattr(est, "uses_prior_", False),
                               "uses_lexical": getattr(est, "uses_lexical_", False),
                               "prior_mean": getattr(est, "prior_mean_", None),
                               "prior_std": getattr(est, "prior_std_", None),
                               "signature": getattr(est, "signature_", None)},
                              Path(path))


def load_model(cls: type, path: str | Path, device: str | None = "auto") -> LyricTagModel:
    """A fitted estimator from `path`; a missing, truncated or foreign file is an Img2SongError naming it."""
    path = Path(path)
    if not path.is_file():
        raise Img2SongError(f"{path}: LSTM checkpoint not found")
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch raises many types (BadZipFile, RuntimeError, EOFError ...)
        raise Img2SongError(f"{path}: unreadable LSTM checkpoint (truncated or not a checkpoint: "
                            f"{type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != FORMAT:
        raise Img2SongError(f"{path}: not an img2song LSTM checkpoint")
    est = cls(**{**BEFORE_SETTING, **ck["params"]}, device=device, progress=False)
    est.uses_prior_ = bool(ck.get("uses_prior", False))
    est.uses_lexical_ = bool(ck.get("uses_lexical", False))
    if est.uses_prior_:
        est.prior_mean_, est.prior_std_ = (np.asarray(ck["prior_mean"], np.float32),
                                           np.asarray(ck["prior_std"], np.float32))
    est.tag_mean_ = np.asarray(ck.get("tag_mean", np.zeros(len(ck["tag_vocab"]))), np.float32)
    est.word_vectors_ = WordVectors(ck["words"], ck["vectors"])
    est.tag_vocab_ = list(ck["tag_vocab"])
    est.tag_word_ids_ = tag_word_ids(est.tag_vocab_, est.word_vectors_)
    est.history_ = ck.get("history", [])
    est.signature_ = ck.get("signature")
    est.model_ = build_network(est, est.word_vectors_.vectors, pick_device(device))
    est.model_.load_state_dict(ck["state"])
    est.model_.eval()
    return est
