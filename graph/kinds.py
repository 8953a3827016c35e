"""Kind back-off: an image whose texts reach no keyword reaches the keywords of the kinds its English texts name.

The bridge (graph.bridge) already follows a tag's WordNet hypernyms, but only KIND_STEPS deep and at KIND_DECAY per
step, so a kind's edge seldom reaches EDGE_THRESHOLD (penguin -> ... -> bird is 4 steps). For an image none of whose
texts reaches a keyword, even through graph.captions' file-name back-off, this module walks each English noun
phrase's WordNet sense up its hypernyms, level by level, at any depth (the bounds below end every walk below a
kingdom: seagull -> ... -> bird is 5 steps, delivery truck -> ... -> vehicle 6), never through a synset too general
to be pictured (graph.senses.TOO_GENERAL: entity, object, artifact, device ...), one above KIND_MAX_SPAN
descendants (animal, person, plant), one filed outside THING_FILES (a medium, a book: noun.communication) or the
material a made thing is made of (card -> paper), and stops at the FIRST level whose lemmas reach a keyword: the
nearest kind (penguin -> bird -> 鸟, tomato -> vegetable -> 菜, taxi -> car -> 车). What keeps the walk on what a
picture shows:
- the texts walked: the English caption, which names the picture, else the tags (a pizza's 'restaurant' tag names
  where it is eaten, not what is shown);
- a phrase is its longest ending WordNet knows, spaced or closed up ('roasted sweet potato' -> sweet potato, 'push
  pin' -> pushpin); a word SemCor tags more often as an adjective names no thing ('electric');
- the phrase's sense, chosen in context, must be its commonest WordNet noun sense, physical, not a named instance
  (pink the colour is not the flower; two the number is not the playing card); where that sense is a plant and
  the word also names what the plant bears, the food is meant (mango -> 果, not the mango tree -> 树; onion and
  carrot, filed first as the bulb or root and then as the plant, both noun.plant, -> 菜: commonest);
- a hypernym's lemma counts only where that hypernym is the commonest noun sense of the lemma as the bridge looks
  it up (vehicle -> 车; arms, looked up as 'arm', does not reach 臂), and only through candidates the bridge keeps
  (weight >= EDGE_THRESHOLD, weighed by the sentence encoder when the bridge has one) that name the kind in their
  commonest sense (names_kind: 车 'car; vehicle' first names a car, so only wheeled vehicles reach it, not ships or
  aircraft); an English vocabulary's word is reached by the kind's own name.
Every such edge weighs KIND_WEIGHT, the weakest edge the network draws, never more than a direct edge. The walk
runs only where the bridge's `kind_backoff` setting is on (graph.bridge.DEFAULT_KIND_BACKOFF; the CLI's
--kind-backoff/--no-kind-backoff, recorded in run.json).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from graph.bridge import Bridge
from graph.cedict_index import english_key
from graph.senses import EDGE_THRESHOLD, TOO_GENERAL, bag
from graph.tag_text import describe, image_context, noun_phrases
from graph.wordnet import tagged_senses

KIND_WEIGHT = EDGE_THRESHOLD  # a back-off edge is the weakest edge drawn, never above a direct one
KIND_LEMMAS = 3  # lemmas of a hypernym synset looked up
# a kind with more WordNet descendants than this names a kingdom, not what a picture shows: animal (4,016), person
# (10,296), plant (4,487), food (1,526) stop the walk; bird (871), fish (617), tree (1,014), vehicle (527) do not
KIND_MAX_SPAN = 1200
HYPONYM_POINTERS = ("~", "~i")
# WordNet lexicographer files of things a picture shows: artifact, animal, body, food, object, plant, substance (not
# noun.communication: a newspaper or a radio broadcast is a medium of news, which 媒 'matchmaker' is not about)
THING_FILES = frozenset({5, 6, 8, 13, 17, 20, 27})
FOOD_FILE, PLANT_FILE = 13, 20  # noun.food, noun.plant


def english_texts(image) -> list[str]:
    """The image's English caption, which names what it shows; its English tags only where it has none: tags also
    name what goes with the thing (a pizza tagged 'restaurant', a bed 'hotel', a whisk 'kitchen'), whose kinds are
    not the picture's (a restaurant is a building, 馆)."""
    if image.language == "en" and image.caption and image.caption.strip():
        return [image.caption]
    return [t for t in image.tags if t.strip()] if image.tag_language == "en" else []


def phrase_senses(bridge: Bridge, text: str, context: frozenset[str]) -> list[tuple[str, tuple[str, str]]]:
    """(phrase, its chosen WordNet noun sense) of each noun phrase of a text: the whole phrase where WordNet knows
    it ('pickup truck', 'mobile phone'), else its head ('black telephone' -> telephone), chosen in context."""
    wn = bridge.wordnet
    if wn is None:
        return []
    out = []
    whole = english_key(text)
    units = [whole] if whole and wn.senses(whole) else [phrase_unit(wn, c) for c in noun_phrases(text)]
    tagged = tagged_senses(wn.wn.folder)
    for unit in dict.fromkeys(units):
        pos = tagged.get(unit, {})
        if pos.get("a", 0) > pos.get("n", 0):
            continue  # a word SemCor tags more often as an adjective: 'electric' (guitar) is no electric car
        if other_sense_named(wn, unit, context):
            continue
        key, _ = wn.choose(unit, context - bag(unit))
        # the sense the context chooses must be the word's commonest noun sense (pink the colour, not the flower; two
        # the number, not the playing card), a kind of thing (an act or an idea has no picture), and a common noun
        if key is not None and commonest(wn, unit, key) and wn.physical(key) and not wn.instance(key):
            out.append((unit, food_sense(wn, unit, key)))
    return out


def commonest(wn, unit: str, key: tuple[str, str]) -> bool:
    """True when a sense is the word's commonest noun sense, or both are plants and the word names what a plant
    bears: WordNet files 'onion', 'carrot', 'pecan' first as the edible part and then as the whole plant (both
    noun.plant), and the chooser prefers the plant over a part defined by it; either way the food is meant
    (food_sense: onion -> vegetable -> 菜)."""
    first = wn.senses(unit)[0]
    if key == first:
        return True
    return wn.lexfile(key) == wn.lexfile(first) == PLANT_FILE and food_sense(wn, unit, key) != key


def other_sense_named(wn, unit: str, context: frozenset[str]) -> bool:
    """True when another word of the image is, in its commonest sense, a kind of one of the phrase's rarer senses:
    that sense is meant ('amphibian' beside 'frog' is the animal, not WordNet's commonest amphibious vehicle)."""
    rarer = frozenset(wn.senses(unit)[1:])
    return bool(rarer) and any(wn.is_a(wn.senses(w)[0], rarer) for w in context - bag(unit) if wn.senses(w))


def phrase_unit(wn, words: list[str]) -> str:
    """The longest ending of a noun phrase WordNet knows as a noun, as written or closed up ('roasted sweet potato'
    -> sweet potato, not potato; 'push pin' -> pushpin, not the jewelry pin), else its head word."""
    for i in range(len(words) - 1):
        for unit in (" ".join(words[i:]), "".join(words[i:])):
            if wn.senses(unit):
                return unit
    return words[-1]


def food_sense(wn, unit: str, key: tuple[str, str]) -> tuple[str, str]:
    """The word's food sense where its commonest sense is the plant that bears it (WordNet files 'mango', 'apricot',
    'sweet potato' first as the plant, noun.plant, then as what it bears, noun.food): what is pictured and named by
    that one word is the fruit (the tree is a 'mango tree'), so its kinds are the fruit's (果), not the tree's (树)."""
    if wn.lexfile(key) != PLANT_FILE:
        return key
    # what a plant bears: a fruit or nut (fruit: the ripened reproductive body of a seed plant) or produce (fresh
    # fruits and vegetables grown for the market), not a drink named after it (rose: blush wine)
    borne = frozenset(wn.senses("fruit")[:1] + wn.senses("produce")[:1])
    return next((k for k in wn.senses(unit) if wn.lexfile(k) == FOOD_FILE and wn.is_a(k, borne)), key)


def kind_reach(image, bridge: Bridge, vocab: set[str] | frozenset[str], labels: Iterable[str] = ()
               ) -> tuple[Counter[str], dict[str, list[str]]]:
    """(keyword weights, keyword -> why) through the nearest kinds of the image's English phrases (module
    docstring); empty when no phrase has a kind below a kingdom that reaches the vocabulary."""
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


def setting_line(on: bool) -> str:
    """The line a command prints of the kind back-off setting its edges were drawn with (build-graph, keywords)."""
    if not on:
        return "kind back-off: off (--no-kind-backoff): an image whose texts reach no keyword gets no edge"
    return ("kind back-off (graph/kinds.py): an image whose texts reach no keyword reaches its WordNet kinds' "
            "keywords (lark -> ... -> bird -> 鸟)")


def nearest_kinds(bridge: Bridge, key: tuple[str, str], vocab: set[str] | frozenset[str],
                  context: frozenset[str] = frozenset(), description: str = "") -> dict[str, list[str]]:
    """keyword -> hypernym path (lemma names) of the first hypernym level of a synset whose lemmas reach the
    vocabulary, at any depth, never through a TOO_GENERAL synset or one above KIND_MAX_SPAN descendants."""
    wn = bridge.wordnet
    frontier: list[tuple[tuple[str, str], list[str]]] = [(key, [])]
    seen = {key}
    while frontier:  # ends: each synset is walked once, and every path stops below a kingdom (KIND_MAX_SPAN)
        nxt, found = [], {}
        for k, path in frontier:
            for h in wn.wn.synset(k).hypernyms():
                lemmas = wn.wn.synset(h).lemmas
                if (h in seen or any(lem in TOO_GENERAL for lem in lemmas) or span(wn.wn, h) > KIND_MAX_SPAN
                        or wn.lexfile(h) not in THING_FILES or wn.made_of(k, h)):  # a card is made of paper (纸)
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
                        if r.kept and r.target in vocab and names_kind(bridge, r.target, lemma, key, h):
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


def names_kind(bridge: Bridge, word: str, lemma: str, key: tuple[str, str], kind: tuple[str, str]) -> bool:
    """True when a Chinese candidate of a kind's lemma names that kind in its commonest sense: where a CC-CEDICT
    gloss listed before the kind's (a commoner sense of the word) has a commonest WordNet noun sense below the kind,
    the word names that narrower kind first (车 'car; vehicle': a car is a wheeled vehicle), so the tag must lie in
    the same branch of the kind, below a direct hyponym of the kind that the narrower gloss lies below too (a
    bicycle, a tractor: wheeled vehicles; not a ship or an aircraft, vehicles through craft, nor a sled)."""
    wn = bridge.wordnet
    lemma_key = english_key(lemma) or lemma
    narrower: set[tuple[str, str]] = set()
    for gloss_key, _, _ in bridge.cedict.zh(word):
        if gloss_key == lemma_key:
            break  # the kind's own gloss: later glosses are rarer senses
        for sense in wn.senses(gloss_key):  # its commonest noun senses (药 'medicine': the medication, a drug)
            if sense != kind:
                narrower |= branches(wn.wn, sense, kind)
    return not narrower or bool(narrower & branches(wn.wn, key, kind))


def branches(data, key: tuple[str, str], kind: tuple[str, str]) -> set[tuple[str, str]]:
    """The kind's direct hyponyms that a synset is, or lies below (empty when it is not below the kind)."""
    out, seen, frontier = set(), {key}, [key]
    while frontier:
        nxt = []
        for k in frontier:
            hypers = data.synset(k).hypernyms()
            if kind in hypers:
                out.add(k)
            for h in hypers:
                if h not in seen:
                    seen.add(h)
                    nxt.append(h)
        frontier = nxt
    return out
