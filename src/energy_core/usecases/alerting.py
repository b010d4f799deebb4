"""The alerting use cases: readings and analyses become stored alerts and an outbox of
notifications; people acknowledge, silence and give feedback; a dispatcher delivers.

``Alerting`` owns the one ``AlertEngine`` of a process (the engine is not thread-safe: every
call goes through a lock). What it records is stored with its notification in one
transaction (``AlertStore.record``); ``deliver_due`` sends the outbox later, so a channel
that is down never slows ingest or scoring, and a notification is sent once even when
several processes record the same event (its id is the outbox's unique key).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from energy_core.alerts.delivery import DeliveryError
from energy_core.alerts.detector_health import DetectorStatus
from energy_core.alerts.engine import AlertEngine, AlertRules
from energy_core.alerts.model import AlertEvent
from energy_core.alerts.policy import (
    Acknowledgement,
    MaintenanceWindow,
    NotificationPolicy,
    Silence,
)
from energy_core.alerts.store import (
    AlertStore,
    Feedback,
    FeedbackStore,
    MuteStore,
    NotificationKind,
    OutboxItem,
    Recorded,
    StoredAlert,
)
from energy_core.ports import Clock
from energy_core.telemetry.readings import Reading

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """How alerting behaves; durations in their names' units."""

    rules: AlertRules = field(default_factory=AlertRules)
    repeat_every: timedelta | None = None
    """Tell an open, unacknowledged alert again this often (``None``: never)."""
    mutes_cache_s: float = 5.0
    """Silences and windows are read again at most this often (another process may add)."""
    max_attempts: int = 8
    """A notification is given up (``failed``) after this many attempts."""
    first_retry_s: float = 5.0
    """The wait after a first failed attempt; it doubles each time…"""
    max_retry_s: float = 600.0
    """…up to this."""
    lease_s: float = 60.0
    """A notification claimed by a dispatcher that never reported is due again after this."""


class Alerting:
    """Alerts of one process, over its stores. Safe to call from several threads."""

    def __init__(
        self,
        *,
        store: AlertStore,
        mutes: MuteStore,
        feedback: FeedbackStore,
        clock: Clock,
        settings: AlertSettings | None = None,
    ) -> None:
        self.store = store
        self.mutes = mutes
        self.feedback_store = feedback
        self.clock = clock
        self.settings = settings or AlertSettings()
        self.engine = AlertEngine(self.settings.rules)
        self._lock = threading.RLock()
        self._policy: tuple[float, NotificationPolicy] | None = None
        self._announced: set[str] = set()
        self._listeners: list[Callable[[Sequence[OutboxItem]], None]] = []
        self._started = False

    # --- life ------------------------------------------------------------------------------
    def start(self) -> None:
        """Take back the alerts storage holds open (an earlier run's), so they resolve
        rather than open again; those no rule can take are closed."""
        with self._lock:
            if self._started:
                return
            self._started = True
            stored = self.store.open_alerts()
            self._announced.update(item.alert.occurrence for item in stored if item.announced)
            refused = {alert.occurrence for alert in self.engine.restore(s.alert for s in stored)}
            orphans = [item.id for item in stored if item.alert.occurrence in refused]
            if orphans:
                self.store.close(orphans, self.clock.now())

    def on_queued(self, listener: Callable[[Sequence[OutboxItem]], None]) -> None:
        """Call ``listener`` with the notifications queued to send (e.g. to wake the
        dispatcher at once)."""
        self._listeners.append(listener)

    # --- input ----------------------------------------------------------------------------
    def observe(self, readings: Iterable[Reading]) -> list[AlertEvent]:
        """Stored readings (scored or not) through the rules; the events recorded."""
        with self._lock:
            self.start()
            events = self.engine.observe(readings)
            self._record(events)
        return events

    def observe_analysis(self, percentage: float, at: datetime) -> list[AlertEvent]:
        """An analysis' flagged percentage (0–100) through the health rule."""
        with self._lock:
            self.start()
            events = self.engine.observe_health(percentage, at)
            self._record(events)
        return events

    def check(
        self, now: datetime | None = None, detector: DetectorStatus | None = None
    ) -> list[AlertEvent]:
        """What depends on the clock: silent meters, detector health and repeats of open
        alerts. Call it every few seconds."""
        now = now or self.clock.now()
        with self._lock:
            self.start()
            events = self.engine.check(now, detector)
            self._record(events)
            self._queue_repeats(now)
        return events

    def adopt(self, owns: Callable[[str], bool]) -> int:
        """This process now runs the rules for the meters ``owns`` picks (another process
        did until now: a partition moved between workers). Their open alerts are taken back
        from storage, so that their readings here update and resolve those alerts rather
        than open them again; returns how many were taken."""
        with self._lock:
            self.start()
            self.release(owns)
            stored = [
                item
                for item in self.store.open_alerts()
                if item.alert.meter_id is not None and owns(item.alert.meter_id)
            ]
            self._announced.update(item.alert.occurrence for item in stored if item.announced)
            self.engine.restore(item.alert for item in stored)
            return len(stored)

    def release(self, owns: Callable[[str], bool]) -> None:
        """Another process runs the rules for the meters ``owns`` picks from now on: this
        one forgets them (their alerts stay stored and open, for that process to adopt),
        so that it neither resolves nor calls silent what it no longer receives."""
        with self._lock:
            for alert in self.engine.open_alerts():
                if alert.meter_id is not None and owns(alert.meter_id):
                    self._announced.discard(alert.occurrence)
            for meter in self.engine.meters():
                if owns(meter):
                    self.engine.forget(meter)

    def forget(self) -> None:
        """The data was reset: every open alert is closed and the rules start afresh."""
        with self._lock:
            self.engine.forget()
            self._announced.clear()
            open_ids = [item.id for item in self.store.open_alerts()]
            if open_ids:
                self.store.close(open_ids, self.clock.now())

    # --- people ---------------------------------------------------------------------------
    def acknowledge(self, alert_id: int, by: str, comment: str = "") -> StoredAlert:
        """``by`` takes charge of an alert: its repeats stop. ``KeyError``: unknown id."""
        return self.store.acknowledge(
            alert_id, Acknowledgement(by=by, at=self.clock.now(), comment=comment)
        )

    def silence(self, silence: Silence) -> Silence:
        self.mutes.add_silence(silence)
        self._policy = None
        return silence

    def unsilence(self, silence_id: str) -> bool:
        self._policy = None
        return self.mutes.remove_silence(silence_id)

    def add_window(self, window: MaintenanceWindow) -> MaintenanceWindow:
        self.mutes.add_window(window)
        self._policy = None
        return window

    def remove_window(self, window_id: str) -> bool:
        self._policy = None
        return self.mutes.remove_window(window_id)

    def deliver(self, send: Callable[[OutboxItem], None], *, limit: int = 20) -> DeliveryReport:
        """Send what is due now through ``send`` (see ``deliver_due``)."""
        return deliver_due(self.store, send, self.clock, self.settings, limit=limit)

    def give_feedback(self, feedback: Feedback) -> Feedback:
        """Store a user's verdict on an incident or on flagged readings."""
        return self.feedback_store.add(feedback)

    def policy(self) -> NotificationPolicy:
        """The silences and windows in force (read again after ``mutes_cache_s``)."""
        now = self.clock.now().timestamp()
        cached = self._policy
        if cached is not None and now - cached[0] < self.settings.mutes_cache_s:
            return cached[1]
        policy = NotificationPolicy(
            silences=tuple(self.mutes.silences()),
            maintenance=tuple(self.mutes.windows()),
            repeat_every=self.settings.repeat_every,
        )
        self._policy = (now, policy)
        return policy

    # --- internals ------------------------------------------------------------------------
    def _record(self, events: Sequence[AlertEvent]) -> None:
        if not events:
            return
        policy = self.policy()
        recorded = []
        for event in events:
            occurrence = event.alert.occurrence
            decision = policy.decide(event, start_sent=occurrence in self._announced)
            if event.kind == "opened" and decision.send:
                self._announced.add(occurrence)
            elif event.kind == "resolved":
                self._announced.discard(occurrence)
            recorded.append(Recorded(event, decision, _notification_kind(event)))
        self._tell(self.store.record(recorded))

    def _queue_repeats(self, now: datetime) -> None:
        repeat_every = self.settings.repeat_every
        policy = self.policy()
        queued = []
        for stored in self.store.open_alerts():
            occurrence = stored.alert.occurrence
            if stored.announced and stored.last_sent_at is None:
                continue  # its first notification is still on its way
            last_sent = stored.last_sent_at if stored.announced else None
            decision = policy.decide_repeat(
                stored.alert, now, last_sent=last_sent, acknowledgement=stored.acknowledgement
            )
            if not decision.send:
                continue
            if stored.announced and repeat_every is not None:
                # The same id in every process for the same period: queued once.
                period = (now - stored.alert.started_at) // repeat_every
                event_id = f"repeat:{occurrence}:{period}"
            else:
                event_id = f"repeat:{occurrence}:unmuted"
            item = self.store.repeat(stored.id, event_id, now)
            if item is not None:
                self._announced.add(occurrence)
                queued.append(item)
        self._tell(queued)

    def _tell(self, items: Sequence[OutboxItem]) -> None:
        pending = [item for item in items if item.state == "pending"]
        if not pending:
            return
        for listener in self._listeners:
            try:
                listener(pending)
            except Exception:
                log.exception("a listener of queued notifications failed")


def _notification_kind(event: AlertEvent) -> NotificationKind:
    if event.kind == "updated":
        return "escalated"
    return event.kind


@dataclass
class DeliveryReport:
    """What one ``deliver_due`` round did."""

    sent: list[OutboxItem] = field(default_factory=list)
    failed: list[tuple[OutboxItem, str]] = field(default_factory=list)


def deliver_due(
    store: AlertStore,
    send: Callable[[OutboxItem], None],
    clock: Clock,
    settings: AlertSettings | None = None,
    *,
    limit: int = 20,
) -> DeliveryReport:
    """Send the notifications due now, each through ``send`` (which raises on failure),
    and record each outcome: sent, retried later with a doubling wait, or given up after
    ``max_attempts``. Claims are exclusive, so several dispatchers may run."""
    settings = settings or AlertSettings()
    report = DeliveryReport()
    for item in store.claim_due(clock.now(), limit, settings.lease_s):
        try:
            send(item)
        except Exception as error:
            reason = str(error) or type(error).__name__
            # Only the channels that failed are tried again: the others have it already.
            failed = error.channels if isinstance(error, DeliveryError) else ()
            retry_at = None
            if item.attempts < settings.max_attempts:
                wait = min(settings.first_retry_s * 2 ** (item.attempts - 1), settings.max_retry_s)
                retry_at = clock.now() + timedelta(seconds=wait)
            store.mark_failed(item.id, reason, retry_at, failed)
            report.failed.append((item, reason))
            log.warning(
                "notification %s (%s) failed, attempt %d: %s",
                item.id,
                item.kind,
                item.attempts,
                reason,
            )
        else:
            store.mark_sent(item.id, clock.now())
            report.sent.append(replace(item, state="sent"))
    return report
