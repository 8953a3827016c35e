"""The bridge as a read-only lexicon mapping, for code written against a corpus lexicon.tsv dict (the ImageNet tagger)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class EnglishWeighted(Protocol):
    """What the lexicon asks of a bridge (graph.bridge.Bridge): an English word's scored Chinese candidates."""

    def english_weighted(self, text: str) -> list: ...


class BridgeLexicon(Mapping):
    """A read-only English word -> [vocabulary keywords] mapping backed by the bridge, for code written against a
    lexicon.tsv dict (the ImageNet tagger): lexicon.get('moon', []) -> ['月'] with no lexicon.tsv at all."""

    def __init__(self, bridge: EnglishWeighted, vocab: Iterable[str]):
        self.bridge, self.vocab = bridge, frozenset(vocab)
        self._memo: dict[str, list[str]] = {}

    def __getitem__(self, word: str) -> list[str]:
        if word not in self._memo:
            self._memo[word] = sorted({r.target for r in self.bridge.english_weighted(word) if r.kept} & self.vocab)
        if not self._memo[word]:
            raise KeyError(word)
        return self._memo[word]

    def __iter__(self):
        return iter(k for k, v in self._memo.items() if v)

    def __len__(self) -> int:
        return sum(1 for v in self._memo.values() if v)
