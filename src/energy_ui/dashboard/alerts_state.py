"""The Alerts tab's state and queries (no UI here): the one process-wide ``AlertFeed`` that
tells every page when alerts changed, what a page reads for its tab, and the notification
link's query (``?meter=M&from=D&to=D&alert=ID``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Final

from nicegui import Event, run

from energy_core.alerts.policy import MaintenanceWindow, Silence
from energy_core.alerts.store import Feedback, OutboxItem, StoredAlert
from energy_core.telemetry.validation import METER_ID_PATTERN
from energy_core.usecases.alerting import Alerting
from energy_ui.dashboard.filters import Filters
from energy_ui.dashboard.live import LiveUpdate
from energy_ui.dashboard.wake_loop import pump_when_woken, wake_threadsafe

log = logging.getLogger(__name__)

HISTORY_LIMIT: Final = 200
"""The most recent alerts the tab's history pages through."""
RECENT_NOTIFICATIONS: Final = 300
"""The notifications the channels' last delivery is read from."""
_METER: Final = re.compile(METER_ID_PATTERN)


# --- the notification link ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AlertLink:
    """What a notification's link asks the page to show: a meter, UTC days, an alert. A
    part that cannot be read is left out (a link is typed by hand sometimes)."""

    meter: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    alert_id: int | None = None

    @classmethod
    def of(cls, query: Mapping[str, str]) -> AlertLink | None:
        """The link in a page's query parameters; ``None`` when it names nothing."""
        meter = query.get("meter")
        if meter is not None and not _METER.fullmatch(meter):
            meter = None
        first, last = _day(query.get("from")), _day(query.get("to"))
        if first is None or last is None:
            first = last = first or last
        if first is not None and last is not None and last < first:
            first, last = last, first
        alert_id: int | None = None
        raw = query.get("alert", "")
        if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 18:
            alert_id = int(raw)
        link = cls(meter, first, last, alert_id)
        return None if link == cls() else link

    def filters(self, base: Filters) -> Filters:
        """``base`` restricted to the link's meter and days."""
        chosen = base
        if self.meter is not None:
            chosen = replace(chosen, meters=(self.meter,))
        if self.date_from is not None:
            chosen = replace(chosen, date_from=self.date_from, date_to=self.date_to)
        return chosen


def _day(text: str | None) -> date | None:
    if not text or len(text) > 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# --- what the tab reads -----------------------------------------------------------------------
@dataclass(frozen=True)
class AlertsData:
    """One read of what the Alerts tab shows, for a page's filters (meters, days)."""

    open: list[StoredAlert]
    history: list[StoredAlert]
    notifications: list[OutboxItem]
    silences: list[Silence]
    windows: list[MaintenanceWindow]
    feedback: dict[int, list[Feedback]] = field(default_factory=dict)
    """What users said, by alert id."""
    now: datetime | None = None


def shows(stored: StoredAlert, filters: Filters, now: datetime) -> bool:
    """Whether an alert belongs to a page with ``filters``: one of its meters (any meter
    when none is chosen; an alert of no meter only then) and overlapping its days."""
    alert = stored.alert
    if filters.meters and alert.meter_id not in filters.meters:
        return False
    start, end = filters.start, filters.end
    last = alert.ended_at or now
    return (end is None or alert.started_at < end) and (start is None or last >= start)


def load_alerts(alerting: Alerting, filters: Filters) -> AlertsData:
    """What the tab shows for ``filters``."""
    store = alerting.store
    now = alerting.clock.now()
    single = filters.meters[0] if len(filters.meters) == 1 else None
    history = [
        stored
        for stored in store.alerts(meter_id=single, limit=HISTORY_LIMIT)
        if shows(stored, filters, now)
    ]
    opened = [stored for stored in store.open_alerts() if shows(stored, filters, now)]
    feedback: dict[int, list[Feedback]] = {}
    for item in alerting.feedback_store.feedback(meter_id=single, limit=HISTORY_LIMIT):
        if item.alert_id is not None:
            feedback.setdefault(item.alert_id, []).append(item)
    return AlertsData(
        open=list(reversed(opened)),  # newest first, as the history
        history=history,
        notifications=store.notifications(limit=RECENT_NOTIFICATIONS),
        silences=alerting.mutes.silences(),
        windows=alerting.mutes.windows(),
        feedback=feedback,
        now=now,
    )


@dataclass(frozen=True)
class AlertDetail:
    """One alert with its notifications (newest first) and what users said of it."""

    stored: StoredAlert
    notifications: list[OutboxItem]
    feedback: list[Feedback]


def load_detail(alerting: Alerting, alert_id: int) -> AlertDetail | None:
    stored = alerting.store.get(alert_id)
    if stored is None:
        return None
    said = [
        item
        for item in alerting.feedback_store.feedback(meter_id=stored.alert.meter_id)
        if item.alert_id == alert_id
    ]
    return AlertDetail(stored, alerting.store.notifications(alert_id=alert_id), said)


# --- the one feed of every page ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AlertSummary:
    """What changed: the alerts open now (oldest first), numbered by ``sequence``."""

    sequence: int
    open: tuple[StoredAlert, ...] = ()

    @property
    def count(self) -> int:
        return len(self.open)


class AlertFeed:
    """Tells every page when the alerts changed: one per process, like the live producer.

    It reads the alert store after each live update (readings scored, an analysis), when
    a notification is queued, when a page changed something (``poke``) and, as a safety
    net for what nobody announces (a delivery's outcome, a silent meter, another
    process's acknowledgement), every ``poll_interval`` seconds; it emits ``changed`` only
    when what it read differs from the previous read. Pages never poll the alerts.
    """

    def __init__(
        self,
        alerting: Alerting,
        updates: Event[LiveUpdate] | None = None,
        *,
        poll_interval: float = 3.0,
        read_in_thread: bool = False,
        unavailable: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.alerting = alerting
        self.updates = updates
        self.poll_interval = poll_interval
        self.read_in_thread = read_in_thread
        self.unavailable = unavailable
        self.changed: Event[AlertSummary] = Event()
        self.summary = AlertSummary(0)
        self._seen: object = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._listening = False

    async def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        if self.updates is not None:
            # Outside any page: a subscription of the process, not of a client.
            self.updates.subscribe(self._on_live, unsubscribe_on_delete=False)
        if not self._listening:
            self._listening = True
            self.alerting.on_queued(lambda _items: self._wake_threadsafe())
        await self.pump()
        self._task = self._loop.create_task(self._run(), name="alert feed")

    async def stop(self) -> None:
        self._stopping = True
        if self.updates is not None:
            self.updates.unsubscribe(self._on_live)
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def poke(self) -> None:
        """Something changed here (an acknowledgement, a silence): read again now."""
        if self._wake is not None:
            self._wake.set()

    def _on_live(self, update: LiveUpdate) -> None:
        self.poke()

    def _wake_threadsafe(self) -> None:
        if not self._stopping:
            wake_threadsafe(self._loop, self._wake)

    async def _run(self) -> None:
        assert self._wake is not None
        await pump_when_woken(
            self._wake,
            self.pump,
            interval=self.poll_interval,
            stopping=lambda: self._stopping,
            what="the alert feed",
        )

    async def pump(self) -> AlertSummary | None:
        """Read the alerts now; the summary emitted, or ``None`` when nothing changed (or
        the database is away: the live producer reports that)."""
        try:
            if self.read_in_thread:
                read = await run.io_bound(self._read)
            else:
                read = self._read()
        except self.unavailable:
            return None
        if read is None:  # the application is shutting down
            return None
        opened, seen = read
        if seen == self._seen:
            return None
        self._seen = seen
        self.summary = AlertSummary(self.summary.sequence + 1, tuple(opened))
        self.changed.emit(self.summary)
        return self.summary

    def _read(self) -> tuple[list[StoredAlert], object]:
        alerting = self.alerting
        store = alerting.store
        opened = store.open_alerts()
        recent = store.alerts(limit=20)
        items = store.notifications(limit=50)
        newest_feedback = alerting.feedback_store.feedback(limit=1)
        seen = (
            tuple(opened),
            tuple(recent),
            tuple((item.id, item.state, item.attempts, item.last_error) for item in items),
            tuple(alerting.mutes.silences()),
            tuple(alerting.mutes.windows()),
            tuple(item.id for item in newest_feedback),
        )
        return opened, seen
