"""One CC-CEDICT sense matched by an English key: the record graph.cedict_index stores and graph.senses weighs."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CedictSense:
    """One kept CC-CEDICT sense matched by an English key, with what its weight is computed from."""

    head: str
    pinyin: str
    gloss: str
    rank: int  # 1-based among the entry's kept senses
    part: int  # 0-based position of the key among the gloss's comma/semicolon parts
    senses: int  # kept senses in the entry (rank counts them all)
    variant: bool  # the entry is also a variant of another word
    mismatch: bool  # matched only through an irregular lemma
    entry: str  # every kept sense of the entry, '/'-joined (the candidate's other meanings)
    simplified: str = ""  # the entry's simplified headword (how current a traditional headword is)
    verb_first: bool = False  # the entry's first sense is a verb: a later noun sense is a minor use
    merged: bool = False  # a traditional entry merged into a simplified headword whose own entry has noun senses
