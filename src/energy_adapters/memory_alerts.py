"""Alerting's ports in memory (the demo's and the unit tests'): thread-safe, one process."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from energy_core.alerts.model import Alert
from energy_core.alerts.policy import Acknowledgement, MaintenanceWindow, Silence
from energy_core.alerts.store import Feedback, OutboxItem, Recorded, StoredAlert

_ON_ITS_WAY = ("pending", "sending", "sent")


def _forward(stored: Alert, new: Alert) -> bool:
    """Whether ``new`` may replace ``stored`` (the same occurrence). An occurrence only
    moves forward, so an event told late (by a slower process) undoes nothing: an end is
    final (and ends it whatever its instant: readings buffered during a silence come back
    dated before the check that opened it); otherwise the later ``updated_at`` wins."""
    if stored.ended_at is None and new.ended_at is not None:
        return True
    return (stored.ended_at is None) == (new.ended_at is None) and (
        stored.updated_at <= new.updated_at
    )


class MemoryAlertStore:
    """Alert occurrences and their outbox, in memory."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._alerts: dict[int, StoredAlert] = {}
        self._by_occurrence: dict[str, int] = {}
        self._notifications: dict[int, OutboxItem] = {}
        self._events: set[str] = set()
        self._ids = itertools.count(1)
        self._notification_ids = itertools.count(1)

    def record(self, recorded: Sequence[Recorded]) -> list[OutboxItem]:
        added = []
        with self._lock:
            for item in recorded:
                alert_id = self._upsert(item.event.alert)
                if item.event.id in self._events or item.decision.action == "not_due":
                    continue
                state = "pending" if item.decision.send else "suppressed"
                added.append(
                    self._add(
                        alert_id,
                        item.event.id,
                        item.kind,
                        item.event.alert,
                        item.event.at,
                        state,
                        str(item.decision),
                    )
                )
        return added

    def _upsert(self, alert: Alert) -> int:
        alert_id = self._by_occurrence.get(alert.occurrence)
        if alert_id is None:
            alert_id = next(self._ids)
            self._by_occurrence[alert.occurrence] = alert_id
            self._alerts[alert_id] = StoredAlert(alert_id, alert)
        else:
            stored = self._alerts[alert_id]
            if _forward(stored.alert, alert):
                self._alerts[alert_id] = replace(stored, alert=alert)
        return alert_id

    def _add(
        self,
        alert_id: int,
        event_id: str,
        kind: str,
        alert: Alert,
        at: datetime,
        state: str,
        reason: str,
    ) -> OutboxItem:
        notification = OutboxItem(
            id=next(self._notification_ids),
            alert_id=alert_id,
            event_id=event_id,
            kind=kind,  # type: ignore[arg-type]
            alert=alert,
            created_at=at,
            state=state,  # type: ignore[arg-type]
            reason=reason,
        )
        self._notifications[notification.id] = notification
        self._events.add(event_id)
        if state == "pending" and kind in ("opened", "repeat", "escalated"):
            stored = self._alerts[alert_id]
            self._alerts[alert_id] = replace(stored, announced=True)
        return notification

    def repeat(self, alert_id: int, event_id: str, at: datetime) -> OutboxItem | None:
        with self._lock:
            if event_id in self._events or alert_id not in self._alerts:
                return None
            alert = self._alerts[alert_id].alert
            return self._add(alert_id, event_id, "repeat", alert, at, "pending", "send")

    def open_alerts(self) -> list[StoredAlert]:
        with self._lock:
            found = [stored for stored in self._alerts.values() if stored.alert.is_open]
        return sorted(found, key=lambda stored: (stored.alert.started_at, stored.id))

    def alerts(
        self, *, meter_id: str | None = None, open_only: bool = False, limit: int = 100
    ) -> list[StoredAlert]:
        with self._lock:
            found = [
                stored
                for stored in self._alerts.values()
                if (meter_id is None or stored.alert.meter_id == meter_id)
                and (not open_only or stored.alert.is_open)
            ]
        found.sort(key=lambda stored: (stored.alert.started_at, stored.id), reverse=True)
        return found[: max(limit, 0)]

    def get(self, alert_id: int) -> StoredAlert | None:
        with self._lock:
            return self._alerts.get(alert_id)

    def acknowledge(self, alert_id: int, acknowledgement: Acknowledgement) -> StoredAlert:
        with self._lock:
            stored = self._alerts[alert_id]
            stored = self._alerts[alert_id] = replace(stored, acknowledgement=acknowledgement)
            return stored

    def close(self, alert_ids: Sequence[int], at: datetime) -> None:
        with self._lock:
            for alert_id in alert_ids:
                stored = self._alerts.get(alert_id)
                if stored is not None and stored.alert.is_open:
                    ended = replace(stored.alert, ended_at=at, updated_at=at)
                    self._alerts[alert_id] = replace(stored, alert=ended)

    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[OutboxItem]:
        lease = timedelta(seconds=lease_s)
        with self._lock:
            due = sorted(
                (
                    item
                    for item in self._notifications.values()
                    if (item.state == "pending" and (item.next_attempt_at or now) <= now)
                    or (item.state == "sending" and (item.next_attempt_at or now) <= now)
                ),
                key=lambda item: item.id,
            )[: max(limit, 0)]
            claimed = []
            for item in due:
                taken = replace(
                    item, state="sending", attempts=item.attempts + 1, next_attempt_at=now + lease
                )
                self._notifications[item.id] = taken
                claimed.append(taken)
            return claimed

    def mark_sent(self, notification_id: int, at: datetime) -> None:
        with self._lock:
            item = self._notifications[notification_id]
            self._notifications[notification_id] = replace(
                item, state="sent", sent_at=at, next_attempt_at=None, last_error=None
            )
            stored = self._alerts[item.alert_id]
            self._alerts[item.alert_id] = replace(stored, last_sent_at=at)

    def mark_failed(
        self,
        notification_id: int,
        error: str,
        retry_at: datetime | None,
        channels: Sequence[str] = (),
    ) -> None:
        with self._lock:
            item = self._notifications[notification_id]
            self._notifications[notification_id] = replace(
                item,
                state="pending" if retry_at is not None else "failed",
                next_attempt_at=retry_at,
                last_error=error,
                retry_channels=tuple(channels),
            )

    def notifications(self, *, alert_id: int | None = None, limit: int = 100) -> list[OutboxItem]:
        with self._lock:
            found = [
                item
                for item in self._notifications.values()
                if alert_id is None or item.alert_id == alert_id
            ]
        found.sort(key=lambda item: item.id, reverse=True)
        return found[: max(limit, 0)]


class MemoryMuteStore:
    """Silences and maintenance windows, in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._silences: dict[str, Silence] = {}
        self._windows: dict[str, MaintenanceWindow] = {}

    def add_silence(self, silence: Silence) -> None:
        with self._lock:
            self._silences[silence.id] = silence

    def remove_silence(self, silence_id: str) -> bool:
        with self._lock:
            return self._silences.pop(silence_id, None) is not None

    def silences(self) -> list[Silence]:
        with self._lock:
            return sorted(
                self._silences.values(), key=lambda silence: (silence.starts_at, silence.id)
            )

    def add_window(self, window: MaintenanceWindow) -> None:
        with self._lock:
            self._windows[window.id] = window

    def remove_window(self, window_id: str) -> bool:
        with self._lock:
            return self._windows.pop(window_id, None) is not None

    def windows(self) -> list[MaintenanceWindow]:
        with self._lock:
            return sorted(self._windows.values(), key=lambda window: window.id)


class MemoryFeedbackStore:
    """Users' feedback, in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Feedback] = []

    def add(self, feedback: Feedback) -> Feedback:
        with self._lock:
            stored = replace(feedback, id=len(self._items) + 1)
            self._items.append(stored)
            return stored

    def feedback(self, *, meter_id: str | None = None, limit: int = 1000) -> list[Feedback]:
        with self._lock:
            found = [item for item in self._items if meter_id is None or item.meter_id == meter_id]
        return list(reversed(found))[: max(limit, 0)]
