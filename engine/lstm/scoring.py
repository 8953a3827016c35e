"""Exact, fast scoring of a fitted LyricTagModel against a whole catalogue: image-independent work cached per song.

With the attention-pooling readout (model readout "pool") a lyric's projection depends on the image only through
u = W_vm ṽ (one vector per top-K tag set): layer-1 states h_t and W_hm h_t + b are computed once per song and
step, and a query costs one fused pass over them (σ, w_ms·, masked softmax, Σ s_t h_t, the MLP) as padded tensor
ops across all songs. The baseline's lyric vectors do not depend on the image at all and are cached outright.
The result equals LyricTagModel.score up to float rounding (tests/test_lstm_scoring.py). A model with the
second-bi-LSTM readout has no such shortcut and is scored exhaustively by LyricTagModel.score.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from engine.lstm.model import tag_groups, top_tags, word_match
from engine.lstm.train import LyricTagModel
from graph.common.errors import Img2SongError


class LyricIndex:
    """A catalogue's lyrics prepared for one fitted model; `score` answers [n_images, n_songs] cosines."""

    def __init__(self, model: LyricTagModel, song_tokens: Sequence[Sequence[str]], chunk: int = 512) -> None:
        model._check()
        self.model, self.chunk = model, chunk
        self.states, self.lengths = model.song_states(song_tokens)
        self.terms = model.song_terms(song_tokens)  # song prior [N] and tag-word presence, added to the cosines
        net = model.model_
        self.fast = net.readout == "pool"
        if not self.fast:
            return
        with torch.no_grad():
            t = self.states.shape[1]
            dev = self.states.device
            self.mask = torch.arange(t, device=dev)[None, :] < self.lengths.to(dev)[:, None]
            if not net.attention:  # image-independent lyric vectors: scoring is one matrix product
                lyr, _ = net.from_states(self.states, self.lengths, None)
                self.lyrics = F.normalize(lyr, dim=1)
                return
            # songs sorted by length, so each chunk is cut to its own longest lyric (scores are put back in order);
            # h_t and x_t (skip) kept apart and contiguous: the match term and Σ s_t x_t then read x_t directly
            self.order = torch.argsort(self.lengths, stable=True)
            st = self.states[self.order.to(dev)]
            two_h = 2 * net.lstm1.fwd.hidden_size
            self.h, self.x = st[..., :two_h].contiguous(), (st[..., two_h:].contiguous() if net.skip else None)
            self.hm = net.W_hm(st)  # [N,T,A] W_hm h_t + b, the image-independent half of eq. 8
            self.mask = self.mask[self.order.to(dev)]
            lens = self.lengths[self.order]
            self.spans = [(b, min(b + chunk, len(lens)), max(1, int(lens[b:b + chunk].max()))) for b in
                          range(0, len(lens), chunk)]
            self.w_ms = net.w_ms.weight.reshape(-1)
            self.head = net.head
            self.states = None  # the split copies replace it

    def __len__(self) -> int:
        return len(self.lengths)

    @torch.no_grad()
    def _project(self, u: torch.Tensor, v: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
        """Unit lyric projections l̃ [N,num_tags] for one image: attention term u = W_vm ṽ [A], ṽ [d] and the top-K
        tag words' row ids [K] (0 = none)."""
        net = self.model.model_
        out = []
        for b, e_, t in self.spans:
            hm, h, mask = self.hm[b:e_, :t], self.h[b:e_, :t], self.mask[b:e_, :t]
            e = torch.sigmoid(hm + u) @ self.w_ms  # [n,T] eq. 8-9 logits
            x = self.x[b:e_, :t] if self.x is not None else None
            if net.match and net.match_pool == "max":
                n = len(x)
                e = e + net.match_scale * word_match(x, net.embed(words)[None].expand(n, -1, -1),
                                                     (words > 0)[None].expand(n, -1))
            elif net.match:
                e = e + net.match_scale * (x @ v)
            s = torch.softmax(e.masked_fill(~mask, float("-inf")), dim=1).unsqueeze(1)
            lyr = torch.bmm(s, h).squeeze(1)  # Σ_t s_t h_t  [n,2H]
            if x is not None:
                lyr = torch.cat([lyr, torch.bmm(s, x).squeeze(1)], dim=1)  # ‖ Σ_t s_t x_t
            out.append(self.head(lyr))
        proj = torch.empty(len(self), out[0].shape[1], device=out[0].device) if out else torch.zeros(0, 0)
        if out:
            proj[self.order.to(proj.device)] = torch.cat(out)
        return F.normalize(proj, dim=1)

    @torch.no_grad()
    def score(self, image_tags: np.ndarray) -> np.ndarray:
        """Cosine [n_images, n_songs] between image tag vectors and every lyric projected for that image."""
        m = self.model
        if not self.fast:
            return m.score(image_tags, states=(self.states, self.lengths), terms=self.terms)
        tags = np.atleast_2d(np.asarray(image_tags, np.float32))
        if tags.shape[1] != len(m.tag_vocab_):
            raise Img2SongError(f"tag vectors have {tags.shape[1]} entries, the model expects {len(m.tag_vocab_)}")
        dev = (self.states if self.states is not None else self.hm).device
        v = F.normalize(torch.as_tensor(tags - m.tag_mean_, dtype=torch.float32, device=dev), dim=1)
        if not m.model_.attention:  # row by row: a query's scores never depend on the rest of its batch
            return m.add_terms(torch.stack([self.lyrics.mv(row) for row in v]).cpu().numpy(), tags, self.terms)
        tagw, tagp = top_tags(tags, m.tag_word_ids_, m.top_k)
        net = m.model_
        out = np.zeros((len(tags), len(self)), np.float32)
        for rows in tag_groups(tagw, tagp, net.pooling == "weighted").values():
            words = torch.as_tensor(tagw[rows[:1]], device=dev)
            tv = net.tag_vector(words, torch.as_tensor(tagp[rows[:1]], device=dev))
            proj = self._project(net.W_vm(tv)[0], tv[0], words[0])
            for r in rows:
                out[r] = proj.mv(v[r]).cpu().numpy()
        return m.add_terms(out, tags, self.terms)


def build_index(model: LyricTagModel, song_tokens: Sequence[Sequence[str]]) -> LyricIndex:
    """The one entry point scorers use: a model's catalogue, prepared once, scored per query by `.score(tags)`."""
    return LyricIndex(model, song_tokens)
