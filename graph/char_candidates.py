"""Characters jieba never isolates that are words of their own (鸟 inside 飞鸟, 车, 杯): keyword candidates of
graph.vocabulary's rule step 1."""
from __future__ import annotations

from collections.abc import Collection, Iterable

from graph.bridge import Bridge, is_cjk
from graph.cedict_index import filtered_sense, gloss_keys, register_mark
from graph.keywords import _base_pos_tokenizer, stopwords
from graph.wordnet import tagged_senses

LOCATION_FILE = 15  # WordNet's noun.location: side, end, centre, position, county (where, not what a photo shows)
CHAR_HEADS = 3  # a character heading fewer distinct words is a bound part of them (玻 only in 玻璃), not a word


def noun_character(ch: str, bridge: Bridge) -> str | None:
    """Why a character is no word of its own for an image to show (None: it is one). Its principal CC-CEDICT entry
    (the reading with the most kept senses) must be a common noun first: lower-case pinyin (no proper name: 汉 Han);
    a first sense that is no classifier, surname, variant or register-marked sense and no verb ('to ...'); the
    commonest WordNet noun sense of that sense's word a physical thing (not a number: 十 ten; no quantity or
    relation: 少 few, 间 between; no named instance: 凰 phoenix, the city), and not a place relative to others
    (noun.location: 边 side, 央 centre); that word a noun first (no English function word: 为 as; where WordNet also
    has it as an adjective or adverb, more SemCor-tagged noun senses: not 个 individual, 还 still); and no localizer
    in jieba's dictionary (tag f: 里 'lining' is 里 inside)."""
    entry = bridge.cedict.principal.get(ch)
    if entry is None:
        return "no CC-CEDICT entry"
    pinyin, gloss = entry.split("\t", 1)
    if pinyin[:1].isupper():
        return f"a proper name first ({gloss})"
    if filtered_sense(gloss) or register_mark(gloss) or gloss.startswith("to "):
        return f"first sense is no common noun ({gloss})"
    keys = gloss_keys(gloss)
    wordnet = bridge.wordnet
    sense = wordnet.wn.noun_senses(keys[0])[:1] if keys and wordnet is not None else []
    if not sense or not wordnet.physical(sense[0]) or wordnet.instance(sense[0]):
        return f"first sense names no physical thing ({gloss})"
    if wordnet.lexfile(sense[0]) == LOCATION_FILE:
        return f"first sense is a place relative to others ({gloss})"
    tagged = tagged_senses().get(keys[0], {})
    if keys[0] in stopwords("en") or any(p in tagged and tagged[p] >= tagged.get("n", 0) for p in "ar"):
        return f"first sense is an English function word, adjective or adverb ({gloss})"
    if _base_pos_tokenizer().word_tag_tab.get(ch) == "f":
        return "a localizer"
    return None


def character_candidates(words: Iterable[str], known: Collection[str], bridge: Bridge) -> dict[str, list[str]]:
    """Characters that are not candidates by themselves (jieba never isolates them as content words) but are words
    of their own: {character: the distinct content words it heads}, for those heading >= CHAR_HEADS words (飞鸟 啼鸟
    归鸟 -> 鸟) that `noun_character` accepts. Their occurrences are counted inside tokens like any word's
    (graph.occurrences), so selection, network and ground truth see the same songs."""
    heads: dict[str, set[str]] = {}
    for w in words:
        if len(w) >= 2 and is_cjk(w):
            heads.setdefault(w[-1], set()).add(w)
    return {ch: sorted(ws) for ch, ws in sorted(heads.items())
            if ch not in known and len(ws) >= CHAR_HEADS and noun_character(ch, bridge) is None}
