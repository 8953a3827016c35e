"""The features stage of a run: CNN features, ImageNet logits and keyword tags of every corpus image."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from graph.common.atomic import write_json
from graph.rundir import RunDir


def compute_run_features(run: RunDir | str | Path, backbone: str = "efficientnet-lite0",
                         weights: str | Path | None = None, cache_dir: str | Path | None = None,
                         batch_size: int = 32, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Extract features + tags into <run>/features/ and record the stage; returns paths, report and meta."""
    from engine.features.extract import extract_features
    from engine.features.tags import ImageNetTagger
    from engine.run import load_run_corpus, run_vocabulary

    run = RunDir.of(run).require_dir()
    corpus = load_run_corpus(run)
    items = [(img.id, corpus.image_path(img)) for img in corpus.images]
    ext = extract_features(items, backbone, weights=weights, cache_dir=cache_dir,
                           batch_size=batch_size, device=device, progress=progress)
    paths: dict[str, Any] = {"features": ext.features.save(run.features)}
    covered: list[str] = []
    if ext.logits is not None:
        paths["logits"] = ext.logits.save(run.logits)
        tagger = ImageNetTagger(run_vocabulary(run), corpus.lexicon)
        paths["tags"] = tagger.table(ext.logits).save(run.tags)
        covered = tagger.covered_keywords
    meta = {"backbone": ext.features.meta["backbone"], "weights": ext.features.meta["weights"],
            "feature_dim": ext.features.dim, "images": len(ext.features), "report": ext.report.to_dict(),
            "tag_keywords_reachable": covered}
    paths["meta"] = write_json(run.features_meta, meta)
    run.record("features", {"backbone": backbone, "weights": weights, "batch_size": batch_size, "device": device},
               paths)
    return {"paths": paths, "report": ext.report, "meta": meta}
