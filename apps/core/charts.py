"""Charts drawn on the server as SVG coordinates (no chart library, works offline); templates draw the shapes."""

from dataclasses import dataclass

PAD = 28


@dataclass
class Point:
    x: str  # coordinates and title formatted here, not by template filters (dashboards draw hundreds)
    y: str
    title: str


def _top_label(top: float) -> str:
    return f"{top:.2f}" if top <= 1 else f"{top:,.0f}"


def line_chart(labels: list[str], series: dict[str, list[float | None]], *, top: float | None = None,
               width: int = 560, height: int = 180, pad: int = PAD, dots: bool = True) -> dict:
    """One polyline per series over `labels` on the x axis; a missing value breaks nothing, it is just skipped."""
    values = [v for vs in series.values() for v in vs if v is not None]
    if not labels or not values:
        return {}
    top = top or max(values) or 1.0
    step = (width - 2 * pad) / max(len(labels) - 1, 1)

    def place(index: int, value: float) -> tuple[str, str]:
        return f"{pad + step * index:.1f}", f"{height - pad - (height - 2 * pad) * value / top:.1f}"

    lines = []
    for name, vs in series.items():
        placed = [(place(i, v), i, v) for i, v in enumerate(vs) if v is not None]
        lines.append({"name": name, "points": " ".join(f"{x},{y}" for (x, y), _, _ in placed),
                      "dots": [Point(x, y, f"{name} {labels[i]}: {_top_label(v)}") for (x, y), i, v in placed]
                      if dots else []})
    ticks = [{"x": f"{pad + step * i:.1f}", "label": label} for i, label in enumerate(labels)] if pad >= PAD else []
    return {"width": width, "height": height, "lines": lines, "ticks": ticks, "top": top, "pad": pad,
            "top_label": _top_label(top) if pad >= PAD else "", "baseline_y": height - pad}


def bar_chart(labels: list[str], values: list[float], *, top: float | None = None, width: int = 560,
              height: int = 180) -> dict:
    """Vertical bars, one per label."""
    if not labels:
        return {}
    top = top or max(values, default=0) or 1.0
    slot = (width - 2 * PAD) / len(labels)
    bars = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        bar_height = (height - 2 * PAD) * min(value, top) / top
        bars.append({"x": f"{PAD + slot * index + slot * 0.15:.1f}", "y": f"{height - PAD - bar_height:.1f}",
                     "width": f"{slot * 0.7:.1f}", "height": f"{bar_height:.1f}", "value": _top_label(value),
                     "label": label, "centre": f"{PAD + slot * (index + 0.5):.1f}",
                     "value_y": f"{height - PAD - bar_height - 3:.1f}"})
    return {"width": width, "height": height, "bars": bars, "top": top, "top_label": _top_label(top), "pad": PAD,
            "baseline_y": height - PAD}
