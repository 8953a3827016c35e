"""Comparison report: aggregates from per-query rows, written as JSON, Markdown (paper's Table 1), PNG, JSONL."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.measure import diagnostics as diag_mod
from evaluation.measure.metrics import (
    DEFINITIONS,
    bootstrap_ci,
    hit_at_k,
    pad_hits,
    precision_at_k,
)
from evaluation.measure.paired import paired_tests
from evaluation.measure.subsets import kind_markdown
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError

# Paper's Table 1 (hit rate@10), for side-by-side reading only; never used in any computation.
PAPER_TABLE1 = {"ne": {"5": 0.913, "10": 0.918, "50": 0.943, "100": 0.943},
                "km": {"5": 0.902, "10": 0.917, "50": 0.941, "100": 0.943},
                "pop": {"5": 0.124, "10": 0.157, "50": 0.356, "100": 0.378}}


@dataclass
class Report:
    """Per-scorer metrics keyed by n (as strings), paired tests, definitions, and the rows they come from."""

    scorers: dict[str, dict[str, Any]]
    paired_tests: dict[str, dict[str, Any]]
    meta: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)  # protocol -> {"scorers", "paired_tests"}
    retrieval: dict[str, Any] | None = None  # <run>/lstm/retrieval.json: {"retrieval": metrics, "details": ...}
    diagnostics: dict[str, Any] | None = None  # evaluation.measure.diagnostics: query diversity, macro hit rate, coverage

    def to_json(self) -> dict[str, Any]:
        k = self.meta.get("k", 10)
        doc = {"scorers": self.scorers, "paired_tests": self.paired_tests, "protocols": self.protocols,
               "definitions": {key.replace("@k", f"@{k}"): v for key, v in DEFINITIONS.items()},
               "paper_table1_hit_rate@10": PAPER_TABLE1, **self.meta}
        if self.diagnostics:
            doc["diagnostics"] = self.diagnostics
        if self.retrieval:
            doc["retrieval"] = self.retrieval["retrieval"]
            doc["retrieval_details"] = self.retrieval.get("details", {})
        return doc

    @classmethod
    def from_json(cls, doc: Any, rows: list[dict[str, Any]] | None = None, where: str = "report.json") -> Report:
        """The Report that `to_json` wrote (`rows`: per_query.jsonl's); to_json(from_json(d)) == d for any d that
        to_json wrote. A document without figures is an error naming `where`."""
        if not isinstance(doc, dict):
            raise Img2SongError(f"{where}: expected a JSON object (an `img2song evaluate` report)")
        if not isinstance(doc.get("scorers"), dict) and not (isinstance(doc.get("protocols"), dict)
                                                                and doc["protocols"]):
            raise Img2SongError(f"{where}: field 'scorers' (or 'protocols') is missing; rerun `img2song evaluate`")
        own = {"scorers", "paired_tests", "protocols", "definitions", "paper_table1_hit_rate@10", "diagnostics",
               "retrieval", "retrieval_details"}
        retrieval = ({"retrieval": doc["retrieval"], "details": doc.get("retrieval_details", {})}
                     if doc.get("retrieval") else None)
        return cls(dict(doc.get("scorers") or {}), dict(doc.get("paired_tests") or {}),
                   {key: v for key, v in doc.items() if key not in own}, list(rows or []),
                   protocols=dict(doc.get("protocols") or {}), retrieval=retrieval,
                   diagnostics=doc.get("diagnostics") or None)

    def markdown(self) -> str:
        k, ns = self.meta.get("k", 10), [str(n) for n in self.meta.get("ns", [])]
        lines = [f"# Image-to-song retrieval: hit rate@{k}", "",
                 (f"Run `{self.meta.get('run', '')}`: {self.meta.get('queries_evaluated', 0)} held-out query images "
                  f"evaluated (of {self.meta.get('queries_total', 0)}). Ground truth: "
                  + (f"{gt['description']}, " if (gt := self.meta.get("ground_truth", {})).get("description") else "")
                  + f"`{gt.get('source', '')}`."), ""]
        kp = self.meta.get("keyword_predictor") or {}
        if kp.get("queries"):
            lines += [(f"Keywords predicted from the pixels ({kp['source']}): top-1 accuracy {kp['top1']:.3f}, "
                       f"top-3 {kp['top3']:.3f} on the {kp['queries']} query images (always guessing the most "
                       f"frequent training keyword: {kp.get('majority_top1', float('nan')):.3f})."), ""]
        protocols = self.protocols or {"photo": {"scorers": self.scorers, "paired_tests": self.paired_tests}}
        if self.diagnostics:  # the warning comes before any figure it qualifies
            lines += diag_mod.markdown(self.diagnostics, {p: r["scorers"] for p, r in protocols.items()}, k, ns)
        for proto, res in protocols.items():
            lines += self._protocol_tables(proto, res["scorers"], res["paired_tests"], k, ns)
        lines += kind_markdown(self.meta.get("by_kind"), k)  # evaluation/measure/subsets.py: real photos apart
        lines += ["", "## Definitions", ""]
        lines += [f"- **{key.replace('@k', f'@{k}')}**: {v}" for key, v in DEFINITIONS.items()]
        lines += ["- **n**: number of related words per keyword taken into the ground truth (top n by edge weight); "
                  "n = 0 is the strict check: the lyrics contain the query image's keyword itself",
                  "", ("Every aggregate can be recomputed from `per_query.jsonl` (one row per scorer, n and query "
                       "image: keywords, recommended song ids, hits)."), ""]
        skips = {"queries dropped": self.meta.get("queries_dropped"), "scorer skips": self.meta.get("scorer_skips"),
                 "keywords without related words": self.meta.get("ground_truth", {}).get(
                     "keywords_without_related_words")}
        listed = [f"- {key}: {json.dumps(v, ensure_ascii=False)}" for key, v in skips.items() if v]
        lines += ["## Skips", "", *listed] if listed else ["No query, scorer or keyword was skipped."]
        if self.retrieval:
            # deferred: matplotlib / the LSTM report load only when a plot or table is drawn
            from evaluation.measure.retrieval import render_markdown

            lines += ["", render_markdown(self.retrieval["retrieval"], self.retrieval.get("details"))]
        return "\n".join(lines) + "\n"

    def _protocol_tables(self, proto: str, scorers: dict[str, Any], tests: dict[str, Any], k: int,
                         ns: list[str]) -> list[str]:
        names = list(scorers)
        paper = PAPER_TABLE1 if k == 10 and proto == "oracle" else {}  # the paper's numbers: hit rate@10, oracle
        definition = self.meta.get("protocol_definitions", {}).get(proto, "")
        lines = [f"## Protocol `{proto}`" + (f": {definition}" if definition else ""), "",
                 f"### hit rate@{k} (95% bootstrap interval)" + (" beside the paper's Table 1" if paper else ""), "",
                 "| n | " + " | ".join(f"{s} | paper {s}" if s in paper else s for s in names) + " |",
                 "|---|" + "|".join("---|---" if s in paper else "---" for s in names) + "|"]
        for n in ns:
            cells = []
            for s in names:
                cells.append(_cell(scorers[s], f"hit_rate@{k}", n))
                if s in paper:
                    cells.append(f"{paper[s][n]:.3f}" if n in paper[s] else "—")
            lines.append(f"| {_n_label(n)} | " + " | ".join(cells) + " |")
        failed = {s: m for s, m in scorers.items() if m.get("queries_failed")}
        if failed:  # each scorer's figures are over the queries it answered; the paired tests over those both did
            lines += ["", "Queries answered: " + ", ".join(f"{s} {m.get('queries', 0)}" for s, m in scorers.items())
                      + ". Failed: " + "; ".join(
                          f"{s} {m['queries_failed']} (" + ", ".join(f"{c} x {r}" for r, c in m["failure_reasons"].items())
                          + ")" for s, m in failed.items())
                      + ". A failed query counts in no figure of that scorer and in no paired test with it."]
        lines += ["", f"### precision@{k} (95% bootstrap interval)", "",
                  "| n | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for n in ns:
            lines.append(f"| {_n_label(n)} | " + " | ".join(_cell(scorers[s], f"precision@{k}", n)
                                                          for s in names) + " |")
        if tests:
            lines += ["", f"### Paired tests on per-query hit@{k} (`{proto}`)", "",
                      "| pair | n | difference [95% CI] | only first hits | only second hits | McNemar exact p "
                      f"| precision@{k} difference [95% CI] | sign-flip p |", "|---|---|---|---|---|---|---|---|"]
            for pair, by_n in tests.items():
                for n, t in by_n.items():
                    lo, hi = t["ci95"]
                    pr = t.get("precision")
                    prec = (f"{pr['diff']:+.3f} [{pr['ci95'][0]:+.3f}, {pr['ci95'][1]:+.3f}] | {pr['p_value']:.3g}"
                            if pr else "— | —")
                    lines.append(f"| {pair} | {n} | {t['diff']:+.3f} [{lo:+.3f}, {hi:+.3f}] | {t['only_first']} | "
                                 f"{t['only_second']} | {t['p_value']:.3g} | {prec} |")
        return lines + [""]

    def plot(self, path: str | Path) -> Path:
        """hit rate@k against n under the top-level protocol, one line per scorer with its interval; the paper's
        values dotted (they are oracle-protocol figures)."""
        # deferred: matplotlib / the LSTM report load only when a plot or table is drawn
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        k, ns = self.meta.get("k", 10), self.meta.get("ns", [])
        fig, ax = plt.subplots(figsize=(6, 4))
        for i, (name, m) in enumerate(self.scorers.items()):
            color = f"C{i}"
            y, lo, hi = ([np.nan if v is None else v for v in vals] for vals in (
                [m[f"hit_rate@{k}"][str(n)] for n in ns], [m[f"hit_rate@{k}_ci95"][str(n)][0] for n in ns],
                [m[f"hit_rate@{k}_ci95"][str(n)][1] for n in ns]))
            x = list(range(len(ns)))  # categorical: n = 0 has no place on a log axis
            ax.plot(x, y, "o-", color=color, label=name)
            ax.fill_between(x, lo, hi, color=color, alpha=0.15)
            if name in PAPER_TABLE1 and k == 10:
                ax.plot(x, [PAPER_TABLE1[name].get(str(n), np.nan) for n in ns], ":", color=color, alpha=0.6,
                        label=f"{name} (paper, oracle)")
        ax.set_xticks(range(len(ns)), [_n_label(str(n)) for n in ns])
        ax.set_xlabel("n related words per keyword")
        ax.set_title(f"protocol: {self.meta.get('scorers_protocol', 'photo')}", fontsize=9)
        ax.set_ylabel(f"hit rate@{k}")
        ax.set_ylim(0, 1.02)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = Path(path)
        try:
            with atomic_path(path) as tmp:
                fig.savefig(tmp, dpi=120)
        finally:
            plt.close(fig)
        return path


def _n_label(n: str) -> str:
    return "0 (keyword only)" if n == "0" else n


def _cell(m: dict[str, Any], metric: str, n: str) -> str:
    if m[metric][n] is None:
        return "— (no query answered)"
    lo, hi = m[f"{metric}_ci95"][n]
    return f"{m[metric][n]:.3f} [{lo:.3f}, {hi:.3f}]"


def _aggregate(rows: list[dict[str, Any]], scorers: list[str], ns: list[int], k: int, seed: int,
               n_boot: int, failures: dict[str, dict[str, int]] | None = None
               ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Metrics with intervals per scorer and n over the queries that scorer answered (`failures`: per scorer, the
    reasons it failed on the others, with counts), and paired tests (evaluation.measure.paired.ANCHORS against the others,
    each on the queries both answered)."""
    by: dict[tuple[str, int], dict[str, list[bool]]] = {}
    for r in rows:
        by.setdefault((r["scorer"], int(r["n"])), {})[r["image"]] = r["hits"]
    out: dict[str, dict[str, Any]] = {}
    per_query_hit: dict[tuple[str, int], dict[str, bool]] = {}
    per_query_prec: dict[tuple[str, int], dict[str, float]] = {}
    for s in scorers:
        reasons = dict((failures or {}).get(s) or {})
        m: dict[str, Any] = {f"hit_rate@{k}": {}, f"precision@{k}": {}, f"hit_rate@{k}_ci95": {},
                             f"precision@{k}_ci95": {}, "queries": 0, "queries_failed": sum(reasons.values()),
                             "failure_reasons": reasons}
        for n in ns:
            got = by.get((s, n), {})
            images = sorted(got)  # this scorer's answered queries: a failure is not a miss
            hits = pad_hits([got[i] for i in images], k)
            h, p = hit_at_k(hits), precision_at_k(hits, k)
            per_query_hit[(s, n)] = dict(zip(images, h.astype(bool).tolist()))
            per_query_prec[(s, n)] = dict(zip(images, p.tolist()))
            # a scorer that answered no query has no figure: null, not NaN (which JSON readers refuse)
            m[f"hit_rate@{k}"][str(n)] = float(h.mean()) if len(h) else None
            m[f"precision@{k}"][str(n)] = float(p.mean()) if len(p) else None
            m[f"hit_rate@{k}_ci95"][str(n)] = list(bootstrap_ci(h, n_boot, seed=seed)) if len(h) else [None, None]
            m[f"precision@{k}_ci95"][str(n)] = list(bootstrap_ci(p, n_boot, seed=seed)) if len(p) else [None, None]
            m["queries"] = len(images)
        out[s] = m
    tests = paired_tests(per_query_hit, per_query_prec, scorers, ns, n_boot, seed)
    return out, tests


def build_report(rows: list[dict[str, Any]], scorers: list[str], ns: list[int], k: int = 10, seed: int = 0,
                 n_boot: int = 2000, meta: dict[str, Any] | None = None,
                 protocols: list[str] | None = None) -> Report:
    """Aggregate per-query rows (protocol, scorer, n, image, hits) per protocol; the first protocol's figures are
    also the report's top-level `scorers` / `paired_tests` (named by `scorers_protocol`)."""
    protocols = protocols or sorted({r.get("protocol", "photo") for r in rows}) or ["photo"]
    per: dict[str, dict[str, Any]] = {}
    for p in protocols:
        sc, tests = _aggregate([r for r in rows if r.get("protocol", "photo") == p], scorers, ns, k, seed, n_boot,
                               ((meta or {}).get("scorer_skips") or {}).get(p))
        per[p] = {"scorers": sc, "paired_tests": tests}
    first = per[protocols[0]]
    diag = diag_mod.diagnostics(rows, scorers, ns, k, (meta or {}).get("catalogue_songs"))
    return Report(first["scorers"], first["paired_tests"],
                  {"k": k, "ns": list(ns), **(meta or {}), "scorers_protocol": protocols[0]}, rows, protocols=per,
                  diagnostics=diag)
