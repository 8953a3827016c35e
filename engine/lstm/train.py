"""The attention bi-LSTM as an estimator: its settings, their checks, fit, scoring and checkpoint storage.

The fit itself (pairs, validation songs, negatives, optimiser, epochs) is engine/lstm/fit_loop.py, early stopping
engine/lstm/early_stopping.py, the checkpoint file engine/lstm/checkpoint.py.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from engine.lstm.checkpoint import load_model, save_model
from engine.lstm.dataset import encode_lyrics
from engine.lstm.device import deterministic_torch
from engine.lstm.fit_loop import fit_model
from engine.lstm.losses import LOSSES
from engine.lstm.model import MATCH_POOLS, tag_groups, top_tags
from engine.lstm.prior import keyword_presence, prior_features, query_mass
from engine.lstm.wordvectors import WordVectors
from engine.number_checks import NumberRange, check_numbers
from graph.common.errors import Img2SongError

NEGATIVE_POOLS = ("pairs", "catalogue", "mixed")
# the numeric settings fit checks, each with its own range (engine/number_checks.py words the message)
FIT_RANGES = {
    "epochs": NumberRange(whole=True, low=1, why="0 would save an untrained model"),
    "negatives": NumberRange(whole=True, low=1),
    "term_lr": NumberRange(low=0, low_open=True),
    "attention_loss": NumberRange(low=0),
    "threads": NumberRange(whole=True, low=1, optional=True),
}


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
        self.check_settings()
        with deterministic_torch(self.seed, self.threads):
            fit_model(self, pairs, song_tokens, image_tags, tag_vocab, word_vectors)
        return self

    def check_settings(self) -> None:
        """Every setting fit reads, checked before any work: a bad one is an Img2SongError naming it and its value."""
        check_numbers(FIT_RANGES, self)
        if self.negative_pool not in NEGATIVE_POOLS:
            raise Img2SongError(f"negative_pool must be one of {NEGATIVE_POOLS}, got {self.negative_pool!r}")
        if self.match_pool not in MATCH_POOLS:
            raise Img2SongError(f"match_pool must be one of {MATCH_POOLS}, got {self.match_pool!r}")

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
        return save_model(self, path)

    @classmethod
    def load(cls, path: str | Path, device: str | None = "auto") -> LyricTagModel:
        """A fitted model from a checkpoint (older files load with the settings they were trained with)."""
        return load_model(cls, path, device)
