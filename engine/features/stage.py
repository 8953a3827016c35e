"""What the features stage computes, as objects: keyword tags from ImageNet logits, the stage's description of its
tables, and the keyword probe with every image's keyword distribution (the stage, evaluation.stages.pipeline, saves them)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from engine.features.probe import KeywordProbe, keyword_targets
from engine.features.table import FeatureTable
from engine.features.tags import ImageNetTagger
from graph.bridge import Bridge, BridgeLexicon

if TYPE_CHECKING:
    from engine.features.extract import Extraction


def keyword_tags(logits: FeatureTable, vocabulary: list[str], lexicon: Any) -> tuple[FeatureTable, list[str]]:
    """Every image's keyword distribution from its ImageNet logits (hypernyms through the bilingual bridge), and the
    keywords these tags can reach at all."""
    tagger = ImageNetTagger(vocabulary, BridgeLexicon(Bridge(lexicon), vocabulary))
    return tagger.table(logits), tagger.covered_keywords


def features_meta(ext: Extraction, covered: list[str]) -> dict[str, Any]:
    """features.json: backbone, weights, runtime and numerics of the tables, the extraction report, and the keywords
    ImageNet tags reach."""
    return {"backbone": ext.features.meta["backbone"], "weights": ext.features.meta["weights"],
            "runtime": ext.features.meta.get("runtime"), "numerics": ext.features.meta.get("numerics"),
            "feature_dim": ext.features.dim, "images": len(ext.features), "report": ext.report.to_dict(),
            "tag_keywords_reachable": covered}


def fit_keyword_probe(features: FeatureTable, train_ids: Sequence[str],
                      image_keywords: Mapping[str, Mapping[str, float]], vocabulary: list[str],
                      seed: int = 0) -> tuple[KeywordProbe, FeatureTable, list[str]]:
    """Fit the keyword probe on the training images that have features and keywords, and give every image's keyword
    distribution (out-of-fold for training images, so that a model trained on them sees the same kind of input as
    a query); returns (probe, distribution table, the training images used)."""
    import numpy as np

    train = [i for i in train_ids if i in features and image_keywords.get(i)]
    y = keyword_targets(train, image_keywords, vocabulary)
    x = np.stack([features[i] for i in train]) if train else np.zeros((0, features.dim))
    probe = KeywordProbe(seed=seed, vocabulary=list(vocabulary)).fit(x, y)
    probs = probe.predict_proba(features.matrix)
    row = {i: r for r, i in enumerate(features.ids)}
    oof = probe.cross_val_predict(x, y)
    for r, i in enumerate(train):
        probs[row[i]] = oof[r]
    table = FeatureTable(list(features.ids), probs, {"kind": "keyword-probe", "vocabulary": vocabulary,
                                                     "out_of_fold": train})
    return probe, table, train
