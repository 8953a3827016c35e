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
                 readout: str = "pool"):
        super().__init__()
        if pooling not in ("avg", "max"):
            raise ValueError(f"pooling must be 'avg' or 'max', got {pooling!r}")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        wv = torch.as_tensor(np.asarray(word_vectors), dtype=torch.float32)
        self.embed = nn.Embedding.from_pretrained(wv, freeze=True, padding_idx=0)
        dim = wv.shape[1]
        self.attention, self.pooling, self.readout = attention, pooling, readout
        self.lstm1 = BiLSTM(dim, hidden)
        if readout == "lstm":
            self.lstm2 = BiLSTM(2 * hidden, hidden)
        if attention:
            self.W_hm = nn.Linear(2 * hidden, attention_dim, bias=True)
            self.W_vm = nn.Linear(dim, attention_dim, bias=False)
            self.w_ms = nn.Linear(attention_dim, 1, bias=False)
        self.mlp = nn.Sequential(nn.Linear(2 * hidden, mlp_hidden), nn.ReLU(), nn.Linear(mlp_hidden, num_tags))

    # -- pieces -----------------------------------------------------------------------------------------------
    def encode_states(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Layer-1 states h_t; they do not depend on the image, so retrieval computes them once per song."""
        return self.lstm1(self.embed(tokens), lengths)[0]

    def tag_vector(self, tag_words: torch.Tensor) -> torch.Tensor:
        """ṽ: average (or max) of the word vectors of the top-K tags; row id 0 marks a missing tag."""
        vec = self.embed(tag_words)  # [B,K,d]
        mask = (tag_words > 0).unsqueeze(-1)
        if self.pooling == "avg":
            return (vec * mask).sum(1) / mask.sum(1).clamp(min=1)
        return vec.masked_fill(~mask, float("-inf")).max(1).values.masked_fill(~mask.any(1), 0.0)

    def attention_weights(self, states: torch.Tensor, lengths: torch.Tensor, tag_words: torch.Tensor) -> torch.Tensor:
        """s_t [B,T]: eq. 8-9, masked so padded steps get 0."""
        mask = torch.arange(states.shape[1], device=states.device)[None, :] < lengths.to(states.device)[:, None]
        if not self.attention:
            return mask / lengths.to(states.device)[:, None].float()
        m = torch.sigmoid(self.W_hm(states) + self.W_vm(self.tag_vector(tag_words))[:, None, :])
        return masked_softmax(self.w_ms(m).squeeze(-1), mask)

    def from_states(self, states: torch.Tensor, lengths: torch.Tensor, tag_words: torch.Tensor | None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(projected lyric l̃ [B,num_tags], attention s [B,T]) from layer-1 states."""
        if self.attention and tag_words is None:
            raise ValueError("the attention model needs the image's top-K tag words")
        s = self.attention_weights(states, lengths, tag_words)
        if self.readout == "pool":
            return self.mlp((states * s.unsqueeze(-1)).sum(1)), s
        h_tilde = states * (s * lengths.to(s.device)[:, None].float()).unsqueeze(-1)
        _, lyric = self.lstm2(h_tilde, lengths)
        return self.mlp(lyric), s

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor, tag_words: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        return self.from_states(self.encode_states(tokens, lengths), lengths, tag_words)


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
