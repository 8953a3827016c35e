"""Can this evaluation tell the scorers apart? Query diversity, per-keyword (macro) hit rate, catalogue coverage.

Queries that carry the same keyword set share one ground truth, so the keyword set, not the query, is the unit of
evidence: 61 queries over 8 keyword sets are an 8-way classification, where a scorer that learnt one answer per set
scores like a perfect one. With m independent sets an exact two-sided sign (McNemar) test needs at least 6
discordant sets to reach p < 0.05 (2 * 0.5**6 = 0.031), so the smallest hit-rate difference it can ever detect is
6 / m. The report warns below MIN_KEYWORD_SETS = 30 effective sets (6 / 30 = 0.2: differences under 20 points
cannot be told apart). "Effective" is exp(entropy) of the sets' query shares (Hill number of order 1): 100 sets of
which one holds 90% of the queries count as few, not 100.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np

from evaluation.measure.metrics import hit_at_k, pad_hits

MIN_KEYWORD_SETS = 30  # 6 / 30 = 0.2: the smallest detectable hit-rate difference allowed before warning
MIN_DISCORDANT = 6  # discordant units an exact two-sided sign test needs for p < 0.05


def query_diversity(rows: list[dict[str, Any]], threshold: int = MIN_KEYWORD_SETS) -> dict[str, Any]:
    """Distinct and effective keyword sets of the evaluated queries, the smallest detectable difference, a warning."""
    sets: dict[str, frozenset[str]] = {}
    for r in rows:
        sets.setdefault(str(r["image"]), frozenset(str(w) for w in r.get("keywords", [])))
    counts = Counter(sets.values())
    q = len(sets)
    shares = np.array([c / q for c in counts.values()]) if q else np.zeros(0)
    effective = float(math.exp(-(shares * np.log(shares)).sum())) if q else 0.0
    out: dict[str, Any] = {
        "queries": q, "distinct_keyword_sets": len(counts), "effective_keyword_sets": round(effective, 2),
        "largest_set_share": round(float(shares.max()), 4) if q else 0.0,
        "min_detectable_difference": round(min(1.0, MIN_DISCORDANT / effective), 3) if effective else 1.0,
        "threshold": threshold, "warning": None,
    }
    if effective < threshold:
        out["warning"] = (f"the {q} queries carry {len(counts)} distinct keyword sets ({effective:.1f} effective, "
                          f"< {threshold}): a keyword set is one unit of evidence, so hit-rate differences under "
                          f"{out['min_detectable_difference']:.2f} cannot be told apart and a scorer that learnt "
                          "one answer per set scores like a perfect one; use queries with more varied keywords")
    return out


def macro_hit_rates(rows: list[dict[str, Any]], scorers: list[str], ns: list[int], k: int) -> dict[str, Any]:
    """scorer -> n -> mean over keywords of the hit rate of the queries carrying that keyword (each keyword counts
    once, however many queries carry it); beside it the per-query (micro) figure weighs frequent keywords more."""
    by: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in rows:
        by.setdefault((str(r["scorer"]), str(r["n"])), {})[str(r["image"])] = r
    out: dict[str, dict[str, float | None]] = {}
    for s in scorers:
        out[s] = {}
        for n in ns:
            got = by.get((s, str(n)), {})
            if not got:
                out[s][str(n)] = None  # no query answered: no figure (null in report.json, never NaN)
                continue
            images = sorted(got)
            hit = hit_at_k(pad_hits([got[i].get("hits", []) for i in images], k))
            per_kw: dict[str, list[float]] = {}
            for i, h in zip(images, hit.tolist()):
                for w in sorted(set(got[i].get("keywords", []))):  # sorted: the float sum below in one order
                    per_kw.setdefault(str(w), []).append(h)
            out[s][str(n)] = float(np.mean([np.mean(v) for v in per_kw.values()])) if per_kw else None
    return out


def catalogue_coverage(rows: list[dict[str, Any]], scorers: list[str], catalogue: int | None) -> dict[str, Any]:
    """scorer -> distinct songs its lists recommend over all queries, and their share of the catalogue."""
    out: dict[str, dict[str, Any]] = {}
    for s in scorers:
        songs = {str(x) for r in rows if r["scorer"] == s for x in r.get("songs", [])}
        out[s] = {"distinct_songs": len(songs),
                  "share": round(len(songs) / catalogue, 4) if catalogue else None}
    return out


def diagnostics(rows: list[dict[str, Any]], scorers: list[str], ns: list[int], k: int,
                catalogue: int | None) -> dict[str, Any]:
    """Everything the report's "can it tell scorers apart" section shows, per protocol."""
    protocols = sorted({str(r.get("protocol", "photo")) for r in rows}) or ["photo"]
    per = {p: [r for r in rows if str(r.get("protocol", "photo")) == p] for p in protocols}
    return {"query_diversity": query_diversity(rows), "catalogue_songs": catalogue,
            "macro_hit_rate": {p: macro_hit_rates(rs, scorers, ns, k) for p, rs in per.items()},
            "catalogue_coverage": {p: catalogue_coverage(rs, scorers, catalogue) for p, rs in per.items()}}


def markdown(diag: dict[str, Any], micro: dict[str, dict[str, Any]], k: int, ns: list[str]) -> list[str]:
    """The report.md section: warning first, then query diversity, macro beside micro hit rate, and coverage."""
    d = diag["query_diversity"]
    lines = ["## Can these queries tell the scorers apart?", ""]
    if d.get("warning"):
        lines += [f"> **Warning:** {d['warning']}.", ""]
    lines += [f"{d['queries']} query images carry **{d['distinct_keyword_sets']} distinct keyword sets** "
              f"({d['effective_keyword_sets']} effective; the largest holds {d['largest_set_share']:.0%} of the "
              f"queries): the smallest hit-rate difference an exact paired test could detect is "
              f"{d['min_detectable_difference']:.2f} (warning below {d['threshold']} effective sets).", ""]
    for proto, by_scorer in diag["macro_hit_rate"].items():
        names = list(by_scorer)
        lines += [f"### hit rate@{k}, per query (micro) / per keyword (macro), protocol `{proto}`", "",
                  "| n | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        mic = micro.get(proto, {})
        for n in ns:
            cells = []
            for s in names:
                m, mac = mic.get(s, {}).get(f"hit_rate@{k}", {}).get(n), by_scorer[s].get(n)
                cells.append(" / ".join("—" if v is None else f"{v:.3f}" for v in (m, mac)))
            lines.append(f"| {n} | " + " | ".join(cells) + " |")
        cov = diag["catalogue_coverage"][proto]
        total = diag.get("catalogue_songs")
        lines += ["", f"Catalogue coverage (`{proto}`): distinct songs in the scorer's lists"
                  + (f" / {total} songs" if total else "") + ": "
                  + ", ".join(f"{s} {c['distinct_songs']}" + (f" ({c['share']:.1%})" if c["share"] is not None
                                                              else "") for s, c in cov.items()), ""]
    return lines
