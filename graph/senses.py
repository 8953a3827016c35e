"""Which CC-CEDICT sense an English tag means, and which kinds it belongs to: relatedness weights in [0, 1].

A tag like 'nature' equals a gloss of 自然, 大自然, 性, 天生 and 造化; only the first two are what a photo tagged
'nature' shows. Each candidate headword gets a weight from
- its dictionary sense: the entry's first sense counts most (CC-CEDICT lists the main sense first), the tag as the
  first word of its gloss more than as a later synonym, an entry of many senses less (the tag is one gloss among
  many), variant entries (鱻 'fish', an old variant of 鲜) and glosses that only match after an irregular
  lemmatisation (people -> person) little;
- its currency beside the other candidates of the same tag (jieba's word frequencies: 人 before 人头);
- its fit in context: the tag's WordNet noun sense is chosen from the image's other tags and caption (image tags
  name visible things, so physical senses come first); a candidate whose other glosses share words with that
  sense is supported, one whose other glosses share words only with the tag's other senses is contradicted
  (呈 /to present to a superior/memorial/petition/ against a memorial that is a monument); a candidate whose other
  meanings are all abstract and name a WordNet synonym of an abstract sense of the tag translates that sense (职
  /office/duty/ for an office building); a simplified headword reached only through a traditional entry merged into
  it (誌 'sign' -> 志) means its own entry (志 'aspiration') in simplified text;
- its relatedness to the whole image, when a sentence encoder is given (`Relatedness`, passed in by the
  caller: the --sense-encoder bridge, graph.text.relatedness): the cosine of the image's description (tags and caption) with the
  candidate word and with its English glosses, each calibrated against the description's best cosines with a fixed
  pool of common words (`REFERENCE`), so a description close to every word does not pass every word. A candidate
  RELATED_MARGIN below the pool's best fits is discounted (x exp(RELATED_SLOPE * margin), never raised): 车
  'vehicle' for a trawler, 人家 'household' for a bottle. Without an encoder this factor is 1 and the weight is the
  dictionary and WordNet part alone (the bridge says so: `Bridge.relatedness_line`).
Kinds: the chosen WordNet sense's hypernyms (kingfisher -> coraciiform bird -> bird) reach their own candidates,
weighted by KIND_DECAY per step, stopping at synsets too general to describe a picture (TOO_GENERAL); a kind's
candidate whose other meanings do not fit the hypernym's sense weighs KIND_UNFIT less (船 /boat/vessel/ship/ for
bottle -> vessel, a container).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from graph.cedict_index import gloss_form
from graph.cedict_sense import CedictSense  # noqa: F401 (re-exported: graph.senses.CedictSense as before)
from graph.wordnet_senses import (  # noqa: F401 (re-exported: the sense API callers import from here)
    ARTIFACT_FILE,
    ATTRIBUTE_FILE,
    GROUP_FILE,
    TOO_GENERAL,
    WordNetSenses,
    bag,
    one_edit,
)

KIND_RULE = "wordnet kind"  # Scored.rule of an edge through a WordNet hypernym of the tag (graph.bridge)
EDGE_THRESHOLD = 0.6  # an image-keyword edge is drawn when its weight reaches this
RANK_WEIGHT = (1.0, 0.75, 0.55)  # the entry's 1st, 2nd, 3rd kept sense
LATER_PART = 0.85  # the tag is a later synonym inside its gloss ('character, nature')
BROAD_SENSES = 3  # entries with more kept senses than this are discounted by sqrt(BROAD_SENSES / senses)
VARIANT = 0.3  # an entry that is (also) a variant of another word
VERB_FIRST = 0.6  # a later noun sense of a word that is first a verb (呈 /to present/memorial/)
MERGED = 0.5  # a simplified headword reached only through a merged traditional entry (誌 'sign' -> 志, whose own
# entry means aspiration): simplified text writes the headword in its own sense far more often
MISMATCH = 0.6  # the gloss matched only through an irregular lemma (people -> person)
SUPPORTED, CONTRADICTED, DOUBTED = 1.25, 0.4, 0.85
SYNONYM_ELSEWHERE = 0.4  # another meaning of the word is a WordNet synonym of another sense of the tag (abstract,
# or any when the tag is a later sense of the word)
GROUP_UNSHOWN = 0.6  # the tag's sense is a group of people or animals, and the image's words name none
ABSTRACT_SENSE = 0.7  # the tag's chosen sense is no physical thing (household as a family, index as a ratio)
ABSTRACT_MEANINGS = 0.6  # a thing is shown, but every other meaning of the candidate is abstract (性格 for nature)
UNSUPPORTED = 0.4  # no fit with a sense a compound fixed (court in 'basketball court': a sports court)
KIND_UNFIT = 0.9  # a kind's candidate whose other meanings do not fit the hypernym's sense (船 for vessel, container)
CURRENCY_POWER = 1.5  # (1 + log(1 + count)) / (1 + log(1 + best count)) to this power
KIND_DECAY = 0.8  # weight factor per hypernym step
ABSTRACT_KIND = 0.75  # extra factor for the kinds of an abstract sense (holiday -> leisure is not shown)
KIND_LEMMAS = 2  # lemmas of a hypernym synset looked up, each only where the synset is its commonest sense
REFERENCE = 500  # common CC-CEDICT words (jieba's most frequent) a description's cosines are calibrated against
REFERENCE_TOP = 15  # a description's calibration: the mean of its REFERENCE_TOP best cosines with the pool
RELATED_MARGIN = 0.0  # calibrated relatedness (word + gloss) below this is discounted
RELATED_SLOPE = 50.0  # discount exp(RELATED_SLOPE * (relatedness - RELATED_MARGIN)) below the margin


@dataclass(frozen=True)
class Scored:
    """A keyword candidate of an English word with its relatedness weight and why it got it."""

    target: str
    weight: float
    rule: str  # "same word" | "lexicon.tsv" | "cedict sense" | "wordnet kind"
    why: str
    source: str = ""  # the tag or phrase it was reached from

    @property
    def kept(self) -> bool:
        return self.weight >= EDGE_THRESHOLD


class Relatedness(Protocol):
    """A multilingual sentence encoder's similarity, supplied by the caller (the build stage passes graph.text's
    e5): (English descriptions, candidate texts: Chinese words or English glosses) -> cosine matrix
    [len(descriptions), len(candidates)]. Implementations cache their vectors (each distinct text embedded once)."""

    name: str

    def __call__(self, descriptions: Sequence[str], candidates: Sequence[str]) -> np.ndarray: ...


def related_factor(rho: float) -> float:
    """The weight factor of a calibrated relatedness: 1 at or above RELATED_MARGIN, decaying exponentially below."""
    return min(1.0, math.exp(RELATED_SLOPE * (rho - RELATED_MARGIN)))


# (candidate words with their glosses) -> (calibrated relatedness, its reason) per candidate, for one description
RelatedFn = Callable[[list[tuple[str, str]]], list[tuple[float, str]]]
# (candidate headword, the meaning words of the sense it was matched in) -> (weight factor, its reason): how the
# corpus's lyrics use the word (graph.usage, supplied by the bridge when it knows its corpus)
UsageFn = Callable[[str, frozenset[str]], tuple[float, str]]


def word_frequency(word: str) -> int:
    """jieba's dictionary count of a word (0 when it has none): how current a headword is."""
    import jieba

    if not jieba.dt.initialized:
        jieba.dt.initialize()
    return int(jieba.dt.FREQ.get(word) or 0)


def sense_weight(s: CedictSense, related: frozenset[str]) -> tuple[float, list[str]]:
    """The dictionary part of a candidate's weight, and its reasons; `related`: words of any sense of the tag (an
    entry's senses that share none are foreign to the tag and make the match one gloss among many)."""
    w, why = RANK_WEIGHT[min(s.rank, len(RANK_WEIGHT)) - 1], [f"sense {s.rank} of {s.senses}"]
    if s.part:
        w *= LATER_PART
        why.append("a later synonym in its gloss")
    foreign = sum(1 for g in s.entry.split("/") if g and g != s.gloss and not (bag(g) & related))
    if foreign + 1 > BROAD_SENSES:
        w *= math.sqrt(BROAD_SENSES / (foreign + 1))
        why.append(f"{foreign} unrelated senses")
    if s.variant:
        w *= VARIANT
        why.append("variant entry")
    if s.verb_first and s.rank > 1:
        w *= VERB_FIRST
        why.append("the word is first a verb")
    if s.mismatch:
        w *= MISMATCH
        why.append("irregular lemma")
    if s.merged:
        w *= MERGED
        why.append("only through a traditional form merged into it")
    return w, why


def score_candidates(key: str, senses: list[CedictSense], wordnet: WordNetSenses | None,
                     context: frozenset[str], synset: tuple[str, str] | None = None,
                     require_fit: bool | float = False, relate: RelatedFn | None = None,
                     scale: float = 1.0, usage: UsageFn | None = None, surface: str = "") -> list[Scored]:
    """Every CC-CEDICT candidate of one English key, weighted (best sense per headword), best first;
    `require_fit`: the sense is fixed by a compound, candidates that do not fit it are discounted (x UNSUPPORTED,
    or x the number given: KIND_UNFIT for a kind's hypernym sense); `relate`: the
    encoder's relatedness to the image's description, asked only for candidates that would otherwise be kept once
    their weight is multiplied by `scale` (a kind's decay); `usage`: whether the corpus uses the candidate in the
    matched sense (its gloss words and the chosen WordNet sense's lemmas); `surface`: the tag's words as written
    ('glasses', whose key is 'glass')."""
    if not senses:
        return []
    own = bag(key)
    chosen, chosen_why, sig, others = synset, "given", frozenset(), []
    if wordnet is not None:
        if chosen is None:
            chosen, chosen_why = wordnet.choose(key, context)
        others = [(k, wordnet.signature(k)) for k in wordnet.senses(key) if k != chosen]
        sig = wordnet.signature(chosen) if chosen is not None else frozenset()
    related = own.union(sig, *(o for _, o in others))
    freq = {s.head: word_frequency(s.simplified or s.head) for s in senses}
    top = max(freq.values())
    rows: list[tuple[str, float, bool, bool, str]] = []
    for s in senses:
        w, why = sense_weight(s, related)
        rel = ((1 + math.log1p(freq[s.head])) / (1 + math.log1p(top))) ** CURRENCY_POWER
        w *= rel
        if rel < 0.99:
            why.append(f"currency {rel:.2f} (jieba {freq[s.head]} vs {top})")
        meaning = bag(s.entry.replace("/", " ")) - own
        fit = len(meaning & sig)
        other, leans = max(((len(meaning & o - sig), k) for k, o in others), default=(0, None))
        if fit and fit >= other:
            w *= SUPPORTED if s.rank == 1 else 1.0  # a later sense fits, but the word means its first one
            why.append("fits " + ", ".join(sorted(meaning & sig)))
        elif (other and s.rank > 1 and wordnet is not None and chosen and wordnet.physical(chosen)
              and not wordnet.physical(leans)):
            w *= CONTRADICTED if other >= 2 else DOUBTED  # leans to an abstract sense where a thing is shown
            why.append(f"leans to {wordnet.name(leans)}: " + ", ".join(sorted(meaning & wordnet.signature(leans))))
        if (wordnet is not None and chosen and wordnet.physical(chosen) and not meaning & wordnet.synonyms(chosen)
                and not any(wordnet.concrete(m) for m in meaning)):
            # the word's other meanings are abstract and one is a synonym of an abstract sense of the tag (职
            # /office/duty/: duty is what the office that is a function is a kind of): the word translates that
            # sense, whatever its rank
            lean = next(((k, meaning & wordnet.synonyms(k)) for k, _ in others
                         if not wordnet.physical(k) and meaning & wordnet.synonyms(k)), None)
            if lean:
                w *= SYNONYM_ELSEWHERE
                why.append(f"its {', '.join(sorted(lean[1]))} names {wordnet.name(lean[0])}")
        elif (s.rank > 1 and not fit and wordnet is not None and chosen
              and not meaning & wordnet.synonyms(chosen)):
            # the tag is a later sense of the word, whose other meanings are synonyms of another sense of the tag
            # and fit none of the chosen one (中心 /center/heart/core/ for a heart: center names the heart that is
            # the middle of a region): the word translates that sense
            lean = next(((k, meaning & wordnet.synonyms(k)) for k, _ in others if meaning & wordnet.synonyms(k)),
                        None)
            if lean:
                w *= SYNONYM_ELSEWHERE
                why.append(f"its {', '.join(sorted(lean[1]))} names {wordnet.name(lean[0])}")
        if chosen is not None and wordnet is not None:
            why.append(f"wordnet {wordnet.name(chosen)} [{chosen_why}]")
        # usage only discounts, and every factor after it too: a candidate below the threshold is not looked up
        if usage is not None and min(1.0, w) * scale >= EDGE_THRESHOLD:
            # the sense's meaning: its gloss, and the chosen WordNet sense's synonyms and direct hypernyms (pencil
            # and pen are both a writing implement: one meaning of 笔)
            near = wordnet.synonyms(chosen) if wordnet is not None and chosen else frozenset()
            factor, reason = usage(s.head, bag(s.gloss) | near)
            w *= factor
            if reason:
                why.append(reason)
        form = gloss_form(s.gloss, s.part) if wordnet is not None and chosen else key
        if (form not in (key, surface) and (own_senses := wordnet.wn.noun_senses(form)) and chosen not in own_senses
                and set(own_senses) & set(wordnet.wn.noun_senses(key))):
            # the gloss is written in a form WordNet lists for one sense of the word only (林 /woods/ is wood as a
            # forest, not the substance): it translates that sense (泪 /tears/ stays: weeping is no sense of tear)
            w *= CONTRADICTED
            why.append(f"its gloss '{form}' is a word of its own")
        if wordnet is not None and chosen and wordnet.physical(chosen) and not fit:
            kinds = [k for k in (wordnet.concrete(m) for m in meaning) if k is not None]
            if len(kinds) >= 2 and not any(kinds):
                w *= ABSTRACT_MEANINGS
                why.append("its other meanings are abstract")
        if wordnet is not None and chosen and not wordnet.physical(chosen):
            w *= ABSTRACT_SENSE
            why.append("an abstract sense")
            if wordnet.lexfile(chosen) == GROUP_FILE and not wordnet.names_members(context):
                # a group (household, political party) is shown by its members: the tag names a category or an
                # occasion of the thing (household|cup, party|balloon), not the group
                w *= GROUP_UNSHOWN
                why.append("a group, and no person or animal among the image's words")
        # another meaning a kind's fit can be judged by: a WordNet noun (鸟 /bird/goddam/ has none)
        judged = any(wordnet.concrete(m) is not None for m in meaning) if wordnet is not None else bool(meaning)
        rows.append((s.head, w, fit > 0 and fit >= other, judged,
                     f"{s.head} [{s.pinyin}] /{s.gloss}/: " + "; ".join(why)))
    best: dict[str, Scored] = {}
    for head, w, fits, other_meanings, why_text in rows:
        # a kind's factor (a float) needs another meaning that does not fit: 鸟 /bird/goddam/ has none to judge by
        if require_fit and not fits and (require_fit is True or other_meanings):
            w *= UNSUPPORTED if require_fit is True else float(require_fit)  # a float: that factor instead
            why_text += "; does not fit the given sense"
        sc = Scored(head, round(min(1.0, w), 4), "cedict sense", why_text)
        if head not in best or best[head].weight < sc.weight:
            best[head] = sc
    if relate is not None:
        gloss = {s.head: s.entry.replace("/", "; ") for s in senses}
        # the factor never raises: only edges kept without it can change
        asked = [h for h, sc in best.items() if sc.weight * scale >= EDGE_THRESHOLD]
        for head, (rho, why) in zip(asked, relate([(h, gloss[h]) for h in asked]) if asked else []):
            sc, f = best[head], related_factor(rho)
            best[head] = Scored(head, round(sc.weight * f, 4), sc.rule, f"{sc.why}; {why} x{f:.2f}", sc.source)
    return sorted(best.values(), key=lambda r: (-r.weight, r.target))
