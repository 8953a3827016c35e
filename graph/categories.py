"""A category tag beside the thing it names (vehicle|airplane, building|house): which of the category's Chinese words
fit the thing.

Catalogues tag a picture with what it is and with the categories it belongs to. A category tag's Chinese word is
right only when it covers the shown thing: 车 /car/vehicle/machine/ translates 'vehicle', but the vehicles it names
are cars, so it is wrong for an airplane, a sledge or a tugboat tagged 'vehicle', and right for a truck or a
tractor. In WordNet terms:

- a text of the image is a category when the sense the image's other words choose for it (physical only) is a
  proper hypernym (any number of steps) of the sense chosen for another of its texts, the specific one;
- a Chinese candidate of the category is judged by its main (first kept) CC-CEDICT meaning, when WordNet files
  its words, in their commonest noun sense, below the category (car below vehicle): its sub-kinds; a main meaning
  that names the category itself (人物 /person/..., 衣衫 /clothing/...) has none;
- it fits when one of its sub-kinds shares a hypernym (or is one) strictly below the category with a specific
  thing (car and truck are both motor vehicles; car and airplane meet only at vehicle);
- a candidate with no sub-kind (鸟 /bird/goddam/ beside kingfisher|bird) says nothing against the thing and stays.

The category's edge to an unfit word is not drawn (graph.bridge.image_reach); the word may still be reached from the
image's other texts, and the category tag stays context. No word list: only WordNet's hypernyms and CC-CEDICT.
"""
from __future__ import annotations

from collections.abc import Iterable

from graph.cedict_index import CedictIndex, english_key, is_cjk
from graph.tag_text import noun_phrases
from graph.wordnet_senses import WordNetSenses, bag

Key = tuple[str, str]


def text_sense(wn: WordNetSenses, text: str, context: frozenset[str]) -> Key | None:
    """The physical WordNet sense an English tag names in context: the whole text when WordNet knows it, else the
    head noun of its last phrase (its modifiers join the context); None for an abstract or unknown one."""
    key = english_key(text)
    if not key:
        return None
    if not wn.senses(key):
        chunks = noun_phrases(text)
        if not chunks:
            return None
        key, context = chunks[-1][-1], context | frozenset(chunks[-1][:-1])
    chosen = wn.choose(key, context - bag(text))[0]
    return chosen if chosen is not None and wn.physical(chosen) else None


def categories(wn: WordNetSenses | None, texts: Iterable[str], context: frozenset[str]
               ) -> dict[str, tuple[Key, list[Key]]]:
    """English text -> (its sense, the senses of the image's other texts it is a proper hypernym of), for each text
    that is a category of another (module docstring)."""
    if wn is None:
        return {}
    senses = {t: s for t in dict.fromkeys(texts) if (s := text_sense(wn, t, context)) is not None}
    out: dict[str, tuple[Key, list[Key]]] = {}
    for text, cat in senses.items():
        below = [s for s in set(senses.values()) if s != cat and cat in wn.ancestors(s)]
        if below:
            out[text] = (cat, below)
    return out


def sub_kinds(wn: WordNetSenses, cedict: CedictIndex, word: str, cat: Key) -> list[Key]:
    """The commonest noun senses of a Chinese word's main (first kept) CC-CEDICT meaning that lie strictly below
    `cat` (车 /car/vehicle/: car): a word whose main meaning is the category itself (衣衫 /clothing/unlined upper
    garment/, 人物 /person/character in a play/, 人 /man; person; people/) covers the category's every kind."""
    out: list[Key] = []
    senses = cedict.zh(word)
    if not senses:
        return out
    gloss = senses[0][2]
    for lemma in {english_key(gloss), *bag(gloss)}:
        first = wn.wn.noun_senses(lemma)[:1]
        if first and first[0] == cat:
            return []  # 人 /man; person; people/: the main meaning names the category too
        if first and cat in wn.ancestors(first[0]):
            out.append(first[0])
    return out


def fits(wn: WordNetSenses, cedict: CedictIndex, word: str, cat: Key, things: list[Key]) -> bool:
    """True unless the word names sub-kinds of the category and none of them meets a shown thing below it."""
    if not is_cjk(word):
        return True
    kinds = sub_kinds(wn, cedict, word, cat)
    if not kinds:
        return True
    for thing in things:
        shared = {a for a in wn.ancestors(thing) if a != cat and cat in wn.ancestors(a)}
        if any(wn.ancestors(k) & shared for k in kinds):
            return True
    return False


def opposites(wn: WordNetSenses | None, texts: Iterable[str], context: frozenset[str]) -> frozenset[str]:
    """English texts whose sense in context WordNet lists as the antonym of another text's (man|woman, boy|girl,
    male|female): tags that list both sides name the categories a picture is filed under, not what it shows (an
    emoji tagged man|woman|person shows one of them, and which one only its caption says)."""
    if wn is None:
        return frozenset()
    senses = {t: s for t in dict.fromkeys(texts) if (s := text_sense(wn, t, context)) is not None}
    shown = set(senses.values())
    return frozenset(t for t, s in senses.items()
                     if any(sym == "!" and (pos, off) in shown for sym, off, pos, _, _ in wn.wn.synset(s).pointers))
