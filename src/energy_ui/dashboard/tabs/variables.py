"""Energy variables: each selected variable over time (envelope, mean, anomalies) and its
distribution. Zooming into a time series re-queries that span at finer resolution."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from energy_core.telemetry.catalogue import variable
from energy_ui.dashboard import charts
from energy_ui.dashboard.layout import card
from energy_ui.dashboard.queries import Zoom
from energy_ui.dashboard.tabs.base import TabView

ZoomLoader = Callable[[str, datetime, datetime], Awaitable[Zoom | None]]

FULL_VIEW = (0.5, 99.5)
"""A zoom window wider than this (percent of the axis) is the whole series: no re-query."""


class VariablesTab(TabView):
    name = "variables"
    title_key = "tab.variables"
    icon = "show_chart"

    zoom_loader: ZoomLoader | None = None

    def build(self) -> None:
        t, language = self.t, self.language
        self.series: dict[str, ui.echart] = {}
        self.histograms: dict[str, ui.echart] = {}
        if not self.model.filters.variables:
            ui.label(t("view.no_variables")).classes("se-caption")
            return
        ui.label(t("chart.zoom_hint")).classes("se-caption")
        for name in self.model.filters.variables:
            spec = variable(name)
            with (
                card(t("chart.series", variable=spec.label(language))),
                ui.element("div").classes("grid w-full gap-4 grid-cols-1 lg:grid-cols-3"),
            ):
                chart = (
                    ui.echart(
                        charts.envelope_options(
                            name,
                            self.model.envelopes[name].points(),
                            self.model.marks[name].points,
                            language,
                            self.model.feedback_areas,
                        )
                    )
                    .classes("h-72 lg:col-span-2")
                    .mark(f"chart-series-{name}")
                )
                chart.on(
                    "chart:datazoom",
                    lambda event, name=name: self._zoomed(name, event),
                    ["start", "end", "batch"],
                    throttle=0.4,
                )
                self.series[name] = chart
                self.histograms[name] = (
                    ui.echart(charts.histogram_options(self.model.histograms[name], language))
                    .classes("h-72")
                    .mark(f"chart-histogram-{name}")
                )

    def render(self) -> None:
        for name, chart in self.series.items():
            points = self.model.envelopes[name].points()
            charts.set_envelope(chart.options, points, self.model.marks[name].points)
        for name, chart in self.histograms.items():
            histogram = self.model.histograms[name]
            charts.set_data(chart.options, 0, histogram.normal)
            charts.set_data(chart.options, 1, histogram.flagged)

    async def _zoomed(self, name: str, event: GenericEventArguments) -> None:
        window = _zoom_window(event.args)
        envelope = self.model.envelopes.get(name)
        if window is None or envelope is None or self.zoom_loader is None or not envelope.slots:
            return
        start_pct, end_pct = window
        if start_pct <= FULL_VIEW[0] and end_pct >= FULL_VIEW[1]:
            return
        first, last = envelope.slots[0].start, envelope.slots[-1].start
        span = last - first
        start = first + span * (start_pct / 100)
        end = first + span * (end_pct / 100)
        if end <= start:
            return
        zoom = await self.zoom_loader(name, start, end)
        if zoom is None or name not in self.series:
            return
        envelope.splice(zoom.buckets, zoom.width, zoom.start, zoom.end)
        marks = self.model.marks[name].points
        charts.set_envelope(self.series[name].options, envelope.points(), marks)


def _zoom_window(args: Any) -> tuple[float, float] | None:
    """(start %, end %) of an ECharts ``datazoom`` event (slider or inside zoom)."""
    if not isinstance(args, dict):
        return None
    source = args
    batch = args.get("batch")
    if isinstance(batch, list) and batch and isinstance(batch[0], dict):
        source = batch[0]
    start, end = source.get("start"), source.get("end")
    if not isinstance(start, int | float) or not isinstance(end, int | float):
        return None
    return float(start), float(end)
