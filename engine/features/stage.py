"""The features stage of a run: CNN features, ImageNet logits and keyword tags of every corpus image."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from graph.bridge import Bridge, BridgeLexicon
from graph.common.atomic import remove_stale_temps, write_json
from graph.rundir import RunDir


def compute_run_features(run: RunDir | str | Path, backbone: str | None = None,
                         weights: str | Path | None = None, cache_dir: str | Path | None = None,
                         batch_size: int = 32, device: str = "cpu", progress: bool = True, use_cache: bool = True,
                         extract=None, runtime: str = "auto", precision: str = "fp32",
                         threads: int | None = None, num_workers: int | None = None) -> dict[str, Any]:
    """Extract features + tags into <run>/features/ and record the stage; returns paths, report and meta.

    `extract` replaces extract_features (same signature), e.g. engine.features.distributed.extract_sharded; when
    it returns None (a rank other than 0 of a sharded extraction) nothing is written here. `backbone` defaults to
    engine.features.backbones.DEFAULT_BACKBONE; `runtime`, `precision`, `threads` and `num_workers` are
    extract_features' (engine.features.runtime: auto = the fastest runtime that keeps eager's features on this
    device).
    """
    # deferred: the CNN stack pulls in torch; engine.run imports this package lazily too
    from engine.features.backbones import DEFAULT_BACKBONE
    from engine.features.extract import extract_features
    from engine.features.tags import ImageNetTagger
    from engine.run import load_run_corpus, run_vocabulary

    run = RunDir.of(run).require_dir()
    remove_stale_temps(run.features_dir)
    corpus = load_run_corpus(run)
    items = [(img.id, corpus.image_path(img)) for img in corpus.images]
    backbone = backbone or DEFAULT_BACKBONE
    ext = (extract or extract_features)(items, backbone, weights=weights, cache_dir=cache_dir, use_cache=use_cache,
                                        batch_size=batch_size, device=device, progress=progress, runtime=runtime,
                                        precision=precision, threads=threads, num_workers=num_workers)
    if ext is None:
        return {"paths": {}, "report": None, "meta": None}
    paths: dict[str, Any] = {"features": ext.features.save(run.features)}
    covered: list[str] = []
    if ext.logits is not None:
        paths["logits"] = ext.logits.save(run.logits)
        tagger = ImageNetTagger(run_vocabulary(run), BridgeLexicon(Bridge(corpus.lexicon), run_vocabulary(run)))
        paths["tags"] = tagger.table(ext.logits).save(run.tags)
        covered = tagger.covered_keywords
    meta = {"backbone": ext.features.meta["backbone"], "weights": ext.features.meta["weights"],
            "runtime": ext.features.meta.get("runtime"), "numerics": ext.features.meta.get("numerics"),
            "feature_dim": ext.features.dim, "images": len(ext.features), "report": ext.report.to_dict(),
            "tag_keywords_reachable": covered}
    paths["meta"] = write_json(run.features_meta, meta)
    run.record("features", {"backbone": backbone, "weights": weights, "batch_size": batch_size, "device": device,
                            "runtime": ext.features.meta.get("runtime"), "precision": precision},
               paths)
    return {"paths": paths, "report": ext.report, "meta": meta}


def train_keyword_probe(run: RunDir | str | Path, seed: int = 0) -> dict[str, Any]:
    """Fit the keyword probe on the run's training images and write every corpus image's keyword distribution
    (out-of-fold for training images, so that a model trained on them sees the same kind of input as a query)."""
    # deferred: the CNN stack pulls in torch; engine.run imports this package lazily too
    import numpy as np

    # deferred: the CNN stack pulls in torch; engine.run imports this package lazily too
    from engine.features.probe import KeywordProbe, keyword_targets
    from engine.features.table import FeatureTable

    run = RunDir.of(run).require_dir()
    feats = FeatureTable.load(run.features)
    kw = run.read_keywords()
    train = [i for i in run.read_split().train if i in feats and kw.images.get(i)]
    y = keyword_targets(train, kw.images, kw.vocabulary)
    x = np.stack([feats[i] for i in train]) if train else np.zeros((0, feats.dim))
    probe = KeywordProbe(seed=seed, vocabulary=list(kw.vocabulary)).fit(x, y)
    probs = probe.predict_proba(feats.matrix)
    row = {i: r for r, i in enumerate(feats.ids)}
    oof = probe.cross_val_predict(x, y)
    for r, i in enumerate(train):
        probs[row[i]] = oof[r]
    paths = {"probe": probe.save(run.keyword_probe),
             "probs": FeatureTable(list(feats.ids), probs, {"kind": "keyword-probe", "vocabulary": kw.vocabulary,
                                                            "out_of_fold": train}).save(run.keyword_probs)}
    run.record("keyword-probe", {"seed": seed, "training_images": len(train)},
               {**paths, "validation": probe.validation_})
    return {"paths": paths, "validation": probe.validation_, "training_images": len(train)}
