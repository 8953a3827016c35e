"""RunDir's evaluate outputs: report (json, markdown, plot, html, screenshot), per-query rows, recommendations and
the ground truth's related-words cache.

A mixin of evaluation.stages.rundir.RunDir (which alone knows the paths): one save_X / load_X pair per artefact.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluation.stages.rundir_io import read_json
from graph.common.atomic import write_json, write_text
from graph.common.readers import iter_jsonl

if TYPE_CHECKING:
    from evaluation.measure.report import Report


class ReportFiles:
    """evaluate's and report's files of a run."""

    # --------------------------------------------------------------------------------- evaluate's outputs
    def save_report(self, report: Report) -> dict[str, Path]:
        """report.json, report.md, per_query.jsonl (the rows every figure comes from) and report.png, each atomic."""
        self.path.mkdir(parents=True, exist_ok=True)
        return {"json": write_json(self.report_json, report.to_json()),
                "markdown": write_text(self.report_md, report.markdown()),
                "per_query": _write_jsonl(self.per_query, report.rows),
                "plot": report.plot(self.report_png)}

    def load_report(self) -> Report:
        """The last evaluate's Report with its per-query rows (report.json first: run `evaluate` before)."""
        from evaluation.measure.report import Report  # deferred: matplotlib and the metrics

        doc = read_json(self.report_json, "evaluation report", "written by `img2song evaluate`")
        return Report.from_json(doc, self.load_per_query(), str(self.report_json))

    def load_per_query(self) -> list[dict[str, Any]]:
        """per_query.jsonl's rows ([] when absent); a malformed line is an error naming file and line."""
        return _read_jsonl(self.per_query)

    def save_recommendations(self, rows: list[dict[str, Any]]) -> Path:
        """recommendations.jsonl: one row per protocol, scorer and query (songs, scores, explanations)."""
        return _write_jsonl(self.recommendations, rows)

    def load_recommendations(self) -> list[dict[str, Any]]:
        return _read_jsonl(self.recommendations)

    def save_report_html(self, html: str) -> Path:
        """report.html (its thumbnails are written by the page builder into `report_thumbnails`, atomically)."""
        return write_text(self.report_html, html)

    def save_report_screenshot(self, width: int = 1280, height: int = 900) -> Path:
        """report_screenshot.png: the first screen of report.html in headless Chromium (written atomically)."""
        from evaluation.measure.browser import (
            screenshot_page,  # deferred: only `report --screenshot` and the demo
        )

        return screenshot_page(self.report_html, self.report_screenshot, width, height)

    def save_related_words(self, doc: dict[str, Any]) -> Path:
        """related_words.json: the ground truth's related words per keyword, with the key of their source."""
        return write_json(self.related_words, doc)

    def load_related_words(self) -> dict[str, Any]:
        """related_words.json ({} when absent or not an object: the cache is rebuilt)."""
        doc = read_json(self.related_words, "related words cache") if self.related_words.is_file() else {}
        return doc if isinstance(doc, dict) else {}



def _write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    return write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in iter_jsonl(path)] if path.is_file() else []


