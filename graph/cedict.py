"""CC-CEDICT parsing and the reverse English -> Chinese map that lets English image tags reach Chinese keywords."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from graph.common.errors import CorpusError

_LINE = re.compile(r"^(\S+) (\S+) \[([^\]]*)\] /(.*)/\s*$")
_PAREN = re.compile(r"\([^)]*\)")
_SKIP_GLOSS = ("surname", "variant of", "old variant", "cl:", "used in", "abbr.", "see ", "also written",
               "japanese variant", "erhua variant", "(old)", "archaic variant")
_LEADING = ("a ", "an ", "the ")
# register marks: a gloss only valid in poetry/dialect/slang is not how an image tag is meant
_REGISTER = ("poetic", "literary", "lit.", "old", "slang", "dialect", "archaic", "classical", "fig.", "idiom")


@dataclass(frozen=True)
class Entry:
    traditional: str
    simplified: str
    pinyin: str
    glosses: tuple[str, ...]


def is_cjk(word: str) -> bool:
    """True when every character is a CJK unified ideograph."""
    return bool(word) and all("\u4e00" <= ch <= "\u9fff" for ch in word)


def parse_cedict(path: Path) -> list[Entry]:
    """All entries of a CC-CEDICT text file; a malformed line raises CorpusError with its line number."""
    out = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            if line.startswith("#") or not line.strip():
                continue
            m = _LINE.match(line)
            if not m:
                raise CorpusError(path, lineno, None, "not a CC-CEDICT entry: TRAD SIMP [pinyin] /gloss/")
            out.append(Entry(m[1], m[2], m[3], tuple(g for g in m[4].split("/") if g)))
    return out


def normalise_gloss(gloss: str) -> str:
    """'the moon (astronomy)' -> 'moon': the bare English head a tag can match."""
    g = _PAREN.sub("", gloss.lower()).strip(" .;,")
    for lead in _LEADING:
        g = g.removeprefix(lead)
    return " ".join(g.split())


def english_to_chinese(entries: list[Entry], max_len: int = 2, max_rank: int = 1) -> dict[str, list[str]]:
    """English noun -> simplified Chinese words (<= max_len chars) with it among their first glosses (no verbs)."""
    ranked: dict[str, list[tuple[int, str]]] = {}
    for e in entries:
        w = e.simplified
        if not is_cjk(w) or len(w) > max_len or e.pinyin[:1].isupper():  # capitalised pinyin = proper noun
            continue
        for rank, gloss in enumerate(e.glosses):
            if rank > max_rank:
                break
            low = gloss.lower()
            if any(low.startswith(s) or s in low for s in _SKIP_GLOSS) or low.startswith("to "):
                continue
            if any(mark in p for p in _PAREN.findall(low) for mark in _REGISTER):
                continue
            g = normalise_gloss(gloss)
            if not g or not re.fullmatch(r"[a-z][a-z' -]*", g):
                continue
            ranked.setdefault(g, []).append((rank, w))
    out = {}
    for g, pairs in ranked.items():
        seen: list[str] = []
        for _, w in sorted(pairs):
            if w not in seen:
                seen.append(w)
        out[g] = seen
    return out
