"""Alerts: the open alerts live, their history, each one's notifications and delivery, and
what people do about them — acknowledge, silence, feedback — beside the silences,
maintenance windows, rules in force and channels. Plus the header's badge of open alerts.

The tab reads the alert store when the process's ``AlertFeed`` says something changed (at
most every ``min_interval`` seconds); every change asks the ``Gate`` when it runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from nicegui import Client, background_tasks, run, ui
from nicegui.events import GenericEventArguments

from energy_core.alerts.delivery import Notifier
from energy_core.alerts.model import AlertKind, Severity, parse_duration
from energy_core.alerts.store import Feedback, FeedbackVerdict, OutboxItem, StoredAlert
from energy_core.telemetry.catalogue import Language
from energy_core.telemetry.readings import Reading
from energy_core.telemetry.simulator import AnomalyKind
from energy_core.usecases.alerting import Alerting
from energy_ui.alert_messages import alert_variables
from energy_ui.alert_views import (
    DELIVERY_TEXT,
    NOTIFICATION_TEXT,
    VERDICT_TEXT,
    alert_title,
    channel_deliveries,
    duration_text,
    feedback_on,
    kind_label,
    new_silence,
    new_window,
    reason_text,
    rule_lines,
    severity_label,
    window_schedule,
)
from energy_ui.dashboard.alerts_state import (
    AlertDetail,
    AlertFeed,
    AlertsData,
    AlertSummary,
    load_alerts,
    load_detail,
)
from energy_ui.dashboard.layout import card, table_texts
from energy_ui.dashboard.live import LiveUpdate
from energy_ui.dashboard.login import Gate
from energy_ui.dashboard.tabs.base import TabView
from energy_ui.i18n import moment, number, text

log = logging.getLogger(__name__)
T = TypeVar("T")

SEVERITY_COLOURS = {
    Severity.INFO: "text-slate-600",
    Severity.WARNING: "text-amber-700",
    Severity.CRITICAL: "text-red-700 font-semibold",
}
DELIVERY_COLOURS = {
    "pending": "text-blue-700",
    "sending": "text-blue-700",
    "sent": "text-green-700",
    "failed": "text-red-700 font-semibold",
    "suppressed": "text-slate-500",
}
SILENCE_CHOICES = ("30m", "1h", "2h", "4h", "8h", "1d", "7d")
DEFAULT_SILENCE = "2h"
PAGE_ROWS = 10
NO_KIND = ""


@dataclass
class AlertsContext:
    """What the tab needs from its page: the use cases, the feed, who may act."""

    alerting: Alerting | None
    feed: AlertFeed | None
    notifier: Notifier | None
    dashboard_url: str
    gate: Gate
    login: Callable[[], Awaitable[None]]
    read_in_thread: bool = False
    focus: int | None = None
    """The alert to open first (a notification's link)."""
    on_select: Callable[[int | None], None] | None = None
    """Told which alert is open, so that a rebuilt tab opens it again."""
    give_feedback: Callable[[Feedback], Feedback] | None = None
    """Stores feedback and applies it (``Monitor.give_feedback``); default: only stores."""
    on_unavailable: Callable[[BaseException], None] | None = None
    unavailable: tuple[type[BaseException], ...] = ()


class AlertsTab(TabView):
    name = "alerts"
    title_key = "tab.alerts"
    icon = "notifications_active"
    min_interval = 1.0
    """The alerts are read again at most this often while changes arrive (seconds)."""

    context: AlertsContext | None = None

    # --- building -----------------------------------------------------------------------
    def build(self) -> None:
        t = self.t
        context = self.context
        self.client: Client = ui.context.client
        self.data: AlertsData | None = None
        self.detail: AlertDetail | None = None
        self.selected = context.focus if context is not None else None
        self._asking = self._ask_again = False
        self._detail_shape: object = None
        if context is None or context.alerting is None:
            with card(), ui.row().classes("items-center gap-2 no-wrap"):
                ui.icon("notifications_off", color="grey-7").classes("text-2xl")
                ui.label(t("alerts.off")).classes("se-caption").mark("alerts-off")
            return
        self.alerting: Alerting = context.alerting
        self.allowed = context.gate.may_act()
        if not self.allowed:
            with ui.row().classes("w-full items-center gap-2").mark("alerts-login-hint"):
                ui.icon("lock", color="grey-7")
                ui.label(t("alerts.login_hint")).classes("se-caption")
                ui.button(t("login.button"), icon="login", on_click=context.login).props(
                    "outline dense no-caps"
                ).mark("alerts-login")
        self.caption = ui.label().classes("se-caption").mark("alerts-caption")
        # The alert chosen (or linked from a notification) comes first, on a phone too.
        self.detail_card = (
            ui.card().classes("se-card w-full gap-2").props("flat").mark("alert-detail")
        )
        self.detail_card.set_visibility(False)
        with card() as self.open_card:
            with ui.row().classes("w-full items-center gap-2"):
                ui.icon("notifications_active", color="negative").classes("text-xl")
                self.open_title = ui.label().classes("se-section").mark("alerts-open-title")
            self.open_table = self._alert_table("alerts-open")
        with card(t("alerts.history")):
            self.history_table = self._alert_table("alerts-history")
        with ui.element("div").classes("grid w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            with card(t("alerts.silences")):
                self.silence_list = ui.column().classes("w-full gap-1").mark("alerts-silences")
                self._action_button(
                    t("alerts.silence_add"), "volume_off", self.add_silence, "silence-add"
                )
            with card(t("alerts.windows")):
                ui.label(t("alerts.windows_hint")).classes("se-caption")
                self.window_list = ui.column().classes("w-full gap-1").mark("alerts-windows")
                self._action_button(
                    t("alerts.window_add"), "event_busy", self.add_window, "window-add"
                )
        with ui.element("div").classes("grid w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            with card(t("alerts.rules")):
                ui.label(t("alerts.rules_hint")).classes("se-caption")
                with ui.column().classes("w-full gap-1").mark("alerts-rules"):
                    for line in rule_lines(self.alerting.settings, self.language):
                        with ui.row().classes("w-full gap-2 no-wrap items-baseline"):
                            ui.label(line.rule_id).classes(
                                "font-mono text-xs text-slate-500 min-w-[6rem]"
                            )
                            ui.label(line.text).classes("text-sm")
            with card(t("alerts.channels")):
                self.channels_hint = ui.label().classes("se-caption")
                self.channel_table = (
                    ui.table(columns=self._channel_columns(), rows=[], row_key="name")
                    .props("flat dense wrap-cells")
                    .classes("w-full")
                    .mark("alerts-channels")
                )
                table_texts(self.channel_table, t("table.rows_per_page"), t("alerts.no_channels"))
        if context.feed is not None:
            context.feed.changed.subscribe(self._on_feed)
        self.refresh()

    def _alert_table(self, marker: str) -> ui.table:
        t = self.t
        columns = [
            self._column("id", "#"),
            self._column("state", t("alerts.column_state"), left=True),
            self._column("kind", t("alerts.column_kind"), left=True),
            self._column("meter", t("alerts.column_meter"), left=True),
            self._column("severity", t("alerts.column_severity"), left=True),
            self._column("since", t("alerts.column_since"), left=True),
            self._column("duration", t("alerts.column_duration")),
            self._column("peak", t("alerts.column_peak")),
            self._column("readings", t("alerts.column_readings")),
            {
                **self._column("variables", t("alerts.column_variables"), left=True),
                "style": "white-space: normal; min-width: 10rem",
            },
            self._column("acknowledged", t("alerts.column_acknowledged"), left=True),
        ]
        table = (
            ui.table(columns=columns, rows=[], row_key="id", pagination=PAGE_ROWS)
            .props("flat dense")
            .classes("w-full cursor-pointer")
            .mark(marker)
        )
        table_texts(table, t("table.rows_per_page"), t("alerts.none"))
        table.add_slot(
            "body-cell-severity",
            '<q-td :props="props"><span :class="props.row.severity_class">'
            "{{ props.value }}</span></q-td>",
        )
        table.on("rowClick", self._on_click, [[], ["id"], None])
        return table

    @staticmethod
    def _column(name: str, label: str, *, left: bool = False) -> dict[str, Any]:
        spec: dict[str, Any] = {"name": name, "label": label, "field": name, "sortable": False}
        if left:
            spec["align"] = "left"
        return spec

    def _channel_columns(self) -> list[dict[str, Any]]:
        t = self.t
        return [
            self._column("name", t("alerts.column_channel"), left=True),
            self._column("receives", t("alerts.column_receives"), left=True),
            {
                **self._column("last_sent", t("alerts.column_last_sent"), left=True),
                "style": "white-space: nowrap",
            },
            {
                **self._column("last_failure", t("alerts.column_last_failure"), left=True),
                "style": "white-space: normal; min-width: 12rem",
            },
        ]

    def _action_button(
        self, label: str, icon: str, handler: Callable[[], Any], marker: str
    ) -> ui.button:
        button = (
            ui.button(label, icon=icon, on_click=handler)
            .props("outline dense no-caps")
            .classes("self-start")
            .mark(marker)
        )
        button.set_enabled(self.allowed)
        return button

    # --- live -------------------------------------------------------------------------------
    def live(self, accepted: Sequence[Reading], update: LiveUpdate) -> None:
        """Readings are the feed's business: it tells the tab when alerts changed."""

    def _on_feed(self, summary: AlertSummary) -> None:
        context = self.context
        if self.panel is None or self.panel.is_deleted or self.client.is_deleted:
            if context is not None and context.feed is not None:
                context.feed.changed.unsubscribe(self._on_feed)
            return
        self.dirty = True
        if self.visible and self._scheduled is None:
            self._schedule()

    def _schedule(self) -> None:
        delay = max(0.0, self._rendered_at + self.min_interval - time.monotonic())
        self._scheduled = asyncio.get_running_loop().call_later(delay, self._flush)

    def render(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        background_tasks.create(self._fetch(), name="alerts tab")

    async def _io(self, work: Callable[[], T]) -> T:
        context = self.context
        if context is not None and context.read_in_thread:
            return await run.io_bound(work)  # type: ignore[return-value]
        return work()

    async def _fetch(self) -> None:
        # One read at a time; whatever changed meanwhile is read once more after.
        if self._asking:
            self._ask_again = True
            return
        self._asking = True
        data: AlertsData | None = None
        detail: AlertDetail | None = None
        try:
            while True:
                self._ask_again = False
                data = await self._io(partial(load_alerts, self.alerting, self.model.filters))
                if self.selected is not None:
                    detail = await self._io(partial(load_detail, self.alerting, self.selected))
                if not self._ask_again:
                    break
        except self._unavailable() as error:
            context = self.context
            if context is not None and context.on_unavailable is not None:
                context.on_unavailable(error)
            return
        finally:
            self._asking = False
        if data is None or self.panel is None or self.panel.is_deleted:
            return
        self.data = data
        self._show(data)
        self._show_detail(detail)

    def _unavailable(self) -> tuple[type[BaseException], ...]:
        context = self.context
        return context.unavailable if context is not None else ()

    # --- showing ------------------------------------------------------------------------------
    def _show(self, data: AlertsData) -> None:
        t = self.t
        filters = self.model.filters
        scope = ", ".join(filters.meters) if filters.meters else t("alerts.every_meter")
        if filters.date_from is not None and filters.date_to is not None:
            scope += f" · {filters.date_from.isoformat()} – {filters.date_to.isoformat()}"
        self.caption.set_text(t("alerts.caption", scope=scope))
        self.open_title.set_text(t("alerts.open", count=number(len(data.open), self.language)))
        self.open_table.rows = [self._row(stored) for stored in data.open]
        self.history_table.rows = [self._row(stored) for stored in data.history]
        self._show_silences(data)
        self._show_windows(data)
        self._show_channels(data)

    def _row(self, stored: StoredAlert) -> dict[str, Any]:
        alert = stored.alert
        language = self.language
        ack = stored.acknowledgement
        lasted = alert.duration
        if lasted is None and self.data is not None and self.data.now is not None:
            lasted = self.data.now - alert.started_at
        return {
            "id": stored.id,
            "state": self.t("alerts.state_open" if alert.is_open else "alerts.state_resolved"),
            "kind": kind_label(alert.kind, language),
            "meter": alert.meter_id or "—",
            "severity": severity_label(alert.severity, language),
            "severity_class": SEVERITY_COLOURS[alert.severity],
            "since": moment(alert.started_at),
            "duration": "" if lasted is None else duration_text(lasted),
            "peak": "" if alert.peak is None else number(alert.peak, language, 2),
            "readings": number(alert.readings, language),
            "variables": alert_variables(alert, language),
            "acknowledged": "" if ack is None else ack.by,
        }

    def _show_silences(self, data: AlertsData) -> None:
        t = self.t
        self.silence_list.clear()
        with self.silence_list:
            if not data.silences:
                ui.label(t("alerts.no_silences")).classes("se-caption")
            for silence in data.silences:
                active = data.now is None or silence.active(data.now)
                what = ", ".join([*silence.meters, *silence.rule_ids]) or "*"
                line = t(
                    "alerts.silence_line",
                    what=what,
                    until=moment(silence.ends_at, seconds=False),
                    by=silence.created_by or "—",
                )
                self._mute_row(
                    "volume_off" if active else "schedule",
                    line,
                    silence.comment,
                    partial(self.remove_silence, silence.id),
                    f"silence-{silence.id}",
                )

    def _show_windows(self, data: AlertsData) -> None:
        t = self.t
        self.window_list.clear()
        with self.window_list:
            if not data.windows:
                ui.label(t("alerts.no_windows")).classes("se-caption")
            for window in data.windows:
                scope = ", ".join([*window.meters, *window.rule_ids]) or t("alerts.all_alerts")
                covering = data.now is not None and window.covers(data.now)
                line = f"{window.id}: {window_schedule(window)} · {scope}"
                if covering:
                    line += f" · {t('alerts.window_now')}"
                self._mute_row(
                    "event_busy",
                    line,
                    window.comment,
                    partial(self.remove_window, window.id),
                    f"window-{window.id}",
                )

    def _mute_row(
        self, icon: str, line: str, comment: str, remove: Callable[[], Any], marker: str
    ) -> None:
        with ui.row().classes("w-full items-center gap-2 no-wrap").mark(marker):
            ui.icon(icon, color="grey-7")
            with ui.column().classes("gap-0 grow"):
                ui.label(line).classes("text-sm")
                if comment:
                    ui.label(comment).classes("se-caption")
            button = (
                ui.button(icon="delete", on_click=remove)
                .props("flat round dense")
                .tooltip(self.t("alerts.remove"))
                .mark(f"{marker}-remove")
            )
            button.set_enabled(self.allowed)

    def _show_channels(self, data: AlertsData) -> None:
        context = self.context
        assert context is not None
        channels = tuple(getattr(context.notifier, "channels", ()) or ())
        if not channels:
            self.channels_hint.set_text(self.t("alerts.channels_none"))
            self.channel_table.rows = []
            return
        self.channels_hint.set_text(self.t("alerts.channels_hint"))
        rows = []
        for found in channel_deliveries(
            channels,
            data.notifications,
            language=self.language,
            dashboard_url=context.dashboard_url,
        ):
            failure = ""
            if found.last_error is not None:
                failure = self.t(
                    "alerts.channel_failure",
                    id=found.last_failure_id,
                    at=moment(found.last_failure_at),
                    error=found.last_error,
                )
            rows.append(
                {
                    "name": found.name,
                    "receives": found.receives,
                    "last_sent": moment(found.last_sent_at) or "—",
                    "last_failure": failure or "—",
                }
            )
        self.channel_table.rows = rows

    # --- one alert ----------------------------------------------------------------------------
    def _on_click(self, event: GenericEventArguments) -> None:
        args = event.args if isinstance(event.args, list) else []
        row = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        alert_id = row.get("id")
        if isinstance(alert_id, int):
            self.select(alert_id)

    def select(self, alert_id: int) -> None:
        """Show one alert's details and notifications."""
        self.selected = alert_id
        self._tell_selected()
        self.refresh()

    def _tell_selected(self) -> None:
        context = self.context
        if context is not None and context.on_select is not None:
            context.on_select(self.selected)

    def _facts(self, stored: StoredAlert) -> list[tuple[str, str]]:
        """What the detail shows of an alert, as (label, value)."""
        t = self.t
        alert = stored.alert
        language = self.language
        facts = [
            (
                t("alerts.column_state"),
                t("alerts.state_open" if alert.is_open else "alerts.state_resolved"),
            ),
            (t("alerts.column_kind"), kind_label(alert.kind, language)),
            (t("alerts.column_rule"), alert.rule_id),
            (t("alerts.column_severity"), severity_label(alert.severity, language)),
            (t("alerts.column_since"), moment(alert.started_at)),
        ]
        if alert.ended_at is not None:
            facts.append((t("alerts.column_ended"), moment(alert.ended_at)))
        if alert.peak is not None:
            facts.append((t("alerts.column_peak"), number(alert.peak, language, 2)))
        facts.append((t("alerts.column_readings"), number(alert.readings, language)))
        if alert.top_variables:
            facts.append((t("alerts.column_variables"), alert_variables(alert, language)))
        return facts

    @staticmethod
    def _shape(detail: AlertDetail | None, selected: int | None) -> object:
        """What decides the detail's elements; the rest is updated in place (an open
        incident changes every reading: rebuilding would take a button from under a click)."""
        if detail is None:
            return (selected, None)
        stored = detail.stored
        alert = stored.alert
        return (
            stored.id,
            alert.is_open,
            alert.severity,
            alert.ended_at is not None,
            alert.peak is not None,
            bool(alert.top_variables),
            stored.acknowledgement,
            tuple(detail.feedback),
        )

    def _show_detail(self, detail: AlertDetail | None) -> None:
        t = self.t
        card_element = self.detail_card
        self.detail = detail
        if self.selected is None:
            self._detail_shape = None
            card_element.clear()
            card_element.set_visibility(False)
            return
        card_element.set_visibility(True)
        shape = self._shape(detail, self.selected)
        if detail is not None and shape == self._detail_shape:
            self._update_detail(detail)
            return
        self._detail_shape = shape
        card_element.clear()
        with card_element:
            if detail is None:
                ui.label(t("alerts.not_found", id=self.selected)).classes("se-caption").mark(
                    "alert-missing"
                )
                return
            stored = detail.stored
            alert = stored.alert
            language = self.language
            with ui.row().classes("w-full items-center gap-2"):
                ui.icon(
                    "error" if alert.severity is Severity.CRITICAL else "warning",
                    color="negative" if alert.is_open else "grey-6",
                ).classes("text-xl")
                self._title = (
                    ui.label(f"#{stored.id} · {alert_title(stored, language)}")
                    .classes("se-section")
                    .mark("alert-title")
                )
                ui.space()
                ui.button(icon="close", on_click=self.close_detail).props("flat round dense").mark(
                    "alert-close"
                )
            self._fact_values: list[ui.label] = []
            with ui.element("div").classes(
                "grid w-full gap-x-6 gap-y-1 grid-cols-1 sm:grid-cols-2 xl:grid-cols-3"
            ):
                for label, value in self._facts(stored):
                    with ui.row().classes("gap-2 no-wrap items-baseline"):
                        ui.label(label).classes("se-kpi-label")
                        self._fact_values.append(ui.label(value).classes("text-sm"))
            ack = stored.acknowledgement
            ack_text = (
                t("alerts.acknowledged_by", by=ack.by, at=moment(ack.at))
                + (f" — {ack.comment}" if ack.comment else "")
                if ack is not None
                else t("alerts.not_acknowledged")
            )
            ui.label(ack_text).classes("text-sm").mark("alert-ack")
            for said in detail.feedback:
                verdict = t(VERDICT_TEXT[said.verdict])
                if said.fault_kind:
                    verdict += f" ({self._fault_label(said.fault_kind)})"
                line = t("alerts.feedback_line", verdict=verdict, by=said.by, at=moment(said.at))
                ui.label(line + (f" — {said.comment}" if said.comment else "")).classes(
                    "text-sm"
                ).mark("alert-feedback")
            with ui.row().classes("w-full gap-2"):
                ack_button = self._action_button(
                    t("alerts.acknowledge"), "task_alt", self.acknowledge, "alert-ack-button"
                )
                ack_button.set_enabled(self.allowed and alert.is_open and ack is None)
                self._action_button(
                    t("alerts.silence_this"), "volume_off", self.silence_alert, "alert-silence"
                )
                if alert.kind is AlertKind.INCIDENT:
                    self._action_button(
                        t("alerts.feedback"),
                        "rate_review",
                        self.give_feedback,
                        "alert-feedback-button",
                    )
            ui.label(t("alerts.notifications")).classes("se-section")
            table = self._notification_table = (
                ui.table(
                    columns=[
                        self._column("id", "#"),
                        self._column("kind", t("alerts.column_notification"), left=True),
                        self._column("state", t("alerts.column_delivery"), left=True),
                        self._column("reason", t("alerts.column_reason"), left=True),
                        self._column("attempts", t("alerts.column_attempts")),
                        self._column("created", t("alerts.column_created"), left=True),
                        self._column("sent", t("alerts.column_sent"), left=True),
                        {
                            **self._column("error", t("alerts.column_error"), left=True),
                            "style": "white-space: normal; min-width: 12rem",
                        },
                    ],
                    rows=[self._notification_row(item) for item in detail.notifications],
                    row_key="id",
                )
                .props("flat dense")
                .classes("w-full")
                .mark("alert-notifications")
            )
            table_texts(table, t("table.rows_per_page"), t("alerts.no_notifications"))
            table.add_slot(
                "body-cell-state",
                '<q-td :props="props"><span :class="props.row.state_class">'
                "{{ props.value }}</span></q-td>",
            )

    def _update_detail(self, detail: AlertDetail) -> None:
        """The same alert changed (a new peak, more readings, a delivery): texts and rows."""
        stored = detail.stored
        self._title.set_text(f"#{stored.id} · {alert_title(stored, self.language)}")
        for element, (_, value) in zip(self._fact_values, self._facts(stored), strict=True):
            element.set_text(value)
        self._notification_table.rows = [
            self._notification_row(item) for item in detail.notifications
        ]

    def _notification_row(self, item: OutboxItem) -> dict[str, Any]:
        t = self.t
        return {
            "id": item.id,
            "kind": t(NOTIFICATION_TEXT[item.kind]),
            "state": t(DELIVERY_TEXT[item.state]),
            "state_class": DELIVERY_COLOURS.get(item.state, ""),
            "reason": reason_text(item.reason, self.language),
            "attempts": item.attempts,
            "created": moment(item.created_at),
            "sent": moment(item.sent_at),
            "error": item.last_error or "",
        }

    def _fault_label(self, kind: str) -> str:
        if kind in {fault.value for fault in AnomalyKind}:
            return text(f"fault.{kind}", self.language)
        return kind

    def close_detail(self) -> None:
        self.selected = None
        self._tell_selected()
        self._show_detail(None)

    # --- people's actions -----------------------------------------------------------------
    def _allowed(self) -> bool:
        """Whether this browser may change alerts now; says why not when it may not."""
        context = self.context
        if context is not None and context.gate.may_act():
            return True
        log.warning("refused an alerts change without an admin login")
        self._notify(self.t("login.required"), "warning")
        return False

    def _notify(self, message: str, kind: str) -> None:
        if self.client.is_deleted:
            return
        with self.client:
            ui.notify(message, type=kind, position="top-right")  # type: ignore[arg-type]

    def _changed(self) -> None:
        context = self.context
        if context is not None and context.feed is not None:
            context.feed.poke()
        self.refresh()

    async def _form(self, title: str, fields: Callable[[], Callable[[], Any]], marker: str) -> bool:
        """A dialog of ``fields`` (which returns the submit step, run off the loop on
        PostgreSQL); a ``ValueError`` of that step is shown and the dialog stays open."""
        t = self.t
        with (
            self.client,
            ui.dialog() as dialog,
            ui.card().classes("se-card w-96 gap-3").mark(marker),
        ):
            ui.label(title).classes("se-section")
            step = fields()
            error = ui.label().classes("text-negative text-sm").mark(f"{marker}-error")
            error.set_visibility(False)

            async def submit() -> None:
                if not self._allowed():
                    dialog.submit(False)
                    return
                try:
                    await self._io(step)
                except ValueError as problem:
                    error.set_text(str(problem))
                    error.set_visibility(True)
                    return
                except self._unavailable():
                    error.set_text(t("actions.unavailable"))
                    error.set_visibility(True)
                    return
                dialog.submit(True)

            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(t("dialog.cancel"), on_click=lambda: dialog.submit(False)).props(
                    "flat no-caps"
                ).mark(f"{marker}-cancel")
                ui.button(t("alerts.save"), on_click=submit).props("unelevated no-caps").mark(
                    f"{marker}-save"
                )
        dialog.open()
        done = bool(await dialog)
        dialog.delete()
        if done:
            self._changed()
        return done

    def _by_field(self) -> ui.input:
        return (
            ui.input(self.t("alerts.by"), value=self.t("alerts.default_by"))
            .props("dense outlined")
            .classes("w-full")
            .mark("form-by")
        )

    def _comment_field(self) -> ui.textarea:
        return (
            ui.textarea(self.t("alerts.comment"))
            .props("dense outlined autogrow")
            .classes("w-full")
            .mark("form-comment")
        )

    def _duration_field(self) -> ui.input:
        return (
            ui.input(
                self.t("alerts.duration"),
                value=DEFAULT_SILENCE,
                autocomplete=list(SILENCE_CHOICES),
            )
            .props("dense outlined")
            .classes("w-full")
            .mark("form-duration")
        )

    async def acknowledge(self) -> None:
        if not self._allowed() or self.detail is None:
            return
        alert_id = self.detail.stored.id

        def fields() -> Callable[[], Any]:
            by, comment = self._by_field(), self._comment_field()
            return lambda: self.alerting.acknowledge(
                alert_id, str(by.value or ""), str(comment.value or "")
            )

        if await self._form(self.t("alerts.acknowledge_title", id=alert_id), fields, "ack-form"):
            self._notify(self.t("alerts.acknowledged", id=alert_id), "positive")

    async def silence_alert(self) -> None:
        if not self._allowed() or self.detail is None:
            return
        alert = self.detail.stored.alert
        t = self.t
        choices = {}
        if alert.meter_id is not None:
            choices["meter"] = t("alerts.silence_meter", meter=alert.meter_id)
        choices["rule"] = t("alerts.silence_rule", rule=alert.rule_id)

        def fields() -> Callable[[], Any]:
            scope = ui.radio(choices, value=next(iter(choices))).props("dense").mark("form-scope")
            duration, by, comment = self._duration_field(), self._by_field(), self._comment_field()

            def step() -> None:
                meters = (alert.meter_id,) if scope.value == "meter" and alert.meter_id else ()
                rules = (alert.rule_id,) if scope.value == "rule" else ()
                self._silence(meters, rules, str(duration.value or ""), by, comment)

            return step

        if await self._form(t("alerts.silence_title"), fields, "silence-form"):
            self._notify(t("alerts.silenced"), "positive")

    async def add_silence(self) -> None:
        if not self._allowed():
            return
        t = self.t

        def fields() -> Callable[[], Any]:
            meters = (
                ui.input(t("alerts.meters_field"), placeholder="plant-*")
                .props("dense outlined")
                .classes("w-full")
                .mark("form-meters")
            )
            rules = (
                ui.input(t("alerts.rules_field"), placeholder="incident, limit-1")
                .props("dense outlined")
                .classes("w-full")
                .mark("form-rules")
            )
            duration, by, comment = self._duration_field(), self._by_field(), self._comment_field()
            return lambda: self._silence(
                _words(meters.value), _words(rules.value), str(duration.value or ""), by, comment
            )

        if await self._form(t("alerts.silence_title"), fields, "silence-form"):
            self._notify(t("alerts.silenced"), "positive")

    def _silence(
        self,
        meters: Sequence[str],
        rules: Sequence[str],
        duration: str,
        by: ui.input,
        comment: ui.textarea,
    ) -> None:
        made = new_silence(
            meters=meters,
            rule_ids=rules,
            duration=parse_duration(duration),
            by=str(by.value or ""),
            comment=str(comment.value or ""),
            now=self.alerting.clock.now(),
        )
        self.alerting.silence(made)

    async def remove_silence(self, silence_id: str) -> None:
        if not self._allowed():
            return
        await self._io(lambda: self.alerting.unsilence(silence_id))
        self._notify(self.t("alerts.silence_removed"), "info")
        self._changed()

    async def add_window(self) -> None:
        if not self._allowed():
            return
        t = self.t

        def fields() -> Callable[[], Any]:
            name = (
                ui.input(t("alerts.window_id"), placeholder="sunday-backup")
                .props("dense outlined")
                .classes("w-full")
                .mark("form-window-id")
            )
            schedule = (
                ui.input(t("alerts.window_schedule"), placeholder="sun 02:00-04:00 Europe/Madrid")
                .props("dense outlined")
                .classes("w-full")
                .mark("form-schedule")
            )
            ui.label(t("alerts.window_schedule_hint")).classes("se-caption")
            meters = (
                ui.input(t("alerts.meters_field"), placeholder=t("alerts.all_alerts"))
                .props("dense outlined")
                .classes("w-full")
                .mark("form-meters")
            )
            rules = (
                ui.input(t("alerts.rules_field"), placeholder=t("alerts.all_alerts"))
                .props("dense outlined")
                .classes("w-full")
                .mark("form-rules")
            )
            comment = self._comment_field()
            return lambda: self.alerting.add_window(
                new_window(
                    str(name.value or "").strip(),
                    str(schedule.value or ""),
                    meters=_words(meters.value),
                    rule_ids=_words(rules.value),
                    comment=str(comment.value or ""),
                )
            )

        if await self._form(t("alerts.window_title"), fields, "window-form"):
            self._notify(t("alerts.window_added"), "positive")

    async def remove_window(self, window_id: str) -> None:
        if not self._allowed():
            return
        await self._io(lambda: self.alerting.remove_window(window_id))
        self._notify(self.t("alerts.window_removed"), "info")
        self._changed()

    async def give_feedback(self) -> None:
        if not self._allowed() or self.detail is None:
            return
        stored = self.detail.stored
        t = self.t
        verdicts: dict[str, str] = {key: t(label) for key, label in VERDICT_TEXT.items()}
        kinds = {NO_KIND: t("alerts.fault_unknown")}
        kinds.update(
            {fault.value: text(f"fault.{fault.value}", self.language) for fault in AnomalyKind}
        )

        def fields() -> Callable[[], Any]:
            verdict = (
                ui.toggle(verdicts, value="false_alarm")
                .props("dense no-caps spread toggle-color=primary")
                .classes("w-full")
                .mark("form-verdict")
            )
            kind = (
                ui.select(kinds, label=t("alerts.fault_kind"), value=NO_KIND)
                .props("dense outlined")
                .classes("w-full")
                .mark("form-fault-kind")
            )
            kind.bind_visibility_from(verdict, "value", backward=lambda value: value == "confirmed")
            by, comment = self._by_field(), self._comment_field()

            def step() -> None:
                chosen: FeedbackVerdict = (
                    "confirmed" if verdict.value == "confirmed" else "false_alarm"
                )
                fault = str(kind.value or "") if chosen == "confirmed" else ""
                give = self.context.give_feedback if self.context else None
                (give or self.alerting.give_feedback)(
                    feedback_on(
                        stored,
                        chosen,
                        by=str(by.value or ""),
                        at=self.alerting.clock.now(),
                        fault_kind=fault or None,
                        comment=str(comment.value or ""),
                    )
                )

            return step

        if await self._form(t("alerts.feedback_title", id=stored.id), fields, "feedback-form"):
            self._notify(t("alerts.feedback_saved"), "positive")


def _words(value: object) -> list[str]:
    """Patterns typed in a field, separated by commas or spaces."""
    return [word for word in str(value or "").replace(",", " ").split() if word]


class AlertBadge:
    """The header's bell: how many alerts are open now, live; a click opens the tab."""

    def __init__(self, language: Language, feed: AlertFeed, on_click: Callable[[], Any]) -> None:
        self.language = language
        self.feed = feed
        with (
            ui.button(icon="notifications", on_click=on_click)
            .props("flat round dense")
            .mark("alerts-badge") as self.button
        ):
            self.tip = ui.tooltip()
            self.badge = ui.badge("", color="negative").props("floating").mark("alerts-count")
        self.show(feed.summary)
        feed.changed.subscribe(self._on_change)

    def show(self, summary: AlertSummary) -> None:
        count = summary.count
        self.badge.set_text(str(count))
        self.badge.set_visibility(count > 0)
        self.tip.set_text(text("alerts.badge", self.language, count=number(count, self.language)))

    def _on_change(self, summary: AlertSummary) -> None:
        if self.button.is_deleted:
            self.feed.changed.unsubscribe(self._on_change)
            return
        self.show(summary)
