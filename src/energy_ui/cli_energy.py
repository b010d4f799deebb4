"""``smartenergy energy`` and ``smartenergy report``: what the meters consumed, their demand,
what it cost and what the costliest anomalies cost — as the Consumption tab and
``GET /api/v1/energy`` show it — and the monthly report (a self-contained HTML page and a CSV).

Dates are local days of ``ENERGY_TIMEZONE``; costs need ``ENERGY_TARIFFS``. With ``--json``
stdout holds only the JSON, the API's own shape. Without ``DATABASE_URL`` both refuse: a
fresh in-memory store has no readings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from energy_core.energy import EnergySummary, Period
from energy_ui.api.energy import MAX_TOP, EnergyOut
from energy_ui.bootstrap import Application, DatabaseError, bootstrap, unavailable_errors
from energy_ui.cli_language import language, say
from energy_ui.energy_views import (
    PERIOD_TEXT,
    SOURCE_TEXT,
    TOP_ANOMALIES,
    energy_summary,
    figure,
    local_text,
    meter_lines,
    month_window,
    parse_instant,
    previous_month,
)
from energy_ui.report import report_csv, report_html
from energy_ui.settings import Settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
DASH = "—"


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{say('cli.error')}[/red] {escape(message)}", highlight=False)
    return typer.Exit(1)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        # A bad ENERGY_* value (a time zone, a tariff file): which one and what is wrong.
        raise _fail(
            "; ".join(
                f"{'.'.join(str(part) for part in problem['loc']) or 'settings'}: {problem['msg']}"
                for problem in error.errors(include_url=False)
            )
        ) from None


@contextmanager
def _application(command: str) -> Iterator[Application]:
    """The configured storage's application; every error one line and exit 1."""
    settings = _settings()
    if not settings.database_url:
        raise _fail(say("cli.needs_database", command=command))
    try:
        application = bootstrap(settings)
    except (DatabaseError, ValueError) as error:
        raise _fail(str(error)) from None
    try:
        yield application
    except (*unavailable_errors(), ValueError) as error:
        raise _fail(str(error)) from None
    finally:
        application.close()


def _print(message: str) -> None:
    out.print(message, highlight=False, markup=False)


def number(value: float, decimals: int = 0) -> str:
    """``value`` as the command line's language writes it (no '-0.000')."""
    return figure(value, language(), decimals)


def _figure(value: float | None, decimals: int, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{number(value, decimals)} {unit}".strip()


def energy(
    start: Annotated[
        str,
        typer.Option(
            help="from, inclusive: an ISO 8601 date (local midnight of ENERGY_TIMEZONE) or "
            "date-time (2025-06-02T08:00, 2025-06-02T08:00+02:00)"
        ),
    ],
    end: Annotated[str, typer.Option(help="until, exclusive: a date or date-time, like --start")],
    meter: Annotated[
        list[str] | None,
        typer.Option(help="only this meter; repeatable [default: every meter]"),
    ] = None,
    period: Annotated[
        Period, typer.Option(help="consumption by hour, day, ISO week or month")
    ] = "day",
    top: Annotated[
        int, typer.Option(min=0, max=MAX_TOP, help="how many of the costliest anomalies")
    ] = TOP_ANOMALIES,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """What the meters consumed (kWh by period), their demand (peak, baseload, load factor),
    the cost at ENERGY_TARIFFS and the costliest anomalies."""
    with _application("energy") as application:
        zone = application.settings.timezone
        summary = energy_summary(
            application,
            parse_instant(start, zone, "--start"),
            parse_instant(end, zone, "--end"),
            meters=tuple(meter or ()),
            period=period,
            top=top,
        )
    if as_json:
        _print(json.dumps(EnergyOut.of(summary).model_dump(mode="json")))
        return
    _show(summary)


def _show(summary: EnergySummary) -> None:
    zone = summary.settings.timezone
    used = summary.consumption
    _print(
        say(
            "cli.energy_title",
            start=local_text(summary.start, zone),
            end=local_text(summary.end, zone),
            zone=zone,
            period=say(PERIOD_TEXT[used.period]).lower(),
        )
    )
    periods = Table(title=say("energy.chart_consumption"))
    for key in ("energy.column_period", "energy.column_import", "energy.column_export"):
        periods.add_column(say(key), justify="left" if key == "energy.column_period" else "right")
    periods.add_column(say("energy.column_coverage"), justify="right")
    for item in used.total:
        periods.add_row(
            escape(item.label),
            number(item.import_kwh, 3),
            number(item.export_kwh, 3),
            f"{number(100 * item.coverage, 1)} %",
        )
    out.print(periods)
    meters = Table(title=say("energy.meters_title"))
    for key in (
        "column.meter",
        "energy.column_source",
        "energy.column_import",
        "energy.column_export",
        "energy.column_peak",
        "energy.column_baseload",
        "energy.column_load_factor",
        "energy.column_cost",
    ):
        text_column = key in ("column.meter", "energy.column_source")
        meters.add_column(
            say(key), no_wrap=key == "column.meter", justify="left" if text_column else "right"
        )
    for line in meter_lines(summary):
        demand, cost = line.demand, line.cost
        source = line.consumption.import_source
        meters.add_row(
            escape(line.meter_id),
            say(SOURCE_TEXT[source]) if source else DASH,
            number(line.consumption.import_kwh, 3),
            number(line.consumption.export_kwh, 3),
            _figure(demand.peak_kw if demand else None, 2, "kW"),
            _figure(demand.baseload_kw if demand else None, 2, "kW"),
            _figure(demand.load_factor if demand else None, 2),
            _figure(cost.total, 2, cost.currency) if cost else DASH,
        )
    out.print(meters)
    demand = summary.total_demand
    _print(
        say(
            "cli.energy_total",
            imported=number(used.import_kwh, 3),
            exported=number(used.export_kwh, 3),
        )
    )
    _print(
        say(
            "cli.energy_demand",
            peak=_figure(demand.peak_kw, 2, "kW"),
            at=local_text(demand.peak_at, zone) or DASH,
            base=_figure(demand.baseload_kw, 2, "kW"),
            factor=_figure(demand.load_factor, 2),
        )
    )
    cost = summary.total_cost
    if cost is None:
        _print(say("energy.no_tariffs"))
    else:
        _print(
            say(
                "cli.energy_cost",
                total=_figure(cost.total, 2, cost.currency),
                energy=number(cost.energy_amount, 2),
                demand=number(cost.demand_amount, 2),
            )
        )
    if not summary.anomalies:
        _print(say("energy.no_anomalies"))
        return
    anomalies = Table(title=say("energy.anomalies_title"))
    for key in (
        "column.meter",
        "energy.column_start",
        "energy.column_actual",
        "energy.column_expected",
        "energy.column_excess",
        "energy.column_cost",
    ):
        text_column = key in ("column.meter", "energy.column_start")
        anomalies.add_column(
            say(key), no_wrap=key == "column.meter", justify="left" if text_column else "right"
        )
    for anomaly in summary.anomalies:
        anomalies.add_row(
            escape(anomaly.incident.meter_id),
            local_text(anomaly.incident.start, zone),
            _figure(anomaly.actual_kwh, 3),
            _figure(anomaly.expected_kwh, 3),
            _figure(anomaly.excess_kwh, 3),
            _figure(anomaly.cost, 2, anomaly.currency or ""),
        )
    out.print(anomalies)


def report(
    month: Annotated[
        str | None,
        typer.Option(
            help="the calendar month YYYY-MM, in ENERGY_TIMEZONE [default: the previous month]"
        ),
    ] = None,
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out", file_okay=False, help="folder the HTML page and the CSV are written to"
        ),
    ] = Path("."),
    meter: Annotated[
        list[str] | None,
        typer.Option(help="only this meter; repeatable [default: every meter]"),
    ] = None,
) -> None:
    """The monthly energy report: a self-contained HTML page (figures, consumption by day and
    the demand curve as inline SVG, the cost, the costliest anomalies) and a CSV of the
    consumption by day and meter."""
    with _application("report") as application:
        zone = application.settings.timezone
        chosen = month or previous_month(application.monitor.clock.now(), zone)
        start, end = month_window(chosen, zone)
        summary = energy_summary(application, start, end, meters=tuple(meter or ()), period="day")
        html = report_html(summary, month=chosen, language=language(), generated=datetime.now(UTC))
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
            page = out_dir / f"energy-report-{chosen}.html"
            table = out_dir / f"energy-report-{chosen}.csv"
            page.write_text(html, encoding="utf-8")
            table.write_text(report_csv(summary), encoding="utf-8", newline="")
        except OSError as error:
            raise _fail(f"{out_dir}: {error.strerror or error}") from None
    _print(say("cli.report_written", month=chosen, html=str(page), csv=str(table)))
