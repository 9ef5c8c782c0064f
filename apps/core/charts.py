"""Charts drawn on the server as SVG coordinates (no chart library, works offline); `templates/_chart.html` draws them.

Every chart has a y axis with round ticks and its unit, x labels (a version's short name, its full name on hover),
a legend when it has several series, and each value on hover. A missing value (None) is skipped by a line and shown
as "—" by a bar chart, so a measure that cannot be computed (consistency of one repeat) never looks like a number.
"""

import math
from dataclasses import dataclass, field

COLORS = ("#3451d1", "#c4312b", "#2a8a4a", "#a86400")
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 12, 34
MISSING = "—"


@dataclass
class Point:
    x: str  # coordinates and titles are formatted here, not by template filters (dashboards draw hundreds)
    y: str
    title: str


@dataclass
class Tick:
    at: str
    label: str
    title: str = ""


@dataclass
class Chart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    y_unit: str = ""
    x_unit: str = ""
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    lines: list[dict] = field(default_factory=list)
    bars: list[dict] = field(default_factory=list)
    legend: list[dict] = field(default_factory=list)
    compact: bool = False


def format_value(value: float | None, unit: str = "") -> str:
    """A value as people read it: a share as a percentage, small numbers with decimals, large ones grouped."""
    if value is None:
        return MISSING
    if unit == "%":
        return f"{value * 100:.0f}%"
    text = f"{value:.2f}" if abs(value) < 10 else f"{value:,.0f}"
    return f"{text} {unit}".strip() if unit not in ("", "%") else text


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least `top`: steps of 1, 2, 2.5 or 5 times a power of ten."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    return [round(step * i, 10) for i in range(int(math.ceil(top / step - 1e-9)) + 1)]


def _frame(width, height, compact) -> dict:
    if compact:
        return {"width": width, "height": height, "left": 4, "right": width - 4, "top": 4, "bottom": height - 4}
    return {"width": width, "height": height, "left": LEFT, "right": width - RIGHT, "top": TOP,
            "bottom": height - BOTTOM}


def _y_axis(frame: dict, top: float, unit: str, compact: bool):
    ticks = [0.0, top] if compact else nice_ticks(top)
    top = ticks[-1] or 1.0

    def y(value: float) -> float:
        return frame["bottom"] - (frame["bottom"] - frame["top"]) * min(value, top) / top

    whole = all(float(t).is_integer() for t in ticks)
    labels = [Tick(f"{y(t):.1f}", format_value(t, "%") if unit == "%" else f"{t:,.0f}" if whole else f"{t:.2f}")
              for t in ticks]
    return y, labels


def _short(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def line_chart(labels: list[str], series: dict[str, list[float | None]], *, titles: list[str] | None = None,
               unit: str = "", top: float | None = None, width: int = 560, height: int = 200,
               compact: bool = False) -> dict:
    """One line per series over `labels` (x); `titles` are the labels' full names, shown on hover."""
    values = [v for vs in series.values() for v in vs if v is not None]
    if not labels or not values:
        return {}
    titles = titles or labels
    frame = _frame(width, height, compact)
    y, y_ticks = _y_axis(frame, top or max(values) or 1.0, unit, compact)
    # Each label gets a slot and its point sits in the slot's middle, so the first and last labels are not cut.
    step = (frame["right"] - frame["left"]) / len(labels)

    def x(index: int) -> float:
        return frame["left"] + step * (index + 0.5)

    lines = []
    for colour, (name, vs) in zip(COLORS * 4, series.items(), strict=False):
        placed = [(x(i), y(v), i, v) for i, v in enumerate(vs) if v is not None]
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in placed)
        lines.append({"name": name, "color": colour, "points": points,
                      "dots": [Point(f"{px:.1f}", f"{py:.1f}", f"{titles[i]} · {name}: {format_value(v, unit)}")
                               for px, py, i, v in placed]})
    x_ticks = [] if compact else [Tick(f"{x(i):.1f}", _short(label), titles[i]) for i, label in enumerate(labels)]
    legend = [{"name": line["name"], "color": line["color"]} for line in lines] if len(lines) > 1 else []
    return Chart(**frame, y_unit="" if unit == "%" else unit, y_ticks=y_ticks, x_ticks=x_ticks, lines=lines,
                 legend=legend, compact=compact).__dict__


def bar_chart(labels: list[str], values: list[float | None], *, titles: list[str] | None = None, unit: str = "",
              top: float | None = None, width: int = 560, height: int = 200) -> dict:
    """One bar per label; a None value is no bar and a "—" label (a measure that could not be computed)."""
    if not labels:
        return {}
    titles = titles or labels
    frame = _frame(width, height, False)
    y, y_ticks = _y_axis(frame, top or max((v for v in values if v is not None), default=0) or 1.0, unit, False)
    slot = (frame["right"] - frame["left"]) / len(labels)
    bars = []
    for index, value in enumerate(values):
        top_y = y(value or 0)
        bars.append({"x": f"{frame['left'] + slot * index + slot * 0.2:.1f}", "y": f"{top_y:.1f}",
                     "width": f"{slot * 0.6:.1f}", "height": f"{frame['bottom'] - top_y:.1f}",
                     "value": format_value(value, unit), "centre": f"{frame['left'] + slot * (index + 0.5):.1f}",
                     "value_y": f"{top_y - 3:.1f}", "title": f"{titles[index]}: {format_value(value, unit)}"})
    x_ticks = [Tick(bar["centre"], _short(label), title)
               for bar, label, title in zip(bars, labels, titles, strict=True)]
    return Chart(**frame, y_unit="" if unit == "%" else unit, y_ticks=y_ticks, x_ticks=x_ticks, bars=bars).__dict__


def xy_chart(series: dict[str, list[tuple[float, float]]], *, x_unit: str = "", y_unit: str = "",
             x_max: float | None = None, width: int = 560, height: int = 200) -> dict:
    """Lines over a numeric x axis (a fine-tune's loss per step)."""
    values = [v for points in series.values() for _, v in points]
    steps = [s for points in series.values() for s, _ in points]
    if not values:
        return {}
    frame = _frame(width, height, False)
    y, y_ticks = _y_axis(frame, max(values) or 1.0, y_unit, False)
    x_ticks_values = nice_ticks(max(x_max or 0, max(steps)) or 1.0)
    x_top = x_ticks_values[-1] or 1.0

    def x(step: float) -> float:
        return frame["left"] + (frame["right"] - frame["left"]) * step / x_top

    lines = []
    for colour, (name, points) in zip(COLORS * 4, series.items(), strict=False):
        drawn = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in points)
        lines.append({"name": name, "color": colour, "points": drawn,
                      "dots": [Point(f"{x(s):.1f}", f"{y(v):.1f}", f"{x_unit} {s:g} · {name}: {v:.3f}")
                               for s, v in points]})
    x_ticks = [Tick(f"{x(t):.1f}", f"{t:g}") for t in x_ticks_values]
    return Chart(**frame, y_unit=y_unit, x_unit=x_unit, y_ticks=y_ticks, x_ticks=x_ticks, lines=lines,
                 legend=[{"name": line["name"], "color": line["color"]} for line in lines]).__dict__
