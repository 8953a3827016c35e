"""The paper's three pair losses (image2song eq. 11-13), selectable by name."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from graph.common.errors import Img2SongError

LOSSES = ("mse", "cpl", "mrl")


def pair_loss(kind: str, target: torch.Tensor, pred: torch.Tensor, neg: torch.Tensor | None = None,
              margin: float = 1.0, pos_bias: torch.Tensor | None = None,
              neg_bias: torch.Tensor | None = None) -> torch.Tensor:
    """Paper eq. 11 (MSE: squared L2 per pair), eq. 12 (CPL: −cos), eq. 13 (MRL: hinge on cos with a negative).

    MRL's `neg` may hold several negatives per pair ([k,B,T] against target [B,T]: the hinges are averaged);
    `pos_bias`/`neg_bias` ([B], [k,B] or [B]) are the songs' prior scores, added to their cosines."""
    if kind == "mse":
        return ((target - pred) ** 2).sum(1).mean()
    if kind == "cpl":
        return -F.cosine_similarity(target, pred, dim=1).mean()
    if kind == "mrl":
        if neg is None:
            raise ValueError("margin ranking loss needs negative lyric projections")
        pos_c = F.cosine_similarity(target, pred, dim=1)
        neg_c = F.cosine_similarity(target.expand_as(neg), neg, dim=-1)
        if pos_bias is not None:
            pos_c = pos_c + pos_bias
        if neg_bias is not None:
            neg_c = neg_c + neg_bias
        return torch.clamp(margin + neg_c - pos_c, min=0).mean()
    raise Img2SongError(f"unknown loss {kind!r}; expected one of {LOSSES}")


def attention_supervision(attention: torch.Tensor, tokens: torch.Tensor, tag_words: torch.Tensor) -> torch.Tensor:
    """Cross-entropy −Σ_t q_t log s_t between the attention s [B,T] and q, the normalised mask of the steps whose
    word is one of the row's tag words (tag_words [B,K], 0 = none), averaged over the rows that hold one (0 if
    none does): it teaches the attention to find the image's keywords in a lyric."""
    hold = ((tokens[:, :, None] == tag_words[:, None, :]) & (tag_words[:, None, :] > 0)).any(-1)
    rows = hold.any(1)
    if not bool(rows.any()):
        return attention.sum() * 0.0
    q = hold[rows].to(attention.dtype)
    q = q / q.sum(1, keepdim=True)
    return -(q * torch.log(attention[rows].clamp(min=1e-12))).sum(1).mean()
