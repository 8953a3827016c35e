"""The LSTM's fit: encode the pairs, hold out validation songs, build the optimiser and negatives, run the epochs.

`fit_model` sets the estimator's learned attributes (those ending in `_`); LyricTagModel.fit validates the
settings and runs it inside a seeded, deterministic torch context. The order of every random draw is part of the
result: seeded fits are compared weight for weight against a fixture (tests/test_lstm_fit_fixture.py).
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from engine.lstm.checkpoint import build_network
from engine.lstm.dataset import encode_lyrics, tag_word_ids
from engine.lstm.device import pick_device
from engine.lstm.early_stopping import EarlyStopping
from engine.lstm.losses import attention_supervision, pair_loss
from engine.lstm.model import top_tags
from engine.lstm.prior import keyword_presence, prior_features, query_mass, standardiser
from engine.lstm.wordvectors import WordVectors
from graph.common.errors import Img2SongError

# The estimator is engine.lstm.train.LyricTagModel; it is not imported here because train imports this module.
LyricTagModel = Any

SCALAR_TERMS = ("match_scale", "lexical_weight")  # with song_prior.*: the parameters term_lr speeds up


def _trimmed(tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch cut to its longest lyric: the padding steps after it change no valid output, only cost time."""
    return tokens[:, :int(lengths.max())], lengths


def _optimiser(est: LyricTagModel) -> torch.optim.Optimizer:
    """RMSprop as in the paper; the scalar terms (γ, λ, the prior's weights) move ~lr a step under RMSprop, so
    term_lr scales their rate."""
    params = [p for p in est.model_.parameters() if p.requires_grad]
    terms = [p for n, p in est.model_.named_parameters() if n in SCALAR_TERMS or n.startswith("song_prior.")]
    groups = ([{"params": [p for p in params if all(p is not t for t in terms)]},
               {"params": terms, "lr": est.lr * est.term_lr}] if est.term_lr != 1 and terms else params)
    return torch.optim.RMSprop(groups, lr=est.lr, alpha=est.alpha, eps=est.eps)


def _negative_pools(est: LyricTagModel, val_songs: np.ndarray, n_paired: int, val: np.ndarray, n_pairs: int
                    ) -> tuple[list[np.ndarray], np.ndarray]:
    """Rows MRL negatives are drawn from, one pool per negative, and the fixed validation draw [k, n_pairs].

    Training: random training lyrics (paper: "the entire lyric database"); validation: one fixed draw among the
    validation songs, so that epochs are compared on the same pairs ("catalogue": also the unpaired lyrics, for
    training and validation alike; "mixed": even negative rows from the paired songs, odd rows from the catalogue).
    """
    k_neg = est.negatives
    paired_train = np.flatnonzero(~val_songs[:n_paired])
    paired_train = paired_train if len(paired_train) else np.arange(n_paired)
    all_train = np.concatenate([paired_train, np.arange(n_paired, len(val_songs))])
    val_paired = np.flatnonzero(val_songs) if val_songs.sum() >= 2 else np.arange(n_paired)
    val_all = np.concatenate([val_paired, np.arange(n_paired, len(val_songs))])
    from_catalogue = [est.negative_pool == "catalogue" or (est.negative_pool == "mixed" and r % 2 == 1)
                      for r in range(k_neg)]
    pools = [all_train if c else paired_train for c in from_catalogue]
    val_neg = np.zeros((k_neg, n_pairs), np.int64)
    vrng = np.random.default_rng([est.seed, 1])
    for r, c in enumerate(from_catalogue):
        val_neg[r, val] = vrng.choice(val_all if c else val_paired, len(val))
    return pools, val_neg


def fit_model(est: LyricTagModel, pairs: Sequence[tuple[str, str]], song_tokens: Mapping[str, Sequence[str]],
              image_tags: Mapping[str, np.ndarray], tag_vocab: Sequence[str], word_vectors: WordVectors) -> None:
    """Train `est` on pairs (image id, song id); its settings are already validated."""
    rng = np.random.default_rng(est.seed)
    dev = pick_device(est.device)
    est.device_ = str(dev)
    est.word_vectors_, est.tag_vocab_ = word_vectors, list(tag_vocab)
    est.tag_word_ids_ = tag_word_ids(tag_vocab, word_vectors)
    songs = sorted({s for _, s in pairs})
    images = sorted({i for i, _ in pairs})
    s_pos, i_pos = {s: k for k, s in enumerate(songs)}, {i: k for k, i in enumerate(images)}
    # negative_pool "catalogue": every lyric of song_tokens may be drawn as an MRL negative (after the paired
    # songs, which keep their positions); "pairs": only the paired training songs
    paired = set(songs)
    extra = sorted(s for s in song_tokens if s not in paired) if est.negative_pool != "pairs" else []
    tok, lens, est.empty_lyrics_ = encode_lyrics([song_tokens[s] for s in songs + extra], word_vectors, est.max_len)
    tags = np.vstack([np.asarray(image_tags[i], np.float32) for i in images])
    if tags.shape[1] != len(tag_vocab):
        raise Img2SongError(f"tag vectors have {tags.shape[1]} entries but the tag vocabulary has {len(tag_vocab)}")
    tagw, tagp = top_tags(tags, est.tag_word_ids_, est.top_k)
    tok_t, len_t = torch.as_tensor(tok, device=dev), torch.as_tensor(lens)
    pi = np.array([i_pos[i] for i, _ in pairs]), np.array([s_pos[s] for _, s in pairs])
    # validation: the pairs of a held-out tenth of the training songs, so early stopping measures lyrics the
    # model has not fitted (a random tenth of pairs shares its songs with training and rewards memorising them)
    n_val_songs = round(est.val_fraction * len(songs)) if len(songs) >= 10 else 0
    val_songs = np.zeros(len(songs), bool)
    val_songs[rng.permutation(len(songs))[:n_val_songs]] = True
    val_songs = np.concatenate([val_songs, np.zeros(len(extra), bool)])  # catalogue extras: never validation
    order = rng.permutation(len(pairs))
    val, train = order[val_songs[pi[1][order]]], order[~val_songs[pi[1][order]]]
    n_val = len(val)
    est.validation_songs_ = [songs[k] for k in np.flatnonzero(val_songs)]
    # Centring: every image's tag vector shares the corpus prior (frequent keywords), which tells songs apart
    # no better than popularity; regressing and ranking on the deviation from the training pairs' mean keeps
    # what distinguishes one image (and one lyric) from another. Zero when center=False.
    est.tag_mean_ = (tags[pi[0][train]].mean(0) if est.center and len(train) else
                     np.zeros(tags.shape[1])).astype(np.float32)
    tags_t = torch.as_tensor(tags - est.tag_mean_, device=dev)
    tagw_t = torch.as_tensor(tagw, device=dev)
    tagp_t = torch.as_tensor(tagp, device=dev) if est.pooling == "weighted" else None

    # the song prior's features, standardised on the training songs (validation songs stay unseen)
    est.uses_prior_ = bool(est.prior) and est.loss == "mrl"
    feats = prior_features([song_tokens[s] for s in songs + extra], tag_vocab)
    est.prior_mean_, est.prior_std_ = standardiser(feats[~val_songs] if (~val_songs).any() else feats)
    feat_t = torch.as_tensor((feats - est.prior_mean_) / est.prior_std_, device=dev)
    est.uses_lexical_ = bool(est.lexical) and est.loss == "mrl"
    if est.uses_lexical_:
        pres_t = torch.as_tensor(keyword_presence([song_tokens[s] for s in songs + extra], tag_vocab), device=dev)
        mass_t = torch.as_tensor(query_mass(tags), device=dev)

    def side(ii: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return tagw_t[ii], None if tagp_t is None else tagp_t[ii]

    est.model_ = build_network(est, word_vectors.vectors, dev)
    opt = _optimiser(est)
    k_neg = est.negatives
    pools, val_neg = _negative_pools(est, val_songs, len(songs), val, len(pairs))
    prior = est.model_.prior_score
    supervise = est.attention and est.attention_loss > 0

    def batch_loss(idx: np.ndarray, negatives: np.ndarray | None = None) -> torch.Tensor:
        ii, ss = torch.as_tensor(pi[0][idx], device=dev), torch.as_tensor(pi[1][idx], device=dev)
        pos_tok = _trimmed(tok_t[ss], len_t[ss.cpu()])
        pred, att = est.model_(*pos_tok, *side(ii))
        aux = attention_supervision(att, pos_tok[0], tagw_t[ii]) if supervise and negatives is None else None
        neg = pb = nb = None
        if est.loss == "mrl":
            drawn = (np.stack([p[rng.integers(0, len(p), len(idx))] for p in pools]) if negatives is None
                     else negatives).reshape(-1)
            nn_ = torch.as_tensor(drawn, device=dev)
            rep_ii = ii.repeat(k_neg)
            neg, _ = est.model_(*_trimmed(tok_t[nn_], len_t[nn_.cpu()]), *side(rep_ii))
            neg = neg.reshape(k_neg, len(idx), -1)
            if est.uses_prior_:
                pb, nb = prior(feat_t[ss]), prior(feat_t[nn_]).reshape(k_neg, len(idx))
            if est.uses_lexical_:
                w = est.model_.lexical_weight
                lp = w * (mass_t[ii] * pres_t[ss]).sum(1)
                ln = w * (mass_t[rep_ii] * pres_t[nn_]).sum(1).reshape(k_neg, len(idx))
                pb, nb = (lp, ln) if pb is None else (pb + lp, nb + ln)
        loss = pair_loss(est.loss, tags_t[ii], pred, neg, est.margin, pb, nb)
        return loss if aux is None else loss + est.attention_loss * aux

    est.history_ = []
    stopping = EarlyStopping(est.patience)
    t0 = time.perf_counter()
    bar = tqdm(range(est.epochs), desc=f"lstm {est.variant}", unit="epoch", disable=not est.progress)
    for epoch in bar:
        est.model_.train()
        perm = train[rng.permutation(len(train))]
        total = 0.0
        for b in range(0, len(perm), est.batch_size):
            idx = perm[b:b + est.batch_size]
            opt.zero_grad()
            loss = batch_loss(idx)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        rec = {"epoch": epoch + 1, "train_loss": total / max(len(perm), 1)}
        if n_val:
            est.model_.eval()
            with torch.no_grad():
                rec["val_loss"] = float(sum(float(batch_loss(val[b:b + 500], val_neg[:, val[b:b + 500]]))
                                            * len(val[b:b + 500]) for b in range(0, n_val, 500)) / n_val)
        est.history_.append(rec)
        bar.set_postfix({k: round(v, 4) for k, v in rec.items() if k != "epoch"})
        if stopping.improved(rec.get("val_loss", rec["train_loss"]), epoch + 1, est.model_.state_dict()):
            est.best_epoch_ = epoch + 1
            if est.checkpoint:
                est.save(est.checkpoint)
        elif stopping.stop:
            break
    if stopping.best_state is not None:
        est.model_.load_state_dict(stopping.best_state)
    est.fit_seconds_ = time.perf_counter() - t0
    est.model_.eval()
