"""How an image's English tags and caption are read before the bridge looks them up: noun phrases of lemmas, the
compounds WordNet names as one concept, the words that name nothing shown, and the image's context and description.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from graph.cedict_index import english_key
from graph.keywords import lemmatize_en, stopwords
from graph.senses import ATTRIBUTE_FILE, WordNetSenses, bag

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
# jieba part-of-speech flags of caption words that name no shown thing: numerals and quantities (一个), positions (左)
UNSHOWN_POS = frozenset({"m", "mq", "f"})


def unshown_words(text: str) -> frozenset[str]:
    """Words of a Chinese tag or caption that jieba tags only as a numeral, a quantity or a position (一个 in
    一个橘子, 左 in 向左): they name nothing the image shows, so they draw no edge."""
    import jieba.posseg

    flags: dict[str, set[str]] = {}
    for pair in jieba.posseg.cut(text):
        flags.setdefault(pair.word, set()).add(pair.flag)
    return frozenset(w for w, f in flags.items() if f <= UNSHOWN_POS)


def compound_span(wn: WordNetSenses, chunk: list[str]) -> str | None:
    """The longest run of a noun phrase's last words (two or more) that WordNet names as one noun: 'left pointing
    magnifying glass' -> 'magnifying glass', 'baseball cap' -> itself; None when there is none."""
    for start in range(len(chunk) - 1):
        span = " ".join(chunk[start:])
        if wn.senses(span):
            return span
    return None


def compound_words(wn: WordNetSenses | None, texts: Iterable[str]) -> frozenset[str]:
    """Words of the texts that stand inside a run of two or more words WordNet names as one noun, that its
    definition and hypernyms do not name and whose commonest sense is a thing ('ice' in 'ice cream cone': frozen
    dessert containing cream; not 'chess' in 'chess piece': a figure used in playing chess; not 'blue' in 'blue
    jean': a colour): beside such a text, the bare word as a tag of its own is a piece of that concept's name, not
    what the image shows (graph.bridge.image_reach)."""
    words: set[str] = set()
    if wn is None:
        return frozenset()
    for text in texts:
        for chunk in noun_phrases(text):
            for i in range(len(chunk) - 1):
                for j in range(len(chunk), i + 1, -1):
                    if senses := wn.senses(" ".join(chunk[i:j])):
                        # a word that is first a noun, not an attribute: a colour ('blue' in blue jean) still shows
                        words.update(w for w in set(chunk[i:j]) - wn.described(senses[0])
                                     if (first := wn.wn.noun_senses(w)[:1]) and wn.lexfile(first[0]) != ATTRIBUTE_FILE)
                        break
    return frozenset(words)


FOOD_FILE = 13  # noun.food: a dish's modifier is what it is made with (pepperoni pizza, ice water)
MERONYMS = ("%s", "%p", "%m")  # WordNet pointers to the substance, parts and members a synset is made of


def _made_of(wn: WordNetSenses, key: tuple[str, str]) -> frozenset[str]:
    """Lemma words of what WordNet says the thing is made of (an ice cube: ice)."""
    return frozenset(bag(" ".join(lem for sym, off, pos, _, _ in wn.wn.synset(key).pointers if sym in MERONYMS
                                  for lem in wn.wn.synset((pos, off)).lemmas)))


def compound_modifiers(wn: WordNetSenses | None, text: str) -> frozenset[str]:
    """Words before the last of a run of two or more words WordNet names as one physical thing ('fire' of fire
    engine, 'paper' of paper clip, 'bell' of bell pepper): a back-off cut that ends on one names what the thing is
    for or looks like, not the thing, even where its definition names the word (a fire engine goes to the site of a
    fire). Kept: the whole the thing is part of ('clock' of clock face), what it is made of ('ice' of ice cube),
    the modifiers of a food (pepperoni pizza, ice water: ingredients), a kind it is, named in one word ('light' of
    light bulb, a source of light), a colour ('blue' of blue sky), and the words of an act or event (horse racing shows horses)."""
    words: set[str] = set()
    for chunk in noun_phrases(text) if wn is not None else []:
        for i in range(len(chunk) - 1):
            for j in range(len(chunk), i + 1, -1):
                if senses := wn.senses(" ".join(chunk[i:j])) or wn.senses("".join(chunk[i:j])):
                    if wn.physical(senses[0]) and wn.lexfile(senses[0]) != FOOD_FILE:
                        kinds = {lem for k in wn.ancestors(senses[0]) - {senses[0]} for lem in wn.wn.synset(k).lemmas}
                        words.update(w for w in set(chunk[i:j - 1]) - wn.wholes(senses[0]) - kinds - _made_of(wn, senses[0])
                                     if (first := wn.wn.noun_senses(w)[:1]) and wn.lexfile(first[0]) != ATTRIBUTE_FILE)
                    break
    return frozenset(words)


def modifier_tags(wn: WordNetSenses | None, tags: Iterable[str], texts: Iterable[str]) -> frozenset[str]:
    """One-word tags that are a modifier of a thing another of the texts names ('fire' beside 'fire truck', 'baseball'
    beside 'baseball glove', compound_modifiers): they name what that thing is for, not a second thing shown."""
    texts = list(texts)
    mods = {t: compound_modifiers(wn, t) for t in texts}
    return frozenset(t for t in tags if len(english_key(t).split()) == 1
                     and any(english_key(t) in m for o, m in mods.items() if o != t))


# words that end a noun phrase in a tag or caption: prepositions, conjunctions, and the articles before a new one
PHRASE_BREAKS = frozenset("with and or of behind in on over under above below beside between for from at by into "
                          "onto to without near inside outside through across against along around".split())


# breaks after which the phrase names what is absent or what the thing is for, not what is shown: 'face without
# mouth', 'trigram for lake', 'recycling symbol for generic materials'
UNSHOWN_AFTER = frozenset({"without", "for"})


def noun_phrases(text: str) -> list[list[str]]:
    """A tag or caption as noun phrases of lemmas (function words dropped): 'Owl on a Branch' -> [[owl], [branch]];
    a phrase after 'without' or 'for' (UNSHOWN_AFTER) is left out: 'face without mouth' -> [[face]]."""
    stop = stopwords("en")
    chunks: list[list[str]] = [[]]
    unshown = False
    for w in _WORD.findall(text.lower()):
        if w in PHRASE_BREAKS:
            unshown = w in UNSHOWN_AFTER
            chunks.append([])
            continue
        if unshown:
            continue
        lemma = lemmatize_en(w)
        if w in stop or lemma in stop or len(lemma) < 2:
            continue
        chunks[-1].append(lemma)
    return [c for c in chunks if c]


def image_context(image, labels: Iterable[str] = ()) -> frozenset[str]:
    """Content lemmas of an image's English tags and caption, and of any labels a caller passes (ImageNet
    classes): the context its tags' senses are chosen in."""
    words: set[str] = set()
    if image.tag_language == "en":
        for t in image.tags:
            words |= bag(t)
    if image.language == "en" and image.caption:
        words |= bag(image.caption)
    for label in labels:
        words |= bag(label)
    return frozenset(words)


def describe(image, labels: Iterable[str] = ()) -> str:
    """An image as one text for the sentence encoder: its tags, then its caption, then any labels (ImageNet
    classes) a caller passes: 'animal, bird, owl. 猫头鹰。'."""
    text = ", ".join(t.strip() for t in image.tags if t.strip())
    for extra in (image.caption, ", ".join(labels)):
        if extra and extra.strip():
            text = f"{text}. {extra.strip()}" if text else extra.strip()
    return text
