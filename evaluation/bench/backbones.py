"""Compare CNN backbones on a corpus and a run's split: keyword-probe accuracy, nearest-neighbour keyword agreement, extraction speed.

For every backbone, features of all corpus images are extracted (through the feature cache, so a later
`img2song features --backbone NAME` reuses them) and scored on the run's split:

- probe: the keyword probe (engine.features.probe, the one the features stage trains) is fitted on the training
  images only; top-1 / top-3 accuracy is measured on the query images (a hit: a true keyword among the k first).
- nearest neighbours: the k Euclidean-nearest training images of each query image (what the `ne` scorer uses);
  `nn_any` is the share of query images with at least one neighbour sharing a keyword, `nn_share` the mean share
  of the k neighbours that do. `*_cosine` repeats both on L2-normalised features.
- speed: images/s of the whole extraction path (read, decode, preprocess, forward) on one fixed set of images
  without the cache, the same batch size for all; rounds are interleaved across backbones and the fastest round
  counts, so load from other processes hits every backbone alike. Ratios are against the first backbone measured
  in the same process.

Run as `img2song bench backbones --run DIR` (the command loads the run and writes <run>/bench/backbones.json).
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.features.backbones import DEFAULT_BACKBONE, backbone_names, get_backbone
from engine.features.extract import extract_features
from engine.features.probe import KeywordProbe, keyword_targets, topk_accuracy
from engine.knn import knn
from graph.build import KeywordFile, Split
from graph.common.atomic import write_json
from graph.common.errors import Img2SongError
from graph.corpus import Corpus

DEFAULT_BACKBONES = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
Echo = Callable[[str], None]


@dataclass
class BackboneScore:
    """One backbone's figures on one run (accuracies on the run's query images)."""

    backbone: str
    resolution: int
    feature_dim: int
    parameters: int
    probe_top1: float
    probe_top3: float
    probe_validation_top1: float  # on the probe's own validation split of training images
    probe_l2: float
    nn_any: float
    nn_share: float
    nn_any_cosine: float
    nn_share_cosine: float
    images_per_s: float
    speed_ratio: float  # images_per_s / the first backbone's
    corpus_seconds: float  # projected extraction time of every corpus image at this rate


@dataclass
class Comparison:
    scores: list[BackboneScore]
    meta: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"meta": self.meta, "backbones": [asdict(s) for s in self.scores]}


def neighbour_agreement(query_x: np.ndarray, train_x: np.ndarray, query_kw: Sequence[set[str]],
                        train_kw: Sequence[set[str]], k: int = 5) -> tuple[float, float]:
    """(share of queries whose k nearest training rows include one sharing a keyword, mean share of the k that do)."""
    if not len(query_x) or not len(train_x):
        return float("nan"), float("nan")
    _, idx = knn(query_x, train_x, k)
    shares = np.array([np.mean([bool(query_kw[q] & train_kw[j]) for j in row]) for q, row in enumerate(idx)])
    return float(np.mean(shares > 0)), float(np.mean(shares))


def chance_agreement(query_kw: Sequence[set[str]], train_kw: Sequence[set[str]], k: int = 5) -> tuple[float, float]:
    """The same two figures for k training images drawn at random without replacement (expected values)."""
    n = len(train_kw)
    if not query_kw or n == 0:
        return float("nan"), float("nan")
    k = min(k, n)
    anys, shares = [], []
    for q in query_kw:
        m = sum(bool(q & t) for t in train_kw)
        shares.append(m / n)
        anys.append(1.0 - math.comb(n - m, k) / math.comb(n, k))
    return float(np.mean(anys)), float(np.mean(shares))


def _l2_normalise(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def time_extraction(names: Sequence[str], items: Sequence[tuple[str, Path]], batch_size: int = 32,
                    rounds: int = 3, progress: bool = True) -> dict[str, float]:
    """Fastest-round images/s of each backbone over `items` (no cache), rounds interleaved across backbones."""
    if not items:
        raise Img2SongError("backbone speed: no images to time")
    models = {n: get_backbone(n) for n in names}
    best = {n: math.inf for n in names}
    for r in range(rounds):
        for n, bb in models.items():
            t = time.perf_counter()
            ext = extract_features(items, bb, use_cache=False, batch_size=batch_size, progress=False)
            dt = time.perf_counter() - t
            if ext.report.computed != len(items):
                raise Img2SongError(f"backbone speed: {n} computed {ext.report.computed} of {len(items)} images "
                                    f"({'; '.join(ext.report.skip_lines('; '))})")
            best[n] = min(best[n], dt)
            if progress:
                print(f"  speed round {r + 1}/{rounds}: {n} {len(items) / dt:.1f} img/s", file=sys.stderr)
    return {n: len(items) / best[n] for n in names}


def compare_backbones(corpus: Corpus, split: Split, keywords: KeywordFile, out: str | Path,
                      backbones: Sequence[str] = DEFAULT_BACKBONES, k: int = 5,
                      batch_size: int = 32, speed_images: int = 96, rounds: int = 3, seed: int = 0,
                      max_images: int | None = None, cache_dir: str | Path | None = None, progress: bool = True,
                      echo: Echo = print, source: str = "") -> Comparison:
    """Score every backbone on a corpus and its train/query split (see the module doc); writes the JSON to `out`
    and returns the comparison (`source`: what the split is from, e.g. the run, recorded in the JSON).
    `max_images` scores every backbone on the same seeded sample of the images (training and query images in
    their split's proportions), for a loaded machine."""
    backbones = list(dict.fromkeys(backbones))
    unknown = [b for b in backbones if b not in backbone_names()]
    if unknown:
        raise Img2SongError(f"unknown backbone(s) {', '.join(unknown)}; known: {', '.join(backbone_names())}")
    kw = keywords
    items = [(img.id, corpus.image_path(img)) for img in corpus.images]
    n_corpus = len(items)
    train_ids = [i for i in split.train if kw.images.get(i)]
    query_ids = [i for i in split.query if kw.images.get(i)]
    if max_images is not None and max_images < len(train_ids) + len(query_ids):
        rng = np.random.default_rng(seed)
        n_q = max(1, round(max_images * len(query_ids) / (len(train_ids) + len(query_ids))))
        query_ids = sorted(rng.choice(query_ids, min(n_q, len(query_ids)), replace=False).tolist())
        train_ids = sorted(rng.choice(train_ids, max(0, max_images - len(query_ids)), replace=False).tolist())
        keep = set(train_ids) | set(query_ids)
        items = [(i, p) for i, p in items if i in keep]
    if len(train_ids) < 4 or not query_ids:
        raise Img2SongError(f"{source or 'the split'}: needs training and query images with keywords "
                            f"(got {len(train_ids)} and {len(query_ids)})")
    vocab = list(kw.vocabulary)
    index = {w: j for j, w in enumerate(vocab)}
    speed_items = [(i, Path(p)) for i, p in items[:speed_images]]
    echo(f"timing {len(speed_items)} images x {rounds} rounds per backbone (batch {batch_size}, "
         f"{torch.get_num_threads()} torch threads)")
    rates = time_extraction(backbones, speed_items, batch_size, rounds, progress)
    scores: list[BackboneScore] = []
    train_sets = [set(kw.images[i]) for i in train_ids]
    query_sets = [set(kw.images[i]) for i in query_ids]
    for name in backbones:
        bb = get_backbone(name)
        ext = extract_features(items, bb, cache_dir=cache_dir, batch_size=batch_size, progress=progress)
        feats = ext.features
        tr = [i for i in train_ids if i in feats]
        qu = [i for i in query_ids if i in feats]
        if len(tr) != len(train_ids) or len(qu) != len(query_ids):
            echo(f"{name}: features missing for {len(train_ids) - len(tr)} training and "
                 f"{len(query_ids) - len(qu)} query images ({'; '.join(ext.report.skip_lines('; '))})")
        xt = np.stack([feats[i] for i in tr]).astype(np.float64)
        xq = np.stack([feats[i] for i in qu]).astype(np.float64)
        probe = KeywordProbe(seed=seed, vocabulary=vocab).fit(xt, keyword_targets(tr, kw.images, vocab))
        truth = [{index[w] for w in kw.images[i] if w in index} for i in qu]
        pq = probe.predict_proba(xq)
        tr_kw = [set(kw.images[i]) for i in tr]
        qu_kw = [set(kw.images[i]) for i in qu]
        nn_any, nn_share = neighbour_agreement(xq, xt, qu_kw, tr_kw, k)
        cos_any, cos_share = neighbour_agreement(_l2_normalise(xq), _l2_normalise(xt), qu_kw, tr_kw, k)
        rate = rates[name]
        scores.append(BackboneScore(
            backbone=name, resolution=int(getattr(bb, "resolution", 224)), feature_dim=feats.dim,
            parameters=sum(p.numel() for p in bb.parameters()),
            probe_top1=topk_accuracy(pq, truth, 1), probe_top3=topk_accuracy(pq, truth, 3),
            probe_validation_top1=float(probe.validation_["top1"]), probe_l2=float(probe.l2_),
            nn_any=nn_any, nn_share=nn_share, nn_any_cosine=cos_any, nn_share_cosine=cos_share,
            images_per_s=rate, speed_ratio=rate / rates[backbones[0]], corpus_seconds=n_corpus / rate))
    chance_any, chance_share = chance_agreement(query_sets, train_sets, k)
    freq: dict[str, int] = {}
    for s in train_sets:
        for w in s:
            freq[w] = freq.get(w, 0) + 1
    common = max(sorted(freq), key=lambda w: freq[w])
    meta = {"run": source, "corpus_images": n_corpus, "scored_images": len(items), "max_images": max_images,
            "training_images": len(train_ids),
            "query_images": len(query_ids), "k": k, "batch_size": batch_size, "speed_images": len(speed_items),
            "rounds": rounds, "torch_threads": torch.get_num_threads(), "seed": seed, "baseline": backbones[0],
            "chance": {"nn_any": chance_any, "nn_share": chance_share,
                       "majority_top1": float(np.mean([common in s for s in query_sets])), "majority_keyword": common},
            "default_backbone": DEFAULT_BACKBONE}
    result = Comparison(scores, meta)
    path = write_json(Path(out), result.to_dict())
    for line in render_table(result).splitlines():
        echo(line)
    echo(f"wrote {path}")
    return result


def render_table(c: Comparison) -> str:
    """Markdown table of a comparison, with the chance levels below it."""
    m = c.meta
    head = (f"| backbone | input | params | probe top-1 | probe top-3 | NN@{m['k']} any | NN@{m['k']} share | "
            f"NN@{m['k']} any (cos) | img/s | vs {m['baseline']} | corpus s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for s in c.scores:
        lines.append(f"| {s.backbone} | {s.resolution} | {s.parameters / 1e6:.1f}M | {s.probe_top1:.3f} | "
                     f"{s.probe_top3:.3f} | {s.nn_any:.3f} | {s.nn_share:.3f} | {s.nn_any_cosine:.3f} | "
                     f"{s.images_per_s:.1f} | {s.speed_ratio:.2f}x | {s.corpus_seconds:.0f} |")
    ch = m["chance"]
    lines.append(f"\n{m['query_images']} query images, {m['training_images']} training images; chance: "
                 f"NN any {ch['nn_any']:.3f}, NN share {ch['nn_share']:.3f} (random training images), probe top-1 "
                 f"{ch['majority_top1']:.3f} (always '{ch['majority_keyword']}'). Speed: fastest of {m['rounds']} "
                 f"interleaved rounds over {m['speed_images']} images, batch {m['batch_size']}, "
                 f"{m['torch_threads']} torch threads; 'corpus s' projects {m['corpus_images']} images.")
    return "\n".join(lines)
