"""How surely an image shows a keyword it reaches: the confidence keyword selection weighs an image's reach by.

graph.captions.image_keywords gives every image-keyword edge the bridge draws (weight >= EDGE_THRESHOLD) with its
weight, summed over the image's texts that reached the keyword. Selection (graph.vocabulary.greedy_cover) counts an
image reached by a word with the edge's confidence in [0, 1], so that a word most images reach only weakly loses to
one they reach strongly. On the hand-labelled edges (tests/fixtures/sense_labels.tsv, every split: tuning data)
the evidence is, as measured with the bridge of session 7 (ROC AUC of right against wrong edges still drawn):
- the weight per reaching text: 0.57 on the starter's drawings, 0.73 on the emoji names of the second corpus; the
  weight summed over texts is worse on the starter (0.52): repeating a tag in the caption is no surer a sense;
- an edge every text of which reaches the keyword only as a WordNet kind of the tag (pattern -> design ->
  decoration -> 饰): right for 0.54 of such edges against 0.85 for a dictionary sense of the tag itself, and on the
  starter 0.23 at the kind's usual weight 0.8 (40 edges).
That rule, confidence = (w x KIND_CONFIDENCE for a kind-only edge - floor) / (1 - floor), clipped to [0, 1], where
w is the weight per text, is what selection weighs when the edge model is off (a bridge with edge_model=False);
floor None gives every edge 1 (the unweighted rule). With the model on (the default), an edge's confidence is the
model's P(right): a logistic regression over generic features of the edge (weight per text, how it was drawn, the
matched gloss's and the tag's sense ranks, corpus usage, polysemy; never the word), trained on the labelled edges
and checked on the blind split fresh13 (graph.edge_model, tests/fixtures/train_edge_model.py). Cross-validated
over the other splits its ROC AUC is 0.75 against 0.67 for the weight and how-drawn features alone.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from graph.bridge import Bridge
from graph.captions import readable_image
from graph.senses import KIND_RULE, bag
from graph.tag_text import describe, image_context

CONFIDENCE_FLOOR = 0.5  # a per-text weight at or below this counts nothing (chosen on the labelled tuning splits)
KIND_CONFIDENCE = 0.75  # factor on an edge only a WordNet kind of the tag draws (chosen on the same splits)


Reach = dict[str, "set[int] | dict[int, float]"]  # word -> the items it reaches (a set: each with confidence 1)


def confidences(reach: set[int] | dict[int, float]) -> dict[int, float]:
    """Item -> confidence of a word's reach (a set: 1 each)."""
    return reach if isinstance(reach, dict) else dict.fromkeys(reach, 1.0)


def insert_gain(covers: list[float], c: float, discount: float) -> float:
    """Gain of adding confidence c to an item already covered by `covers` (descending): the item is worth
    sum_k discount**k * (its k-th largest confidence), so c takes the first place it does not beat and every
    smaller confidence moves one place down (weights of 1: exactly discount**len(covers))."""
    pos = sum(1 for x in covers if x >= c)  # after equal ones: the same value, and exact for weights of 1
    g = discount ** pos * c
    for k in range(pos, len(covers)):
        g += (discount ** (k + 1) - discount ** k) * covers[k]
    return g


def edge_confidence(weight: float, texts: int, floor: float | None = CONFIDENCE_FLOOR, kind: bool = False,
                    kind_factor: float = KIND_CONFIDENCE, probability: float | None = None) -> float:
    """Confidence in [0, 1] of an edge of `weight` summed over `texts` texts: the edge model's P(right) when given,
    else the hand-set rule (module docstring); floor None: 1 (the unweighted rule)."""
    if floor is None:
        return 1.0
    if probability is not None:
        return min(1.0, max(0.0, probability))
    w = weight / max(texts, 1) * (kind_factor if kind else 1.0)
    return min(1.0, max(0.0, (w - floor) / (1.0 - floor)))


def kind_only(image, bridge: Bridge, why: Mapping[str, Sequence[str]]) -> set[str]:
    """Keywords every English text of `image` that reached them (`why`, from image_keywords) reaches only as a
    WordNet kind of the text (the bridge's Scored.rule): an edge through a hypernym, not a sense of the tag itself.
    A text that is not one of the image's own (a file-name back-off's shortened phrase) or is Chinese is no kind."""
    img = readable_image(image, bridge)
    own = {t for t in img.tags if img.tag_language == "en"} | ({img.caption} if img.language == "en" else set())
    own.discard("")
    context = image_context(img, ())
    description = describe(img, ()) if bridge.relatedness is not None else ""
    reach: dict[str, dict] = {}
    out = set()
    for kw, texts in why.items():
        rules = []
        for t in texts:
            if t not in own:
                rules.append("")
                continue
            if t not in reach:
                reach[t] = bridge.weighted_reach(t, context - bag(t), description)
            rules.append(reach[t][kw].rule if kw in reach[t] else "")
        if rules and all(r == KIND_RULE for r in rules):
            out.add(kw)
    return out
