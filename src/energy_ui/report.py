"""The monthly energy report (``smartenergy report``): one self-contained HTML page an energy
manager can send on — the figures, consumption by day and the demand curve as inline SVG
drawn here, the cost and the costliest anomalies; no script, style sheet, font or image from
anywhere else — and a CSV of the consumption by day and meter.

Every piece of text put into the page is escaped; numbers are written as the language
writes them (``i18n.number``).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from html import escape

from energy_core.alerts.model import format_duration
from energy_core.energy import AnomalyCost, Cost, EnergySummary
from energy_core.telemetry.catalogue import Language
from energy_ui.csv_io import neutralise
from energy_ui.energy_views import (
    SOURCE_TEXT,
    MeterLine,
    StackedSeries,
    figure,
    local_text,
    meter_lines,
    stacked_meters,
)
from energy_ui.i18n import text

DASH = "—"
INK = "#0f172a"
MUTED = "#64748b"
GRID = "#e2e8f0"
BLUE = "#2563eb"
BLUE_SOFT = "rgba(37, 99, 235, 0.16)"
RED = "#dc2626"
GREEN = "#16a34a"

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #0f172a;
       margin: 0; background: #f1f5f9; }
main { max-width: 980px; margin: 0 auto; padding: 24px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.05rem; margin: 0 0 8px; }
p.meta { color: #64748b; margin: 2px 0; font-size: .9rem; }
section { background: #fff; border: 1px solid #e2e8f0; border-radius: 12px; padding: 16px;
          margin-top: 16px; }
.kpis { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 12px; }
.kpi span { display: block; font-size: .72rem; text-transform: uppercase; color: #64748b;
            font-weight: 600; letter-spacing: .02em; }
.kpi strong { font-size: 1.2rem; white-space: nowrap; }
.kpi small { display: block; color: #64748b; }
table { border-collapse: collapse; width: 100%; font-size: .88rem; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e2e8f0; text-align: right; }
th { color: #64748b; font-weight: 600; }
th:first-child, td:first-child { text-align: left; }
tfoot td { font-weight: 700; }
svg { width: 100%; height: auto; }
footer { color: #64748b; font-size: .8rem; margin-top: 24px; }
@media print { body { background: #fff; } section { break-inside: avoid; } }
"""


def _kwh(value: float, language: Language) -> str:
    return f"{figure(value, language, 2 if abs(value) < 100 else 1)} kWh"


def _kw(value: float | None, language: Language) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{figure(value, language, 2)} kW"


def _money(value: float | None, currency: str | None, language: Language) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{figure(value, language, 2)} {currency or ''}".strip()


def _optional(value: float, language: Language, decimals: int = 3) -> str:
    return DASH if math.isnan(value) else figure(value, language, decimals)


# --- inline SVG -------------------------------------------------------------------------------
def nice_ticks(top: float, count: int = 5) -> list[float]:
    """Round axis ticks from 0 to at least ``top`` (about ``count`` of them)."""
    if not top > 0 or math.isinf(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(factor * power for factor in (1, 2, 2.5, 5, 10) if factor * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _axis(ticks: Sequence[float], x0: float, x1: float, y: float, scale: float, unit: str) -> str:
    """Horizontal grid lines and labels of a value axis whose 0 is at ``y``."""
    parts = []
    decimals = 0 if all(float(tick).is_integer() for tick in ticks) else 1
    for tick in ticks:
        at = y - tick * scale
        parts.append(
            f'<line x1="{x0}" y1="{at:.1f}" x2="{x1}" y2="{at:.1f}" stroke="{GRID}"/>'
            f'<text x="{x0 - 6}" y="{at + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{MUTED}">{tick:.{decimals}f}</text>'
        )
    parts.append(
        f'<text x="{x0 - 6}" y="{y - ticks[-1] * scale - 12:.1f}" text-anchor="end" '
        f'font-size="11" fill="{MUTED}">{escape(unit)}</text>'
    )
    return "".join(parts)


def bars_svg(
    labels: Sequence[str], layers: Sequence[StackedSeries], names: Sequence[str], title: str
) -> str:
    """Stacked bars, one stack per label and one colour per layer, with a legend."""
    width, height, left, right, top, bottom = 920, 300, 56, 16, 34, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(layer.kwh[index] for layer in layers) for index in range(len(labels))]
    ticks = nice_ticks(max(totals, default=0.0))
    scale = plot_h / ticks[-1]
    base = top + plot_h
    slot = plot_w / max(len(labels), 1)
    bar = min(slot * 0.7, 48)
    every = max(1, math.ceil(len(labels) / 16))  # at most 16 labels under the bars
    parts = [_axis(ticks, left, width - right, base, scale, "kWh")]
    for index, label in enumerate(labels):
        x = left + slot * index + (slot - bar) / 2
        y: float = base
        for layer, name in zip(layers, names, strict=True):
            value = layer.kwh[index]
            if value <= 0:
                continue
            h = value * scale
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{layer.colour}"><title>{escape(label)} · {escape(name)}: '
                f"{value:.3f} kWh</title></rect>"
            )
        if index % every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{base + 16}" text-anchor="middle" '
                f'font-size="11" fill="{MUTED}">{escape(label)}</text>'
            )
    x = float(left)
    for layer, name in zip(layers, names, strict=True):
        parts.append(
            f'<rect x="{x}" y="8" width="10" height="10" rx="2" fill="{layer.colour}"/>'
            f'<text x="{x + 14}" y="17" font-size="11" fill="{INK}">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return _svg(width, height, title, parts)


def curve_svg(
    points: Sequence[tuple[datetime, float]],
    *,
    peak: tuple[datetime, float] | None,
    baseload: float | None,
    timezone: str,
    title: str,
    peak_text: str,
    baseload_text: str,
) -> str:
    """A demand curve (steps of each interval's mean kW; gaps left empty), its peak marked
    with a dot and a label, its baseload with a dashed line."""
    width, height, left, right, top, bottom = 920, 300, 56, 24, 34, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    known = [kw for _, kw in points if not math.isnan(kw)]
    ticks = nice_ticks(max(known, default=0.0) * 1.1)
    scale = plot_h / ticks[-1]
    base = top + plot_h
    count = max(len(points), 1)
    step = plot_w / count
    parts = [_axis(ticks, left, width - right, base, scale, "kW")]
    path: list[str] = []
    drawing = False
    for index, (_, kw) in enumerate(points):
        if math.isnan(kw):
            drawing = False
            continue
        x0, x1, y = left + step * index, left + step * (index + 1), base - kw * scale
        path.append(f"{'L' if drawing else 'M'}{x0:.1f},{y:.1f}L{x1:.1f},{y:.1f}")
        drawing = True
    if path:
        parts.append(f'<path d="{"".join(path)}" fill="none" stroke="{BLUE}" stroke-width="1.5"/>')
    # A date under the axis at each local midnight the window crosses, at most 16.
    days = [
        (index, at)
        for index, (at, _) in enumerate(points)
        if local_text(at, timezone)[11:] == "00:00"
    ]
    every = max(1, math.ceil(len(days) / 16))
    for index, at in days[::every]:
        x = left + step * index
        parts.append(
            f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="{MUTED}"/>'
            f'<text x="{x:.1f}" y="{base + 16}" text-anchor="middle" font-size="11" '
            f'fill="{MUTED}">{escape(local_text(at, timezone)[5:10])}</text>'
        )
    if baseload is not None and not math.isnan(baseload):
        y = base - baseload * scale
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{GREEN}" stroke-dasharray="6 4"/>'
            f'<text x="{width - right}" y="{y - 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="{GREEN}">{escape(baseload_text)}</text>'
        )
    if peak is not None and not math.isnan(peak[1]):
        index = next((i for i, (at, _) in enumerate(points) if at == peak[0]), 0)
        x, y = left + step * (index + 0.5), base - peak[1] * scale
        anchor = "end" if x > left + plot_w * 0.7 else "start"
        shift = -8 if anchor == "end" else 8
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{RED}"/>'
            f'<text x="{x + shift:.1f}" y="{y - 8:.1f}" text-anchor="{anchor}" font-size="12" '
            f'font-weight="600" fill="{RED}">{escape(peak_text)}</text>'
        )
    return _svg(width, height, title, parts)


def _svg(width: int, height: int, title: str, parts: Sequence[str]) -> str:
    return (
        f'<svg viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>{"".join(parts)}</svg>'
    )


# --- the page ---------------------------------------------------------------------------------
def _table(head: Sequence[str], rows: Sequence[Sequence[str]], foot: Sequence[str] = ()) -> str:
    cells = "".join(f"<th>{escape(cell)}</th>" for cell in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    tail = (
        "<tfoot><tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in foot) + "</tr></tfoot>"
        if foot
        else ""
    )
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody>{tail}</table>"


def _kpi(label: str, value: str, caption: str = "") -> str:
    small = f"<small>{escape(caption)}</small>" if caption else ""
    return (
        f'<div class="kpi"><span>{escape(label)}</span>'
        f"<strong>{escape(value)}</strong>{small}</div>"
    )


def _cost_section(cost: Cost | None, language: Language) -> str:
    def t(key: str, **values: object) -> str:
        return text(key, language, **values)

    if cost is None:
        return f"<p>{escape(t('energy.no_tariffs'))}</p>"
    currency = cost.currency
    rows = [
        [
            f"{charge.tariff} · {charge.period}",
            figure(charge.kwh, language, 3),
            f"{figure(charge.price, language, 4)} {currency}/kWh",
            _money(charge.amount, currency, language),
        ]
        for charge in cost.energy
    ]
    rows += [
        [
            t("report.demand_charge", month=charge.month),
            _kw(charge.peak_kw, language),
            t(
                "report.demand_rate",
                rate=figure(charge.rate, language, 2),
                currency=currency,
                share=figure(100 * charge.share, language, 1),
            ),
            _money(charge.amount, currency, language),
        ]
        for charge in cost.demand
    ]
    table = _table(
        [
            t("report.column_charge"),
            t("report.column_quantity"),
            t("report.column_price"),
            t("report.column_amount"),
        ],
        rows,
        [t("report.total"), "", "", _money(cost.total, currency, language)],
    )
    if cost.unpriced_kwh > 0:
        unpriced = t("report.unpriced", kwh=figure(cost.unpriced_kwh, language, 3))
        table += f'<p class="meta">{escape(unpriced)}</p>'
    return table


def _meter_rows(lines: Sequence[MeterLine], language: Language) -> list[list[str]]:
    rows = []
    for line in lines:
        demand, cost = line.demand, line.cost
        source = line.consumption.import_source
        rows.append(
            [
                line.meter_id,
                text(SOURCE_TEXT[source], language) if source else DASH,
                figure(line.consumption.import_kwh, language, 3),
                figure(line.consumption.export_kwh, language, 3),
                _kw(demand.peak_kw if demand else None, language),
                _kw(demand.baseload_kw if demand else None, language),
                DASH
                if demand is None or math.isnan(demand.load_factor)
                else figure(demand.load_factor, language, 2),
                _money(cost.total, cost.currency, language) if cost else DASH,
            ]
        )
    return rows


def _anomaly_rows(
    anomalies: Sequence[AnomalyCost], timezone: str, language: Language
) -> list[list[str]]:
    rows = []
    for item in anomalies:
        incident = item.incident
        lasted = timedelta(seconds=round((incident.end - incident.start).total_seconds()))
        rows.append(
            [
                incident.meter_id,
                local_text(incident.start, timezone),
                format_duration(lasted),
                _optional(item.actual_kwh, language),
                _optional(item.expected_kwh, language),
                _optional(item.excess_kwh, language),
                _money(item.cost, item.currency, language),
            ]
        )
    return rows


def report_html(
    summary: EnergySummary, *, month: str, language: Language, generated: datetime
) -> str:
    """The month's report as one HTML page with nothing to fetch."""

    def t(key: str, **values: object) -> str:
        return text(key, language, **values)

    zone = summary.settings.timezone
    used = summary.consumption
    demand = summary.total_demand
    cost = summary.total_cost
    lines = meter_lines(summary)
    minutes = int(summary.settings.demand_interval.total_seconds() // 60)
    meters = ", ".join(line.meter_id for line in lines) or DASH
    layers = stacked_meters(summary)
    names = [layer.meter_id or t("energy.others") for layer in layers]
    # Days as MM-DD (the report's periods are days; the title names the month).
    labels = [period.label[5:] for period in used.total]
    peak_text = t(
        "report.peak_label",
        value=figure(demand.peak_kw, language, 2) if not math.isnan(demand.peak_kw) else DASH,
        time=local_text(demand.peak_at, zone)[5:],
    )
    kpis = "".join(
        [
            _kpi(t("energy.kpi_import"), _kwh(used.import_kwh, language)),
            _kpi(t("energy.kpi_export"), _kwh(used.export_kwh, language)),
            _kpi(
                t("energy.kpi_peak", minutes=minutes),
                _kw(demand.peak_kw, language),
                local_text(demand.peak_at, zone),
            ),
            _kpi(
                t("energy.kpi_baseload"),
                _kw(demand.baseload_kw, language),
                t("energy.kpi_baseload_hint"),
            ),
            _kpi(
                t("energy.kpi_load_factor"),
                _optional(demand.load_factor, language, 2),
                t("energy.kpi_load_factor_hint"),
            ),
            _kpi(
                t("energy.kpi_cost"),
                _money(cost.total, cost.currency, language) if cost else DASH,
                "" if cost else t("energy.no_tariffs"),
            ),
        ]
    )
    meter_table = _table(
        [
            t("column.meter"),
            t("energy.column_source"),
            t("energy.column_import"),
            t("energy.column_export"),
            t("energy.column_peak"),
            t("energy.column_baseload"),
            t("energy.column_load_factor"),
            t("energy.column_cost"),
        ],
        _meter_rows(lines, language),
    )
    anomalies = (
        _table(
            [
                t("column.meter"),
                t("energy.column_start"),
                t("energy.column_duration"),
                t("energy.column_actual"),
                t("energy.column_expected"),
                t("energy.column_excess"),
                t("energy.column_cost"),
            ],
            _anomaly_rows(summary.anomalies, zone, language),
        )
        if summary.anomalies
        else f"<p>{escape(t('energy.no_anomalies'))}</p>"
    )
    curve = curve_svg(
        demand.curve(),
        peak=(demand.peak_at, demand.peak_kw) if demand.peak_at is not None else None,
        baseload=demand.baseload_kw,
        timezone=zone,
        title=t("energy.chart_demand", minutes=minutes),
        peak_text=peak_text,
        baseload_text=t("energy.baseload_mark", value=_optional(demand.baseload_kw, language, 2)),
    )
    last_day = local_text(summary.end - timedelta(minutes=1), zone)[:10]
    window = t("report.window", start=local_text(summary.start, zone)[:10], end=last_day, zone=zone)
    title = t("report.title", month=month)
    return f"""<!DOCTYPE html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<main>
<h1>{escape(title)}</h1>
<p class="meta">{escape(window)}</p>
<p class="meta">{escape(t("report.meters", meters=meters))}</p>
<section class="kpis">{kpis}</section>
<section>
<h2>{escape(t("report.by_day"))}</h2>
{bars_svg(labels, layers, names, t("report.by_day"))}
</section>
<section>
<h2>{escape(t("energy.chart_demand", minutes=minutes))}</h2>
{curve}
</section>
<section>
<h2>{escape(t("report.cost"))}</h2>
{_cost_section(cost, language)}
</section>
<section>
<h2>{escape(t("energy.meters_title"))}</h2>
{meter_table}
</section>
<section>
<h2>{escape(t("energy.anomalies_title"))}</h2>
<p class="meta">{escape(t("energy.anomalies_hint"))}</p>
{anomalies}
</section>
<footer>{escape(t("report.generated", time=generated.strftime("%Y-%m-%d %H:%M UTC")))}</footer>
</main>
</body>
</html>
"""


CSV_COLUMNS = (
    "period",
    "start",
    "end",
    "meter_id",
    "import_kwh",
    "export_kwh",
    "net_kwh",
    "after_gap_kwh",
    "coverage",
)
"""The CSV's header: one row per period and meter, then one per period for all of them
(``meter_id`` empty); instants in UTC (ISO 8601), energy in kWh, coverage 0–1."""


def report_csv(summary: EnergySummary) -> str:
    """The consumption by period and meter, then the total, as CSV."""
    stream = io.StringIO(newline="")
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    rows = [
        (neutralise(meter.meter_id), period)
        for meter in sorted(summary.consumption.meters, key=lambda item: item.meter_id)
        for period in meter.periods
    ]
    rows += [("", period) for period in summary.consumption.total]
    for meter_id, period in rows:
        writer.writerow(
            [
                period.label,
                period.start.isoformat(),
                period.end.isoformat(),
                meter_id,
                f"{period.import_kwh:.4f}",
                f"{period.export_kwh:.4f}",
                f"{period.net_kwh:.4f}",
                f"{period.after_gap_kwh:.4f}",
                f"{period.coverage:.4f}",
            ]
        )
    return stream.getvalue()
