"""KeywordIndex: an inverted index keyword -> songs (postings: song rows with occurrence counts), built once.

Counts follow engine.scorers.km.count_occurrences exactly: case-insensitive, non-overlapping substring counts
(so Chinese keywords need no tokenizer). All counting goes through one function, `count_postings`: the lyrics are
lower-cased and joined by a separator into one text, every keyword is found in ONE Aho-Corasick pass over it
(pyahocorasick, C speed) and its matches are mapped to songs by offset. A keyword that can overlap itself (a proper
prefix equal to a suffix: "aa", "哈哈") would be over-counted by an all-matches automaton, and one holding the
separator could match across two lyrics: those few are counted by a regular-expression scan (non-overlapping,
leftmost, like str.count) or lyric by lyric. A keyword not indexed at fit is indexed on first use.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import ahocorasick
import numpy as np

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError

FILE = "keyword_index.npz"
SEP = "\x00"


def normalise(word: str) -> str:
    return word.strip().lower()


def self_overlapping(w: str) -> bool:
    """True when two occurrences of w can overlap (a proper prefix of w is also its suffix)."""
    return any(w[:j] == w[-j:] for j in range(1, len(w)))


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, np.int32), np.zeros(0, np.int32)


def joined(lyrics_lower: Sequence[str]) -> tuple[str, np.ndarray]:
    """The lyrics joined by SEP into one text, and each lyric's start offset in it."""
    lengths = np.fromiter((len(t) for t in lyrics_lower), dtype=np.int64, count=len(lyrics_lower))
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]) if len(lengths) else np.zeros(0, np.int64)
    return SEP.join(lyrics_lower), starts.astype(np.int64)


def _per_doc(pos: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    docs = np.searchsorted(starts, pos, side="right") - 1
    rows, counts = np.unique(docs, return_counts=True)
    return rows.astype(np.int32), counts.astype(np.int32)


def _scan_one(w: str, text: str, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One keyword by regular expression (non-overlapping, leftmost) or, holding SEP, lyric by lyric."""
    if not w or not len(starts):
        return _empty()
    if SEP in w:  # could match across two lyrics in the joined text: count lyric by lyric
        ends = np.append(starts[1:] - 1, len(text)).tolist()  # lyrics may hold SEP themselves: slice, never split
        counts = np.fromiter((text[a:b].count(w) for a, b in zip(starts.tolist(), ends)), dtype=np.int64,
                             count=len(starts))
        rows = np.flatnonzero(counts)
        return rows.astype(np.int32), counts[rows].astype(np.int32)
    if text.count(w) == 0:
        return _empty()
    pos = np.fromiter((m.start() for m in re.finditer(re.escape(w), text)), dtype=np.int64)
    return _per_doc(pos, starts)


def count_postings(text: str, starts: np.ndarray, words: Iterable[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{normalised word: (song rows int32 ascending, counts int32)}: the one place keyword occurrences are counted.

    `text`, `starts` as from `joined`. Plain words: one Aho-Corasick pass for all of them; self-overlapping words
    and words holding SEP: a scan each (see the module doc).
    """
    vocab = list(dict.fromkeys(normalise(w) for w in words))
    out = {w: _scan_one(w, text, starts) for w in vocab if w and (SEP in w or self_overlapping(w))}
    plain = [w for w in vocab if w and w not in out]
    out.update({w: _empty() for w in vocab if not w})
    if plain and len(starts):
        automaton = ahocorasick.Automaton()
        for j, w in enumerate(plain):
            automaton.add_word(w, j)
        automaton.make_automaton()
        hits = np.array([h for h in automaton.iter(text)], dtype=np.int64).reshape(-1, 2)  # (end, word)
        order = np.argsort(hits[:, 1], kind="stable")
        ends, ids = hits[order, 0], hits[order, 1]
        bounds = np.searchsorted(ids, np.arange(len(plain) + 1))
        lengths = np.array([len(w) for w in plain], dtype=np.int64)
        for j, w in enumerate(plain):  # no self-overlap: every match counts, and none crosses SEP
            e = ends[bounds[j]:bounds[j + 1]]
            out[w] = _per_doc(e - lengths[j] + 1, starts) if len(e) else _empty()
    else:
        out.update({w: _empty() for w in plain})
    return out


class KeywordIndex:
    """After fit: n_docs_, postings_ {keyword: (song rows int32 ascending, counts int32)} over lower-cased words."""

    def fit(self, lyrics: Sequence[str], keywords: Iterable[str] = (), progress: bool = False) -> KeywordIndex:
        """Index `keywords` over the lyrics in one pass (`progress` is accepted for callers; the pass is one call)."""
        lower = [str(t).lower() for t in lyrics]
        self.n_docs_ = len(lower)
        self._text, self._starts = joined(lower)
        self.postings_: dict[str, tuple[np.ndarray, np.ndarray]] = count_postings(self._text, self._starts, keywords)
        return self

    def _scan(self, w: str) -> tuple[np.ndarray, np.ndarray]:
        return _scan_one(w, self._text, self._starts)

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
                     lengths=np.diff(np.append(self._starts, len(self._text) + 1)) - 1,
                     text=np.frombuffer(self._text.encode("utf-8"), dtype=np.uint8))
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
