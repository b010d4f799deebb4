"""ECharts options for every chart of the dashboard (plain dicts, no UI).

Each builder returns options with a fixed list of series; live updates only replace the
``data`` of those series (``set_data``), so a chart is never rebuilt.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from energy_core.health.analysis import HealthState, HealthThresholds, MetricSnapshot
from energy_core.telemetry.catalogue import Language, variable
from energy_ui.dashboard.series import (
    FeedbackArea,
    Histogram,
    Point,
    ScatterPair,
    epoch_ms,
    matrix_pairs,
    padded_range,
)
from energy_ui.i18n import text

Options = dict[str, Any]

BLUE = "#2563eb"
BLUE_SOFT = "rgba(37, 99, 235, 0.16)"
GREY_BLUE = "rgba(71, 85, 105, 0.55)"
RED = "#dc2626"
GREEN = "#16a34a"
AMBER = "#f59e0b"
TEXT = "#334155"
GRID_LINE = "#e2e8f0"
FALSE_ALARM_AREA = "rgba(22, 163, 74, 0.13)"
CONFIRMED_AREA = "rgba(220, 38, 38, 0.13)"
EXPECTED_AREA = "rgba(100, 116, 139, 0.2)"
EXPECTED_EDGE = "rgba(71, 85, 105, 0.55)"
HEALTH_COLORS = {HealthState.NORMAL: GREEN, HealthState.CAUTION: AMBER, HealthState.CRITICAL: RED}

_LOCALE = {"es": "es-ES", "en": "en-GB"}
DECIMALS = {
    "voltage": 1,
    "current": 2,
    "active_power": 2,
    "power_factor": 3,
    "frequency": 2,
    "motor_temperature": 1,
    "reactive_power": 2,
    "apparent_power": 2,
    "energy_import": 3,
    "energy_export": 3,
}


def set_data(options: Options, index: int, data: Sequence[Any]) -> None:
    """Replace the data of series ``index`` in place (one observable change)."""
    options["series"][index]["data"] = list(data)


Envelopes = tuple[list[Point], list[Point], list[Point]]
"""An envelope's low edge, band and mean (``Envelope.points``)."""
Band = tuple[list[Point], list[Point]]
"""The expected band's low edge and width (``Envelope.expected_points``)."""
EXPECTED_SERIES = (4, 5)
"""The envelope chart's series of the expected band: its low edge, then its width."""
Bounds = tuple[float, float] | None
"""An axis' (min, max); ``None``: ECharts fits the axis to the data."""

TIME_PADDING_MS = 5 * 60_000
"""Time left either side of an envelope of one bucket (a meter that just started reporting)."""
_MINUTE_MS = 60_000
_ISOLATED_SYMBOL = "(value) => value[2] === 1 ? 'circle' : 'none'"
"""The mean line's symbol: only its isolated points (marked by ``mean_line``) have one."""


def mean_line(mean: Sequence[Point]) -> list[Point]:
    """The mean line's points; one whose neighbours are gaps (or missing) gets a third
    value, 1, that gives it a symbol: a line of one point draws nothing."""
    line: list[Point] = []
    for index, point in enumerate(mean):
        before = mean[index - 1][1] if index else None
        after = mean[index + 1][1] if index + 1 < len(mean) else None
        alone = point[1] is not None and before is None and after is None
        line.append((point[0], point[1], 1) if alone else point)
    return line


def envelope_bounds(points: Envelopes, marks: Sequence[Point]) -> tuple[Bounds, Bounds]:
    """(time, value) axis bounds of an envelope chart where ECharts' own would not fit it.

    One bucket: five minutes either side, to whole minutes (ECharts would span two days
    around a lone instant). One value, however many readings: ``padded_range`` of it
    (ECharts would pad it by half of itself, 100–350 around 230 V). Otherwise ``None``.
    """
    low, band, mean = points
    times = [point[0] for point in (*mean, *marks) if point[0] is not None]
    x: Bounds = None
    if len(mean) <= 1 and times:
        start = (int(min(times)) - TIME_PADDING_MS) // _MINUTE_MS * _MINUTE_MS
        end = -(-(int(max(times)) + TIME_PADDING_MS) // _MINUTE_MS) * _MINUTE_MS
        x = (start, end)
    values = {
        value
        for value in (
            *(point[1] for point in low),
            *(point[2] for point in band),
            *(point[1] for point in mean),
            *(point[1] for point in marks),
        )
        if value is not None
    }
    y = padded_range(values.pop()) if len(values) == 1 else None
    return x, y


def _frame(options: Options, points: Envelopes, marks: Sequence[Point]) -> None:
    x, y = envelope_bounds(points, marks)
    for axis, bounds in (("xAxis", x), ("yAxis", y)):
        # null, not a missing key: a live update merges, and must undo an earlier bound.
        options[axis]["min"], options[axis]["max"] = bounds or (None, None)


def set_envelope(
    options: Options, points: Envelopes, marks: Sequence[Point], expected: Band | None = None
) -> None:
    """Replace the data of an envelope chart (``envelope_options``) in place, and its axis
    bounds with them; ``expected``: the expected band's too."""
    low, band, mean = points
    set_data(options, 0, low)
    set_data(options, 1, band)
    set_data(options, 2, mean_line(mean))
    set_data(options, 3, marks)
    if expected is not None:
        set_data(options, EXPECTED_SERIES[0], expected[0])
        set_data(options, EXPECTED_SERIES[1], expected[1])
    _frame(options, points, marks)


def _axis_text() -> dict[str, Any]:
    return {"color": TEXT, "fontSize": 11}


def _value_axis(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "value",
        "name": name,
        "nameTextStyle": {"color": TEXT, "fontSize": 11, "align": "left"},
        "scale": True,
        "axisLabel": _axis_text(),
        "splitLine": {"lineStyle": {"color": GRID_LINE}},
        **extra,
    }


def _time_axis() -> dict[str, Any]:
    return {
        "type": "time",
        "axisLabel": {**_axis_text(), "hideOverlap": True},
        "splitLine": {"show": False},
    }


def _number_formatter(language: Language) -> str:
    locale = _LOCALE[language]
    return f"(v) => Number(v).toLocaleString('{locale}', {{maximumFractionDigits: 3}})"


def _percent_formatter(language: Language) -> str:
    locale = _LOCALE[language]
    return f"(v) => Number(v).toLocaleString('{locale}', {{maximumFractionDigits: 1}}) + ' %'"


def _verdict(area: FeedbackArea, language: Language) -> str:
    """``Falsa alarma``, ``Fallo confirmado (voltage_sag)``."""
    shown = text(
        "alerts.verdict_confirmed" if area.verdict == "confirmed" else "alerts.verdict_false_alarm",
        language,
    )
    return f"{shown} ({area.fault_kind})" if area.fault_kind else shown


def feedback_mark_area(areas: Sequence[FeedbackArea], language: Language) -> dict[str, Any]:
    """Users' verdicts shaded over an envelope chart: green for a false alarm, red for a
    confirmed fault, the verdict written at the top."""
    return {
        "silent": True,
        "label": {"position": "insideTop", "fontSize": 10, "color": TEXT},
        "data": [
            [
                {
                    "xAxis": area.start,
                    "name": _verdict(area, language),
                    "itemStyle": {
                        "color": CONFIRMED_AREA if area.verdict == "confirmed" else FALSE_ALARM_AREA
                    },
                },
                {"xAxis": area.end},
            ]
            for area in areas
        ],
    }


def _envelope_tooltip(language: Language, areas: Sequence[FeedbackArea] = ()) -> str:
    """Axis tooltip of an envelope chart: the band shows its max and the bucket's flagged
    count, an anomaly mark its value and score, and what users said of that moment (verdict,
    meter, who). Labels come from the catalogue, escaped."""
    fmt = _number_formatter(language)
    in_bucket = json.dumps(text("series.flagged_in_bucket", language))
    score = json.dumps(text("series.scores", language))
    said = json.dumps(
        [
            [
                area.start,
                area.end,
                text(
                    "chart.feedback_span",
                    language,
                    verdict=_verdict(area, language),
                    meter=area.meter_id,
                    by=area.by,
                ),
            ]
            for area in areas
        ],
        ensure_ascii=False,
    )
    return (
        "(params) => { const list = Array.isArray(params) ? params : [params];"
        " if (!list.length) return '';"
        f" const said = {said};"
        f" const number = {fmt};"
        # A gap (no reading of the bucket carried the variable) is shown as such, never 0.
        " const fmt = (x) => (x === null || x === undefined) ? '—' : number(x);"
        " const esc = (s) => String(s).replace(/[&<>\"']/g, (c) => '&#' + c.charCodeAt(0) + ';');"
        " const when = new Date(list[0].value[0]).toISOString().slice(0, 19).replace('T', ' ');"
        " const lines = [when + ' UTC'];"
        " for (const p of list) {"
        "  const v = p.value;"
        # The expected band is one line, low – high, on its width's series; none in a gap.
        f"  if (p.seriesIndex === {EXPECTED_SERIES[0]}) continue;"
        f"  if (p.seriesIndex === {EXPECTED_SERIES[1]} && (v[2] === null || v[2] === undefined))"
        "   continue;"
        "  let shown = fmt(v[1]);"
        "  if (p.seriesIndex === 1) shown = fmt(v[2]);"
        f"  if (p.seriesIndex === {EXPECTED_SERIES[1]}) shown = fmt(v[3]) + ' – ' + fmt(v[2]);"
        "  if (p.seriesIndex === 3)"
        f"   shown = fmt(v[1]) + ' (' + esc({score}) + ' ' + fmt(v[2]) + ')';"
        "  lines.push(p.marker + esc(p.seriesName) + ': ' + shown);"
        f"  if (p.seriesIndex === 1 && v[3] > 0) lines.push(esc({in_bucket}) + ': ' + v[3]); }}"
        " const at = list[0].value[0];"
        " for (const s of said) if (s[0] <= at && at <= s[1]) lines.push(esc(s[2]));"
        " return lines.join('<br/>'); }"
    )


def envelope_options(
    name: str,
    points: Envelopes,
    marks: Sequence[Point],
    language: Language,
    areas: Sequence[FeedbackArea] = (),
    expected: Band | None = None,
) -> Options:
    """One variable over time: min/max band, mean line and red anomaly marks; zoomable;
    ``areas``: users' verdicts shaded (``feedback_mark_area``); ``expected``: the range the
    model expected, shaded grey behind everything (with a legend entry; ``None``: a view
    that cannot have one, its series stay empty). Axes fit a lone reading too
    (``envelope_bounds``)."""
    spec = variable(name)
    low, band, mean = points
    legend = [
        text("series.envelope", language),
        text("series.mean", language),
        text("series.flagged", language),
    ]
    if expected is not None:
        legend.append(text("series.expected", language))
    expected_low, expected_band = expected or ([], [])
    options: Options = {
        "useUTC": True,
        "animation": False,
        "grid": {"left": 64, "right": 24, "top": 36, "bottom": 56},
        "tooltip": {"trigger": "axis", ":formatter": _envelope_tooltip(language, areas)},
        "legend": {
            "data": legend,
            "right": 8,
            "top": 0,
            "textStyle": {"color": TEXT, "fontSize": 11},
        },
        "xAxis": _time_axis(),
        "yAxis": _value_axis(spec.label_with_unit(language)),
        "dataZoom": [
            {"type": "inside", "filterMode": "none", "zoomOnMouseWheel": "ctrl"},
            {"type": "slider", "filterMode": "none", "height": 18, "bottom": 8},
        ],
        "series": [
            {
                "name": text("series.low", language),
                "type": "line",
                "data": low,
                "stack": "envelope",
                "symbol": "none",
                "lineStyle": {"opacity": 0},
                "silent": True,
                # On the series no legend entry hides: the verdicts stay whatever is shown.
                "markArea": feedback_mark_area(areas, language),
            },
            {
                "name": text("series.envelope", language),
                "type": "line",
                "data": band,
                "stack": "envelope",
                "symbol": "none",
                "color": BLUE_SOFT,
                "lineStyle": {"opacity": 0},
                "areaStyle": {"color": BLUE_SOFT},
                "silent": True,
            },
            {
                "name": text("series.mean", language),
                "type": "line",
                "data": mean_line(mean),
                ":symbol": _ISOLATED_SYMBOL,
                "symbolSize": 6,
                "color": BLUE,
                "lineStyle": {"width": 1.4, "color": BLUE},
            },
            {
                "name": text("series.flagged", language),
                "type": "scatter",
                "data": list(marks),
                "color": RED,
                "itemStyle": {"color": RED, "borderColor": "#fff", "borderWidth": 0.5},
                "symbolSize": 6,
                "z": 5,
            },
            # The expected band (EXPECTED_SERIES): both halves named alike, so its one legend
            # entry shows or hides it whole; under the envelope (z 1).
            {
                "name": text("series.expected", language),
                "type": "line",
                "data": expected_low,
                "stack": "expected",
                "symbol": "none",
                "color": EXPECTED_EDGE,
                "lineStyle": {"width": 1, "type": "dashed", "color": EXPECTED_EDGE},
                "silent": True,
                "z": 1,
            },
            {
                "name": text("series.expected", language),
                "type": "line",
                "data": expected_band,
                "stack": "expected",
                "symbol": "none",
                "color": EXPECTED_AREA,
                "lineStyle": {"width": 1, "type": "dashed", "color": EXPECTED_EDGE},
                "areaStyle": {"color": EXPECTED_AREA},
                "silent": True,
                "z": 1,
            },
        ],
    }
    _frame(options, points, marks)
    return options


def histogram_options(histogram: Histogram, language: Language) -> Options:
    """Distribution of one variable: stacked bars, flagged readings in red."""
    spec = variable(histogram.variable)
    decimals = DECIMALS.get(histogram.variable, 2)
    return {
        "animation": False,
        "grid": {"left": 56, "right": 16, "top": 36, "bottom": 52},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "legend": {
            "data": [text("series.normal", language), text("series.anomalous", language)],
            "right": 8,
            "top": 0,
            "textStyle": {"color": TEXT, "fontSize": 11},
        },
        "xAxis": {
            "type": "category",
            "data": histogram.labels(decimals),
            "name": spec.label_with_unit(language),
            "nameLocation": "middle",
            "nameGap": 30,
            "nameTextStyle": {"color": TEXT, "fontSize": 11},
            "axisLabel": {**_axis_text(), "hideOverlap": True},
        },
        "yAxis": _value_axis(text("chart.count", language), scale=False),
        "series": [
            {
                "name": text("series.normal", language),
                "type": "bar",
                "stack": "count",
                "data": list(histogram.normal),
                "color": BLUE,
                "barCategoryGap": "8%",
            },
            {
                "name": text("series.anomalous", language),
                "type": "bar",
                "stack": "count",
                "data": list(histogram.flagged),
                "color": RED,
            },
        ],
    }


def gauge_scale(thresholds: HealthThresholds) -> float:
    """The gauge's top (percent): twice the critical threshold, at least 20 %."""
    return max(20.0, min(100.0, 2 * thresholds.critical))


def gauge_options(
    analysis: MetricSnapshot | None, thresholds: HealthThresholds, language: Language
) -> Options:
    """The latest analysis' anomalous share on a dial coloured by the health thresholds."""
    top = gauge_scale(thresholds)
    value = round(analysis.percentage, 2) if analysis else 0.0
    state = analysis.health if analysis else None
    title = state.label(language) if state else text("status.health_unknown", language)
    return {
        "animation": False,
        "series": [
            {
                "type": "gauge",
                "min": 0,
                "max": top,
                "radius": "92%",
                "center": ["50%", "58%"],
                "startAngle": 200,
                "endAngle": -20,
                "splitNumber": 4,
                "axisLine": {
                    "lineStyle": {
                        "width": 16,
                        "color": [
                            [thresholds.caution / top, GREEN],
                            [thresholds.critical / top, AMBER],
                            [1, RED],
                        ],
                    }
                },
                "pointer": {"width": 5, "itemStyle": {"color": TEXT}},
                "axisTick": {"distance": -16, "length": 5, "lineStyle": {"color": "#fff"}},
                "splitLine": {"distance": -16, "length": 16, "lineStyle": {"color": "#fff"}},
                "axisLabel": {
                    "distance": 22,
                    "color": TEXT,
                    "fontSize": 11,
                    ":formatter": _percent_formatter(language),
                },
                "title": {
                    "offsetCenter": [0, "72%"],
                    "fontSize": 15,
                    "fontWeight": "bold",
                    "color": HEALTH_COLORS[state] if state else TEXT,
                },
                "detail": {
                    "valueAnimation": False,
                    "offsetCenter": [0, "40%"],
                    "fontSize": 26,
                    "fontWeight": "bold",
                    "color": TEXT,
                    ":formatter": _percent_formatter(language),
                },
                "data": [{"value": min(value, top), "name": title}],
            }
        ],
    }


def history_options(
    snapshots: Sequence[MetricSnapshot], thresholds: HealthThresholds, language: Language
) -> Options:
    """Anomalous share of successive analyses, with the caution and critical lines."""
    return {
        "useUTC": True,
        "animation": False,
        "grid": {"left": 56, "right": 24, "top": 36, "bottom": 32},
        "tooltip": {"trigger": "axis"},
        "xAxis": _time_axis(),
        "yAxis": _value_axis(text("chart.percentage_axis", language), min=0),
        "series": [
            {
                "name": text("chart.percentage_axis", language),
                "type": "line",
                "data": history_points(snapshots),
                "color": BLUE,
                "symbolSize": 5,
                "areaStyle": {"color": BLUE_SOFT},
                "markLine": {
                    "silent": True,
                    "symbol": "none",
                    "label": {"formatter": "{b}", "position": "insideEndTop", "fontSize": 10},
                    "data": [
                        {
                            "name": text("chart.caution", language),
                            "yAxis": thresholds.caution,
                            "lineStyle": {"color": AMBER, "type": "dashed"},
                        },
                        {
                            "name": text("chart.critical", language),
                            "yAxis": thresholds.critical,
                            "lineStyle": {"color": RED, "type": "dashed"},
                        },
                    ],
                },
            }
        ],
    }


def history_points(snapshots: Sequence[MetricSnapshot]) -> list[Point]:
    return [(epoch_ms(s.computed_at), round(s.percentage, 3)) for s in snapshots]


def by_variable_options(counts: dict[str, int], language: Language) -> Options:
    """How many flagged readings each variable helps explain (horizontal bars)."""
    names = list(counts)
    return {
        "animation": False,
        "grid": {"left": 150, "right": 32, "top": 30, "bottom": 28},
        "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
        "xAxis": _value_axis(text("chart.by_variable_axis", language), scale=False),
        "yAxis": {
            "type": "category",
            "inverse": True,
            "data": [variable(name).label(language) for name in names],
            "axisLabel": _axis_text(),
        },
        "series": [
            {
                "name": text("chart.by_variable_axis", language),
                "type": "bar",
                "data": [counts[name] for name in names],
                "color": RED,
                "barMaxWidth": 18,
                "label": {"show": True, "position": "right", "color": TEXT, "fontSize": 11},
            }
        ],
    }


def matrix_options(
    variables: Sequence[str], pairs: Sequence[ScatterPair], language: Language
) -> Options:
    """A lower-triangle scatter matrix: one grid per pair, flagged readings in red."""
    size = len(variables)
    cell = 92.0 / max(size - 1, 1)
    grids: list[dict[str, Any]] = []
    x_axes: list[dict[str, Any]] = []
    y_axes: list[dict[str, Any]] = []
    series: list[dict[str, Any]] = []
    positions = matrix_pairs(variables)
    for index, ((row, column), pair) in enumerate(zip(positions, pairs, strict=True)):
        grids.append(
            {
                "left": f"{6 + column * cell:.2f}%",
                "top": f"{2 + (row - 1) * cell:.2f}%",
                "width": f"{cell - 2.5:.2f}%",
                "height": f"{cell - 3.5:.2f}%",
            }
        )
        bottom_row, left_column = row == size - 1, column == 0
        x_axes.append(
            {
                "type": "value",
                "gridIndex": index,
                "scale": True,
                "name": variable(pair.x).label_with_unit(language) if bottom_row else "",
                "nameLocation": "middle",
                "nameGap": 22,
                "nameTextStyle": {"color": TEXT, "fontSize": 10},
                "axisLabel": {
                    "show": bottom_row,
                    "fontSize": 9,
                    "color": TEXT,
                    "hideOverlap": True,
                },
                "splitLine": {"show": False},
            }
        )
        y_axes.append(
            {
                "type": "value",
                "gridIndex": index,
                "scale": True,
                "name": variable(pair.y).label_with_unit(language) if left_column else "",
                "nameLocation": "middle",
                "nameGap": 34,
                "nameTextStyle": {"color": TEXT, "fontSize": 10},
                "axisLabel": {
                    "show": left_column,
                    "fontSize": 9,
                    "color": TEXT,
                    "hideOverlap": True,
                },
                "splitLine": {"show": False},
            }
        )
        for points, color, label in (
            (pair.normal.points, GREY_BLUE, "series.normal"),
            (pair.flagged.points, RED, "series.anomalous"),
        ):
            series.append(
                {
                    "name": text(label, language),
                    "type": "scatter",
                    "xAxisIndex": index,
                    "yAxisIndex": index,
                    "data": list(points),
                    "symbolSize": 3,
                    "color": color,
                    "large": True,
                    "silent": True,
                }
            )
    return {
        "animation": False,
        "legend": {
            "data": [text("series.normal", language), text("series.anomalous", language)],
            "right": 8,
            "top": 0,
            "textStyle": {"color": TEXT, "fontSize": 11},
        },
        "grid": grids,
        "xAxis": x_axes,
        "yAxis": y_axes,
        "series": series,
    }


def scores_options(
    normal: Sequence[Point], flagged: Sequence[Point], threshold: float | None, language: Language
) -> Options:
    """Anomaly score over time with the model's threshold; flagged readings in red."""
    mark = (
        {
            "silent": True,
            "symbol": "none",
            "label": {"formatter": text("series.threshold", language), "fontSize": 10},
            "lineStyle": {"color": RED, "type": "dashed"},
            "data": [{"yAxis": round(threshold, 4)}],
        }
        if threshold is not None
        else {"data": []}
    )
    return {
        "useUTC": True,
        "animation": False,
        "grid": {"left": 64, "right": 56, "top": 36, "bottom": 56},
        "tooltip": {"trigger": "item"},
        "legend": {
            "data": [text("series.scores", language), text("series.anomalous", language)],
            "right": 8,
            "top": 0,
            "textStyle": {"color": TEXT, "fontSize": 11},
        },
        "xAxis": _time_axis(),
        "yAxis": _value_axis(text("chart.score_axis", language)),
        "dataZoom": [
            {"type": "inside", "filterMode": "none", "zoomOnMouseWheel": "ctrl"},
            {"type": "slider", "filterMode": "none", "height": 18, "bottom": 8},
        ],
        "series": [
            {
                "name": text("series.scores", language),
                "type": "scatter",
                "data": list(normal),
                "symbolSize": 3,
                "color": GREY_BLUE,
                "large": True,
                "markLine": mark,
            },
            {
                "name": text("series.anomalous", language),
                "type": "scatter",
                "data": list(flagged),
                "symbolSize": 6,
                "color": RED,
                "z": 5,
            },
        ],
    }


def dumps(options: Options) -> str:
    """Options as JSON (for debugging and tests)."""
    return json.dumps(options, default=str)
