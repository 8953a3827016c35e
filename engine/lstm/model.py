"""The image2song network (Zhou et al., §4): frozen word vectors -> bi-LSTM -> tag attention -> MLP into tag space."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over time restricted to valid steps: padded steps get exactly 0, valid ones sum to 1."""
    scores = scores.masked_fill(~mask, float("-inf"))
    w = torch.softmax(scores, dim=1)
    return torch.nan_to_num(w, nan=0.0) * mask  # an all-padding row (never built by us) stays all-zero


def reverse_index(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    """[B,T] gather index that reverses each row's first `length` steps and leaves its padding in place."""
    t = torch.arange(steps, device=lengths.device)[None, :]
    lengths = lengths[:, None]
    return torch.where(t < lengths, lengths - 1 - t, t)


READOUTS = ("pool", "lstm")
OUTPUTS = ("mlp", "tied", "residual")
POOLINGS = ("avg", "max", "weighted")
MATCH_POOLS = ("avg", "max")


def word_match(x: torch.Tensor, tag_vecs: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """max_k x_t·w_k [B,T]: each step's word vector against its best-matching tag word (x [B,T,d], tag_vecs
    [B,K,d], valid [B,K]); 0 where a row has no tag word. The average ṽ dilutes a tag word's match K-fold."""
    dots = torch.bmm(x, tag_vecs.transpose(1, 2)).masked_fill(~valid[:, None, :], float("-inf"))
    return dots.max(-1).values.masked_fill(~valid.any(1)[:, None], 0.0)


class BiLSTM(nn.Module):
    """Bi-directional LSTM over right-padded batches without packing (about 1.7x faster than packed on CPU).

    The backward direction runs a forward LSTM over each sequence reversed within its own length, so padding
    never enters a valid state; outputs are zero on padding. Returns (states [B,T,2H], h_fwd_final ‖ h_bwd_1).
    """

    def __init__(self, input_size: int, hidden: int):
        super().__init__()
        self.fwd = nn.LSTM(input_size, hidden, batch_first=True)
        self.bwd = nn.LSTM(input_size, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = lengths.to(x.device)
        b, t, _ = x.shape
        rev = reverse_index(lengths, t)
        of, _ = self.fwd(x)
        ob, _ = self.bwd(x.gather(1, rev[:, :, None].expand(-1, -1, x.shape[2])))
        ob = ob.gather(1, rev[:, :, None].expand(-1, -1, ob.shape[2]))
        mask = (torch.arange(t, device=x.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        states = torch.cat([of, ob], dim=2) * mask
        last = of[torch.arange(b, device=x.device), lengths - 1]
        return states, torch.cat([last, ob[:, 0]], dim=1)


class TagAttentionBiLSTM(nn.Module):
    """Lyric tokens (+ the image's top-K tag words) -> a vector in the image's tag space.

    Layer 1: bi-LSTM over frozen word vectors, states h_t (2H). Tag attention (eqs. 8-10):
    ṽ = pool(word vectors of the top-K tags); m_t = σ(W_hm h_t + W_vm ṽ); s = softmax_t(w_ms·m_t);
    h̃_t = h_t · s_t · n (n = valid length, so uniform weights give h̃ = h and the scale matches the baseline).
    The paper lets h̃_t "flow through the entire lyric" and keeps the LSTM's final output rather than pooling;
    we read that as a second bi-LSTM over h̃, whose final forward ‖ first backward state is the lyric vector l.
    Without attention (the paper's "baseline") s_t = 1/n, so the network is the same minus the attention.

    `readout="pool"` (the default) reads the lyric as l = Σ_t s_t h_t instead of the second bi-LSTM: everything
    but W_vm ṽ is then image-independent, so one query is scored exactly against 10,000 lyrics in milliseconds
    (engine/lstm/scoring.py), while the second bi-LSTM must re-run over every lyric for every query.
    """

    def __init__(self, word_vectors: np.ndarray | torch.Tensor, num_tags: int, hidden: int = 32,
                 attention: bool = True, pooling: str = "avg", attention_dim: int = 32, mlp_hidden: int = 64,
                 readout: str = "pool", skip: bool = False, output: str = "mlp", match: bool = False,
                 tag_words: np.ndarray | torch.Tensor | None = None, prior: int = 0,
                 lexical: bool = False, match_pool: str = "avg"):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {output!r}")
        wv = torch.as_tensor(np.asarray(word_vectors), dtype=torch.float32)
        self.embed = nn.Embedding.from_pretrained(wv, freeze=True, padding_idx=0)
        dim = wv.shape[1]
        if output == "residual" and not (skip and readout == "pool"):
            raise ValueError("output='residual' needs skip and the pool readout (it adds the attended word vector)")
        if match and not (attention and skip):
            raise ValueError("match needs attention and skip (it compares each step's word vector with ṽ)")
        self.attention, self.pooling, self.readout, self.skip, self.output = attention, pooling, readout, skip, output
        if match_pool not in MATCH_POOLS:
            raise ValueError(f"match_pool must be one of {MATCH_POOLS}, got {match_pool!r}")
        self.match, self.match_pool, self.dim = match, match_pool, dim
        self.lstm1 = BiLSTM(dim, hidden)
        state = 2 * hidden + (dim if skip else 0)  # skip: each step's own word vector beside its LSTM state
        if readout == "lstm":
            self.lstm2 = BiLSTM(state, hidden)
        if attention:
            self.W_hm = nn.Linear(state, attention_dim, bias=True)
            self.W_vm = nn.Linear(dim, attention_dim, bias=False)
            self.w_ms = nn.Linear(attention_dim, 1, bias=False)
        if match:  # γ: weight of the step-word · ṽ term in the attention logit (unit word vectors: term in [-1, 1])
            self.match_scale = nn.Parameter(torch.tensor(5.0))
        if prior:  # a song's own bias from its lyric's features (engine/lstm/prior.py), zero until trained
            self.song_prior = nn.Linear(prior, 1, bias=False)
            nn.init.zeros_(self.song_prior.weight)
        self.prior = prior
        if lexical:  # weight of the lexical match (the image's tag mass whose words the lyric holds), learned from 0
            self.lexical_weight = nn.Parameter(torch.tensor(0.0))
        self.lexical = lexical
        lyric = 2 * hidden if readout == "lstm" else state
        if output in ("tied", "residual"):
            # tag j's score = <z, word vector of tag j> + b_j: tags share what the word vectors know (a tag with few
            # training pairs still scores lyrics whose words sit near it), instead of one free output row per tag
            if tag_words is None:
                raise ValueError("output='tied' needs the tag words' word-vector rows (tag_words)")
            self.register_buffer("tag_emb", wv[torch.as_tensor(np.asarray(tag_words), dtype=torch.long)].clone())
            self.tag_bias = nn.Parameter(torch.zeros(num_tags))
            self.mlp = nn.Sequential(nn.Linear(lyric, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, dim))
        else:
            self.mlp = nn.Sequential(nn.Linear(lyric, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, num_tags))

    # -- pieces -----------------------------------------------------------------------------------------------
    def encode_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Layer-1 states h_t (‖ the step's word vector with skip); image-independent, so computed once per song."""
        x = self.embed(tokens)
        h = self.lstm1(x, lengths)[0]
        return torch.cat([h, x], dim=2) if self.skip else h  # padding rows of x are the zero vector

    def head(self, lyric: torch.Tensor) -> torch.Tensor:
        """The lyric vector l -> tag space (the MLP; with output='tied' through the tag words' vectors)."""
        z = self.mlp(lyric)
        if self.output == "residual":  # + the attended word vector itself: a lexical match scores its own tag
            z = z + lyric[..., -self.dim:]
        return z @ self.tag_emb.T + self.tag_bias if self.output != "mlp" else z

    def prior_score(self, features: torch.Tensor) -> torch.Tensor:
        """The song prior w·f [N] added to a lyric's cosine (0 for a model without a prior)."""
        if not self.prior:
            return torch.zeros(features.shape[0], device=features.device)
        return self.song_prior(features).squeeze(-1)

    def tag_vector(self, tag_words: torch.Tensor, tag_weights: torch.Tensor | None = None) -> torch.Tensor:
        """ṽ: average (or max, or the tag-probability-weighted average) of the word vectors of the top-K tags;
        row id 0 marks a missing tag. "weighted" needs `tag_weights` [B,K] (the probe's probabilities)."""
        vec = self.embed(tag_words)  # [B,K,d]
        mask = (tag_words > 0).unsqueeze(-1)
        if self.pooling == "avg":
            return (vec * mask).sum(1) / mask.sum(1).clamp(min=1)
        if self.pooling == "weighted":
            if tag_weights is None:
                raise ValueError("pooling='weighted' needs the top tags' probabilities (tag_weights)")
            w = tag_weights.to(vec.dtype).unsqueeze(-1) * mask
            return (vec * w).sum(1) / w.sum(1).clamp(min=1e-12)
        return vec.masked_fill(~mask, float("-inf")).max(1).values.masked_fill(~mask.any(1), 0.0)

    def attention_weights(self, states: torch.Tensor, lengths: torch.Tensor, tag_words: torch.Tensor,
                          tag_weights: torch.Tensor | None = None) -> torch.Tensor:
        """s_t [B,T]: eq. 8-9, masked so padded steps get 0."""
        mask = torch.arange(states.shape[1], device=states.device)[None, :] < lengths.to(states.device)[:, None]
        if not self.attention:
            return mask / lengths.to(states.device)[:, None].float()
        v = self.tag_vector(tag_words, tag_weights)
        m = torch.sigmoid(self.W_hm(states) + self.W_vm(v)[:, None, :])
        e = self.w_ms(m).squeeze(-1)
        if self.match and self.match_pool == "max":
            e = e + self.match_scale * word_match(states[..., -self.dim:], self.embed(tag_words), tag_words > 0)
        elif self.match:
            e = e + self.match_scale * (states[..., -self.dim:] * v[:, None, :]).sum(-1)
        return masked_softmax(e, mask)

    def from_states(self, states: torch.Tensor, lengths: torch.Tensor, tag_words: torch.Tensor | None,
                    tag_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(projected lyric l̃ [B,num_tags], attention s [B,T]) from layer-1 states."""
        if self.attention and tag_words is None:
            raise ValueError("the attention model needs the image's top-K tag words")
        s = self.attention_weights(states, lengths, tag_words, tag_weights)
        if self.readout == "pool":
            return self.head((states * s.unsqueeze(-1)).sum(1)), s
        h_tilde = states * (s * lengths.to(s.device)[:, None].float()).unsqueeze(-1)
        _, lyric = self.lstm2(h_tilde, lengths)
        return self.head(lyric), s

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, tag_words: torch.Tensor | None = None,
                tag_weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        return self.from_states(self.encode_states(tokens, lengths), lengths, tag_words, tag_weights)


def top_tag_words(tag_probs: np.ndarray, tag_word_ids: np.ndarray, k: int = 5) -> np.ndarray:
    """Word-vector row ids of each image's k most probable tags that have a vector (0 = none) [N,k]."""
    probs = np.atleast_2d(np.asarray(tag_probs, dtype=np.float64)).copy()
    usable = np.asarray(tag_word_ids) > 0
    probs[:, ~usable] = -np.inf
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    out = np.asarray(tag_word_ids)[order]
    top = np.take_along_axis(probs, order, axis=1)
    out[~np.isfinite(top) | (top <= 0)] = 0
    return out.astype(np.int64)


def top_tags(tag_probs: np.ndarray, tag_word_ids: np.ndarray, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """(word-vector row ids [N,k], their probabilities [N,k], 0 for a missing tag) of each image's top tags."""
    ids = top_tag_words(tag_probs, tag_word_ids, k)
    probs = np.atleast_2d(np.asarray(tag_probs, dtype=np.float64))
    col = {int(w): j for j, w in enumerate(np.asarray(tag_word_ids)) if w > 0}
    weights = np.array([[probs[r, col[int(w)]] if w > 0 else 0.0 for w in row] for r, row in enumerate(ids)],
                       dtype=np.float32).reshape(ids.shape)
    return ids, weights


def tag_groups(ids: np.ndarray, weights: np.ndarray, weighted: bool) -> dict[tuple, list[int]]:
    """Rows with the same image-side attention input (top tag words, and their weights when weighted) share it."""
    groups: dict[tuple, list[int]] = {}
    for r, (row, w) in enumerate(zip(ids.tolist(), weights.tolist())):
        groups.setdefault(tuple(sorted(zip(row, w if weighted else [0.0] * len(row)))), []).append(r)
    return groups
