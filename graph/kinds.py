"""Kind back-off: an image whose tags reach no keyword reaches the keywords of the kinds its tags name.

The bridge (graph.bridge) already follows a tag's WordNet hypernyms, but only KIND_STEPS deep and at KIND_DECAY per
step, so a kind's edge seldom reaches EDGE_THRESHOLD (penguin -> ... -> bird is 4 steps). For an image none of whose
texts reaches a keyword, even through graph.captions' file-name back-off, this module walks each English noun
phrase's WordNet sense up its hypernyms, level by level, at most KIND_DEPTH steps, never through a synset too general
to be pictured (graph.senses.TOO_GENERAL: entity, object, artifact, device ...) or one above KIND_MAX_SPAN
descendants (animal, person, plant), and stops at the FIRST level whose lemmas reach a keyword: the nearest kind
(penguin -> bird -> 鸟, tomato -> vegetable -> 菜, taxi -> car -> 车). What keeps the walk on what a picture shows:
- the phrase's sense, chosen in context, must be its commonest WordNet noun sense, physical, not a named instance
  (pink the colour is not the flower; two the number is not the playing card);
- a hypernym's lemma counts only where that hypernym is the commonest noun sense of the lemma as the bridge looks
  it up (vehicle -> 车; arms, looked up as 'arm', does not reach 臂), and only through candidates the bridge keeps
  (weight >= EDGE_THRESHOLD, weighed by the sentence encoder when the bridge has one); an English vocabulary's
  word is reached by the kind's own name.
Every such edge weighs KIND_WEIGHT, the weakest edge the network draws, never more than a direct edge.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from graph.bridge import Bridge
from graph.cedict_index import english_key
from graph.senses import EDGE_THRESHOLD, TOO_GENERAL, bag
from graph.tag_text import describe, image_context, noun_phrases

# On by default only where its own edges, labelled blind, are at least as precise as the build they join (fresh9:
# the default build's, 0.708; tests/test_kinds.py). kinds2 (default bridge, session 6's candidates) 0.847 would pass,
# but kinds3, the same back-off once graph.vocabulary's character candidates are in (车 鸟 轮 ... reached through
# vehicle, bird, wheel), is 0.447 (ships and aircraft -> 车), and kinds1 (encoder bridge) 0.400: off, opt-in
KIND_BACKOFF = False
KIND_DEPTH = 4  # hypernym steps walked at most (kingfisher -> coraciiform bird -> bird: 2; elephant -> ... -> mammal: 3)
KIND_WEIGHT = EDGE_THRESHOLD  # a back-off edge is the weakest edge drawn, never above a direct one
KIND_LEMMAS = 3  # lemmas of a hypernym synset looked up
# a kind with more WordNet descendants than this names a kingdom, not what a picture shows: animal (4,016), person
# (10,296), plant (4,487), food (1,526) stop the walk; bird (871), fish (617), tree (1,014), vehicle (527) do not
KIND_MAX_SPAN = 1200
HYPONYM_POINTERS = ("~", "~i")


def english_texts(image) -> list[str]:
    """The image's English caption and tags (what names the kinds it shows)."""
    out = [image.caption] if image.language == "en" and image.caption and image.caption.strip() else []
    return out + ([t for t in image.tags if t.strip()] if image.tag_language == "en" else [])


def phrase_senses(bridge: Bridge, text: str, context: frozenset[str]) -> list[tuple[str, tuple[str, str]]]:
    """(phrase, its chosen WordNet noun sense) of each noun phrase of a text: the whole phrase where WordNet knows
    it ('pickup truck', 'mobile phone'), else its head ('black telephone' -> telephone), chosen in context."""
    wn = bridge.wordnet
    if wn is None:
        return []
    out = []
    whole = english_key(text)
    units = [whole] if whole and wn.senses(whole) else [" ".join(c) if wn.senses(" ".join(c)) else c[-1]
                                                      for c in noun_phrases(text)]
    for unit in dict.fromkeys(units):
        key, _ = wn.choose(unit, context - bag(unit))
        # the sense the context chooses must be the word's commonest noun sense (pink the colour, not the flower; two
        # the number, not the playing card), a kind of thing (an act or an idea has no picture), and a common noun
        if key is not None and key == wn.senses(unit)[0] and wn.physical(key) and not wn.instance(key):
            out.append((unit, key))
    return out


def kind_reach(image, bridge: Bridge, vocab: set[str] | frozenset[str], labels: Iterable[str] = ()
               ) -> tuple[Counter[str], dict[str, list[str]]]:
    """(keyword weights, keyword -> why) through the nearest kinds of the image's English phrases (module
    docstring); empty when no phrase has a kind within KIND_DEPTH that reaches the vocabulary."""
    counts: Counter[str] = Counter()
    why: dict[str, list[str]] = {}
    wn = bridge.wordnet
    if wn is None:
        return counts, why
    context = image_context(image, labels)
    description = describe(image, labels) if bridge.relatedness is not None else ""
    for text in english_texts(image):
        for unit, key in phrase_senses(bridge, text, context):
            for kw, path in nearest_kinds(bridge, key, vocab, context, description).items():
                counts[kw] = KIND_WEIGHT
                why.setdefault(kw, []).append(f"{text} (kind: {' -> '.join([unit, *path])})")
    return counts, why


def nearest_kinds(bridge: Bridge, key: tuple[str, str], vocab: set[str] | frozenset[str],
                  context: frozenset[str] = frozenset(), description: str = "") -> dict[str, list[str]]:
    """keyword -> hypernym path (lemma names) of the first hypernym level of a synset whose lemmas reach the
    vocabulary, walking at most KIND_DEPTH steps and never through a TOO_GENERAL synset."""
    wn = bridge.wordnet
    frontier: list[tuple[tuple[str, str], list[str]]] = [(key, [])]
    seen = {key}
    for _ in range(KIND_DEPTH):
        nxt, found = [], {}
        for k, path in frontier:
            for h in wn.wn.synset(k).hypernyms():
                lemmas = wn.wn.synset(h).lemmas
                if h in seen or any(lem in TOO_GENERAL for lem in lemmas) or span(wn.wn, h) > KIND_MAX_SPAN:
                    continue
                seen.add(h)
                here = [*path, lemmas[0]]
                nxt.append((h, here))
                for lemma in lemmas[:KIND_LEMMAS]:
                    # the kind is what the lemma, as the bridge looks it up (arms -> arm), first means
                    if not wn.lemma_means(english_key(lemma) or lemma, h):
                        continue
                    named = here if lemma == lemmas[0] else [*path, lemma]
                    if (english_key(lemma) or lemma) in vocab:  # an English vocabulary holds the kind itself
                        found.setdefault(english_key(lemma) or lemma, named)
                    for r in bridge.english_weighted(lemma, context, h, description=description):
                        if r.kept and r.target in vocab:
                            found.setdefault(r.target, named)
        if found:
            return found
        frontier = nxt
    return {}


_SPAN: dict[tuple[int, tuple[str, str]], int] = {}


def span(data, key: tuple[str, str]) -> int:
    """How many synsets lie below a synset (its hyponyms and instances, transitively), memoised per WordNet."""
    memo = (id(data), key)
    if memo not in _SPAN:
        seen, frontier = {key}, [key]
        while frontier:
            nxt = []
            for k in frontier:
                for sym, off, pos, _, _ in data.synset(k).pointers:
                    if sym in HYPONYM_POINTERS and (pos, off) not in seen:
                        seen.add((pos, off))
                        nxt.append((pos, off))
            frontier = nxt
        _SPAN[memo] = len(seen) - 1
    return _SPAN[memo]
