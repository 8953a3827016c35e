"""ImageNet class probabilities -> keyword-space tag vectors via WordNet hypernyms and the corpus lexicon."""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from engine.features.table import FeatureTable
from graph.common.errors import Img2SongError

HYPERNYMS_TSV = Path(__file__).resolve().parent / "imagenet_hypernyms.tsv"
NUM_CLASSES = 1000


@lru_cache(maxsize=2)
def load_hypernyms(path: Path = HYPERNYMS_TSV) -> tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]:
    """Class index -> (wnid, lemma levels: own names, parents' names, ...), read from the shipped TSV."""
    rows: dict[int, tuple[str, tuple[tuple[str, ...], ...]]] = {}
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        try:
            idx = int(parts[0])
        except ValueError:
            raise Img2SongError(f"{path}:{lineno}: field 'class index' is not an integer") from None
        if len(parts) < 3 or not parts[1].startswith("n"):
            raise Img2SongError(f"{path}:{lineno}: expected 'index<TAB>wnid<TAB>lemmas...'")
        rows[idx] = (parts[1], tuple(tuple(w for w in lv.split("|") if w) for lv in parts[2:]))
    if sorted(rows) != list(range(NUM_CLASSES)):
        raise Img2SongError(f"{path}: expected rows for ImageNet classes 0..{NUM_CLASSES - 1}, got {len(rows)}")
    return tuple(rows[i] for i in range(NUM_CLASSES))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class ImageNetTagger:
    """Maps each ImageNet class to the vocabulary keywords its name or any hypernym translates to.

    A keyword's tag value is the probability mass of the classes that reach it (so it lies in [0, 1]).
    """

    def __init__(self, vocabulary: Sequence[str], lexicon: dict[str, list[str]], max_depth: int | None = None):
        self.vocabulary = list(vocabulary)
        self.lexicon = lexicon
        self.max_depth = max_depth
        index = {kw: j for j, kw in enumerate(self.vocabulary)}
        lower = {kw.lower(): j for j, kw in enumerate(self.vocabulary)}
        self.mapping_ = np.zeros((NUM_CLASSES, len(self.vocabulary)), dtype=np.float32)
        self.reasons_: dict[tuple[int, str], str] = {}  # (class, keyword) -> English word that linked them
        for c, (_, levels) in enumerate(load_hypernyms()):
            for depth, words in enumerate(levels):
                if max_depth is not None and depth > max_depth:
                    break
                for w in words:
                    targets = [index[z] for z in lexicon.get(w, []) if z in index]
                    if w in lower:
                        targets.append(lower[w])
                    for j in targets:
                        if not self.mapping_[c, j]:
                            self.mapping_[c, j] = 1.0
                            self.reasons_[(c, self.vocabulary[j])] = w

    @property
    def covered_keywords(self) -> list[str]:
        """Keywords some ImageNet class can reach (the others always get 0)."""
        return [kw for j, kw in enumerate(self.vocabulary) if self.mapping_[:, j].any()]

    def tag_probs(self, logits: np.ndarray) -> np.ndarray:
        """[n, 1000] ImageNet logits -> [n, V] keyword tag mass."""
        logits = np.atleast_2d(np.asarray(logits, dtype=np.float64))
        if logits.shape[1] != NUM_CLASSES:
            raise Img2SongError(f"tags need {NUM_CLASSES} ImageNet logits per image, got {logits.shape[1]}")
        return (softmax(logits) @ self.mapping_).astype(np.float32)

    def table(self, logits: FeatureTable) -> FeatureTable:
        """Tag table over the same image ids as a logits table (meta records the vocabulary order)."""
        mat = self.tag_probs(logits.matrix) if len(logits) else np.zeros((0, len(self.vocabulary)), np.float32)
        return FeatureTable(list(logits.ids), mat, {"kind": "tags", "vocabulary": self.vocabulary,
                                                    "backbone": logits.meta.get("backbone", "")})


def top_keywords(tag_probs: np.ndarray, vocabulary: Sequence[str], n: int = 3,
                 min_mass: float = 0.05) -> tuple[str, ...]:
    """The n strongest keywords with at least `min_mass` (ties by vocabulary order); may be empty."""
    p = np.asarray(tag_probs, dtype=np.float64).reshape(-1)
    order = np.lexsort((np.arange(len(p)), -p))
    return tuple(vocabulary[j] for j in order[:n] if p[j] >= min_mass)
