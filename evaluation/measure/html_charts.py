"""Chart geometry for report.html: line charts with interval bands and a heat map, as plain numbers that the
Jinja2 template draws as inline SVG (no plotting library, no script, nothing fetched)."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf")


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


@dataclass
class Series:
    """One line: y per x position (None = no value), with a lower/upper band."""

    label: str
    color: str
    y: list[float | None]
    lo: list[float | None]
    hi: list[float | None]
    dashed: bool = False


@dataclass
class LineChart:
    title: str
    y_label: str
    x_labels: list[str]
    width: int = 460
    height: int = 280
    margin: tuple[int, int, int, int] = (24, 16, 40, 48)  # top, right, bottom, left
    series: list[Series] = field(default_factory=list)

    @property
    def plot_box(self) -> tuple[float, float, float, float]:
        top, right, bottom, left = self.margin
        return left, top, self.width - left - right, self.height - top - bottom

    def x(self, i: int) -> float:
        left, _, w, _ = self.plot_box
        n = len(self.x_labels)
        return left + (w * (i + 0.5) / n if n else 0)

    def y(self, v: float) -> float:
        _, top, _, h = self.plot_box
        return top + h * (1.0 - min(max(v, 0.0), 1.0))

    def y_ticks(self) -> list[tuple[float, str]]:
        return [(self.y(t / 5), f"{t / 5:.1f}") for t in range(6)]

    def x_ticks(self) -> list[tuple[float, str]]:
        return [(self.x(i), lab) for i, lab in enumerate(self.x_labels)]

    def polyline(self, s: Series) -> str:
        """'x,y x,y ...' of the defined points (a gap ends nothing: undefined points are just left out)."""
        return " ".join(f"{self.x(i):.1f},{self.y(v):.1f}" for i, v in enumerate(s.y) if _ok(v))

    def band(self, s: Series) -> str:
        """Polygon of the interval: upper bounds left to right, then lower bounds right to left."""
        pts = [(i, lo, hi) for i, (lo, hi) in enumerate(zip(s.lo, s.hi)) if _ok(lo) and _ok(hi)]
        if len(pts) < 2:
            return ""
        upper = [f"{self.x(i):.1f},{self.y(hi):.1f}" for i, _, hi in pts]
        lower = [f"{self.x(i):.1f},{self.y(lo):.1f}" for i, lo, _ in reversed(pts)]
        return " ".join(upper + lower)

    def points(self, s: Series) -> list[tuple[float, float, str]]:
        return [(self.x(i), self.y(v), f"{s.label} @ {self.x_labels[i]}: {v:.3f}") for i, v in enumerate(s.y)
                if _ok(v)]


@dataclass
class HeatCell:
    x: float
    y: float
    value: float | None
    count: int
    fill: str
    text: str
    title: str


@dataclass
class HeatMap:
    """Rows (e.g. keywords) x columns (e.g. scorers); value in [0, 1], None where no query had the row."""

    title: str
    rows: list[str]
    cols: list[str]
    cells: list[HeatCell]
    cell_w: int = 64
    cell_h: int = 18
    left: int = 90
    top: int = 40

    @property
    def width(self) -> int:
        return self.left + self.cell_w * len(self.cols) + 8

    @property
    def height(self) -> int:
        return self.top + self.cell_h * len(self.rows) + 8


def _ok(v: float | None) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v))


def heat_fill(v: float | None) -> str:
    """White (0) to dark green (1); grey for no data."""
    if not _ok(v):
        return "#eeeeee"
    t = min(max(float(v), 0.0), 1.0)  # type: ignore[arg-type]
    r, g, b = (int(round(a + (z - a) * t)) for a, z in ((247, 0), (252, 109), (245, 44)))
    return f"#{r:02x}{g:02x}{b:02x}"


def heat_map(title: str, rows: Sequence[str], cols: Sequence[str], values: dict[tuple[str, str], float | None],
             counts: dict[tuple[str, str], int]) -> HeatMap:
    """Cell (row, col) shows values[(row, col)] with its count of queries in the tooltip."""
    hm = HeatMap(title, list(rows), list(cols), [])
    hm.left = max(60, 14 * max((len(r) for r in rows), default=4) + 12)
    for r_i, r in enumerate(rows):
        for c_i, c in enumerate(cols):
            v, n = values.get((r, c)), counts.get((r, c), 0)
            text = f"{v:.2f}" if _ok(v) else "–"
            hm.cells.append(HeatCell(hm.left + c_i * hm.cell_w, hm.top + r_i * hm.cell_h, v, n, heat_fill(v), text,
                                     f"{r} / {c}: {text} over {n} queries"))
    return hm
