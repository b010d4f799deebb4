"""Energy variables: each selected variable over time (envelope, mean, anomalies) and its
distribution. Zooming into a time series re-queries that span at finer resolution."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from nicegui import background_tasks, ui
from nicegui.events import GenericEventArguments

from energy_core.health.analysis import HealthThresholds
from energy_core.telemetry.catalogue import Language, variable
from energy_core.telemetry.readings import Reading
from energy_ui.dashboard import charts
from energy_ui.dashboard.layout import card
from energy_ui.dashboard.live import LiveUpdate
from energy_ui.dashboard.model import PageModel
from energy_ui.dashboard.queries import EXPECTED_READINGS, BandData, BandRequest, Zoom
from energy_ui.dashboard.series import Envelope
from energy_ui.dashboard.tabs.base import TabView
from energy_ui.i18n import number

ZoomLoader = Callable[[str, datetime, datetime], Awaitable[Zoom | None]]
ExpectedLoader = Callable[[BandRequest], Awaitable[BandData | None]]
"""Reads the expected band a request asks for, off the event loop (``None``: storage away)."""

FULL_VIEW = (0.5, 99.5)
"""A zoom window wider than this (percent of the axis) is the whole series: no re-query."""


class VariablesTab(TabView):
    name = "variables"
    title_key = "tab.variables"
    icon = "show_chart"

    zoom_loader: ZoomLoader | None = None
    expected_loader: ExpectedLoader | None = None

    def __init__(self, model: PageModel, language: Language, thresholds: HealthThresholds) -> None:
        super().__init__(model, language, thresholds)
        self._band_requests: list[BandRequest] = []
        self._band_task: asyncio.Task[None] | None = None

    @property
    def banded(self) -> bool:
        """Whether the charts draw the expected band: a view of one meter, with a loader."""
        return self.model.expected_meter is not None and self.expected_loader is not None

    def _expected(self, envelope: Envelope) -> charts.Band | None:
        return envelope.expected_points() if self.banded else None

    def build(self) -> None:
        t, language = self.t, self.language
        self.series: dict[str, ui.echart] = {}
        self.histograms: dict[str, ui.echart] = {}
        if not self.model.filters.variables:
            ui.label(t("view.no_variables")).classes("se-caption")
            return
        ui.label(t("chart.zoom_hint")).classes("se-caption")
        if self.banded:
            count = number(EXPECTED_READINGS, language, 0)
            ui.label(t("chart.expected_hint", count=count)).classes("se-caption").mark(
                "expected-hint"
            )
        elif self.model.status.model is not None:
            ui.label(t("chart.expected_one_meter")).classes("se-caption")
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
                            self._expected(self.model.envelopes[name]),
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
        if self.banded:
            self._want(self._window_band())

    def render(self) -> None:
        for name, chart in self.series.items():
            envelope = self.model.envelopes[name]
            charts.set_envelope(
                chart.options,
                envelope.points(),
                self.model.marks[name].points,
                self._expected(envelope),
            )
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
        charts.set_envelope(
            self.series[name].options, envelope.points(), marks, self._expected(envelope)
        )
        if self.banded:  # the finer buckets get the band of the zoomed span
            self._want(replace(self._window_band(), start=zoom.start, end=zoom.end))

    # --- the expected band ----------------------------------------------------------------
    def live(self, accepted: Sequence[Reading], update: LiveUpdate) -> None:
        """New readings get their expected range too (after them, as the detector needs
        their predecessors stored); a new model draws the whole band again with it."""
        super().live(accepted, update)
        meter = self.model.expected_meter
        if not self.built or not self.banded or meter is None:
            return
        if update.new_model:
            self._want(replace(self._window_band(), fresh=True))
        mine = tuple(reading for reading in accepted if reading.meter_id == meter)
        if mine:
            self._want(BandRequest(self.model.filters, meter, readings=mine))

    def _window_band(self) -> BandRequest:
        assert self.model.expected_meter is not None
        return BandRequest(self.model.filters, self.model.expected_meter)

    def _want(self, request: BandRequest) -> None:
        """Ask for a band; requests are answered one after another, in order."""
        self._band_requests.append(request)
        if self._band_task is None:
            self._band_task = background_tasks.create(self._answer(), name="expected band")

    async def _answer(self) -> None:
        try:
            while self._band_requests and self.expected_loader is not None:
                request = self._band_requests.pop(0)
                # Live readings waiting one behind another are read in one go.
                while (
                    request.readings is not None
                    and self._band_requests
                    and self._band_requests[0].readings is not None
                ):
                    following = self._band_requests.pop(0).readings or ()
                    request = replace(request, readings=(*request.readings, *following))
                band = await self.expected_loader(request)
                if band is not None:
                    self.model.add_expected(band, fresh=request.fresh)
                    self.changed()
        finally:
            self._band_task = None

    async def settled(self) -> None:
        """Wait until every band asked for is drawn into the model (tests)."""
        while self._band_task is not None:
            await asyncio.sleep(0.01)


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
