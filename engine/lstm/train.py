"""Training and retrieval for the attention bi-LSTM (RMSprop, early stopping, atomic checkpoints)."""
from __future__ import annotations

import copy
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from engine.lstm.dataset import encode_lyrics, tag_word_ids
from engine.lstm.device import deterministic_torch, pick_device
from engine.lstm.losses import LOSSES, attention_supervision, pair_loss
from engine.lstm.model import MATCH_POOLS, TagAttentionBiLSTM, tag_groups, top_tags
from engine.lstm.prior import PRIOR_FEATURES, keyword_presence, prior_features, query_mass, standardiser
from engine.lstm.wordvectors import WordVectors
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError

NEGATIVE_POOLS = ("pairs", "catalogue", "mixed")
SCALAR_TERMS = ("match_scale", "lexical_weight")  # with song_prior.*: the parameters term_lr speeds up


def _trimmed(tokens: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch cut to its longest lyric: the padding steps after it change no valid output, only cost time."""
    return tokens[:, :int(lengths.max())], lengths


def _atomic_torch_save(obj: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return path


class LyricTagModel:
    """Estimator: fit on (image tag vector, lyric) pairs; score images against lyrics by cosine in tag space.

    Defaults: lyrics truncated to 48 known words, 32 hidden units per direction, at most 40 epochs with early
    stopping (patience 5) on the pairs of a held-out 10 % of the training songs (a few CPU seconds to a minute
    per fit at a few thousand pairs).

    Architecture defaults (chosen on validation splits of training pairs, both corpora; the paper's network is
    skip=False, output="mlp", match=False): the additive attention of eq. 8 cannot compare a lyric word with the
    image's tag words, and an MLP with one free output row per tag must learn every tag from its own pairs, so
    a model trained on a few hundred songs could not tell unseen lyrics apart (R@10 near chance). `skip` keeps
    each step's word vector beside its LSTM state, `match` adds γ·(x_t·ṽ) to the attention logit (it finds the
    image's tag words, or their neighbours, in the lyric), and output="residual" scores tag j as
    <MLP(l) + attended word vector, word vector of tag j> + b_j, so what the attention found scores its own tag
    from the first epoch, and the MLP learns corrections. Optimiser as in the paper: RMSprop lr 1e-3, ρ(alpha) 0.9, ε 1e-8,
    batch 100. Loss: the margin ranking loss (paper eq. 13) by default. MSE and CPL (eqs. 11-12) stay selectable,
    but they regress each image's own tag vector, and the attention model sees that image's top tags (ṽ): it can
    lower them by carrying ṽ to its output whatever the lyric, which ranks songs no better than chance for a
    fixed image (measured on the starter: attention R@10 below chance with MSE). MRL compares a lyric with a random
    other lyric under the same ṽ, so only what tells lyrics apart pays.

    Song terms (defaults on, learned with MRL only; validation splits of training pairs, both corpora): the score
    is cosine + w·f(song) (`prior`: lyric length, distinct words and keywords, engine/lstm/prior.py; an item bias
    that reaches unseen songs) + λ·(the image's tag mass whose tag words the lyric holds) (`lexical`; the match
    term alone put little attention on those words in unseen lyrics: 0.09 of the mass on the second corpus, where
    uniform attention gives 0.06). Two negatives per pair, one a paired training song (hard: it shares keywords
    with other images), one any lyric of the catalogue (`negative_pool="mixed"`), so the prior learns what paired
    lyrics have that a random lyric lacks.

    Attention finding the keyword (off by default; measured on validation splits of training pairs, both corpora):
    `attention_loss` w adds w·CE(attention, the steps holding one of the image's top-K tag words) on training pairs,
    and `match_pool="max"` compares each step with its best-matching tag word instead of with ṽ (the average dilutes
    a match K-fold, and γ, moved ~1e-3 a step by RMSprop, stays near its initial 5). Both put far more attention on
    the tag words of unseen lyrics, but neither raised validation R@10: the lexical term already scores them.
    `term_lr=10` (default; validation, both corpora, 3 seeds): γ, λ and the prior's weights learn 10x faster. They
    start at 5, 0 and 0, and at one rate the attention model's early stopping ended before λ had grown (0.2-0.3,
    against 0.6 for the baseline, which trains longer), so its song terms were under-trained.
    `threads=1` (default): fitting runs on one torch thread, whatever the process's setting (restored afterwards).
    """

    def __init__(self, attention: bool = True, loss: str = "mrl", hidden: int = 32, max_len: int = 48, top_k: int = 5,
                 pooling: str = "avg", epochs: int = 40, batch_size: int = 100, lr: float = 1e-3, alpha: float = 0.9,
                 eps: float = 1e-8, patience: int = 5, val_fraction: float = 0.1, margin: float = 1.0, seed: int = 0,
                 device: str | None = "auto", checkpoint: str | Path | None = None, progress: bool = True,
                 center: bool = True, readout: str = "pool", skip: bool = True, output: str = "residual",
                 match: bool = True, prior: bool = True, negatives: int = 2, negative_pool: str = "mixed",
                 lexical: bool = True, attention_loss: float = 0.0, match_pool: str = "avg", term_lr: float = 10.0,
                 threads: int | None = 1):
        if loss not in LOSSES:
            raise Img2SongError(f"unknown loss {loss!r}; expected one of {LOSSES}")
        self.attention, self.loss, self.hidden, self.max_len, self.top_k = attention, loss, hidden, max_len, top_k
        self.pooling, self.epochs, self.batch_size, self.lr, self.alpha, self.eps = pooling, epochs, batch_size, lr, alpha, eps
        self.patience, self.val_fraction, self.margin, self.seed = patience, val_fraction, margin, seed
        self.device, self.checkpoint, self.progress = device, checkpoint, progress
        # center: targets and scores use tag vectors minus their training-pair mean (see fit)
        self.center = center
        # readout: "pool" (Σ s_t h_t, exact fast scoring) or "lstm" (a second bi-LSTM over h̃_t, slow to score)
        self.readout = readout
        # skip: each step's word vector beside its LSTM state; output: "mlp" or "tied" to the tag words' vectors
        self.skip, self.output = skip, output
        # match: the attention logit also gets γ·(step's word vector · ṽ), which finds the tag words in a lyric
        self.match = match
        # match_pool: "avg" compares each step with ṽ; "max" with each top-K tag word, keeping the best match
        self.match_pool = match_pool
        # term_lr: learning-rate multiplier for γ, λ and the song prior's weights (1 = the paper's single rate)
        self.term_lr = term_lr
        # prior: a learned bias per song from its lyric's features (engine/lstm/prior.py) added to its cosine;
        # learned through the ranking loss only, so it is used with loss="mrl" and ignored with mse/cpl
        self.prior = prior
        # negatives: random negative lyrics per pair in each MRL step (hinges averaged)
        self.negatives = negatives
        # negative_pool: "pairs" (the paired training songs), "catalogue" (every lyric fit receives, as the paper
        # draws negatives from "the entire lyric database"; callers leave held-out test songs out of song_tokens)
        # or "mixed" (alternate negative rows from each: hard paired negatives and the catalogue's spread)
        self.negative_pool = negative_pool
        # lexical: + w·(the image's tag mass whose tag words the lyric holds), w learned (with loss="mrl" only)
        self.lexical = lexical
        # attention_loss: weight of an auxiliary cross-entropy between the attention s_t and the normalised mask of
        # the positive lyric's steps that hold one of the image's top-K tag words (pairs whose lyric holds none
        # add nothing); 0 = off. Attention model only; training batches only (early stopping reads the pair loss)
        self.attention_loss = attention_loss
        # threads: torch's intra-op threads while fitting (None: torch's default). 1 by default: the batches are small,
        # so more threads mostly spin against each other and against any other job on a shared machine (3-epoch
        # starter fit beside one other job: 4.8 s wall at 1 thread, 11-15 s at 2), and the same seed then gives the
        # same model whatever the machine's core count
        self.threads = threads

    @property
    def variant(self) -> str:
        return "attention" if self.attention else "baseline"

    # ----------------------------------------------------------------------------------------------- fitting
    def fit(self, pairs: Sequence[tuple[str, str]], song_tokens: Mapping[str, Sequence[str]],
            image_tags: Mapping[str, np.ndarray], tag_vocab: Sequence[str], word_vectors: WordVectors
            ) -> LyricTagModel:
        """Learn from pairs (image id, song id); song_tokens: lyric content words; image_tags: tag-space vectors."""
        missing = [p for p in pairs if p[1] not in song_tokens or p[0] not in image_tags]
        if missing:
            raise Img2SongError(f"{len(missing)} pairs name songs/images without tokens/tag vectors, e.g. {missing[0]}")
        if not pairs:
            raise Img2SongError("no training pairs for the LSTM scorer")
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 1:
            raise Img2SongError(f"epochs must be a whole number >= 1, got {self.epochs!r} (0 would save an untrained "
                                "model)")
        if self.negative_pool not in NEGATIVE_POOLS:
            raise Img2SongError(f"negative_pool must be one of {NEGATIVE_POOLS}, got {self.negative_pool!r}")
        if self.match_pool not in MATCH_POOLS:
            raise Img2SongError(f"match_pool must be one of {MATCH_POOLS}, got {self.match_pool!r}")
        if isinstance(self.term_lr, bool) or not isinstance(self.term_lr, (int, float)) or not (
                0 < self.term_lr < float("inf")):
            raise Img2SongError(f"term_lr must be a number > 0, got {self.term_lr!r}")
        if isinstance(self.attention_loss, bool) or not isinstance(self.attention_loss, (int, float)) or not (
                0 <= self.attention_loss < float("inf")):
            raise Img2SongError(f"attention_loss must be a number >= 0, got {self.attention_loss!r}")
        if isinstance(self.negatives, bool) or not isinstance(self.negatives, int) or self.negatives < 1:
            raise Img2SongError(f"negatives must be a whole number >= 1, got {self.negatives!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise Img2SongError(f"threads must be a whole number >= 1 or None, got {self.threads!r}")
        with deterministic_torch(self.seed, self.threads):
            return self._fit(pairs, song_tokens, image_tags, tag_vocab, word_vectors)

    def _fit(self, pairs, song_tokens, image_tags, tag_vocab, word_vectors) -> LyricTagModel:
        rng = np.random.default_rng(self.seed)
        dev = pick_device(self.device)
        self.device_ = str(dev)
        self.word_vectors_, self.tag_vocab_ = word_vectors, list(tag_vocab)
        self.tag_word_ids_ = tag_word_ids(tag_vocab, word_vectors)
        songs = sorted({s for _, s in pairs})
        images = sorted({i for i, _ in pairs})
        s_pos, i_pos = {s: k for k, s in enumerate(songs)}, {i: k for k, i in enumerate(images)}
        # negative_pool "catalogue": every lyric of song_tokens may be drawn as an MRL negative (after the paired
        # songs, which keep their positions); "pairs": only the paired training songs
        paired = set(songs)
        extra = sorted(s for s in song_tokens if s not in paired) if self.negative_pool != "pairs" else []
        tok, lens, self.empty_lyrics_ = encode_lyrics([song_tokens[s] for s in songs + extra], word_vectors,
                                                      self.max_len)
        tags = np.vstack([np.asarray(image_tags[i], np.float32) for i in images])
        if tags.shape[1] != len(tag_vocab):
            raise Img2SongError(f"tag vectors have {tags.shape[1]} entries but the tag vocabulary has {len(tag_vocab)}")
        tagw, tagp = top_tags(tags, self.tag_word_ids_, self.top_k)
        tok_t, len_t = torch.as_tensor(tok, device=dev), torch.as_tensor(lens)
        pi = np.array([i_pos[i] for i, _ in pairs]), np.array([s_pos[s] for _, s in pairs])
        # validation: the pairs of a held-out tenth of the training songs, so early stopping measures lyrics the
        # model has not fitted (a random tenth of pairs shares its songs with training and rewards memorising them)
        n_val_songs = round(self.val_fraction * len(songs)) if len(songs) >= 10 else 0
        val_songs = np.zeros(len(songs), bool)
        val_songs[rng.permutation(len(songs))[:n_val_songs]] = True
        val_songs = np.concatenate([val_songs, np.zeros(len(extra), bool)])  # catalogue extras: never validation
        order = rng.permutation(len(pairs))
        val, train = order[val_songs[pi[1][order]]], order[~val_songs[pi[1][order]]]
        n_val = len(val)
        self.validation_songs_ = [songs[k] for k in np.flatnonzero(val_songs)]
        # Centring: every image's tag vector shares the corpus prior (frequent keywords), which tells songs apart
        # no better than popularity; regressing and ranking on the deviation from the training pairs' mean keeps
        # what distinguishes one image (and one lyric) from another. Zero when center=False.
        self.tag_mean_ = (tags[pi[0][train]].mean(0) if self.center and len(train) else
                          np.zeros(tags.shape[1])).astype(np.float32)
        tags_t = torch.as_tensor(tags - self.tag_mean_, device=dev)
        tagw_t = torch.as_tensor(tagw, device=dev)
        tagp_t = torch.as_tensor(tagp, device=dev) if self.pooling == "weighted" else None

        # the song prior's features, standardised on the training songs (validation songs stay unseen)
        self.uses_prior_ = bool(self.prior) and self.loss == "mrl"
        feats = prior_features([song_tokens[s] for s in songs + extra], tag_vocab)
        self.prior_mean_, self.prior_std_ = standardiser(feats[~val_songs] if (~val_songs).any() else feats)
        feat_t = torch.as_tensor((feats - self.prior_mean_) / self.prior_std_, device=dev)
        self.uses_lexical_ = bool(self.lexical) and self.loss == "mrl"
        if self.uses_lexical_:
            pres_t = torch.as_tensor(keyword_presence([song_tokens[s] for s in songs + extra], tag_vocab), device=dev)
            mass_t = torch.as_tensor(query_mass(tags), device=dev)

        def side(ii: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
            return tagw_t[ii], None if tagp_t is None else tagp_t[ii]

        self.model_ = TagAttentionBiLSTM(word_vectors.vectors, len(tag_vocab), hidden=self.hidden,
                                         attention=self.attention, pooling=self.pooling,
                                         readout=self.readout, skip=self.skip, output=self.output,
                                         match=self.match and self.attention, match_pool=self.match_pool,
                                         tag_words=self.tag_word_ids_,
                                         prior=len(PRIOR_FEATURES) if self.uses_prior_ else 0,
                                         lexical=self.uses_lexical_).to(dev)
        params = [p for p in self.model_.parameters() if p.requires_grad]
        # the scalar terms (γ, λ, the prior's weights) move ~lr a step under RMSprop: term_lr scales their rate
        terms = [p for n, p in self.model_.named_parameters() if n in SCALAR_TERMS or n.startswith("song_prior.")]
        groups = ([{"params": [p for p in params if all(p is not t for t in terms)]},
                   {"params": terms, "lr": self.lr * self.term_lr}] if self.term_lr != 1 and terms else params)
        opt = torch.optim.RMSprop(groups, lr=self.lr, alpha=self.alpha, eps=self.eps)

        # MRL negatives: random training lyrics (paper: "the entire lyric database") while training; for validation
        # one fixed draw among the validation songs, so that epochs are compared on the same pairs
        # ("catalogue": also the unpaired lyrics, for training and validation alike; "mixed": even negative rows
        # from the paired songs, odd rows from the catalogue)
        k_neg, n_paired = self.negatives, len(songs)
        paired_train = np.flatnonzero(~val_songs[:n_paired])
        paired_train = paired_train if len(paired_train) else np.arange(n_paired)
        all_train = np.concatenate([paired_train, np.arange(n_paired, len(val_songs))])
        val_paired = np.flatnonzero(val_songs) if val_songs.sum() >= 2 else np.arange(n_paired)
        val_all = np.concatenate([val_paired, np.arange(n_paired, len(val_songs))])
        from_catalogue = [self.negative_pool == "catalogue" or (self.negative_pool == "mixed" and r % 2 == 1)
                          for r in range(k_neg)]
        pools = [all_train if c else paired_train for c in from_catalogue]
        val_neg = np.zeros((k_neg, len(pairs)), np.int64)
        vrng = np.random.default_rng([self.seed, 1])
        for r, c in enumerate(from_catalogue):
            val_neg[r, val] = vrng.choice(val_all if c else val_paired, len(val))
        prior = self.model_.prior_score

        supervise = self.attention and self.attention_loss > 0

        def batch_loss(idx: np.ndarray, negatives: np.ndarray | None = None) -> torch.Tensor:
            ii, ss = torch.as_tensor(pi[0][idx], device=dev), torch.as_tensor(pi[1][idx], device=dev)
            pos_tok = _trimmed(tok_t[ss], len_t[ss.cpu()])
            pred, att = self.model_(*pos_tok, *side(ii))
            aux = attention_supervision(att, pos_tok[0], tagw_t[ii]) if supervise and negatives is None else None
            neg = pb = nb = None
            if self.loss == "mrl":
                drawn = (np.stack([p[rng.integers(0, len(p), len(idx))] for p in pools]) if negatives is None
                         else negatives).reshape(-1)
                nn_ = torch.as_tensor(drawn, device=dev)
                rep_ii = ii.repeat(k_neg)
                neg, _ = self.model_(*_trimmed(tok_t[nn_], len_t[nn_.cpu()]), *side(rep_ii))
                neg = neg.reshape(k_neg, len(idx), -1)
                if self.uses_prior_:
                    pb, nb = prior(feat_t[ss]), prior(feat_t[nn_]).reshape(k_neg, len(idx))
                if self.uses_lexical_:
                    w = self.model_.lexical_weight
                    lp = w * (mass_t[ii] * pres_t[ss]).sum(1)
                    ln = w * (mass_t[rep_ii] * pres_t[nn_]).sum(1).reshape(k_neg, len(idx))
                    pb, nb = (lp, ln) if pb is None else (pb + lp, nb + ln)
            loss = pair_loss(self.loss, tags_t[ii], pred, neg, self.margin, pb, nb)
            return loss if aux is None else loss + self.attention_loss * aux

        self.history_: list[dict[str, float]] = []
        best, best_state, bad = float("inf"), None, 0
        t0 = time.perf_counter()
        bar = tqdm(range(self.epochs), desc=f"lstm {self.variant}", unit="epoch", disable=not self.progress)
        for epoch in bar:
            self.model_.train()
            perm = train[rng.permutation(len(train))]
            total = 0.0
            for b in range(0, len(perm), self.batch_size):
                idx = perm[b:b + self.batch_size]
                opt.zero_grad()
                loss = batch_loss(idx)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            rec = {"epoch": epoch + 1, "train_loss": total / max(len(perm), 1)}
            if n_val:
                self.model_.eval()
                with torch.no_grad():
                    rec["val_loss"] = float(sum(float(batch_loss(val[b:b + 500], val_neg[:, val[b:b + 500]]))
                                                * len(val[b:b + 500]) for b in range(0, n_val, 500)) / n_val)
            self.history_.append(rec)
            bar.set_postfix({k: round(v, 4) for k, v in rec.items() if k != "epoch"})
            score = rec.get("val_loss", rec["train_loss"])
            if score < best - 1e-6:
                best, bad, best_state = score, 0, copy.deepcopy(self.model_.state_dict())
                self.best_epoch_ = epoch + 1
                if self.checkpoint:
                    self.save(self.checkpoint)
            else:
                bad += 1
                if bad >= self.patience:
                    break
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.fit_seconds_ = time.perf_counter() - t0
        self.model_.eval()
        return self

    # --------------------------------------------------------------------------------------------- inference
    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise Img2SongError("LSTM model is not fitted: call fit() or load() first")

    @torch.no_grad()
    def song_states(self, song_tokens: Sequence[Sequence[str]], batch: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        """Layer-1 states [N,T,2H] and lengths [N] of lyrics (image-independent, computed once)."""
        self._check()
        dev = next(self.model_.parameters()).device
        tok, lens, _ = encode_lyrics(song_tokens, self.word_vectors_, self.max_len)
        tok = tok[:, :max(1, int(lens.max(initial=1)))]  # steps past the longest lyric are padding everywhere
        out = [self.model_.encode_states(torch.as_tensor(tok[b:b + batch], device=dev), torch.as_tensor(lens[b:b + batch]))
               for b in range(0, len(tok), batch)]
        return torch.cat(out) if out else torch.zeros(0, self.max_len, 2 * self.hidden), torch.as_tensor(lens)

    @torch.no_grad()
    def song_terms(self, song_tokens: Sequence[Sequence[str]]) -> tuple[np.ndarray, np.ndarray | None]:
        """What score() adds to the cosines, per lyric: (prior [N], tag-word presence [N,V] or None)."""
        pres = keyword_presence(song_tokens, self.tag_vocab_) if getattr(self, "uses_lexical_", False) else None
        return self.song_prior(song_tokens), pres

    def add_terms(self, cosines: np.ndarray, image_tags: np.ndarray,
                  terms: tuple[np.ndarray, np.ndarray | None]) -> np.ndarray:
        """cosines [n_images, N] + each song's prior + w·lexical match (the model's song terms)."""
        prior, pres = terms
        out = cosines + np.asarray(prior, np.float32)[None, :]
        if pres is not None:
            w = float(self.model_.lexical_weight.detach())
            out = out + w * (query_mass(image_tags) @ pres.T)
        return out.astype(np.float32)

    @torch.no_grad()
    def song_prior(self, song_tokens: Sequence[Sequence[str]]) -> np.ndarray:
        """Each lyric's prior score [N] (added to its cosine; all 0 for a model trained without a prior)."""
        self._check()
        if not getattr(self, "uses_prior_", False):
            return np.zeros(len(song_tokens), np.float32)
        f = (prior_features(song_tokens, self.tag_vocab_) - self.prior_mean_) / self.prior_std_
        dev = next(self.model_.parameters()).device
        return self.model_.prior_score(torch.as_tensor(f, device=dev)).cpu().numpy().astype(np.float32)

    @torch.no_grad()
    def score(self, image_tags: np.ndarray, song_tokens: Sequence[Sequence[str]] | None = None,
              states: tuple[torch.Tensor, torch.Tensor] | None = None, batch: int = 2048,
              progress: bool = False, terms: tuple[np.ndarray, np.ndarray | None] | None = None) -> np.ndarray:
        """Cosine similarity [n_images, n_songs] between each image's tag vector and each lyric mapped into tag space,
        plus the model's song terms (song_terms: prior, lexical match; pass `terms` with `states`, as the tokens
        are then not given).

        With attention every (image, song) pair runs the attention and layer 2; images with the same top-K tag
        words share one pass. Pass `states` from song_states() to reuse layer 1 across calls.
        """
        self._check()
        out = self.cosines(image_tags, song_tokens, states, batch, progress)
        if not (getattr(self, "uses_prior_", False) or getattr(self, "uses_lexical_", False)):
            return out
        if terms is None:
            if song_tokens is None:
                raise Img2SongError("this model has song terms: pass terms=song_terms(tokens) with states")
            terms = self.song_terms(song_tokens)
        return self.add_terms(out, image_tags, terms)

    @torch.no_grad()
    def cosines(self, image_tags: np.ndarray, song_tokens: Sequence[Sequence[str]] | None = None,
                states: tuple[torch.Tensor, torch.Tensor] | None = None, batch: int = 2048,
                progress: bool = False) -> np.ndarray:
        """score() without the song terms: the paper's cosine alone."""
        tags = np.atleast_2d(np.asarray(image_tags, np.float32))
        if tags.shape[1] != len(self.tag_vocab_):
            raise Img2SongError(f"tag vectors have {tags.shape[1]} entries, the model expects {len(self.tag_vocab_)}")
        st, lens = states if states is not None else self.song_states(song_tokens or [])
        dev = st.device
        v = F.normalize(torch.as_tensor(tags - self.tag_mean_, device=dev), dim=1)
        if not self.attention:
            lyr = torch.cat([self.model_.from_states(st[b:b + batch], lens[b:b + batch], None)[0]
                             for b in range(0, len(st), batch)])
            return (v @ F.normalize(lyr, dim=1).T).cpu().numpy()
        tagw, tagp = top_tags(tags, self.tag_word_ids_, self.top_k)
        weighted = self.pooling == "weighted"
        members = list(tag_groups(tagw, tagp, weighted).values())
        keys = [m[0] for m in members]  # one representative row per group
        key_t = torch.as_tensor(tagw[keys], device=dev).reshape(len(keys), -1)
        key_p = torch.as_tensor(tagp[keys], device=dev).reshape(len(keys), -1) if weighted else None
        n = len(st)
        per = max(1, batch // max(n, 1))  # tag sets per pass, so one pass holds about `batch` sequences
        out = np.zeros((len(tags), n), np.float32)
        for g0 in tqdm(range(0, len(keys), per), desc="lstm attention scoring", unit="tagsets", disable=not progress):
            gs = list(range(g0, min(g0 + per, len(keys))))
            flat = len(gs) * n
            lyr = torch.zeros(flat, len(self.tag_vocab_), device=dev)
            for b in range(0, flat, batch):
                idx = torch.arange(b, min(b + batch, flat), device=dev)
                g, s = idx // n + g0, idx % n
                lyr[idx] = self.model_.from_states(st[s], lens[s.cpu()], key_t[g],
                                                   None if key_p is None else key_p[g])[0]
            lyr = F.normalize(lyr, dim=1).reshape(len(gs), n, -1)
            for k, gk in enumerate(gs):
                out[members[gk]] = (v[members[gk]] @ lyr[k].T).cpu().numpy()
        return out

    # ----------------------------------------------------------------------------------------------- storage
    def save(self, path: str | Path) -> Path:
        """Atomic checkpoint: hyperparameters, weights, word vectors and tag vocabulary."""
        self._check()
        params = {k: getattr(self, k) for k in ("attention", "loss", "hidden", "max_len", "top_k", "pooling", "epochs",
                                                 "batch_size", "lr", "alpha", "eps", "patience", "val_fraction",
                                                 "margin", "seed", "center", "readout", "skip", "output", "match",
                                                 "prior", "negatives", "negative_pool", "lexical",
                                                 "attention_loss", "match_pool", "term_lr")}
        state = {k: v.detach().cpu() for k, v in self.model_.state_dict().items()}
        return _atomic_torch_save({"format": "img2song-lstm", "version": 1, "params": params, "state": state,
                                   "words": self.word_vectors_.words, "vectors": self.word_vectors_.vectors,
                                   "tag_vocab": self.tag_vocab_, "history": getattr(self, "history_", []),
                                   "tag_mean": self.tag_mean_, "uses_prior": getattr(self, "uses_prior_", False),
                                   "uses_lexical": getattr(self, "uses_lexical_", False),
                                   "prior_mean": getattr(self, "prior_mean_", None),
                                   "prior_std": getattr(self, "prior_std_", None),
                                   "signature": getattr(self, "signature_", None)},
                                  Path(path))

    @classmethod
    def load(cls, path: str | Path, device: str | None = "auto") -> LyricTagModel:
        path = Path(path)
        if not path.is_file():
            raise Img2SongError(f"{path}: LSTM checkpoint not found")
        try:
            ck = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:  # noqa: BLE001 - torch raises many types (BadZipFile, RuntimeError, EOFError ...)
            raise Img2SongError(f"{path}: unreadable LSTM checkpoint (truncated or not a checkpoint: "
                                f"{type(e).__name__})") from None
        if not isinstance(ck, dict) or ck.get("format") != "img2song-lstm":
            raise Img2SongError(f"{path}: not an img2song LSTM checkpoint")
        # older files have no "center" (off), no "readout" (they used the second bi-LSTM), no "term_lr" (one rate)
        self = cls(**{"readout": "lstm", "skip": False, "output": "mlp", "match": False, "prior": False, "negative_pool": "pairs", "lexical": False,
                      "term_lr": 1.0,
                      **ck["params"]}, device=device, progress=False)
        self.uses_prior_ = bool(ck.get("uses_prior", False))
        self.uses_lexical_ = bool(ck.get("uses_lexical", False))
        if self.uses_prior_:
            self.prior_mean_, self.prior_std_ = (np.asarray(ck["prior_mean"], np.float32),
                                                 np.asarray(ck["prior_std"], np.float32))
        self.tag_mean_ = np.asarray(ck.get("tag_mean", np.zeros(len(ck["tag_vocab"]))), np.float32)
        self.word_vectors_ = WordVectors(ck["words"], ck["vectors"])
        self.tag_vocab_ = list(ck["tag_vocab"])
        self.tag_word_ids_ = tag_word_ids(self.tag_vocab_, self.word_vectors_)
        self.history_ = ck.get("history", [])
        self.signature_ = ck.get("signature")
        dev = pick_device(device)
        self.model_ = TagAttentionBiLSTM(self.word_vectors_.vectors, len(self.tag_vocab_), hidden=self.hidden,
                                         attention=self.attention, pooling=self.pooling,
                                         readout=self.readout, skip=self.skip, output=self.output,
                                         match=self.match and self.attention, match_pool=self.match_pool,
                                         tag_words=self.tag_word_ids_,
                                         prior=len(PRIOR_FEATURES) if self.uses_prior_ else 0,
                                         lexical=self.uses_lexical_).to(dev)
        self.model_.load_state_dict(ck["state"])
        self.model_.eval()
        return self
