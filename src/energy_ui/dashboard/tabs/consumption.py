"""Consumption: what the meters used (kWh bars by period and meter), the demand curve with its
peak and baseload, the load factor, the cost at the tariffs, and the costliest anomalies —
over the side panel's days (local days of ``ENERGY_TIMEZONE``) and meters.

Everything comes from one ``EnergySummary`` (``energy_views.energy_summary``), computed off
the event loop; live readings compute it again at most every ``min_interval`` seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nicegui import background_tasks, run, ui

from energy_core.alerts.model import format_duration
from energy_core.energy import PERIODS, AnomalyCost, EnergySummary, Period
from energy_core.telemetry.catalogue import Language
from energy_core.telemetry.readings import Reading
from energy_ui.bootstrap import Application
from energy_ui.dashboard import energy_charts
from energy_ui.dashboard.layout import card, kpi, table_texts
from energy_ui.dashboard.live import LiveUpdate
from energy_ui.dashboard.tabs.base import TabView
from energy_ui.energy_views import (
    PERIOD_TEXT,
    SOURCE_TEXT,
    MeterLine,
    dashboard_window,
    energy_summary,
    figure,
    local_text,
    meter_lines,
    natural_period,
)

DASH = "—"


@dataclass
class EnergySource:
    """What the tab needs from its page: the application (its energy figures and alerts),
    and whom to tell when storage cannot answer."""

    application: Application
    on_unavailable: Callable[[BaseException], None] | None = None
    unavailable: tuple[type[BaseException], ...] = ()


def kwh_text(value: float, language: Language) -> str:
    """Energy with the decimals its size deserves, and its unit."""
    decimals = 2 if abs(value) < 100 else 1 if abs(value) < 10_000 else 0
    return f"{figure(value, language, decimals)} kWh"


def kw_text(value: float | None, language: Language) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{figure(value, language, 2 if abs(value) < 100 else 1)} kW"


def money_text(value: float | None, currency: str | None, language: Language) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{figure(value, language, 2)} {currency or ''}".strip()


def share_text(value: float | None, language: Language) -> str:
    if value is None or math.isnan(value):
        return DASH
    return f"{figure(100 * value, language, 1)} %"


def coverage(summary: EnergySummary) -> float:
    """The share (0–1) of the window the meters' data covers, time-weighted over periods."""
    total = (summary.end - summary.start).total_seconds()
    if total <= 0:
        return 0.0
    covered = sum(
        period.coverage * (period.end - period.start).total_seconds()
        for period in summary.consumption.total
    )
    return covered / total


class ConsumptionTab(TabView):
    name = "consumption"
    title_key = "tab.consumption"
    icon = "electric_meter"
    min_interval = 10.0
    """Live readings compute the figures again at most this often (seconds)."""

    source: EnergySource | None = None

    # --- building -----------------------------------------------------------------------
    def build(self) -> None:
        t = self.t
        self.summary: EnergySummary | None = None
        self._asking = self._ask_again = False
        self.start, self.end = self._window()
        self.period: Period = natural_period(self.start, self.end)
        with card():
            with ui.row().classes("w-full items-center gap-3"):
                self.caption = ui.label().classes("se-caption").mark("energy-caption")
                ui.space()
                ui.label(t("energy.period")).classes("se-caption")
                self.period_toggle = (
                    ui.toggle(
                        {period: t(PERIOD_TEXT[period]) for period in PERIODS},
                        value=self.period,
                        on_change=lambda e: self.set_period(str(e.value)),
                    )
                    .props("dense unelevated no-caps toggle-color=primary")
                    .mark("energy-period")
                )
            with ui.element("div").classes(
                "grid w-full gap-4 grid-cols-2 md:grid-cols-3 xl:grid-cols-6"
            ):
                self.imported, self.imported_caption = kpi(
                    t("energy.kpi_import"), DASH, marker="energy-import"
                )
                self.exported, _ = kpi(t("energy.kpi_export"), DASH, marker="energy-export")
                self.peak, self.peak_caption = kpi(
                    t("energy.kpi_peak", minutes=self._interval_minutes()),
                    DASH,
                    marker="energy-peak",
                )
                self.peak_caption.mark("energy-peak-at")
                self.baseload, _ = kpi(
                    t("energy.kpi_baseload"),
                    DASH,
                    marker="energy-baseload",
                    caption=t("energy.kpi_baseload_hint"),
                )
                self.load_factor, _ = kpi(
                    t("energy.kpi_load_factor"),
                    DASH,
                    marker="energy-load-factor",
                    caption=t("energy.kpi_load_factor_hint"),
                )
                self.cost, self.cost_caption = kpi(t("energy.kpi_cost"), DASH, marker="energy-cost")
            self.power_factor = ui.label().classes("se-caption").mark("energy-power-factor")
        with ui.element("div").classes("grid w-full gap-4 grid-cols-1 xl:grid-cols-2"):
            with card(t("energy.chart_consumption")):
                self.consumption_chart = (
                    ui.echart(self._empty_chart()).classes("h-72").mark("chart-consumption")
                )
            with card(t("energy.chart_demand", minutes=self._interval_minutes())):
                self.demand_chart = (
                    ui.echart(self._empty_chart()).classes("h-72").mark("chart-demand")
                )
        with card(t("energy.meters_title")):
            self.meter_table = (
                ui.table(columns=self._meter_columns(), rows=[], row_key="meter", pagination=10)
                .props("flat dense")
                .classes("w-full")
                .mark("energy-meters")
            )
            table_texts(self.meter_table, t("table.rows_per_page"), t("energy.no_data"))
        with card(t("energy.anomalies_title")):
            ui.label(t("energy.anomalies_hint")).classes("se-caption")
            self.anomaly_table = (
                ui.table(columns=self._anomaly_columns(), rows=[], row_key="key", pagination=10)
                .props("flat dense")
                .classes("w-full")
                .mark("energy-anomalies")
            )
            table_texts(self.anomaly_table, t("table.rows_per_page"), t("energy.no_anomalies"))
        self._show_caption()
        self.refresh()

    def _interval_minutes(self) -> int:
        assert self.source is not None, "the page gives the tab its EnergySource"
        insight = self.source.application.energy
        assert insight is not None
        return int(insight.settings.demand_interval.total_seconds() // 60)

    @staticmethod
    def _empty_chart() -> dict[str, Any]:
        # Both axes: ECharts fails to draw a grid that lacks one.
        return {
            "animation": False,
            "xAxis": {"type": "category", "data": []},
            "yAxis": {"type": "value"},
            "series": [],
        }

    @staticmethod
    def _column(name: str, label: str, *, left: bool = False) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": name, "label": label, "field": name, "sortable": False}
        if left:
            spec["align"] = "left"
        return spec

    def _meter_columns(self) -> list[dict[str, Any]]:
        t = self.t
        return [
            self._column("meter", t("column.meter"), left=True),
            self._column("source", t("energy.column_source"), left=True),
            self._column("import", t("energy.column_import")),
            self._column("export", t("energy.column_export")),
            self._column("peak", t("energy.column_peak")),
            self._column("baseload", t("energy.column_baseload")),
            self._column("load_factor", t("energy.column_load_factor")),
            self._column("coverage", t("energy.column_coverage")),
            self._column("cost", t("energy.column_cost")),
        ]

    def _anomaly_columns(self) -> list[dict[str, Any]]:
        t = self.t
        return [
            self._column("meter", t("column.meter"), left=True),
            self._column("start", t("energy.column_start"), left=True),
            self._column("duration", t("energy.column_duration")),
            self._column("actual", t("energy.column_actual")),
            self._column("expected", t("energy.column_expected")),
            self._column("excess", t("energy.column_excess")),
            self._column("cost", t("energy.column_cost")),
        ]

    # --- choices and live data ------------------------------------------------------------
    def set_period(self, period: str) -> None:
        if period == self.period or period not in PERIODS:
            return
        self.period = next(known for known in PERIODS if known == period)
        self.refresh()

    def live(self, accepted: Sequence[Reading], update: LiveUpdate) -> None:
        """Only new readings change energy figures (not analyses or models)."""
        if accepted:
            super().live(accepted, update)

    def render(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        background_tasks.create(self._fetch(), name="consumption tab")

    def _window(self) -> tuple[datetime, datetime]:
        assert self.source is not None
        application = self.source.application
        filters = self.model.filters
        return dashboard_window(
            filters.date_from,
            filters.date_to,
            self.model.span,
            application.monitor.clock.now(),
            application.settings.timezone,
        )

    async def _fetch(self) -> None:
        # One computation at a time; whatever changed meanwhile is computed once more after.
        if self._asking:
            self._ask_again = True
            return
        source = self.source
        assert source is not None
        self._asking = True
        summary: EnergySummary | None = None
        try:
            while True:
                self._ask_again = False
                self.start, self.end = self._window()
                summary = await run.io_bound(
                    energy_summary,
                    source.application,
                    self.start,
                    self.end,
                    meters=self.model.filters.meters,
                    period=self.period,
                )
                if not self._ask_again:
                    break
        except source.unavailable as error:
            if source.on_unavailable is not None:
                source.on_unavailable(error)
            return
        finally:
            self._asking = False
        if summary is None or self.panel is None or self.panel.is_deleted:
            return
        self.summary = summary
        self._show(summary)

    # --- showing ------------------------------------------------------------------------
    def _show_caption(self) -> None:
        assert self.source is not None
        zone = self.source.application.settings.timezone
        meters = self.model.filters.meters
        scope = ", ".join(meters) if meters else self.t("energy.every_meter")
        last_day = self.end - timedelta(minutes=1)
        self.caption.set_text(
            self.t(
                "energy.caption",
                start=local_text(self.start, zone)[:10],
                end=local_text(last_day, zone)[:10],
                zone=zone,
                scope=scope,
            )
        )

    def _show(self, summary: EnergySummary) -> None:
        t, language = self.t, self.language
        self._show_caption()
        used = summary.consumption
        demand = summary.total_demand
        zone = summary.settings.timezone
        self.imported.set_text(kwh_text(used.import_kwh, language))
        self.imported_caption.set_text(
            t("energy.kpi_import_hint", coverage=figure(100 * coverage(summary), language, 0))
        )
        self.exported.set_text(kwh_text(used.export_kwh, language))
        self.peak.set_text(kw_text(demand.peak_kw, language))
        self.peak_caption.set_text(local_text(demand.peak_at, zone))
        self.baseload.set_text(kw_text(demand.baseload_kw, language))
        self.load_factor.set_text(
            DASH if math.isnan(demand.load_factor) else figure(demand.load_factor, language, 2)
        )
        cost = summary.total_cost
        if cost is None:
            self.cost.set_text(DASH)
            self.cost_caption.set_text(t("energy.no_tariffs"))
        else:
            self.cost.set_text(money_text(cost.total, cost.currency, language))
            self.cost_caption.set_text(
                t(
                    "energy.kpi_cost_hint",
                    energy=figure(cost.energy_amount, language, 2),
                    demand=figure(cost.demand_amount, language, 2),
                )
            )
        time_share = demand.low_power_factor_time_share
        energy_share = demand.low_power_factor_energy_share
        self.power_factor.set_text(
            t("energy.low_pf_unknown")
            if time_share is None
            else t(
                "energy.low_pf",
                time=share_text(time_share, language),
                energy=share_text(energy_share, language),
            )
        )
        self._replace(self.consumption_chart, energy_charts.consumption_options(summary, language))
        self._replace(self.demand_chart, energy_charts.demand_options(summary, language))
        self.meter_table.rows = [self._meter_row(line, language) for line in meter_lines(summary)]
        self.anomaly_table.rows = [
            self._anomaly_row(item, zone, language) for item in summary.anomalies
        ]

    @staticmethod
    def _replace(chart: ui.echart, options: dict[str, Any]) -> None:
        # A new window or period changes the categories and the meters (the series): the
        # options are replaced whole, still in place.
        chart.options.clear()
        chart.options.update(options)

    def _meter_row(self, line: MeterLine, language: Language) -> dict[str, Any]:
        consumption, demand, cost = line.consumption, line.demand, line.cost
        source = consumption.import_source
        covered = (
            sum(
                period.coverage * (period.end - period.start).total_seconds()
                for period in consumption.periods
            )
            / max((self.end - self.start).total_seconds(), 1.0)
            if consumption.periods
            else 0.0
        )
        return {
            "meter": line.meter_id,
            "source": self.t(SOURCE_TEXT[source]) if source else DASH,
            "import": figure(consumption.import_kwh, language, 3),
            "export": figure(consumption.export_kwh, language, 3),
            "peak": kw_text(demand.peak_kw if demand else None, language),
            "baseload": kw_text(demand.baseload_kw if demand else None, language),
            "load_factor": DASH
            if demand is None or math.isnan(demand.load_factor)
            else figure(demand.load_factor, language, 2),
            "coverage": share_text(covered, language),
            "cost": money_text(cost.total, cost.currency, language) if cost else DASH,
        }

    @staticmethod
    def _anomaly_row(item: AnomalyCost, zone: str, language: Language) -> dict[str, Any]:
        incident = item.incident

        def energy(value: float) -> str:
            return DASH if math.isnan(value) else figure(value, language, 3)

        lasted = timedelta(seconds=round((incident.end - incident.start).total_seconds()))
        return {
            "key": f"{incident.meter_id}|{incident.key}|{incident.start.isoformat()}",
            "meter": incident.meter_id,
            "start": local_text(incident.start, zone),
            "duration": format_duration(lasted),
            "actual": energy(item.actual_kwh),
            "expected": energy(item.expected_kwh),
            "excess": energy(item.excess_kwh),
            "cost": money_text(item.cost, item.currency, language),
        }
