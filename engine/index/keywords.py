"""KeywordIndex: an inverted index keyword -> songs (postings: song rows with occurrence counts), built once.

Counts follow engine.scorers.km.count_occurrences exactly, i.e. graph.occurrences' rule (Chinese: substring
matches that respect jieba's token boundaries; English: lemma sequences). Build: all lyrics lower-cased and joined
by a separator into one text; each keyword's probes (graph.occurrences.probes: substrings any lyric holding it
contains) located with one regular-expression scan each (C speed) and mapped to songs by offset; only those songs
are then counted by the rule. A keyword holding the separator is counted lyric by lyric. A keyword not indexed at
fit is indexed on first use.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.occurrences import count as occurrence_count
from graph.occurrences import probes as occurrence_probes

FILE = "keyword_index.npz"
SEP = "\x00"


def normalise(word: str) -> str:
    return word.strip().lower()


class KeywordIndex:
    """After fit: n_docs_, postings_ {keyword: (song rows int32 ascending, counts int32)} over lower-cased words."""

    def fit(self, lyrics: Sequence[str], keywords: Iterable[str] = (), progress: bool = False) -> KeywordIndex:
        lower = [str(t).lower() for t in lyrics]
        self.n_docs_ = len(lower)
        self._lyrics = lower
        self._text = SEP.join(lower)
        lengths = np.fromiter((len(t) for t in lower), dtype=np.int64, count=len(lower))
        self._starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]) if len(lower) else np.zeros(0, np.int64)
        self.postings_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for w in tqdm(list(dict.fromkeys(keywords)), desc="keyword index", unit="kw", disable=not progress,
                      leave=False):
            self.postings(w)
        return self

    def _scan(self, w: str) -> tuple[np.ndarray, np.ndarray]:
        if not w or not self.n_docs_:
            return np.zeros(0, np.int32), np.zeros(0, np.int32)
        if SEP in w:  # could match across two lyrics in the joined text: count lyric by lyric
            counts = np.fromiter((occurrence_count(t, w) for t in self._lyrics), dtype=np.int64, count=self.n_docs_)
            rows = np.flatnonzero(counts)
            return rows.astype(np.int32), counts[rows].astype(np.int32)
        docs = np.zeros(0, np.int64)
        for probe in occurrence_probes(w):  # substrings every lyric holding an occurrence contains
            if SEP in probe or self._text.count(probe) == 0:
                continue
            pos = np.fromiter((m.start() for m in re.finditer(re.escape(probe), self._text)), dtype=np.int64)
            docs = np.union1d(docs, np.searchsorted(self._starts, pos, side="right") - 1)
        counts = np.fromiter((occurrence_count(self._lyrics[d], w) for d in docs.tolist()), dtype=np.int64,
                             count=len(docs))
        keep = counts > 0
        return docs[keep].astype(np.int32), counts[keep].astype(np.int32)

    def postings(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """(song rows, occurrence counts) of one keyword; indexed now when it was not at fit."""
        if not hasattr(self, "postings_"):
            raise Img2SongError("keyword index is not fitted: call fit() first")
        w = normalise(word)
        if w not in self.postings_:
            self.postings_[w] = self._scan(w)
        return self.postings_[w]

    def counts(self, word: str) -> np.ndarray:
        """Dense occurrences per song (int64 [n_docs]) of one keyword."""
        rows, counts = self.postings(word)
        out = np.zeros(self.n_docs_, dtype=np.int64)
        out[rows] = counts
        return out

    @property
    def vocabulary(self) -> list[str]:
        return list(self.postings_)

    def save(self, directory: str | Path) -> Path:
        """<dir>/keyword_index.npz: postings (CSR over the vocabulary) and the joined lyrics, written atomically."""
        if not hasattr(self, "postings_"):
            raise Img2SongError("keyword index is not fitted: nothing to save")
        vocab = self.vocabulary
        sizes = np.array([len(self.postings_[w][0]) for w in vocab], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        rows = np.concatenate([self.postings_[w][0] for w in vocab]) if vocab else np.zeros(0, np.int32)
        counts = np.concatenate([self.postings_[w][1] for w in vocab]) if vocab else np.zeros(0, np.int32)
        path = Path(directory) / FILE
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, vocab=np.array(vocab, dtype=str), indptr=indptr, rows=rows, counts=counts,
                     lengths=np.array([len(t) for t in self._lyrics], dtype=np.int64), text=np.frombuffer(self._text.encode("utf-8"), dtype=np.uint8))
        return Path(directory)

    @classmethod
    def load(cls, directory: str | Path) -> KeywordIndex:
        path = Path(directory) / FILE
        if not path.is_file():
            raise Img2SongError(f"{path}: saved keyword index not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                vocab, indptr, rows, counts = z["vocab"].tolist(), z["indptr"], z["rows"], z["counts"]
                lengths, text = z["lengths"], z["text"].tobytes().decode("utf-8")
        except (KeyError, ValueError, OSError, UnicodeDecodeError) as e:
            raise Img2SongError(f"{path}: unreadable keyword index ({e})") from None
        self = cls()
        if int(lengths.sum()) + max(len(lengths) - 1, 0) != len(text):
            raise Img2SongError(f"{path}: the saved lyrics do not match their lengths")
        starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
        self.fit([text[s:s + n] for s, n in zip(starts.tolist(), lengths.tolist())])
        self.postings_ = {w: (rows[indptr[j]:indptr[j + 1]], counts[indptr[j]:indptr[j + 1]])
                          for j, w in enumerate(vocab)}
        return self
