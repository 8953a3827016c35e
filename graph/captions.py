"""Image words as a user's catalogue writes them: file names as captions, and captions whose head reaches nothing.

Photos named one by one carry their file name as their only text ("red_fox-2.jpg", "RedFox", "palmtree",
"clock face five oclock"). Two steps make such a caption reach the keywords its words name, before and after the
bilingual bridge (graph.bridge), for every place that links images to keywords (selection, network, builders):

1. `readable`: a file name becomes words: the extension dropped, CamelCase, '_', '-', '.' and digits split
   ("RedFox_2.png" -> "red fox"), and a closed compound WordNet does not know split into two nouns it does know
   ("palmtree" -> "palm tree", "kiwifruit" -> "kiwi fruit"); a word WordNet knows ("screwdriver") stays whole;
2. back-off (`image_keywords`): an image none of whose texts reaches a keyword through the bridge's phrase rule
   (the phrase and its head noun: "clock face five oclock" -> "oclock", "person frowning" -> "frowning") tries
   each noun phrase of its English texts cut short, word by word from the end, so that an earlier word becomes the
   head in the context of the words before it ("clock face five" -> "clock face" -> "clock": a clock face is a
   surface, not a human face), at BACKOFF times the bridge's weight, and each content token of its Chinese texts
   through its English senses (篮球 -> ball -> 球), kept only where the edge still reaches the bridge's
   EDGE_THRESHOLD. Images the phrase rule links keep exactly the bridge's edges;
3. kind back-off (graph.kinds, on): an image that step 2 leaves with nothing reaches the keywords of the nearest
   WordNet kinds of its tags (penguin -> bird -> 鸟), at the weakest edge weight.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace

from graph import edge_model
from graph import kinds as kind_backoff
from graph.bridge import EDGE_THRESHOLD, Bridge, image_reach
from graph.head_sense import chiefly_noun
from graph.keywords import inflected, lemmatize_en, tokenize
from graph.senses import WordNetSenses, bag
from graph.tag_text import compound_modifiers, compound_words, describe, image_context, noun_phrases

BACKOFF = 0.8  # a modifier or a lone word of a caption names what is shown less surely than its head noun
MIN_PART = 3  # a closed compound splits only into parts of at least this many letters
_EXT = re.compile(r"\.(?:svg|png|jpe?g|gif|webp|bmp|tiff?)$", re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEP = re.compile(r"[_\-.\d]+")
_LETTERS = re.compile(r"[A-Za-z]+")
_CREDIT = re.compile(r"[_-]by[_-][A-Z].*$")  # a photo site's credit suffix: 'sunset_by_Aitzol_Berasategi' -> 'sunset'


def _split_compound(word: str, known: frozenset[str], wn: WordNetSenses | None = None) -> list[str]:
    """'palmtree' -> [palm, tree] when both halves are known nouns and the whole is not; else [word]. A one-word
    noun WordNet knows splits only when it is a kind of its last part (headstone -> head stone, a stone; cupcake ->
    cup cake); otherwise it is one word, not two (shamrock is a clover, no rock; tramway is no way)."""
    low = word.lower()
    if len(low) < 2 * MIN_PART or low in known or lemmatize_en(low) in known or inflected(low, known.__contains__):
        return [word]
    best: tuple[int, int] | None = None
    for i in range(MIN_PART, len(low) - MIN_PART + 1):
        a, b = low[:i], low[i:]
        if (a in known or lemmatize_en(a) in known) and (b in known or lemmatize_en(b) in known):
            score = min(len(a), len(b))
            if best is None or score > best[0]:
                best = (score, i)
    if best is None:
        return [word]
    head = low[best[1]:]
    if wn is not None and (own := wn.wn.noun_senses(low) or wn.wn.noun_senses(lemmatize_en(low))):
        parts = set(wn.wn.noun_senses(head) or wn.wn.noun_senses(lemmatize_en(head)))
        if not any(s in parts or wn.ancestors(s) & parts for s in own):
            return [word]  # a word WordNet names whose last part is not its kind: shamrock, tramway
    return [low[:best[1]], head]


def readable(text: str, known: frozenset[str] = frozenset(), wn: WordNetSenses | None = None) -> str:
    """A tag or caption written as a file name, as words: 'RedFox_2.png' -> 'Red Fox', 'palmtree' -> 'palm tree'
    (with `known` holding WordNet's nouns; `wn`: a word WordNet names splits only into a kind of its last part,
    _split_compound); a file name's credit suffix '_by_Name' goes (the author's name is no thing shown); ordinary text
    comes back with only its separators turned to spaces."""
    text = _EXT.sub("", text.strip())
    text = _CREDIT.sub("", text) or text
    text = _CAMEL.sub(" ", text)
    text = _SEP.sub(" ", text)
    words: list[str] = []
    for tok in text.split():
        m = _LETTERS.fullmatch(tok)
        words += _split_compound(tok, known, wn) if (m and known) else [tok]
    return " ".join(words)


def _known_nouns(bridge: Bridge) -> frozenset[str]:
    """One-word nouns WordNet knows that are also CC-CEDICT glosses (both sides of the bridge know them)."""
    wn = bridge.wordnet
    if wn is None:
        return frozenset()
    return _one_word_lemmas(wn.wn, bridge.cedict)


_KNOWN: dict[tuple[int, int], frozenset[str]] = {}


def _one_word_lemmas(data, cedict) -> frozenset[str]:
    key = (id(data), id(cedict))
    if key not in _KNOWN:
        glosses = cedict.en_packed
        _KNOWN.clear()  # one pair of dictionaries at a time
        _KNOWN[key] = frozenset(lemma for lemma in data.senses_of if lemma.isalpha() and lemma in glosses)
    return _KNOWN[key]


def readable_image(image, bridge: Bridge):
    """The image with its English tags and caption made readable (Chinese texts unchanged)."""
    known, wn = _known_nouns(bridge), bridge.wordnet
    caption = readable(image.caption, known, wn) if image.language == "en" and image.caption else image.caption
    tags = tuple(readable(t, known, wn) for t in image.tags) if image.tag_language == "en" else tuple(image.tags)
    if caption == image.caption and tags == tuple(image.tags):
        return image
    return replace(image, caption=caption, tags=tags)


def shortened(text: str) -> list[str]:
    """Each noun phrase of a tag or caption cut short from the end, longest first: 'clock face five oclock' ->
    'clock face five', 'clock face', 'clock' (the whole phrase is the bridge's own unit, so it is not repeated)."""
    out = []
    for chunk in noun_phrases(text):
        out += [" ".join(chunk[:i]) for i in range(len(chunk) - 1, 0, -1)]
    return out


def backoff_reach(image, bridge: Bridge, vocab: set[str] | frozenset[str], labels: Iterable[str] = ()
                  ) -> tuple[Counter[str], dict[str, list[str]]]:
    """Keywords each single content word of the image's texts reaches (step 2 of the module docstring)."""
    counts: Counter[str] = Counter()
    why: dict[str, list[str]] = {}
    context = image_context(image, labels)
    # the encoder (if the bridge has one) weighs these edges as it weighs the phrase rule's: an image whose edges it
    # discounted all is not given them back by a shorter phrase
    description = describe(image, labels) if bridge.relatedness is not None else ""

    def add(got: Counter[str], source: str) -> None:
        for kw, w in got.items():
            w = round(w * BACKOFF, 4)
            if w >= EDGE_THRESHOLD and w > counts.get(kw, 0.0):
                counts[kw] = w
                why[kw] = [source]

    parts = [(image.caption, image.language)] + [(t, image.tag_language) for t in image.tags]
    for text, lang in parts:
        if not text or not text.strip():
            continue
        if lang == "en":
            # a cut that ends inside a compound WordNet names ('fire' of 'fire extinguisher') is no shorter name of
            # the thing: the compound is one concept (graph.tag_text.compound_words)
            pieces = compound_words(bridge.wordnet, [text]) | compound_modifiers(bridge.wordnet, text)
            # nor one that ends on a word chiefly an adjective or verb ('musical' of musical note: no 电影, the film)
            wn = bridge.wordnet
            for short in dict.fromkeys(s for s in shortened(text) if s.split()[-1] not in pieces
                                       and (wn is None or chiefly_noun(wn, s.split()[-1]))):
                add(bridge.text_reach(short, "en", vocab, context=context - bag(short), description=description),
                    f"{text} ({short})")
        elif lang == "zh":
            for token in dict.fromkeys(tokenize(text, "zh")):
                senses = [r.target for r in bridge.chinese_to_english(token)]
                for en in senses:
                    add(bridge.text_reach(en, "en", vocab, context=frozenset(senses) - bag(en),
                                          description=description),
                        f"{text} ({token} = {en})")
    return counts, why


def prepare_images(bridge: Bridge, images: Iterable) -> None:
    """Before many images' edges are drawn one by one: the edge model's encoder embeds all their descriptions in one
    batch (graph.edge_model.prepare); a no-op when the bridge's edge model is off."""
    if bridge.edge_model:
        edge_model.prepare(bridge, (describe(readable_image(i, bridge)) for i in images))


def image_keywords(image, bridge: Bridge, vocab: set[str] | frozenset[str], labels: Iterable[str] = (),
                   kinds: bool | None = None, model: bool | None = None, probs: dict[str, float] | None = None,
                   dropped: dict[str, float] | None = None) -> tuple[Counter[str], dict[str, list[str]]]:
    """(keyword weights, keyword -> the texts that reached it) of one image: graph.bridge.image_reach over its
    readable texts, the single-word back-off when that reaches nothing (module docstring), and when that reaches
    nothing either, the kind back-off (graph.kinds) when the bridge's `kind_backoff` setting is on (`kinds`: True
    or False overrides it); then, when the bridge's `edge_model` setting is on, the edges graph.edge_model gives
    P(right) below the bridge's cut (its edge_threshold, else the model file's: graph.edge_model.cut) are dropped
    (`model`: True or False overrides the bridge's setting, for a caller that must see both, such as `img2song bridge`;
    `probs`, if given, receives keyword -> P of the kept edges, and `dropped` keyword -> P of the edges the model
    dropped: what `keywords` reports of images it left with none)."""
    image = readable_image(image, bridge)
    counts, why = _drawn(image, bridge, vocab, labels, kinds)
    if not why or not (bridge.edge_model if model is None else model):
        return counts, why
    p = edge_model.edge_probabilities(image, bridge, counts, why, labels)
    cut = edge_model.cut(bridge.edge_threshold)
    kept = [kw for kw in why if p[kw] >= cut]
    if probs is not None:
        probs.update({kw: p[kw] for kw in kept})
    if dropped is not None:
        dropped.update({kw: p[kw] for kw in why if p[kw] < cut})
    return Counter({kw: counts[kw] for kw in kept}), {kw: why[kw] for kw in kept}


def _drawn(image, bridge: Bridge, vocab, labels, kinds) -> tuple[Counter[str], dict[str, list[str]]]:
    """The bridge's edges of a readable image before the edge model (image_keywords' three steps)."""
    counts, why = image_reach(image, bridge, vocab, labels)
    if counts:
        return counts, why
    counts, why = backoff_reach(image, bridge, vocab, labels)
    if counts or not (bridge.kind_backoff if kinds is None else kinds):
        return counts, why
    return kind_backoff.kind_reach(image, bridge, vocab, labels)
