"""The one global producer of live updates.

Whoever stores readings, models or analyses (the demo driver, the API, another process on
PostgreSQL) announces it on the ``ChangeFeed``. The producer wakes up, reads what is new
once with ``ReadingRepository.since(last_id)`` and emits one ``LiveUpdate`` on a
``nicegui.Event``; every open page subscribes to that event. Pages never poll storage.

While the database is unreachable the producer says so once on ``availability`` (pages show
a banner), keeps retrying at its poll interval, and says so again when a read succeeds
(pages then re-query).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, TypeVar

from nicegui import Event, run

from energy_core.health.alarm import HealthAlarm, HealthChange
from energy_core.health.analysis import MetricSnapshot
from energy_core.ports import ChangeEvent, ModelInfo
from energy_core.telemetry.readings import Reading
from energy_core.usecases.monitor import Monitor
from energy_ui.dashboard.wake_loop import pump_when_woken, wake_threadsafe

log = logging.getLogger(__name__)

T = TypeVar("T")

BULK_READINGS: Final = 2_000
"""More new readings than this at once (a generated history, a reset) and pages re-query
instead of appending them one by one."""


@dataclass(frozen=True, slots=True)
class LiveUpdate:
    """What changed since the previous update, read once for every open page."""

    sequence: int
    readings: tuple[Reading, ...]
    """New readings in id order (empty when ``refresh``)."""
    refresh: bool
    """So much changed (reset, bulk load) that pages should query everything again."""
    stored: int
    """Readings stored now."""
    latest: Reading | None
    analysis: MetricSnapshot | None
    """The latest analysis (it carries its delta vs the previous one)."""
    model: ModelInfo | None
    """The latest model's info."""
    new_analysis: bool = False
    new_model: bool = False
    health_change: HealthChange | None = None
    topics: frozenset[str] = field(default_factory=frozenset)


class LiveProducer:
    """Reads what is new after each change announcement and emits it to every page.

    ``poll_interval`` (seconds) is a safety net: storage is re-checked that often even
    when no announcement arrives, so a missed notification only delays an update.
    ``read_in_thread`` moves the storage reads off the event loop (PostgreSQL).
    ``unavailable``: the exceptions that mean "the database is unreachable right now".
    """

    def __init__(
        self,
        monitor: Monitor,
        alarm: HealthAlarm,
        *,
        poll_interval: float = 2.0,
        read_in_thread: bool = False,
        bulk: int = BULK_READINGS,
        unavailable: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.monitor = monitor
        self.alarm = alarm
        self.poll_interval = poll_interval
        self.read_in_thread = read_in_thread
        self.bulk = bulk
        self.unavailable = unavailable
        self.updates: Event[LiveUpdate] = Event()
        self.latest_update: LiveUpdate | None = None
        self.available = True
        """Whether the last storage read succeeded."""
        self.availability: Event[bool] = Event()
        """Emitted with the new value when ``available`` changes."""
        self._primed = False
        self._lock = threading.Lock()
        self._topics: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._unsubscribe: list[object] = []
        self._last_id = 0
        self._analysis_id: int | None = None
        self._model_version: int | None = None
        self._model: ModelInfo | None = None
        self._latest: Reading | None = None
        self._sequence = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Subscribe to the change feed and start the reading loop on the running event loop."""
        if self.running:
            return
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._unsubscribe = [self.monitor.subscribe(self._announce)]
        await self._guarded(self._prime)
        self._task = self._loop.create_task(self._run(), name="live producer")

    def _prime(self) -> None:
        """Where the stream stands now: what is older is not news."""
        self._last_id = self.monitor.queries.last_id()
        latest = self.monitor.analyses(1)
        self._analysis_id = latest[0].id if latest else None
        if latest:
            self.alarm.observe(latest[0].percentage)
        self._model_version = self.monitor.model_version()
        self._model = self.monitor.model_info(self._model_version) if self._model_version else None
        newest = self.monitor.queries.latest(1, self.monitor.readable())
        self._latest = newest[0] if newest else None
        self._primed = True

    def report_unavailable(self, error: BaseException) -> None:
        """Someone else (a page's query) found the database unreachable: tell every page now;
        the next successful read says it is back."""
        self._set_available(False, error)

    def _set_available(self, available: bool, error: BaseException | None = None) -> None:
        if available == self.available:
            return
        self.available = available
        if available:
            log.warning("database available again; live updates resume")
        else:
            log.warning(
                "database unavailable, retrying every %.0f s: %s", self.poll_interval, error
            )
        self.availability.emit(available)

    async def stop(self) -> None:
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        for unsubscribe in self._unsubscribe:
            if callable(unsubscribe):
                unsubscribe()
        self._unsubscribe = []
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _announce(self, event: ChangeEvent) -> None:
        """Feed listener; may run on any thread, so it only records the topic and wakes the loop."""
        with self._lock:
            self._topics.add(event.topic)
        wake_threadsafe(self._loop, self._wake)

    async def _run(self) -> None:
        assert self._wake is not None
        await pump_when_woken(
            self._wake,
            self.pump,
            interval=self.poll_interval,
            stopping=lambda: self._stopping,
            what="the live producer",
        )

    async def pump(self) -> LiveUpdate | None:
        """Read what is new now and emit it; the update emitted, or ``None`` if nothing changed
        (or the database is unavailable: then ``available`` turns false)."""
        with self._lock:
            topics = frozenset(self._topics)
            self._topics.clear()
        if not self._primed:
            await self._guarded(self._prime)
            if not self._primed:
                return None
        update = await self._guarded(lambda: self._read(topics))
        if not self.available:
            with self._lock:
                self._topics |= topics  # not read yet: keep them for the next attempt
            return None
        if update is None:
            return None
        self.latest_update = update
        self.updates.emit(update)
        return update

    async def _guarded(self, read: Callable[[], T]) -> T | None:
        """``read()`` (in a worker thread on PostgreSQL), noting whether the database answered;
        ``None`` when it did not."""
        try:
            result = await run.io_bound(read) if self.read_in_thread else read()
        except self.unavailable as error:
            self._set_available(False, error)
            return None
        self._set_available(True)
        return result

    def _read(self, topics: frozenset[str]) -> LiveUpdate | None:
        repo = self.monitor.queries
        newest = repo.last_id()
        refresh = "reset" in topics or newest < self._last_id
        readings: list[Reading] = []
        if not refresh and newest > self._last_id:
            readings = repo.since(self._last_id, limit=self.bulk + 1)
            if len(readings) > self.bulk:
                refresh, readings = True, []
        if readings and readings[-1].id is not None:
            newest = max(newest, readings[-1].id)
        analyses = self.monitor.analyses(1)
        analysis = analyses[0] if analyses else None
        new_analysis = analysis is not None and analysis.id != self._analysis_id
        version = self.monitor.model_version()
        new_model = version != self._model_version
        if not (refresh or readings or new_analysis or new_model):
            return None
        if "reset" in topics:
            self.alarm.forget()
        change = self.alarm.observe(analysis.percentage) if new_analysis and analysis else None
        self._last_id = newest
        self._analysis_id = analysis.id if analysis else None
        if new_model:
            self._model = self.monitor.model_info(version) if version is not None else None
        self._model_version = version
        if readings:
            self._latest = readings[-1]
        elif refresh or topics & {"readings", "reset"}:
            latest = repo.latest(1, self.monitor.readable())
            self._latest = latest[0] if latest else None
        self._sequence += 1
        return LiveUpdate(
            sequence=self._sequence,
            readings=tuple(readings),
            refresh=refresh,
            stored=repo.count(),
            latest=self._latest,
            analysis=analysis,
            model=self._model,
            new_analysis=new_analysis,
            new_model=new_model,
            health_change=change,
            topics=topics,
        )
