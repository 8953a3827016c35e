"""Figures per kind of query image (real photos apart from drawings): hit rate per scorer and probe calibration.

The starter mixes drawings and photos (images.jsonl field `kind`); a product judged on users' photos must show its
photo figures apart, since drawings dominate the pooled numbers. Images without a kind are grouped as "unstated".
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np


def image_kinds(images: Sequence[Any]) -> dict[str, str]:
    """Image id -> "photo" | "drawing" | "unstated"."""
    return {img.id: getattr(img, "kind", "") or "unstated" for img in images}


def kind_figures(rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, str], k: int,
                 tags: Mapping[str, Sequence[float]] | None = None, tag_vocab: Sequence[str] = (),
                 queries: Mapping[str, Sequence[str]] | None = None, tag_source: str = "") -> dict[str, Any]:
    """{kind: {"queries", "hit_rate@k": {protocol: {scorer: {n: rate}}}, "keyword_probe": calibration}}; empty
    when every query is of one unstated kind (nothing to split)."""
    # deferred: engine.features pulls numpy-only code, but keep evaluation's import light
    from engine.features.probe import calibration_figures

    by: dict[str, dict[tuple[str, str, int], list[bool]]] = defaultdict(lambda: defaultdict(list))
    images: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        kind = kinds.get(r["image"], "unstated")
        by[kind][(r.get("protocol", "photo"), r["scorer"], int(r["n"]))].append(any(r["hits"][:k]))
        images[kind].add(r["image"])
    if set(images) <= {"unstated"}:
        return {}
    out: dict[str, Any] = {}
    index = {w: j for j, w in enumerate(tag_vocab)}
    for kind in sorted(images):
        rates: dict[str, dict[str, dict[str, float]]] = {}
        for (proto, scorer, n), hits in sorted(by[kind].items()):
            rates.setdefault(proto, {}).setdefault(scorer, {})[str(n)] = round(float(np.mean(hits)), 4)
        fig: dict[str, Any] = {"queries": len(images[kind]), f"hit_rate@{k}": rates}
        ids = sorted(i for i in images[kind] if tags is not None and i in tags and queries and queries.get(i))
        if ids:
            probs = np.stack([np.asarray(tags[i], dtype=np.float64) for i in ids])
            truth = [{index[w] for w in queries[i] if w in index} for i in ids]
            fig["keyword_probe"] = {"source": tag_source, **calibration_figures(probs, truth)}
        out[kind] = fig
    return out


def kind_markdown(by_kind: Mapping[str, Any] | None, k: int) -> list[str]:
    """Markdown lines: one hit-rate table per kind of query image (n = 0 and the largest n) and probe calibration."""
    if not by_kind:
        return []
    lines = ["## Query images by kind", "",
             "The same per-query rows split by the kind of query image (images.jsonl field `kind`); photos are "
             "what users send.", "", "| kind | queries | protocol | scorer | " + f"hit rate@{k} by n |", "|---|---|---|---|---|"]
    for kind, fig in by_kind.items():
        for proto, scorers in fig[f"hit_rate@{k}"].items():
            for scorer, by_n in scorers.items():
                cells = ", ".join(f"n={n}: " + ("—" if v is None else f"{v:.3f}") for n, v in by_n.items())
                lines.append(f"| {kind} | {fig['queries']} | {proto} | {scorer} | {cells} |")
    probe = {kind: fig["keyword_probe"] for kind, fig in by_kind.items() if "keyword_probe" in fig}
    if probe:
        lines += ["", "Keyword tags of the query images by kind (top-1: a true keyword first; ECE: top-1 expected "
                      "calibration error, 15 equal-width bins; confident-and-wrong: top-1 probability >= 0.8 and "
                      "wrong):", "", "| kind | queries | top-1 | mean top-1 probability | ECE | confident-and-wrong |",
                  "|---|---|---|---|---|---|"]
        for kind, p in probe.items():
            lines.append(f"| {kind} | {p['rows']} | {p.get('top1', float('nan')):.3f} | "
                         f"{p.get('mean_confidence', float('nan')):.3f} | {p.get('ece_15_bins', float('nan')):.3f} | "
                         f"{p.get('confident_wrong_0.8', float('nan')):.3f} |")
    return lines + [""]
