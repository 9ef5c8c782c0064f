"""Charts drawn on the server as SVG coordinates (no chart library, works offline); templates draw the shapes."""

from dataclasses import dataclass

PAD = 28


@dataclass
class Point:
    x: float
    y: float
    value: float | None
    label: str


def _top_label(top: float) -> str:
    return f"{top:.2f}" if top <= 1 else f"{top:,.0f}"


def line_chart(labels: list[str], series: dict[str, list[float | None]], *, top: float | None = None,
               width: int = 560, height: int = 180, pad: int = PAD) -> dict:
    """One polyline per series over `labels` on the x axis; a missing value breaks nothing, it is just skipped."""
    values = [v for vs in series.values() for v in vs if v is not None]
    if not labels or not values:
        return {}
    top = top or max(values) or 1.0
    step = (width - 2 * pad) / max(len(labels) - 1, 1)

    def place(index: int, value: float) -> Point:
        return Point(pad + step * index, height - pad - (height - 2 * pad) * value / top, value, labels[index])

    lines = []
    for name, vs in series.items():
        dots = [place(i, v) for i, v in enumerate(vs) if v is not None]
        lines.append({"name": name, "dots": dots, "points": " ".join(f"{d.x:.1f},{d.y:.1f}" for d in dots)})
    ticks = [{"x": pad + step * i, "label": label} for i, label in enumerate(labels)] if pad >= PAD else []
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
        bars.append({"x": PAD + slot * index + slot * 0.15, "y": height - PAD - bar_height, "width": slot * 0.7,
                     "height": bar_height, "value": value, "label": label, "centre": PAD + slot * (index + 0.5)})
    return {"width": width, "height": height, "bars": bars, "top": top, "top_label": _top_label(top), "pad": PAD,
            "baseline_y": height - PAD}
