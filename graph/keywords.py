"""Keyword extraction: content-word tokens of lyrics and captions (jieba for zh, rules for en) and their weights."""
from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from functools import cache, lru_cache
from pathlib import Path

from graph.common.errors import Img2SongError

LANGUAGES = ("zh", "en")
WEIGHT_SCHEMES = ("count", "tfidf")

# jieba POS tags kept as content words: nouns (n, nr, ns, nt, nz, ng, nrt, nrfg), place/time words (s, t, tg),
# verbs (v, vn, vg, vd? no: vd is adverbial), adjectives (a, an, ag), idioms/set phrases (i, l), user words (n).
ZH_CONTENT_TAGS = frozenset(
    {"n", "nr", "nrt", "nrfg", "ns", "nt", "nz", "ng", "s", "t", "tg", "v", "vn", "vg", "vi", "a", "an", "ag",
     "i", "l"}
)
_HERE = Path(__file__).resolve().parent
_EN_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)*")
_EN_IRREGULAR = {
    "children": "child", "men": "man", "women": "woman", "mice": "mouse", "geese": "goose", "feet": "foot",
    "teeth": "tooth", "people": "person", "leaves": "leaf", "wolves": "wolf", "knives": "knife",
    "wives": "wife", "lives": "life", "halves": "half", "shelves": "shelf", "thieves": "thief",
    "loaves": "loaf", "calves": "calf", "scarves": "scarf", "hooves": "hoof", "elves": "elf", "dwarves": "dwarf",
    "wharves": "wharf", "sheaves": "sheaf", "selves": "self", "oxen": "ox", "dice": "die", "fish": "fish",
    "sheep": "sheep",
    "deer": "deer", "was": "be", "were": "be", "is": "be", "are": "be", "has": "have", "does": "do",
}
# Words ending in -s that are not plurals (so the -s rule must leave them alone).
_EN_KEEP_S = {"glass", "grass", "moss", "dress", "kiss", "chess", "bus", "gas", "lens", "iris", "news", "series",
              "species", "always", "perhaps", "this", "his", "its", "yes", "chaos", "cactus", "octopus",
              "christmas", "mathematics", "physics", "pants", "scissors", "glasses", "trousers", "clothes"}
# nouns in -o whose plural takes -es (a closed class); any other -oes word is an -oe noun plus s (shoes, toes, canoes)
_EN_O_ES = frozenset("potato tomato hero echo veto torpedo volcano mosquito domino buffalo mango cargo embargo "
                     "tornado motto grotto halo innuendo negro no go".split())
_jieba_lock = threading.Lock()
# jieba tags single characters such as 月 as numerals/measure words ("m"); only these are numerals
_ZH_NUMERALS = frozenset("〇零一二三四五六七八九十百千万亿两几半数")


def _read_list(name: str) -> frozenset[str]:
    path = _HERE / name
    words = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.add(line)
    return frozenset(words)


@cache
def stopwords(language: str) -> frozenset[str]:
    """The shipped stopword list of a language (graph/stopwords_<lang>.txt)."""
    _check_language(language)
    return _read_list(f"stopwords_{language}.txt")


def _check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise Img2SongError(f"unknown language {language!r}; expected one of {LANGUAGES}")


def inflected(word: str, is_word: Callable[[str], bool]) -> bool:
    """True for an -ed or -ing form of a word `is_word` knows ('covered', 'baking', 'stopped', 'smiling'): one word
    describing a thing, not two nouns ('cove red') nor a noun naming one."""
    for end in ("ed", "ing"):
        stem = word[: -len(end)]
        if word.endswith(end) and len(stem) > 2:
            doubled = (stem[:-1],) if stem[-1] == stem[-2] else ()
            if any(is_word(s) for s in (stem, stem + "e", *doubled)):
                return True
    return False


def lemmatize_en(word: str) -> str:
    """Rule-based English lemma (plurals and a few irregular forms) so 'trees' and 'tree' meet."""
    if word in _EN_IRREGULAR:
        return _EN_IRREGULAR[word]
    word = word.removesuffix("'s")
    if len(word) <= 3 or word in _EN_KEEP_S:
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "shes", "ches", "xes", "zzes")):
        return word[:-2]
    if word.endswith("oes") and len(word) > 4:  # potatoes -> potato, but shoes -> shoe, canoes -> canoe
        return word[:-2] if word[:-2] in _EN_O_ES else word[:-1]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# ---------------------------------------------------------------- jieba, dedicated and quiet instances
@lru_cache(maxsize=1)
def _base_pos_tokenizer():
    """One private jieba POSTokenizer over the default dictionary (never the global jieba.dt)."""
    import jieba
    import jieba.posseg

    logger = jieba.default_logger
    old = logger.level
    logger.setLevel(logging.WARNING)
    try:
        tk = jieba.Tokenizer()
        tk.initialize()
        return jieba.posseg.POSTokenizer(tk)
    finally:
        logger.setLevel(old)


@lru_cache(maxsize=8)
def _pos_tokenizer(vocabulary: frozenset[str]):
    """A private POSTokenizer whose dictionary also holds the vocabulary words (segmented as units, tagged n)."""
    import jieba
    import jieba.posseg

    base = _base_pos_tokenizer()
    if not vocabulary:
        return base
    tk = jieba.Tokenizer()
    tk.FREQ, tk.total, tk.initialized = dict(base.tokenizer.FREQ), base.tokenizer.total, True
    pt = jieba.posseg.POSTokenizer.__new__(jieba.posseg.POSTokenizer)
    pt.tokenizer, pt.word_tag_tab = tk, dict(base.word_tag_tab)
    for word in sorted(vocabulary):  # sorted: the final FREQ does not depend on set order
        if len(word) > 1 and all("\u4e00" <= ch <= "\u9fff" for ch in word):
            # at least as frequent as jieba's suggestion, so the word always cuts as one unit
            tk.add_word(word, freq=max(tk.suggest_freq(word, False), tk.FREQ.get(word, 0)), tag="n")
    return pt


def _zh_pairs(text: str, vocabulary: frozenset[str]) -> list[tuple[str, str]]:
    # HMM off: posseg's HMM is ~30x slower and, on classical Chinese, invents multi-character "words"
    pt = _pos_tokenizer(vocabulary)
    with _jieba_lock:
        return [(p.word, p.flag) for p in pt.cut(text, HMM=False)]


@lru_cache(maxsize=16)
def _prepared(vocabulary: frozenset[str]) -> tuple[frozenset[str], frozenset[str], int]:
    """(stripped vocabulary, its lower-cased form, longest word length), cached per vocabulary."""
    vocab = frozenset(w.strip() for w in vocabulary if w and w.strip())
    return vocab, frozenset(w.lower() for w in vocab), max((len(w) for w in vocab), default=0)


def tokenize(text: str, language: str, vocabulary: Collection[str] | None = None) -> list[str]:
    """Content-word tokens (zh: jieba POS filter + stoplist, 1-char tokens only if in the vocabulary; en: lemmas)."""
    _check_language(language)
    vocab = frozenset(vocabulary or ())
    stop = stopwords(language)
    if language == "en":
        out = []
        for tok in _EN_TOKEN.findall(text.lower()):
            lemma = lemmatize_en(tok)
            if tok in stop or lemma in stop or len(lemma) < 2:
                continue
            out.append(lemma)
        return out
    out = []
    for word, flag in _zh_pairs(text, vocab):
        word = word.strip()
        if not word or flag not in ZH_CONTENT_TAGS and word not in vocab:
            continue
        if word in stop and word not in vocab:
            continue
        if len(word) == 1 and word not in vocab:
            continue
        out.append(word)
    return out


def content_words(text: str, language: str, min_len: int = 1) -> list[str]:
    """Candidate keywords of a text: zh content words (jieba POS filter + stoplist) of >= min_len characters, single
    characters included (风, 月) beside the dictionary's multi-character words (梅花, 杨柳); en: lemmas."""
    _check_language(language)
    if language == "en":
        return [w for w in tokenize(text, "en") if len(w) >= max(min_len, 2)]
    stop = stopwords("zh")
    return [w for w, flag in _zh_pairs(text, frozenset())
            if (flag in ZH_CONTENT_TAGS or flag == "m" and len(w) == 1 and w not in _ZH_NUMERALS)
            and len(w.strip()) >= min_len and w not in stop and w.strip() == w]


def vocabulary_pieces(token: str, vocabulary: Collection[str]) -> list[str]:
    """Vocabulary words inside one Chinese token, greedy longest match (雪人 -> 雪 when 雪 is a keyword)."""
    vocab, _, max_len = _prepared(vocabulary if isinstance(vocabulary, frozenset) else frozenset(vocabulary))
    return _zh_vocab_pieces(token, vocab, max_len)


def _zh_vocab_pieces(token: str, vocab: frozenset[str], max_len: int) -> list[str]:
    """Vocabulary words inside a token by greedy longest match (明月 -> 月 when only 月 is a keyword)."""
    if token in vocab:
        return [token]
    pieces, i = [], 0
    while i < len(token):
        for n in range(min(max_len, len(token) - i), 0, -1):
            if token[i:i + n] in vocab:
                pieces.append(token[i:i + n])
                i += n
                break
        else:
            i += 1
    return pieces


def extract_keywords(text: str, language: str, vocabulary: Collection[str] | None = None) -> Counter[str]:
    """Keyword counts of a text; with a vocabulary only its words (zh: also found inside compound tokens)."""
    _check_language(language)
    if vocabulary is None:
        return Counter(tokenize(text, language))
    vocab, vocab_l, max_len = _prepared(vocabulary if isinstance(vocabulary, frozenset) else frozenset(vocabulary))
    if not vocab:
        return Counter()
    if language == "en":
        counts: Counter[str] = Counter()
        for tok in _EN_TOKEN.findall(text.lower()):
            lemma = lemmatize_en(tok)
            if lemma in vocab_l:
                counts[lemma] += 1
            elif tok in vocab_l:
                counts[tok] += 1
        return counts
    # zh: only the vocabulary's words are added to the private jieba dictionary; the POS/stoplist filter still
    # removes function words, then vocabulary words are read off each content token.
    counts = Counter()
    for tok in tokenize(text, language, vocab):
        counts.update(_zh_vocab_pieces(tok, vocab, max_len))
    return counts


def weigh(docs: Sequence[Counter[str]], scheme: str = "count") -> list[dict[str, float]]:
    """Per-document keyword weights: raw counts, or tf * (ln((1+N)/(1+df)) + 1) so every weight stays > 0."""
    if scheme not in WEIGHT_SCHEMES:
        raise Img2SongError(f"unknown weighting scheme {scheme!r}; expected one of {WEIGHT_SCHEMES}")
    if scheme == "count":
        return [{w: float(c) for w, c in d.items() if c > 0} for d in docs]
    n = len(docs)
    df: Counter[str] = Counter()
    for d in docs:
        df.update(w for w, c in d.items() if c > 0)
    idf = {w: math.log((1 + n) / (1 + k)) + 1.0 for w, k in df.items()}
    return [{w: float(c) * idf[w] for w, c in d.items() if c > 0} for d in docs]

