"""The chart coordinates and labels, checked against hand-computed values."""

from apps.core.charts import bar_chart, format_value, line_chart, nice_ticks, xy_chart


def test_nice_ticks_are_round_and_reach_the_top():
    assert nice_ticks(1.0) == [0, 0.25, 0.5, 0.75, 1.0]
    assert nice_ticks(2.426) == [0, 1, 2, 3]
    assert nice_ticks(240) == [0, 100, 200, 300]
    assert nice_ticks(0) == [0.0, 1.0]


def test_values_read_as_people_read_them():
    assert format_value(0.667, "%") == "67%"
    assert format_value(1234.4, "ms") == "1,234 ms"
    assert format_value(0.5) == "0.50"
    assert format_value(None) == "—"


def test_line_chart_has_axes_legend_and_each_value_on_hover():
    chart = line_chart(["Plain v1 #1", "Plain v2 #2"], {"p50": [120, 240], "p95": [200, None]},
                       titles=["#1 GPT · Plain v1", "#2 GPT · Plain v2"], unit="ms")
    assert [t.label for t in chart["y_ticks"]] == ["0", "100", "200", "300"] and chart["y_unit"] == "ms"
    assert [(t.label, t.title) for t in chart["x_ticks"]] == [("Plain v1 #1", "#1 GPT · Plain v1"),
                                                              ("Plain v2 #2", "#2 GPT · Plain v2")]
    assert [entry["name"] for entry in chart["legend"]] == ["p50", "p95"]
    assert [d.title for d in chart["lines"][0]["dots"]] == ["#1 GPT · Plain v1 · p50: 120 ms",
                                                            "#2 GPT · Plain v2 · p50: 240 ms"]
    assert len(chart["lines"][1]["dots"]) == 1  # a missing value is skipped, not drawn as zero
    # 240 of a 300 axis, on a plot from y=12 to y=166
    assert chart["lines"][0]["dots"][1].y == f"{166 - 154 * 240 / 300:.1f}"


def test_bar_chart_shows_a_dash_for_a_value_that_needs_repeats():
    chart = bar_chart(["v1", "v2"], [0.8, None], top=1.0)
    assert [b["value"] for b in chart["bars"]] == ["0.80", "—"] and chart["bars"][1]["height"] == "0.0"
    assert chart["bars"][1]["title"] == "v2: —"


def test_loss_chart_has_a_step_axis_and_the_loss_on_hover():
    chart = xy_chart({"training loss": [(1, 2.426), (10, 1.2)]}, x_unit="step", y_unit="loss", x_max=20)
    assert [t.label for t in chart["x_ticks"]] == ["0", "5", "10", "15", "20"]
    assert [t.label for t in chart["y_ticks"]] == ["0", "1", "2", "3"]
    assert chart["lines"][0]["dots"][0].title == "step 1 · training loss: 2.426"
