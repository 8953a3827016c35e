"""How a corpus's lyrics use a Chinese word: which of its CC-CEDICT senses the corpus's own words carry.

A keyword is a word of one corpus. CC-CEDICT lists 局 as /office/situation/; classical ci write it in 棋局, 时局,
局面, 结局 and never in 邮局 or 局长. The corpus words that contain a keyword (its jieba tokens, with counts) are read
through their own CC-CEDICT glosses, each gloss part's head widened by its WordNet synonyms and direct hypernyms
in its commonest noun sense ('cart' carries 'vehicle'). A sense of the keyword is *carried* by such a word when
the two share a meaning word: the sense's gloss, and the synonyms and direct hypernyms of the WordNet sense the
bridge chose for the tag (pencil and pen are both a writing implement: one meaning of 笔).

A sense is one the corpus does not use when
- the language at large does not use it: under LANGUAGE_SHARE of the occurrences of jieba's dictionary words
  containing the keyword (its word counts, a general corpus) carry it. A sense the language uses is the word's
  common sense, which a reader of any corpus knows (洲 is a continent in 亚洲, though ci write it for islets); and
- the corpus does not use it either: it holds at least USAGE_EVIDENCE occurrences of USAGE_WORDS distinct defined
  words containing the keyword and fewer than USAGE_SHARE of them carry the sense, or it holds fewer (too little to
  tell: the language decides; a corpus that uses the sense keeps it).
An image-keyword edge drawn through such a sense is discounted (x UNUSED): a photo of an office reaches neither 局
(ci: 棋局, 时局; the language: 局面, 局部, 布局) nor 衙 (衙门 'yamen', 衙役, 衙内).

The keyword's own bare token (局 alone) says nothing about its sense and is not counted. A corpus without Chinese
songs has no usage: English keywords are matched as the same word, never through a CC-CEDICT sense, and are
unchanged.
"""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from graph.cedict_index import CedictIndex, is_cjk
from graph.occurrences import segmented
from graph.wordnet_senses import WordNetSenses, bag

USAGE_EVIDENCE = 5  # occurrences of defined corpus words containing the keyword needed before a sense is judged
USAGE_WORDS = 2  # ... spread over at least this many distinct words
USAGE_SHARE = 0.1  # a sense carried by fewer than this share of those occurrences is one the corpus does not use
LANGUAGE_SHARE = 0.15  # ... and fewer than this share of the language's words containing it (jieba's dictionary)
UNUSED = 0.4  # the factor of an edge drawn through such a sense
_PARTS, _PAREN, _WORDS = re.compile(r"[;,]"), re.compile(r"\([^)]*\)"), re.compile(r"[a-z]+")


@dataclass(frozen=True)
class SenseUsage:
    """How much of a keyword's corpus usage carries one of its senses."""

    head: str
    share: float  # occurrences of defined words containing head that carry the sense / all of them
    evidence: int  # occurrences of defined words containing head
    words: int  # distinct such words
    examples: tuple[str, ...]  # the commonest words, with '+' where they carry the sense
    language: float | None = None  # the same share over the language's words (jieba's dictionary counts)

    @property
    def judged(self) -> bool:
        return self.evidence >= USAGE_EVIDENCE and self.words >= USAGE_WORDS

    @property
    def unused(self) -> bool:
        if not self.judged:  # too few words in the corpus: the language's usage decides alone
            return self.language is not None and self.language < LANGUAGE_SHARE
        return self.share < USAGE_SHARE and (self.language is None or self.language < LANGUAGE_SHARE)

    @property
    def factor(self) -> float:
        return UNUSED if self.unused else 1.0

    def why(self) -> str:
        lang = f", language {self.language:.0%}" if self.language is not None else ""
        if not self.judged:
            return f"corpus usage: {self.evidence} occurrences of {self.words} words{lang}"
        return (f"corpus usage {self.share:.0%} of {self.evidence} occurrences of {self.words} words "
                f"({' '.join(self.examples)}){lang}")


class CorpusUsage:
    """The jieba tokens of a corpus's Chinese lyrics with their counts, and the sense profile of each word in them."""

    def __init__(self, counts: Counter[str], cedict: CedictIndex | None = None, wordnet: WordNetSenses | None = None,
                 reference: CorpusUsage | Callable[[], CorpusUsage] | None = None):
        self.counts = counts
        self._reference = reference
        self._defined: dict[str, list[tuple[str, int, frozenset[str]]]] = {}
        self._cedict = cedict
        self.wordnet = wordnet
        self._by_char: dict[str, list[str]] | None = None
        self._memo: dict[tuple[str, frozenset[str]], SenseUsage] = {}
        self._glosses: dict[str, frozenset[str]] = {}

    @classmethod
    def from_texts(cls, texts: Iterable[str], cedict: CedictIndex | None = None) -> CorpusUsage:
        """Count the jieba tokens (the segmentation graph.occurrences counts by) of Chinese texts."""
        counts: Counter[str] = Counter()
        for text in texts:
            seg = segmented(text)
            starts = [i for i, b in enumerate(seg.bounds) if b]
            counts.update(tok for i, j in zip(starts, starts[1:]) if is_cjk(tok := text[i:j].strip()))
        return cls(counts, cedict)

    @classmethod
    def of_corpus(cls, corpus, cedict: CedictIndex | None = None) -> CorpusUsage | None:
        """The usage of a corpus's Chinese lyrics (the texts graph.occurrences segments: one cache); None when it has none."""
        texts = [s.lyrics for s in corpus.songs if s.language == "zh"]
        if not texts:
            return None
        usage = cls.from_texts(texts, cedict)
        usage.reference = language_usage  # built when a sense the corpus does not use is first weighed
        return usage

    def bind(self, cedict: CedictIndex, wordnet: WordNetSenses | None) -> None:
        """Read glosses through the caller's dictionary and WordNet (a bridge's: loaded once per process)."""
        if self._cedict is None:
            self._cedict = cedict
        if self.wordnet is None:
            self.wordnet = wordnet

    @property
    def cedict(self) -> CedictIndex:
        if self._cedict is None:
            from graph.cedict_index import load_cedict

            self._cedict = load_cedict()
        return self._cedict

    def containing(self, head: str) -> list[tuple[str, int]]:
        """Corpus words longer than `head` that contain it, commonest first."""
        if self._by_char is None:
            self._by_char = {}
            for w in self.counts:
                if len(w) > 1:
                    for ch in set(w):
                        self._by_char.setdefault(ch, []).append(w)
        words = [w for w in self._by_char.get(head[0], ()) if head in w and w != head]
        return sorted(((w, self.counts[w]) for w in words), key=lambda x: (-x[1], x[0]))

    def meaning(self, word: str) -> frozenset[str]:
        """The content lemmas of a word's kept CC-CEDICT glosses (empty: the dictionary does not define it)."""
        if word not in self._glosses:
            glosses = [g for _, _, g in self.cedict.zh(word)]
            words = frozenset().union(*(bag(g) for g in glosses))
            if self.wordnet is not None:
                # the head of each gloss part names the word's meaning, or a kind of it: 'cart' carries
                # 'vehicle' (its WordNet synonyms and direct hypernyms, in its commonest noun sense)
                heads = {h[-1] for g in glosses for part in _PARTS.split(_PAREN.sub("", g))
                         if (h := _WORDS.findall(part.lower()))}
                words = words.union(*(self.wordnet.synonyms(k[0]) for h in heads
                                      if (k := self.wordnet.wn.noun_senses(h)[:1])))
            self._glosses[word] = words
        return self._glosses[word]

    def defined(self, head: str) -> list[tuple[str, int, frozenset[str]]]:
        """(word, count, meaning) of the corpus words containing `head` that CC-CEDICT defines, commonest first."""
        if head not in self._defined:
            self._defined[head] = [(w, c, m) for w, c in self.containing(head) if (m := self.meaning(w))]
        return self._defined[head]

    @property
    def reference(self) -> CorpusUsage | None:
        """The language's usage a corpus's is read beside (resolved when first needed: jieba's dictionary)."""
        if callable(self._reference) and not isinstance(self._reference, CorpusUsage):
            self._reference = self._reference()
        return self._reference

    @reference.setter
    def reference(self, value: CorpusUsage | Callable[[], CorpusUsage] | None) -> None:
        self._reference = value

    def sense(self, head: str, meaning: frozenset[str]) -> SenseUsage:
        """How much of the corpus's use of `head` carries a sense whose meaning words are `meaning` (the language's
        share is looked up only for a sense the corpus does not use)."""
        key = (head, meaning)
        if key not in self._memo:
            total = carried = 0
            defined = self.defined(head)
            for _, c, m in defined:
                total += c
                carried += c * (not m.isdisjoint(meaning))
            examples = tuple(w + "+" * (not m.isdisjoint(meaning)) for w, _, m in defined[:5])
            u = SenseUsage(head, carried / total if total else 0.0, total, len(defined), examples)
            if (not u.judged or u.share < USAGE_SHARE) and self.reference is not None:
                self.reference.bind(self.cedict, self.wordnet)
                ref = self.reference.sense(head, meaning)
                u = dataclasses.replace(u, language=ref.share if ref.judged else None)
            self._memo[key] = u
        return self._memo[key]


@lru_cache(maxsize=1)
def language_usage() -> CorpusUsage:
    """The language at large as a corpus: jieba's dictionary words of two or more characters with their counts
    (what a reader knows a word in, whatever one corpus does with it)."""
    import jieba

    from graph.senses import word_frequency

    word_frequency("")  # initialises jieba's dictionary
    return CorpusUsage(Counter({w: int(f) for w, f in jieba.dt.FREQ.items() if f and len(w) > 1 and is_cjk(w)}))
