"""One open dashboard: header, side panel, status, tabs; live updates and reloads."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING

from nicegui import background_tasks, run, ui

from energy_core.health.alarm import HealthChange
from energy_core.ports import FleetPage, FleetQuery, ReadingFilter
from energy_core.telemetry.catalogue import Language
from energy_ui.bootstrap import unavailable_errors
from energy_ui.dashboard.action_panel import ActionPanel
from energy_ui.dashboard.alerts_state import AlertLink
from energy_ui.dashboard.charts import BLUE
from energy_ui.dashboard.filter_panel import FilterPanel
from energy_ui.dashboard.filters import Filters
from energy_ui.dashboard.layout import add_head
from energy_ui.dashboard.live import LiveUpdate
from energy_ui.dashboard.login import Gate, login_dialog
from energy_ui.dashboard.model import PageModel
from energy_ui.dashboard.queries import (
    BandData,
    BandRequest,
    ViewData,
    Zoom,
    empty_view,
    load_expected,
    load_view,
    load_zoom,
)
from energy_ui.dashboard.status import StatusPanel
from energy_ui.dashboard.tabs.alerts import AlertBadge, AlertsContext, AlertsTab
from energy_ui.dashboard.tabs.anomalies import AnomaliesTab
from energy_ui.dashboard.tabs.base import TabView
from energy_ui.dashboard.tabs.comparatives import ComparativesTab
from energy_ui.dashboard.tabs.consumption import ConsumptionTab, EnergySource
from energy_ui.dashboard.tabs.general import GeneralTab
from energy_ui.dashboard.tabs.meters import MetersTab
from energy_ui.dashboard.tabs.records import RecordsTab
from energy_ui.dashboard.tabs.variables import VariablesTab
from energy_ui.dashboard.upload_panel import UploadPanel
from energy_ui.i18n import number, text

if TYPE_CHECKING:
    from energy_ui.dashboard.app import Dashboard

log = logging.getLogger(__name__)

TABS: tuple[type[TabView], ...] = (
    GeneralTab,
    VariablesTab,
    ComparativesTab,
    AnomaliesTab,
    RecordsTab,
    MetersTab,
    AlertsTab,
    ConsumptionTab,
)


class DashboardPage:
    """The page of one browser tab. Filters, language and pause are its own; data is shared."""

    def __init__(
        self,
        dashboard: Dashboard,
        *,
        gate: Gate | None = None,
        path: str = "/",
        language: Language | None = None,
        link: AlertLink | None = None,
    ) -> None:
        self.dashboard = dashboard
        self.gate = gate or Gate(dashboard.access)
        self.path = path
        self.monitor = dashboard.application.monitor
        self.settings = dashboard.application.settings
        self.language: Language = language or self.settings.language
        self.filters = Filters()
        self.live = True
        self.tab = TABS[0].name
        self.loading = False
        self._reload_again = False
        self._pending: list[LiveUpdate] = []
        self.views: dict[str, TabView] = {}
        self.model: PageModel | None = None
        self.focus_alert: int | None = None
        if link is not None:  # a notification's link: its meter and days, its alert
            self.filters = link.filters(self.filters)
            self.tab = AlertsTab.name
            self.focus_alert = link.alert_id

    def t(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    # --- building -----------------------------------------------------------------------
    async def open(self) -> None:
        """Build the page for the current client and subscribe it to live updates."""
        add_head()
        ui.colors(primary=BLUE)
        try:
            data = await self._load()
        except unavailable_errors() as error:
            # The page opens anyway, empty, with the banner; it re-queries when the
            # producer finds the database back.
            self.dashboard.producer.report_unavailable(error)
            data = empty_view(self.filters)
        self.model = PageModel(data)
        self.header = ui.header(elevated=False).classes(
            "bg-white text-slate-900 border-b border-slate-200 px-4 py-2"
        )
        # No value: Quasar's show-if-above opens the drawer beside the page from 1024 px and
        # keeps it closed, over the page when opened, on phones and tablets.
        self.drawer = (
            ui.left_drawer(value=None, bordered=True)
            .props("width=320")
            .classes("bg-white px-4 py-4")
        )
        with self.drawer:
            self.side = ui.column().classes("w-full gap-3")
        self.main = ui.column().classes("w-full max-w-[1680px] mx-auto gap-4 p-2")
        self.build()
        self.dashboard.producer.updates.subscribe(self.on_live)
        self.dashboard.producer.availability.subscribe(self.on_availability)
        self.dashboard.jobs.changed.subscribe(self.on_jobs)
        self.dashboard.drill.changed.subscribe(self.on_drill)

    def build(self) -> None:
        """(Re)build everything that carries text, in the current language."""
        assert self.model is not None
        ui.page_title(f"{self.t('app.title')} · {self.t('app.subtitle')}")
        self.header.clear()
        with self.header:
            self._build_header()
        self.side.clear()
        with self.side:
            meters = [*self.model.meters]
            meters += [meter for meter in self.filters.meters if meter not in meters]
            self.filter_panel = FilterPanel(self.language, self.filters, meters, self.set_filters)
            ui.separator()
            self.actions = ActionPanel(
                self.language,
                self.monitor,
                self.dashboard.jobs,
                self.gate,
                login=self.log_in,
                on_trained=lambda info: self.dashboard.drill.start(info.version),
            )
            ui.separator()
            self.uploads = UploadPanel(
                self.language,
                self.monitor,
                self.dashboard.jobs,
                self.gate,
                allowed=self.actions.allowed,
            )
        self.main.clear()
        with self.main:
            with (
                ui.row()
                .classes(
                    "w-full items-center gap-3 no-wrap rounded-xl border border-red-300"
                    " bg-red-50 text-red-900 px-4 py-3"
                )
                .mark("database-banner") as self.banner
            ):
                ui.icon("cloud_off", color="negative").classes("text-2xl")
                ui.label(self.t("database.unavailable")).classes("font-semibold")
            self.banner.set_visibility(not self.dashboard.producer.available)
            self.status = StatusPanel(self.language, self.settings.thresholds, self.dashboard.drill)
            self.status.show(self.model.status)
            self.status.show_drill()
            self.progress = (
                ui.linear_progress(show_value=False, size="3px")
                .props("indeterminate")
                .classes("w-full")
                .mark("loading")
            )
            self.progress.set_visibility(self.loading)
            self.tabs_area = ui.column().classes("w-full gap-0")
        self.build_tabs()

    def _build_header(self) -> None:
        t = self.t
        # On a phone the controls wrap onto a second line, right-aligned, and the chips show
        # only their icons (layout.HEAD), so nothing reaches past the screen's edge.
        with ui.row().classes("w-full items-center gap-x-3 gap-y-1 wrap lg:flex-nowrap"):
            ui.button(icon="menu", on_click=self.drawer.toggle).props("flat round dense").classes(
                "lg:hidden se-menu"
            )
            with ui.element("div").classes(
                "rounded-xl bg-blue-600 text-white w-10 h-10 flex items-center justify-center"
            ):
                ui.icon("bolt").classes("text-2xl")
            with ui.column().classes("gap-0"):
                ui.label(t("app.title")).classes("text-xl font-bold leading-tight").mark("title")
                ui.label(t("app.subtitle")).classes("text-xs text-slate-500 max-sm:hidden")
            ui.space()
            with ui.row().classes("items-center justify-end gap-2 wrap ml-auto max-sm:w-full"):
                if self.dashboard.alert_feed is not None:
                    AlertBadge(self.language, self.dashboard.alert_feed, self.show_alerts)
                mode = self.dashboard.application.mode
                ui.chip(
                    t(f"mode.{mode}"),
                    icon="memory" if mode == "memory" else "dns",
                    color="blue-1",
                    text_color="blue-9",
                ).props("dense").classes("se-chip").mark("mode")
                ui.chip(
                    t("connection.online"), icon="wifi", color="green-1", text_color="green-9"
                ).props("dense").classes("se-chip se-online").mark("connection")
                ui.chip(
                    t("connection.offline"), icon="wifi_off", color="red-1", text_color="red-9"
                ).props("dense").classes("se-chip se-offline-chip")
                self.paused_chip = (
                    ui.chip(t("live.paused"), icon="pause", color="amber-2", text_color="amber-10")
                    .props("dense")
                    .classes("se-chip")
                    .mark("paused")
                )
                self.paused_chip.set_visibility(not self.live)
                if self.gate.protects_actions:
                    self._build_login_controls()
                ui.switch(
                    t("live.switch"), value=self.live, on_change=lambda e: self.set_live(e.value)
                ).mark("live-switch")
                ui.toggle(
                    {"es": "ES", "en": "EN"},
                    value=self.language,
                    on_change=lambda e: self.set_language(e.value),
                ).props("dense unelevated no-caps toggle-color=primary").mark("language")

    def _build_login_controls(self) -> None:
        t = self.t
        if self.gate.is_admin():
            ui.chip(
                t("login.admin"),
                icon="admin_panel_settings",
                color="indigo-1",
                text_color="indigo-9",
            ).props("dense").classes("se-chip").mark("admin")
            ui.button(icon="logout", on_click=self.log_out).props("flat round dense").tooltip(
                t("login.logout")
            ).mark("logout")
        else:
            ui.button(t("login.button"), icon="login", on_click=self.log_in).props(
                "flat no-caps dense"
            ).mark("login-open")

    async def log_in(self) -> None:
        if await login_dialog(self.language, self.gate):
            ui.notify(self.t("login.welcome"), type="positive", position="top-right")
            self.build()

    def log_out(self) -> None:
        self.gate.log_out()
        if not self.gate.may_read():
            ui.navigate.to(self.path)
            return
        ui.notify(self.t("login.bye"), type="info", position="top-right")
        self.build()

    def build_tabs(self) -> None:
        assert self.model is not None
        self.tabs_area.clear()
        self.views = {}
        thresholds = self.settings.thresholds
        with self.tabs_area:
            with (
                ui.tabs(on_change=lambda e: self.set_tab(str(e.value)))
                .props(
                    "align=left no-caps inline-label active-color=primary indicator-color=primary"
                )
                .classes(
                    "w-full text-slate-700 bg-white rounded-t-xl border border-slate-200"
                ) as tabs
            ):
                for view_type in TABS:
                    ui.tab(view_type.name, self.t(view_type.title_key), icon=view_type.icon).props(
                        f"data-tab={view_type.name}"
                    ).mark(f"tab-{view_type.name}")
            tabs.set_value(self.tab)
            self.tab_bar = tabs
            with (
                ui.tab_panels(tabs, value=self.tab)
                .classes("w-full bg-transparent")
                .props("keep-alive")
            ):
                for view_type in TABS:
                    view = view_type(self.model, self.language, thresholds)
                    if isinstance(view, VariablesTab):
                        view.zoom_loader, view.expected_loader = self._zoom, self._expected
                    if isinstance(view, MetersTab):
                        view.loader, view.picker = self._meters, self.show_meter
                    if isinstance(view, AlertsTab):
                        view.context = self._alerts_context()
                    if isinstance(view, ConsumptionTab):
                        view.source = EnergySource(
                            self.dashboard.application,
                            on_unavailable=self.dashboard.producer.report_unavailable,
                            unavailable=unavailable_errors(),
                        )
                    with ui.tab_panel(view_type.name).classes("px-0 gap-4") as panel:
                        view.attach(panel)
                    self.views[view.name] = view
        self.views[self.tab].show()

    def _alerts_context(self) -> AlertsContext:
        application = self.dashboard.application
        return AlertsContext(
            alerting=application.alerting,
            feed=self.dashboard.alert_feed,
            notifier=application.notifier,
            dashboard_url=self.settings.dashboard_url,
            gate=self.gate,
            login=self.log_in,
            read_in_thread=application.mode == "postgres",
            focus=self.focus_alert,
            on_select=self._focus,
            give_feedback=self.monitor.give_feedback,
            on_unavailable=self.dashboard.producer.report_unavailable,
            unavailable=unavailable_errors(),
        )

    # --- user choices -------------------------------------------------------------------
    def set_tab(self, name: str) -> None:
        if name == self.tab or name not in self.views:
            return
        self.views[self.tab].hide()
        self.tab = name
        self.views[name].show()

    def _focus(self, alert_id: int | None) -> None:
        self.focus_alert = alert_id

    def show_alerts(self) -> None:
        """The Alerts tab (a click on the header's bell)."""
        self.tab_bar.set_value(AlertsTab.name)

    def set_language(self, language: str) -> None:
        if language not in ("es", "en") or language == self.language:
            return
        self.language = "es" if language == "es" else "en"
        self.build()

    def set_live(self, live: bool) -> None:
        if live == self.live:
            return
        self.live = live
        self.paused_chip.set_visibility(not live)
        if live:
            self.request_reload()

    def set_filters(self, filters: Filters) -> None:
        self.filters = filters
        self.request_reload()

    def show_meter(self, meter: str) -> None:
        """Every tab about ``meter`` alone (a click in the Meters tab), the first one shown."""
        select = self.filter_panel.meters
        if meter not in select.options:
            self.filter_panel.set_meters([*select.options, meter])
        self.tab_bar.set_value(TABS[0].name)
        select.value = [meter]  # the panel hands the new filters to set_filters
        ui.notify(self.t("meters.showing", meter=meter), type="info", position="top-right")

    # --- data ---------------------------------------------------------------------------
    async def _load(self) -> ViewData:
        data = await run.io_bound(load_view, self.monitor, self.filters)
        if data is None:  # the application is shutting down
            raise RuntimeError("the application is shutting down")
        return data

    async def _zoom(self, variable: str, start: datetime, end: datetime) -> Zoom | None:
        try:
            return await run.io_bound(load_zoom, self.monitor, self.filters, variable, start, end)
        except unavailable_errors() as error:
            self.dashboard.producer.report_unavailable(error)
            return None

    async def _expected(self, request: BandRequest) -> BandData | None:
        try:
            return await run.io_bound(load_expected, self.monitor, request)
        except unavailable_errors() as error:
            self.dashboard.producer.report_unavailable(error)
            return None

    async def _meters(self, query: FleetQuery) -> FleetPage | None:
        try:
            return await run.io_bound(self.dashboard.application.meters_overview, query)
        except unavailable_errors() as error:
            self.dashboard.producer.report_unavailable(error)
            return None

    def request_reload(self) -> None:
        """Query everything again (filters changed, live resumed, storage reset)."""
        if self.loading:
            self._reload_again = True
            return
        self.loading = True
        self.progress.set_visibility(True)
        background_tasks.create(self.reload(), name="dashboard reload")

    async def reload(self) -> None:
        try:
            while True:
                self._reload_again = False
                data = await self._load()
                if not self._reload_again:
                    break
        except unavailable_errors() as error:
            # Keep what is shown; the producer re-reads and, once the database answers,
            # tells every page to query again.
            self.dashboard.producer.report_unavailable(error)
            if not self.main.is_deleted:
                self.progress.set_visibility(False)
            return
        finally:
            self.loading = False
        if self.main.is_deleted:
            return
        self.progress.set_visibility(False)
        self.model = PageModel(data)
        self.filter_panel.set_meters(self.model.meters)
        self.status.show(self.model.status)
        self.build_tabs()
        pending, self._pending = self._pending, []
        for update in pending:
            self._apply(update)

    # --- live ---------------------------------------------------------------------------
    def on_live(self, update: LiveUpdate) -> None:
        """Called by the producer for every update, in this page's context."""
        if update.health_change is not None:
            self._alert(update.health_change)
        if self.model is None:
            return
        if not self.live:
            return
        if self.loading:
            self._pending.append(update)
            return
        self._apply(update)

    def _apply(self, update: LiveUpdate) -> None:
        assert self.model is not None
        if update.refresh:
            self.request_reload()
            return
        accepted = self.model.apply(update)
        if self.filters.reading_filter() == ReadingFilter():
            self.model.total = update.stored  # retention drops old readings: trust the store
        self.status.show(self.model.status)
        for view in self.views.values():
            view.live(accepted, update)

    def on_availability(self, available: bool) -> None:
        """The producer found the database gone or back."""
        if self.main.is_deleted:
            return
        self.banner.set_visibility(not available)
        if available:
            ui.notify(self.t("database.back"), type="positive", position="top-right")
            self.request_reload()

    def on_drill(self) -> None:
        if not self.main.is_deleted:
            self.status.show_drill()

    def on_jobs(self) -> None:
        self.actions.show_jobs()
        self.uploads.show_jobs()

    def _alert(self, change: HealthChange) -> None:
        language = self.language
        ui.notify(
            self.t(
                "alert.health",
                old=change.previous.label(language),
                new=change.current.label(language),
                percentage=number(change.percentage, language, 1),
            ),
            type="negative" if change.worse else "positive",
            icon="warning" if change.worse else "check_circle",
            position="top-right",
            timeout=10_000,
        )
