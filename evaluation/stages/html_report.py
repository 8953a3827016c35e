"""report.html of an evaluated run: one self-contained page (no server, no network) rendered with Jinja2.

Data: <run>/report.json (metrics, intervals), per_query.jsonl (songs and hits per scorer, n and query),
recommendations.jsonl (each song's explanation, structured), the run's corpus (titles, lyrics, images).
Thumbnails (<= 128 px JPEG) go to <run>/report_assets/thumbs/; the page links them relatively, so the run
directory can be moved or opened from the file system as it is.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from engine.thumbnails import thumbnail
from evaluation.measure.html_charts import HeatMap, LineChart, Series, color, heat_map
from evaluation.stages.run_inputs import load_run_corpus
from evaluation.stages.rundir import RunDir
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.common.skips import SkipLog

TEMPLATE = "report.html.j2"


# --- page records ------------------------------------------------------------------------------------------
@dataclass
class Column:
    """One scorer of one protocol: a column of every card and a line of every chart."""

    key: str  # "ne", or "photo/ne" when report.json has several protocols
    label: str
    scorer: str
    protocol: str
    color: str


@dataclass
class SongCell:
    rank: int
    title: str
    artist: str
    snippet: list[tuple[str, bool]]  # lyric line as (text, highlighted) segments
    hits: str  # "1"/"0" per n (the order of Page.ns)
    why: str  # explanation text
    via: str | None = None  # NE: the neighbour image that brought it
    via_thumb: str | None = None
    via_rank: int | None = None
    backfill: bool = False


@dataclass
class Neighbour:
    image: str
    thumb: str | None
    rank: int
    cnn_distance: float | None
    songs: list[int]  # ranks (1-based) of the songs it brought


@dataclass
class CardColumn:
    column: Column
    songs: list[SongCell]
    neighbours: list[Neighbour] = field(default_factory=list)


@dataclass
class Card:
    image: str
    thumb: str | None
    keywords: list[str]
    columns: list[CardColumn]
    hits: dict[str, str]  # column key -> "1"/"0" per n: any hit among the k songs


@dataclass
class MetricRow:
    n: str
    cells: list[dict[str, Any]]  # per column: hit, hit_ci, prec, prec_ci (strings)


@dataclass
class Page:
    title: str
    run: str
    k: int
    ns: list[str]
    default_n: int  # index into ns
    columns: list[Column]
    tables: dict[str, list[MetricRow]]  # protocol -> rows
    paired: list[dict[str, Any]]
    charts: list[LineChart]
    heatmaps: list[HeatMap]  # one per n
    cards: list[Card]
    worst: dict[str, list[dict[str, Any]]]  # column key -> worst keywords at the default n
    keywords: list[str]
    notes: list[str]
    cards_total: int
    diagnostics: dict[str, Any] = field(default_factory=dict)  # see diagnostics_view


# --- can the queries tell scorers apart (evaluation.measure.diagnostics) ----------------------------------------------
def diagnostics_view(doc: dict[str, Any], columns: list[Column], protos: dict[str, dict[str, Any]], k: int,
                     ns: list[str]) -> dict[str, Any]:
    """report.json's diagnostics as the page shows them: the warning, diversity line, micro/macro rows, coverage."""
    diag = doc.get("diagnostics")
    if not isinstance(diag, dict) or not isinstance(diag.get("query_diversity"), dict):
        return {}
    macro, cov = diag.get("macro_hit_rate", {}), diag.get("catalogue_coverage", {})
    rows = []
    for n in ns:
        cells = []
        for c in columns:
            p = c.protocol or next(iter(macro), "")
            micro = protos[c.protocol]["scorers"][c.scorer].get(f"hit_rate@{k}", {}).get(n)
            cells.append({"micro": _fmt(micro), "macro": _fmt(macro.get(p, {}).get(c.scorer, {}).get(n))})
        rows.append({"n": n, "cells": cells})
    coverage = []
    for c in columns:
        got = cov.get(c.protocol or next(iter(cov), ""), {}).get(c.scorer, {})
        share = got.get("share")
        coverage.append({"distinct": got.get("distinct_songs", "—"),
                         "share": f"{share:.1%}" if isinstance(share, (int, float)) else "—"})
    return {"diversity": diag["query_diversity"], "rows": rows, "coverage": coverage,
            "catalogue": diag.get("catalogue_songs")}


# --- helpers -------------------------------------------------------------------------------------------------
def n_label(n: str) -> str:
    return "0 (keyword)" if str(n) == "0" else str(n)


def snippet(lyrics: str, words: list[str], width: int = 48) -> list[tuple[str, bool]]:
    """The first lyric line holding one of `words` (else the first line), cut to `width` characters around the
    first match, as segments with the matches flagged (case-insensitive)."""
    lines = [ln.strip() for ln in lyrics.splitlines() if ln.strip()] or [""]
    ws = sorted({w.lower() for w in words if w and w.strip()}, key=len, reverse=True)
    line = next((ln for ln in lines if any(w in ln.lower() for w in ws)), lines[0])
    low = line.lower()
    head = tail = ""
    if len(line) > width:
        first = min((low.find(w) for w in ws if w in low), default=0)
        start = max(0, min(first - width // 3, len(line) - width))
        head, tail = ("…" if start else ""), ("…" if start + width < len(line) else "")
        line, low = line[start:start + width], low[start:start + width]
    segs: list[tuple[str, bool]] = []
    i = plain = 0
    while i < len(line):
        w = next((w for w in ws if low.startswith(w, i)), None)
        if w:
            if plain < i:
                segs.append((line[plain:i], False))
            segs.append((line[i:i + len(w)], True))
            i = plain = i + len(w)
        else:
            i += 1
    if plain < len(line):
        segs.append((line[plain:], False))
    if head:
        segs[:1] = [(head + segs[0][0], False)] if not segs[0][1] else [(head, False), segs[0]]
    if tail:
        segs[-1:] = [(segs[-1][0] + tail, False)] if not segs[-1][1] else [segs[-1], (tail, False)]
    return segs


def _fmt(v: Any) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.3f}"


def _ci(v: Any) -> str:
    return f"[{_fmt(v[0])}, {_fmt(v[1])}]" if isinstance(v, (list, tuple)) and len(v) == 2 else ""


class Thumbs:
    """Corpus image id -> thumbnail path relative to the page (made once, atomically), failures counted."""

    def __init__(self, corpus: Any, run: RunDir, size: int = 128) -> None:
        self.corpus, self.size = corpus, size
        self.page_dir = run.report_html.parent
        self.dir = run.report_thumbnails
        self.done: dict[str, str | None] = {}
        self.skips = SkipLog()

    def __call__(self, image_id: str) -> str | None:
        if image_id not in self.done:
            self.done[image_id] = self._make(image_id)
        return self.done[image_id]

    def _make(self, image_id: str) -> str | None:
        try:
            src = self.corpus.image_path(image_id)
        except KeyError:
            self.skips.skip("image id not in the corpus", image_id)
            return None
        try:
            st = src.stat()
        except OSError:
            self.skips.skip("image file missing", str(src))
            return None
        key = hashlib.sha1(f"{image_id}\0{src}\0{st.st_size}\0{st.st_mtime_ns}\0{self.size}".encode()).hexdigest()
        out = self.dir / f"{key[:20]}.jpg"
        if not out.is_file():
            try:
                im = thumbnail(src, self.size)
            except Img2SongError:
                self.skips.skip("image file unreadable", str(src))
                return None
            with atomic_path(out) as tmp:
                im.save(tmp, "JPEG", quality=85)
        return out.relative_to(self.page_dir).as_posix()


def check_one_evaluation(run: RunDir, doc: dict[str, Any], rows: list[dict[str, Any]],
                         recs: list[dict[str, Any]]) -> None:
    """report.json, per_query.jsonl and recommendations.jsonl must come from one `evaluate` (its evaluation_id);
    files written before ids existed carry none and are not checked."""
    ids = {run.report_json.name: {doc.get("evaluation_id")}, run.per_query.name: {r.get("evaluation_id") for r in rows},
           run.recommendations.name: {r.get("evaluation_id") for r in recs}}
    ids = {name: got for name, got in ids.items() if got}  # an absent file (no rows) says nothing
    if len(set().union(*ids.values())) > 1:
        which = "; ".join(f"{name}: {', '.join(sorted(str(i) for i in got))}" for name, got in ids.items())
        raise Img2SongError(f"{run.path}: the evaluation outputs come from different `img2song evaluate` runs "
                            f"(evaluation ids {which}); an evaluate was interrupted: rerun `img2song evaluate "
                            f"--run {run.path}`")


def protocols_of(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """protocol -> {"scorers": ..., "paired_tests": ...}; a report without `protocols` is one unnamed protocol."""
    if isinstance(doc.get("protocols"), dict) and doc["protocols"]:
        return {str(p): v for p, v in doc["protocols"].items() if isinstance(v, dict) and "scorers" in v}
    if not isinstance(doc.get("scorers"), dict):
        raise Img2SongError("report.json: field 'scorers' (or 'protocols') is missing; rerun `img2song evaluate`")
    return {"": {"scorers": doc["scorers"], "paired_tests": doc.get("paired_tests", {})}}


def _key(protocol: str, scorer: str) -> str:
    return f"{protocol}/{scorer}" if protocol else scorer


# --- the page -------------------------------------------------------------------------------------------------
def build_page(run_dir: RunDir | str | Path, max_cards: int = 500, thumb_px: int = 128) -> Page:
    """Everything report.html shows, from the run's files (report.json first: run `evaluate` before)."""
    run = RunDir.of(run_dir)
    report = run.load_report()
    doc = report.to_json()
    k = int(doc.get("k", 10))
    ns = [str(n) for n in doc.get("ns", [])]
    protos = protocols_of(doc)
    columns = [Column(_key(p, s), f"{s} · {p}" if p else s, s, p, color(i))
               for i, (p, s) in enumerate((p, s) for p, v in protos.items() for s in v["scorers"])]
    if not ns:
        ns = sorted({n for c in columns for n in protos[c.protocol]["scorers"][c.scorer].get(f"hit_rate@{k}", {})},
                    key=int)
    default_n = next((i for i, n in enumerate(ns) if n != "0"), 0)
    tables = {p: [MetricRow(n, [_metric_cell(protos[c.protocol]["scorers"][c.scorer], k, n) for c in columns
                                if c.protocol == p]) for n in ns] for p in protos}
    charts = [_chart(f"{m}@{k} vs n", f"{m}@{k}", m, k, ns, columns, protos) for m in ("hit_rate", "precision")]
    paired = [{"protocol": p, "pair": pair, "n": n, **t} for p, v in protos.items()
              for pair, by_n in (v.get("paired_tests") or {}).items() for n, t in by_n.items()]

    rows = report.rows
    recs = run.load_recommendations()
    check_one_evaluation(run, doc, rows, recs)
    corpus = load_run_corpus(run)
    thumbs = Thumbs(corpus, run, thumb_px)
    by_key = {(_key(str(r.get("protocol", "")), str(r["scorer"])), str(r["n"]), str(r["image"])): r for r in rows}
    rec_by = {(_key(str(r.get("protocol", "")), str(r["scorer"])), str(r["image"])): r for r in recs}
    images: dict[str, list[str]] = {}
    for r in rows:
        images.setdefault(str(r["image"]), [str(w) for w in r.get("keywords", [])])
    keywords = sorted({w for kws in images.values() for w in kws})
    hits = {(c.key, i): "".join("1" if any(by_key.get((c.key, n, i), {}).get("hits", [])) else "0" for n in ns)
            for c in columns for i in images}
    heatmaps, worst = _keyword_views(images, columns, ns, by_key, k, default_n)
    notes = []
    if len(images) > max_cards:
        notes.append(f"cards of the first {max_cards} of {len(images)} query images (by id) are shown")
    if not recs:
        notes.append(f"no {run.recommendations.name} in the run: explanations are not shown (rerun "
                     "`img2song evaluate`)")
    songs = {s.id: s for s in corpus.songs}
    cards = [_card(i, images[i], columns, ns, by_key, rec_by, songs, thumbs, hits)
             for i in sorted(images)[:max_cards]]
    notes += [f"thumbnails: {line}" for line in thumbs.skips.skip_lines()]
    return Page(f"img2song report: {run.path.name}", str(run.path), k, ns, default_n, columns, tables, paired,
                charts, heatmaps, cards, worst, keywords, notes, len(images),
                diagnostics_view(doc, columns, protos, k, ns))


def _metric_cell(m: dict[str, Any], k: int, n: str) -> dict[str, Any]:
    return {"hit": _fmt(m.get(f"hit_rate@{k}", {}).get(n)), "hit_ci": _ci(m.get(f"hit_rate@{k}_ci95", {}).get(n)),
            "prec": _fmt(m.get(f"precision@{k}", {}).get(n)),
            "prec_ci": _ci(m.get(f"precision@{k}_ci95", {}).get(n))}


def _chart(title: str, y_label: str, metric: str, k: int, ns: list[str], columns: list[Column],
           protos: dict[str, dict[str, Any]]) -> LineChart:
    chart = LineChart(title, y_label, [n_label(n) for n in ns])
    for c in columns:
        m = protos[c.protocol]["scorers"][c.scorer]
        val, ci = m.get(f"{metric}@{k}", {}), m.get(f"{metric}@{k}_ci95", {})
        chart.series.append(Series(c.label, c.color, [val.get(n) for n in ns],
                                   [(ci.get(n) or [None, None])[0] for n in ns],
                                   [(ci.get(n) or [None, None])[1] for n in ns], dashed=c.protocol == "oracle"))
    return chart


def _keyword_views(images: dict[str, list[str]], columns: list[Column], ns: list[str], by_key: dict, k: int,
                   default_n: int) -> tuple[list[HeatMap], dict[str, list[dict[str, Any]]]]:
    """Per-keyword hit rate (a query counts for each of its keywords): one heat map per n, and each column's
    worst keywords at the default n."""
    per_kw: dict[str, list[str]] = defaultdict(list)
    for i, kws in images.items():
        for w in kws:
            per_kw[w].append(i)
    order = sorted(per_kw, key=lambda w: (-len(per_kw[w]), w))[:100]
    heatmaps, worst = [], {}
    for n_i, n in enumerate(ns):
        values, counts, prec = {}, {}, {}
        for w in order:
            for c in columns:
                got = [by_key[(c.key, n, i)]["hits"] for i in per_kw[w] if (c.key, n, i) in by_key]
                counts[(w, c.label)] = len(got)
                values[(w, c.label)] = sum(any(h) for h in got) / len(got) if got else None
                prec[(w, c.label)] = sum(sum(map(bool, h)) / k for h in got) / len(got) if got else None
        heatmaps.append(heat_map(f"hit-rate@{k} per keyword, n = {n_label(n)}", order, [c.label for c in columns],
                                 values, counts))
        if n_i == default_n:
            for c in columns:
                rows = [{"keyword": w, "queries": counts[(w, c.label)], "hit_rate": values[(w, c.label)],
                         "precision": prec[(w, c.label)]} for w in order if counts[(w, c.label)]]
                rows.sort(key=lambda r: (r["hit_rate"], r["precision"], -r["queries"], r["keyword"]))
                worst[c.key] = [r | {"hit_rate": _fmt(r["hit_rate"]), "precision": _fmt(r["precision"])}
                                for r in rows[:8]]
    return heatmaps, worst


def _card(image: str, kws: list[str], columns: list[Column], ns: list[str], by_key: dict, rec_by: dict,
          songs: dict[str, Any], thumbs: Thumbs, hits: dict) -> Card:
    cols = []
    for c in columns:
        row = next((by_key[(c.key, n, image)] for n in ns if (c.key, n, image) in by_key), None)
        if row is None:
            continue
        rec = rec_by.get((c.key, image), {})
        whys, details = rec.get("explanations") or [], rec.get("details") or []
        cells, neigh = [], {}
        for j, sid in enumerate(row["songs"]):
            s = songs.get(sid)
            detail = details[j] if j < len(details) and isinstance(details[j], dict) else {}
            matched = list(detail.get("matched", {})) if isinstance(detail.get("matched"), dict) else []
            cell = SongCell(j + 1, s.title if s else sid, (s.artist if s else "") or "unknown",
                            snippet(s.lyrics if s else "", matched or kws),
                            "".join("1" if _hit(by_key.get((c.key, n, image)), j) else "0" for n in ns),
                            str(whys[j]) if j < len(whys) else "", backfill=bool(detail.get("backfill")))
            if detail.get("image") is not None:
                via = str(detail["image"])
                cell.via, cell.via_thumb, cell.via_rank = via, thumbs(via), detail.get("neighbour")
                nb = neigh.setdefault(via, Neighbour(via, cell.via_thumb, int(detail.get("neighbour") or 0),
                                                     detail.get("cnn_distance"), []))
                nb.songs.append(j + 1)
            cells.append(cell)
        cols.append(CardColumn(c, cells, sorted(neigh.values(), key=lambda nb: nb.rank)))
    return Card(image, thumbs(image), kws, cols, {c.key: hits[(c.key, image)] for c in columns})


def _hit(row: dict | None, j: int) -> bool:
    return bool(row and j < len(row.get("hits", [])) and row["hits"][j])


def recommendation_rows(recs: dict[str, dict[str, dict[str, list[Any]]]], images: list[str],
                        evaluation_id: str | None = None) -> list[dict[str, Any]]:
    """recommendations.jsonl's rows from recs[protocol][scorer][image]: one per protocol, scorer and query
    (songs, scores, explanations, structured details), what per_query.jsonl (one row per n) does not repeat."""
    rows = [{"protocol": p, "scorer": name, "image": i, "songs": [r.song_id for r in got[i]],
             "scores": [float(r.score) for r in got[i]], "explanations": [r.explanation for r in got[i]],
             "details": [getattr(r, "detail", None) for r in got[i]],
             **({"evaluation_id": evaluation_id} if evaluation_id else {})}
            for p, by_scorer in recs.items() for name, got in by_scorer.items() for i in images if i in got]
    return rows


def render_html(page: Page) -> str:
    """The page through templates/report.html.j2 (autoescape on: every corpus string is shown as text)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                             autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
                             lstrip_blocks=True)
    data = {"ns": page.ns, "defaultN": page.default_n, "columns": [c.key for c in page.columns]}
    return env.get_template(TEMPLATE).render(page=page, data=data, n_label=n_label)


def write_html_report(run_dir: RunDir | str | Path, max_cards: int = 500, thumb_px: int = 128) -> Path:
    """Render <run>/report.html (thumbnails into <run>/report_assets/thumbs/); returns its path."""
    run = RunDir.of(run_dir)
    return run.save_report_html(render_html(build_page(run, max_cards, thumb_px)))


def screenshot(run_dir: RunDir | str | Path, width: int = 1280, height: int = 900) -> Path:
    """<run>/report_screenshot.png: the first screen of <run>/report.html in headless Chromium."""
    return RunDir.of(run_dir).save_report_screenshot(width, height)
