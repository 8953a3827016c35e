"""Keyword occurrences: the one rule for "text T contains word W, n times".

Keyword selection (graph.vocabulary), song-keyword edges (graph.build), KM (engine.scorers.km, engine.index) and
the ground truth's hits (graph.keywords.contains_any) all count through this module, so that what the network
links is exactly what a hit counts.

The rule:
- a word holding a CJK character (Chinese): the text is segmented once with jieba (default dictionary, HMM off:
  the segmentation candidate keywords come from). A substring match counts when it lies inside one token (月 in
  明月) or is exactly a run of whole tokens (人头 in 人|头); a match that cuts a token does not (人头 in 佳人|头);
- any other word (English): the text's words, lower-cased and lemmatised (graph.keywords.lemmatize_en); the word
  counts where its own lemma sequence occurs (tree in "Trees", "statue of liberty"), never inside a word (art in
  heart). A Chinese word never matches English text and the other way round;
- counts are non-overlapping, left to right, and each word is counted on its own: the other words of a vocabulary
  never change a count (a ground truth's related words and a network's keywords see the same occurrences).
"""
from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache

from graph.keywords import _EN_IRREGULAR, _base_pos_tokenizer, lemmatize_en

_CACHE = 1 << 15  # segmented texts kept (a catalogue's lyrics are counted many times: selection, KM, hits)
_BATCH = 24  # above this many words, valid spans are enumerated once instead of searching word by word
_lock = threading.Lock()
# a word of an alphabetic script: letters and digits (w00012, mp3, café), never a CJK character or an underscore
_WORD = re.compile(r"(?:(?![\u3400-\u9fff\uf900-\ufaff])[^\W_])+(?:'(?:(?![\u3400-\u9fff\uf900-\ufaff])[^\W_])+)*")
_SURFACES: dict[str, list[str]] = {}
for _surface, _lemma in _EN_IRREGULAR.items():
    _SURFACES.setdefault(_lemma, []).append(_surface)


def is_cjk_word(word: str) -> bool:
    """True when the word holds a CJK character: counted by jieba token boundaries, not by English lemmas."""
    return any("\u3400" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff" for c in word)


@dataclass(frozen=True)
class Segmented:
    """A text and its jieba token boundaries: bounds[i] == 1 when a token starts (or the text ends) at offset i."""

    text: str
    bounds: bytes  # len(text) + 1 flags

    def valid(self, i: int, j: int) -> bool:
        """Does the match text[i:j] respect the tokens: inside one token, or a run of whole tokens?"""
        b = self.bounds
        return (b[i] and b[j]) or 1 not in b[i + 1:j]


@lru_cache(maxsize=_CACHE)
def segmented(text: str) -> Segmented:
    """The jieba segmentation of a text as boundary flags (cached: lyrics are counted many times)."""
    bounds = bytearray(len(text) + 1)
    bounds[len(text)] = 1
    tk = _base_pos_tokenizer().tokenizer
    with _lock:
        tokens = list(tk.cut(text, HMM=False))
    pos = 0
    for tok in tokens:
        bounds[pos] = 1
        pos += len(tok)
    return Segmented(text, bytes(bounds))


@lru_cache(maxsize=_CACHE)
def lemmas(text: str) -> tuple[str, ...]:
    """The text's words, lower-cased and lemmatised (the English side of the rule)."""
    return tuple(lemmatize_en(t) for t in _WORD.findall(text.lower()))


@lru_cache(maxsize=1 << 16)
def lemma_key(word: str) -> tuple[str, ...]:
    """An English word or phrase as the lemma sequence it must match."""
    return lemmas(word.strip())


def probes(word: str) -> list[str]:
    """Substrings every text holding an occurrence of the word contains (lower case): a cheap pre-filter, e.g. for
    an inverted index's regular-expression scan. Chinese: the word; English: its first lemma less its last letter
    (each lemma rule keeps that prefix: cities -> city, boxes -> box), and the irregular forms (people -> person)."""
    w = word.strip().lower()
    if not w:
        return []
    if is_cjk_word(w):
        return [w]
    key = lemma_key(w)
    if not key:
        return []
    first = key[0]
    return sorted({first[:-1] or first, *_SURFACES.get(first, ())})


_CJK = "\u3400-\u9fff\uf900-\ufaff"
_WORD_CHAR = rf"(?:(?![{_CJK}])[^\W_])"
_ALNUM = re.compile(_WORD_CHAR)


def surfaces(text: str) -> dict[str, list[str]]:
    """lemma -> the distinct English tokens of a (long, lower-case) text with that lemma: found once, then every
    one-word keyword is a regular-expression scan for its own surface forms only (token_starts)."""
    out: dict[str, list[str]] = {}
    for tok in set(_WORD.findall(text)):
        out.setdefault(_lemma(tok), []).append(tok)
    return out


def token_starts(text: str, word: str, by_lemma: dict[str, list[str]] | None = None) -> list[int]:
    """Offsets (in `text`, lower case) of the tokens whose lemma is a one-token English word's lemma: `count`'s
    English rule as one regular-expression scan (C speed) over a long text, e.g. every lyric joined. `by_lemma`:
    `surfaces(text)`, computed once for many words."""
    key = lemma_key(word)
    if len(key) != 1 or is_cjk_word(word):
        raise ValueError(f"token_starts takes one English word, got {word!r}")
    forms = (by_lemma if by_lemma is not None else surfaces(text)).get(key[0], [])
    if not forms:
        return []
    alts = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    pattern = re.compile(rf"(?:{alts})(?!{_WORD_CHAR})(?!'{_WORD_CHAR})")  # literal first: re's fast search
    return [i for m in pattern.finditer(text) if _token_start(text, i := m.start())]


def _token_start(text: str, i: int) -> bool:
    """Does a token start at i (no letter or digit of an alphabetic script, nor one and an apostrophe, before)?"""
    if i == 0:
        return True
    c = text[i - 1]
    if _ALNUM.match(c):
        return False
    return not (c == "'" and i >= 2 and _ALNUM.match(text[i - 2]))


@lru_cache(maxsize=1 << 16)
def _lemma(token: str) -> str:
    return lemmatize_en(token)


def _greedy(starts: Iterable[int], length: int) -> int:
    """Non-overlapping count of matches of one length, left to right."""
    n, free = 0, -1
    for s in sorted(starts):
        if s >= free:
            n, free = n + 1, s + length
    return n


def count(text: str, word: str) -> int:
    """Occurrences of one word in a text under the module's rule (0 for an empty word)."""
    w = word.strip()
    if not w or not text:
        return 0
    if not is_cjk_word(w):
        key = lemma_key(w)
        if not key:
            return 0
        toks, n = lemmas(text), len(key)
        return _greedy((i for i in range(len(toks) - n + 1) if toks[i:i + n] == key), n)
    if w not in text:
        return 0
    seg, n, found, i = segmented(text), len(w), 0, text.find(w)
    while i >= 0:
        if seg.valid(i, i + n):
            found += 1
            i = text.find(w, i + n)
        else:
            i = text.find(w, i + 1)
    return found


def _zh_spans(text: str, words: frozenset[str], max_len: int) -> dict[str, list[int]]:
    """Start offsets of every valid match of the given Chinese words (spans enumerated once per text)."""
    seg = segmented(text)
    b = seg.bounds
    cuts = [i for i in range(len(text) + 1) if b[i]]
    found: dict[str, set[int]] = {}
    for t in range(len(cuts) - 1):
        s, e = cuts[t], cuts[t + 1]
        for i in range(s, e):  # inside one token
            for j in range(i + 1, min(e, i + max_len) + 1):
                if text[i:j] in words:
                    found.setdefault(text[i:j], set()).add(i)
        for u in range(t + 2, len(cuts)):  # runs of two or more whole tokens
            if cuts[u] - s > max_len:
                break
            if text[s:cuts[u]] in words:
                found.setdefault(text[s:cuts[u]], set()).add(s)
    return {w: sorted(v) for w, v in found.items()}


class Matcher:
    """A word list prepared once for counting in many texts (`counts(text)` == {w: count(text, w)} for each w that
    occurs): valid spans of a text are enumerated once and looked up, whatever the number of words."""

    def __init__(self, words: Iterable[str]) -> None:
        self.words = [w for w in dict.fromkeys(words) if w and w.strip()]
        self._zh: dict[str, list[str]] = {}
        self._en: dict[tuple[str, ...], list[str]] = {}
        for w in self.words:
            if is_cjk_word(w):
                self._zh.setdefault(w.strip(), []).append(w)
            elif key := lemma_key(w):
                self._en.setdefault(key, []).append(w)
        self._zh_set = frozenset(self._zh)
        self._zh_max = max(map(len, self._zh), default=0)
        self._en_max = max(map(len, self._en), default=0)

    def counts(self, text: str) -> Counter[str]:
        out: Counter[str] = Counter()
        if not text:
            return out
        if self._zh:
            for w, got in _zh_spans(text, self._zh_set, self._zh_max).items():
                c = _greedy(got, len(w))
                for orig in self._zh[w]:
                    out[orig] = c
        if self._en:
            toks, starts = lemmas(text), {}
            for i in range(len(toks)):
                for n in range(1, min(self._en_max, len(toks) - i) + 1):
                    if toks[i:i + n] in self._en:
                        starts.setdefault(toks[i:i + n], []).append(i)
            for key, got in starts.items():
                c = _greedy(got, len(key))
                for orig in self._en[key]:
                    out[orig] = c
        return out


def occurrences(text: str, words: Collection[str]) -> Counter[str]:
    """Occurrences of each word in a text (only words that occur appear), each counted by `count`'s rule."""
    words = [w for w in dict.fromkeys(words) if w and w.strip()]
    if len(words) > _BATCH:
        return Matcher(words).counts(text)
    out: Counter[str] = Counter()
    for w in words:
        c = count(text, w)
        if c:
            out[w] = c
    return out


def contains(text: str, words: Iterable[str]) -> bool:
    """True when any of the words occurs in the text under the module's rule (a ground-truth hit)."""
    return any(count(text, w) for w in words)


def contains_any(lyrics: str, words: Iterable[str]) -> bool:
    """True when any word occurs in the lyrics by this module's rule (jieba token boundaries for Chinese, lemmas
    for English): the ground truth's hit, the same occurrences the network links and KM counts."""
    return contains(lyrics, words)
