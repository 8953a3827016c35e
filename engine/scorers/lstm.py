"""The `lstm` scorer: songs ranked by cosine between the image's tag vector and each lyric mapped into tag space."""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from engine.lstm.dataset import PairSet, keyword_pairs
from engine.lstm.device import pick_device
from engine.lstm.prepare import image_tag_matrix, run_word_vectors, song_tokens, training_signature
from engine.lstm.scoring import LiveLyricIndex, LyricIndex, build_index
from engine.lstm.train import LyricTagModel
from engine.scorers.base import Query, Recommendation, Scorer, TrainingSet, register_scorer
from graph.common.errors import Img2SongError

# what must agree for a run's trained checkpoint (img2song train-lstm) to stand in for fitting again
ARCH_FIELDS = ("loss", "hidden", "max_len", "top_k", "pooling", "center", "readout", "skip", "output", "match", "lr",
               "margin", "prior", "negatives", "negative_pool", "lexical", "attention_loss",
               "match_pool", "term_lr")


@register_scorer("lstm")
class LSTMScorer(Scorer):
    """Attention bi-LSTM (Zhou et al.): fits on training images paired with songs through shared keywords.

    With `reuse=True` the run's trained model (TrainingSet.lstm_models, from `img2song train-lstm`) is used
    instead of training again when it was trained on exactly the same pairs and vocabulary.
    """

    def __init__(self, attention: bool = True, loss: str = "mrl", word_vectors: str | None = None,
                 wv_method: str = "line", wv_dim: int = 64, epochs: int = 40, hidden: int = 32, max_len: int = 48,
                 songs_per_keyword: int = 8, images_per_song: int = 5, min_images: int = 2, seed: int = 0,
                 device: str | None = "auto", reuse: bool = True, progress: bool = False,
                 arch: dict[str, Any] | None = None) -> None:
        self.attention, self.loss, self.word_vectors, self.wv_method, self.wv_dim = (attention, loss, word_vectors,
                                                                                     wv_method, wv_dim)
        self.epochs, self.hidden, self.max_len = epochs, hidden, max_len
        # arch: further LyricTagModel settings (skip, output, match, pooling, lr, patience ...); None = its defaults
        self.arch = arch
        self.songs_per_keyword, self.images_per_song, self.min_images = songs_per_keyword, images_per_song, min_images
        self.seed, self.device, self.reuse, self.progress = seed, device, reuse, progress

    def fit(self, data: TrainingSet) -> LSTMScorer:
        if not data.corpus.songs:
            raise Img2SongError("scorer 'lstm': the corpus has no songs")
        train = set(data.train_image_ids)
        tokens = song_tokens(data)
        self.pairs_ = keyword_pairs({i: kw for i, kw in data.image_keywords.items() if i in train}, data.song_keywords,
                                    self.songs_per_keyword, self.images_per_song, self.min_images)
        if not self.pairs_.pairs:
            raise Img2SongError("scorer 'lstm': no (training image, song) pair shares a keyword")
        sig = training_signature(self.pairs_.pairs, list(data.tag_vocab))
        model = None
        cand = data.lstm_models.get(self.attention) if self.reuse else None
        want = LyricTagModel(attention=self.attention, loss=self.loss, hidden=self.hidden, max_len=self.max_len,
                             **(self.arch or {}))
        if cand is not None and getattr(cand, "signature_", None) == sig and all(  # same pairs, same model
                getattr(cand, k, None) == getattr(want, k) for k in ARCH_FIELDS):
            model = cand
            model.model_.to(pick_device(self.device))
        if model is None:
            wv = run_word_vectors(data, tokens, self.word_vectors, self.wv_method, self.wv_dim, self.seed)
            tags = image_tag_matrix(data, self.pairs_.images)
            model = LyricTagModel(attention=self.attention, loss=self.loss, hidden=self.hidden, max_len=self.max_len,
                                  epochs=self.epochs, seed=self.seed, device=self.device, progress=self.progress,
                                  **(self.arch or {}))
            model.fit(self.pairs_.pairs, tokens, tags, data.tag_vocab, wv)
            model.signature_ = sig
        self.model_ = model
        self.song_ids_ = [s.id for s in data.corpus.songs]
        self.song_tokens_ = [tokens[s] for s in self.song_ids_]
        self.index_ = build_index(model, self.song_tokens_)
        self.tags_, self.tag_vocab_ = data.tags, list(data.tag_vocab)
        return self

    def _get_state(self) -> dict:
        """The model as its checkpoint; the lyric index left out (rebuilt from the tokens on first use, or installed
        from the run's copy: evaluation.stages.derived)."""
        state = {k: v for k, v in super()._get_state().items() if k != "index_"}
        p = state["pairs_"]
        state["pairs_"] = {"pairs": [list(x) for x in p.pairs], "songs": p.songs, "images": p.images,
                           "song_images": p.song_images, "counts": p.counts}
        return state

    def _set_state(self, state: dict) -> None:
        p = state["pairs_"]
        super()._set_state({**state, "pairs_": PairSet([tuple(x) for x in p["pairs"]], p["songs"], p["images"],
                                                       p["song_images"], p["counts"])})
        dev = pick_device(self.device)
        if next(self.model_.model_.parameters()).device != dev:
            self.model_.model_.to(dev)
        self.index_ = None  # encoding 10,000 lyrics costs seconds: done on first use unless a run's copy is installed

    def lyric_index(self) -> LyricIndex | LiveLyricIndex:
        """The catalogue's lyrics prepared for the model (built now when neither fit nor install_index gave one)."""
        self._check_fitted("model_")
        if getattr(self, "index_", None) is None:
            self.index_ = build_index(self.model_, self.song_tokens_)
        return self.index_

    def install_index(self, index: LyricIndex) -> LSTMScorer:
        """Use a lyric index built elsewhere for this model and these songs (a run keeps one: no re-encoding)."""
        if len(index) != len(self.song_ids_) or index.model is not self.model_:
            raise Img2SongError(f"scorer '{self.name}': the lyric index holds {len(index)} songs of another model "
                                f"or catalogue, the scorer {len(self.song_ids_)}")
        self.index_ = index
        return self

    def _tag_vector(self, query: Query) -> np.ndarray:
        if query.tag_probs is not None:
            return np.asarray(query.tag_probs, np.float32)
        if self.tags_ is not None and query.image_id in self.tags_:
            return np.asarray(self.tags_[query.image_id], np.float32)
        raise Img2SongError(f"scorer 'lstm' needs a tag vector for image {query.image_id or query.path} "
                            "(query.tag_probs, or a run whose features cover it)")

    def recommend(self, query: Query, k: int = 10) -> list[Recommendation]:
        self._check_fitted("model_")
        return self.recommend_batch([query], k)[0]

    def recommend_batch(self, queries, k: int = 10) -> list[list[Recommendation]]:
        """All queries in one pass over the cached lyric index (engine/lstm/scoring.py)."""
        self._check_fitted("model_")
        if not queries:
            return []
        tags = np.vstack([self._tag_vector(q) for q in queries])
        scores = self.lyric_index().score(tags)
        out = []
        for row, tag in zip(scores, tags):
            top = np.lexsort((np.arange(len(row)), -row))[:k]
            words = [self.tag_vocab_[j] for j in np.argsort(-tag, kind="stable")[:5] if tag[j] > 0]
            why = (f"lyric mapped into tag space by the {self.model_.variant} bi-LSTM; cosine with image tags "
                   f"({', '.join(words) or 'none'})")
            out.append([Recommendation(self.song_ids_[j], float(row[j]), why) for j in top])
        return out


@register_scorer("lstm-base")
class LSTMBaselineScorer(LSTMScorer):
    """The paper's no-attention baseline of the `lstm` scorer (uniform weights over the lyric's steps)."""

    def __init__(self, attention: bool = False, **kw: Any) -> None:
        super().__init__(attention=attention, **kw)

    # get_params (and so save/load) read the constructor's signature: the parent's, with attention off
    __init__.__signature__ = inspect.signature(LSTMScorer.__init__).replace(parameters=[
        p.replace(default=False) if p.name == "attention" else p
        for p in inspect.signature(LSTMScorer.__init__).parameters.values()])
