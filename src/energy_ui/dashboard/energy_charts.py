"""ECharts options of the Consumption tab (plain dicts, no UI): kWh bars by period and meter,
and the demand curve with its peak and baseload marked. Times are the wall clock of the
energy time zone, as category labels (ECharts would show the browser's own)."""

from __future__ import annotations

import math
from typing import Any

from energy_core.energy import EnergySummary
from energy_core.telemetry.catalogue import Language
from energy_ui.dashboard.charts import BLUE, BLUE_SOFT, GREEN, GRID_LINE, RED, TEXT
from energy_ui.energy_views import figure, local_text, short_label, stacked_meters
from energy_ui.i18n import text

Options = dict[str, Any]
_LOCALE = {"es": "es-ES", "en": "en-GB"}


def _axis_text() -> dict[str, Any]:
    return {"color": TEXT, "fontSize": 11}


def _value_axis(name: str) -> dict[str, Any]:
    return {
        "type": "value",
        "name": name,
        "min": 0,
        "nameTextStyle": {"color": TEXT, "fontSize": 11, "align": "left"},
        "axisLabel": _axis_text(),
        "splitLine": {"lineStyle": {"color": GRID_LINE}},
    }


def _tooltip_numbers(language: Language, decimals: int) -> str:
    locale = _LOCALE[language]
    return (
        f"(v) => (v === null || v === undefined) ? '—' : Number(v).toLocaleString('{locale}', "
        f"{{maximumFractionDigits: {decimals}}})"
    )


def consumption_options(summary: EnergySummary, language: Language) -> Options:
    """Imported kWh by period, one stacked bar series per meter (the seven that used most,
    then the others together)."""
    used = summary.consumption
    labels = [short_label(period.label, used.period) for period in used.total]
    series = [
        {
            "name": layer.meter_id or text("energy.others", language),
            "type": "bar",
            "stack": "kwh",
            "data": [round(value, 4) for value in layer.kwh],
            "color": layer.colour,
            "barMaxWidth": 48,
        }
        for layer in stacked_meters(summary)
    ]
    return {
        "animation": False,
        "grid": {"left": 56, "right": 16, "top": 40, "bottom": 40},
        "tooltip": {
            "trigger": "axis",
            "axisPointer": {"type": "shadow"},
            ":valueFormatter": _tooltip_numbers(language, 3),
        },
        "legend": {
            "type": "scroll",
            "top": 0,
            "right": 8,
            "left": 80,
            "textStyle": {"color": TEXT, "fontSize": 11},
        },
        "xAxis": {
            "type": "category",
            "data": labels,
            "axisLabel": {**_axis_text(), "hideOverlap": True},
            "axisTick": {"alignWithLabel": True},
        },
        "yAxis": _value_axis("kWh"),
        "series": series,
    }


def demand_options(summary: EnergySummary, language: Language) -> Options:
    """The total's demand curve (mean kW of each interval; gaps where not covered), its peak
    marked with a point and its baseload with a dashed line."""
    demand = summary.total_demand
    zone = summary.settings.timezone
    curve = demand.curve()
    single_day = len(curve) <= 24 * 4 + 4  # a day's labels need no date
    labels = [
        local_text(at, zone)[11:] if single_day else local_text(at, zone)[5:] for at, _ in curve
    ]
    values = [None if math.isnan(kw) else round(kw, 4) for _, kw in curve]
    # Both marks are always there, empty when unknown: ECharts merges new options into the
    # old ones, and would keep a mark that is no longer given.
    peak: list[dict[str, Any]] = []
    if demand.peak_at is not None and not math.isnan(demand.peak_kw):
        index = next(i for i, (at, _) in enumerate(curve) if at == demand.peak_at)
        peak.append(
            {
                "name": text("energy.peak_mark", language),
                "coord": [index, round(demand.peak_kw, 4)],
                "value": figure(demand.peak_kw, language, 1),
            }
        )
    base: list[dict[str, Any]] = []
    if not math.isnan(demand.baseload_kw):
        base.append(
            {
                "name": text(
                    "energy.baseload_mark", language, value=figure(demand.baseload_kw, language, 2)
                ),
                "yAxis": round(demand.baseload_kw, 4),
                "lineStyle": {"color": GREEN, "type": "dashed"},
            }
        )
    marks = {
        "markPoint": {
            "symbol": "pin",
            "symbolSize": 44,
            "itemStyle": {"color": RED},
            "label": {"fontSize": 10, "color": "#fff"},
            "data": peak,
        },
        "markLine": {
            "silent": True,
            "symbol": "none",
            "label": {"formatter": "{b}", "position": "insideEndTop", "fontSize": 10},
            "data": base,
        },
    }
    return {
        "animation": False,
        "grid": {"left": 56, "right": 24, "top": 36, "bottom": 56},
        "tooltip": {"trigger": "axis", ":valueFormatter": _tooltip_numbers(language, 2)},
        "xAxis": {
            "type": "category",
            "data": labels,
            "boundaryGap": False,
            "axisLabel": {**_axis_text(), "hideOverlap": True},
        },
        "yAxis": _value_axis("kW"),
        "dataZoom": [
            {"type": "inside", "zoomOnMouseWheel": "ctrl"},
            {"type": "slider", "height": 18, "bottom": 8},
        ],
        "series": [
            {
                "name": text("energy.demand_series", language),
                "type": "line",
                "step": "end",
                "data": values,
                "color": BLUE,
                "symbol": "none",
                "connectNulls": False,
                "areaStyle": {"color": BLUE_SOFT},
                **marks,
            }
        ],
    }
