"""Exact, fast scoring of a fitted LyricTagModel against a whole catalogue: image-independent work cached per song.

With the attention-pooling readout (model readout "pool") a lyric's projection depends on the image only through
u = W_vm ṽ (one vector per top-K tag set): layer-1 states h_t and W_hm h_t + b are computed once per song and
step, and a query costs one fused pass over them (σ, w_ms·, masked softmax, Σ s_t h_t, the MLP) as padded tensor
ops across all songs. The baseline's lyric vectors do not depend on the image at all and are cached outright.
The result equals LyricTagModel.score up to float rounding (tests/test_lstm_scoring.py). A model with the
second-bi-LSTM readout has no such shortcut and is scored exhaustively by LyricTagModel.score.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from engine.lstm.model import tag_groups, top_tags, word_match
from engine.lstm.train import LyricTagModel
from graph.common.errors import Img2SongError

INDEX_FORMAT = 1  # bump when to_arrays' layout changes


class LyricIndex:
    """A catalogue's lyrics prepared for one fitted model; `score` answers [n_images, n_songs] cosines.

    What it is built from (per song: layer-1 states and length, the song terms; the baseline's lyric vectors) goes
    out through `to_arrays` and back through `from_arrays`, so that a run keeps it (evaluation.stages.derived) and a
    command or server start does not re-encode the catalogue; `changed` drops and appends songs."""

    def __init__(self, model: LyricTagModel, song_tokens: Sequence[Sequence[str]], chunk: int = 512) -> None:
        model._check()
        states, lengths = model.song_states(song_tokens)
        self._setup(model, chunk, lengths, model.song_terms(song_tokens), states=states)

    @classmethod
    def from_parts(cls, model: LyricTagModel, lengths: torch.Tensor, terms: tuple[np.ndarray, np.ndarray | None],
                   states: torch.Tensor | None = None, lyrics: torch.Tensor | None = None,
                   chunk: int = 512) -> LyricIndex:
        """An index from precomputed parts: padded states [N,T,D] (or, for the pool baseline, its unit lyric
        vectors [N,num_tags]), lengths [N] and the song terms."""
        model._check()
        index = cls.__new__(cls)
        index._setup(model, chunk, lengths, terms, states=states, lyrics=lyrics)
        return index

    def _setup(self, model: LyricTagModel, chunk: int, lengths: torch.Tensor,
               terms: tuple[np.ndarray, np.ndarray | None], states: torch.Tensor | None = None,
               lyrics: torch.Tensor | None = None) -> None:
        self.model, self.chunk, self.lengths, self.terms = model, chunk, lengths, terms
        self.states, self.lyrics = states, lyrics
        net = model.model_
        self.device = next(net.parameters()).device
        self.fast = net.readout == "pool"
        if not self.fast:
            return
        with torch.no_grad():
            if not net.attention:  # image-independent lyric vectors: scoring is one matrix product
                if lyrics is None:
                    lyr, _ = net.from_states(states, lengths, None)
                    self.lyrics = F.normalize(lyr, dim=1)
                self.states = None  # the lyric vectors are all scoring needs
                return
            dev = states.device
            t = states.shape[1]
            self.mask = torch.arange(t, device=dev)[None, :] < self.lengths.to(dev)[:, None]
            # songs sorted by length, so each chunk is cut to its own longest lyric (scores are put back in order);
            # h_t and x_t (skip) kept apart and contiguous: the match term and Σ s_t x_t then read x_t directly
            self.order = torch.argsort(self.lengths, stable=True)
            st = states[self.order.to(dev)]
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

    # ------------------------------------------------------------------------------------- kept in a run
    def padded_states(self) -> torch.Tensor:
        """The layer-1 states [N,T,D] in song order (rebuilt from the sorted split copies of the fast path)."""
        if self.states is not None:
            return self.states
        if self.lyrics is not None:
            raise Img2SongError("the baseline's lyric index keeps lyric vectors, not layer-1 states")
        st = torch.cat([self.h, self.x], dim=2) if self.x is not None else self.h
        out = torch.zeros_like(st)
        out[self.order.to(st.device)] = st
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        """What the index is built from, as arrays: lengths, the song terms, and the states of the valid steps
        only ([sum of lengths, D], song after song) or the baseline's unit lyric vectors."""
        prior, pres = self.terms
        out = {"format": np.array(INDEX_FORMAT), "lengths": self.lengths.cpu().numpy().astype(np.int64),
               "prior": np.asarray(prior, np.float32)}
        if pres is not None:
            out["presence"] = np.asarray(pres, np.float32)
        if self.lyrics is not None:
            out["lyrics"] = self.lyrics.cpu().numpy()
        else:
            st = self.padded_states()
            out["states"] = st[_valid(self.lengths, st.shape[1]).to(st.device)].cpu().numpy()
        return out

    @classmethod
    def from_arrays(cls, model: LyricTagModel, arrays: dict[str, np.ndarray], where: str) -> LyricIndex:
        """The index `to_arrays` described; arrays that do not fit this model are an Img2SongError naming `where`."""
        model._check()
        net = model.model_
        fmt = arrays.get("format")
        if fmt is None or np.asarray(fmt).shape != () or str(fmt) != str(INDEX_FORMAT):
            raise Img2SongError(f"{where}: not a lyric index of format {INDEX_FORMAT}")
        lengths = _array(arrays, "lengths", where, 1, np.int64)
        n = len(lengths)
        if n and (lengths.min() < 1 or lengths.max() > model.max_len):
            raise Img2SongError(f"{where}: song lengths outside 1..{model.max_len}")
        prior = _array(arrays, "prior", where, 1, np.float32, rows=n)
        pres = (_array(arrays, "presence", where, 2, np.float32, rows=n, cols=len(model.tag_vocab_))
                if getattr(model, "uses_lexical_", False) else None)
        dev = next(net.parameters()).device
        lens = torch.as_tensor(lengths)
        if net.readout == "pool" and not net.attention:
            lyr = _array(arrays, "lyrics", where, 2, np.float32, rows=n, cols=len(model.tag_vocab_))
            return cls.from_parts(model, lens, (prior, pres), lyrics=torch.as_tensor(lyr, device=dev))
        width = 2 * net.lstm1.fwd.hidden_size + (net.dim if net.skip else 0)
        flat = _array(arrays, "states", where, 2, np.float32, rows=int(lengths.sum()), cols=width)
        t = max(1, int(lengths.max(initial=1)))
        states = torch.zeros(n, t, width, device=dev)
        states[_valid(lens, t).to(dev)] = torch.as_tensor(flat, device=dev)
        return cls.from_parts(model, lens, (prior, pres), states=states)

    def changed(self, keep: np.ndarray | None, songs: Sequence[Any],
                tokenize: Callable[[Sequence[Any]], list[list[str]]]) -> LiveLyricIndex:
        """This catalogue with the songs where `keep` is False removed and `songs` appended (a live catalogue's
        change: engine.live.updates); `tokenize` gives their lyric tokens by the rule the model was fitted with."""
        return LiveLyricIndex(self, np.ones(len(self), bool), (), tokenize).changed(keep, songs)

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
        dev = self.device
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


class LiveLyricIndex:
    """A fitted catalogue's index (shared, never copied) with songs removed and added: the base's kept songs, then
    the added ones. A change only records them; the added songs are tokenised and encoded together, by one small
    LyricIndex, when first scored, so replaying a journal of many changes encodes nothing until a query comes.
    Every song's rows come from its own lyric alone, so the base's are the fitted catalogue's, unchanged."""

    def __init__(self, base: LyricIndex, keep: np.ndarray, added: Sequence[Any],
                 tokenize: Callable[[Sequence[Any]], list[list[str]]]) -> None:
        self.base, self.keep, self.added, self.tokenize = base, keep, list(added), tokenize
        self.model = base.model
        self._all = bool(keep.all())
        self._index: LyricIndex | None = None

    def __len__(self) -> int:
        return int(self.keep.sum()) + len(self.added)

    def changed(self, keep: np.ndarray | None, songs: Sequence[Any],
                tokenize: Callable[[Sequence[Any]], list[list[str]]] | None = None) -> LiveLyricIndex:
        """As LyricIndex.changed, over this index's songs (base kept, then added)."""
        nb = int(self.keep.sum())
        keep = np.ones(len(self), bool) if keep is None else np.asarray(keep, bool)
        if len(keep) != len(self):
            raise Img2SongError(f"lyric index: a change for {len(keep)} songs, the index holds {len(self)}")
        base_keep = self.keep.copy()
        base_keep[self.keep] = keep[:nb]
        added = [s for s, k in zip(self.added, keep[nb:]) if k] + list(songs)
        return LiveLyricIndex(self.base, base_keep, added, tokenize or self.tokenize)

    def added_index(self) -> LyricIndex | None:
        """The added songs' index (tokenised and encoded on first need)."""
        if self._index is None and self.added:
            self._index = LyricIndex(self.model, self.tokenize(self.added))
        return self._index

    def score(self, image_tags: np.ndarray) -> np.ndarray:
        """LyricIndex.score over the kept base songs, then the added ones."""
        out = self.base.score(image_tags)
        if not self._all:
            out = out[:, self.keep]
        added = self.added_index()
        return out if added is None else np.hstack([out, added.score(image_tags)])


def _valid(lengths: torch.Tensor, t: int) -> torch.Tensor:
    """[N,t] True on each song's valid steps."""
    return torch.arange(t)[None, :] < lengths.cpu()[:, None]


def _array(arrays: dict[str, np.ndarray], name: str, where: str, ndim: int, dtype: type, rows: int | None = None,
           cols: int | None = None) -> np.ndarray:
    """arrays[name] checked: present, `ndim` dimensions, `rows` x `cols` where given, finite; as `dtype`."""
    if name not in arrays:
        raise Img2SongError(f"{where}: array {name!r} is missing")
    a = np.asarray(arrays[name])
    if a.ndim != ndim or (rows is not None and a.shape[0] != rows) or (cols is not None and a.shape[1] != cols):
        raise Img2SongError(f"{where}: array {name!r} has shape {a.shape}, expected "
                            f"{(rows if rows is not None else 'N',) + ((cols,) if ndim == 2 else ())}")
    if a.dtype.kind not in "iuf" or (a.dtype.kind == "f" and not np.isfinite(a).all()):
        raise Img2SongError(f"{where}: array {name!r} is not finite numbers")
    return a.astype(dtype, copy=False)


def build_index(model: LyricTagModel, song_tokens: Sequence[Sequence[str]]) -> LyricIndex:
    """The one entry point scorers use: a model's catalogue, prepared once, scored per query by `.score(tags)`."""
    return LyricIndex(model, song_tokens)
