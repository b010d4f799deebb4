"""What alerting stores, and the ports that store it (memory and PostgreSQL adapters).

- ``AlertStore``: each alert occurrence as it stands (opened, updated, resolved) with its
  acknowledgement, and the **outbox**: one row per notification to deliver, written in the
  same transaction as the alert it tells of, delivered later by a dispatcher. An event is
  recorded once whatever the number of processes that saw it (its ``AlertEvent.id`` is the
  outbox's unique key).
- ``MuteStore``: silences and recurring maintenance windows (the policy's input).
- ``FeedbackStore``: what users said of incidents and flagged readings.

Times are aware datetimes in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, get_args

from energy_core.alerts.model import Alert, AlertEvent
from energy_core.alerts.policy import Acknowledgement, Decision, MaintenanceWindow, Silence

DeliveryState = Literal["pending", "sending", "sent", "failed", "suppressed"]
"""A notification's state: waiting (or waiting for a retry), claimed by a dispatcher, sent,
given up after the last attempt, or recorded without sending (silenced, maintenance)."""
DELIVERY_STATES: tuple[DeliveryState, ...] = get_args(DeliveryState)
NotificationKind = Literal["opened", "resolved", "escalated", "repeat"]


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """An alert occurrence in storage: its ``id`` there, the alert as of its latest event,
    who acknowledged it, and when a notification about it was last sent (for repeats)."""

    id: int
    alert: Alert
    acknowledgement: Acknowledgement | None = None
    last_sent_at: datetime | None = None
    announced: bool = False
    """Whether its opening was told (sent or on its way): its end is told only then."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One message of the outbox: what happened (``kind``) to which alert (as it was then),
    its delivery ``state`` and history."""

    id: int
    alert_id: int
    event_id: str
    kind: NotificationKind
    alert: Alert
    created_at: datetime
    state: DeliveryState
    reason: str
    """The policy's decision, e.g. ``send`` or ``suppressed: silenced by night-shift``."""
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    sent_at: datetime | None = None
    retry_channels: tuple[str, ...] = ()
    """The channels (masked names) a retry goes to: those that failed last time; empty:
    every channel."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """An event to store and what the policy decided for it."""

    event: AlertEvent
    decision: Decision
    kind: NotificationKind


FeedbackVerdict = Literal["false_alarm", "confirmed"]
FEEDBACK_VERDICTS: tuple[FeedbackVerdict, ...] = get_args(FeedbackVerdict)


@dataclass(frozen=True, slots=True)
class Feedback:
    """A user's verdict on an incident (``alert_id``) or on flagged readings of one meter
    between ``start`` and ``end`` (inclusive): a false alarm, or a confirmed fault of an
    optional ``fault_kind``. ``variables``: the variables it concerns (empty: all)."""

    meter_id: str
    start: datetime
    end: datetime
    verdict: FeedbackVerdict
    by: str
    at: datetime
    alert_id: int | None = None
    fault_kind: str | None = None
    variables: tuple[str, ...] = ()
    comment: str = ""
    id: int | None = None

    def __post_init__(self) -> None:
        if self.verdict not in FEEDBACK_VERDICTS:
            raise ValueError(
                f"verdict {self.verdict!r}: must be one of {', '.join(FEEDBACK_VERDICTS)}"
            )
        if self.end < self.start:
            raise ValueError(f"end {self.end.isoformat()} is before start {self.start.isoformat()}")
        if not self.by.strip():
            raise ValueError("by: who gives the feedback must be named")


class AlertStore(Protocol):
    """Alert occurrences and the outbox of their notifications."""

    def record(self, recorded: Sequence[Recorded]) -> list[OutboxItem]:
        """Store each event's alert (the occurrence created or brought up to date) and, for
        an event the policy sends or suppresses, its notification (``pending`` or
        ``suppressed``), in one transaction. An event recorded before (same ``event.id``)
        adds nothing. Returns the notifications added now."""
        ...

    def repeat(self, alert_id: int, event_id: str, at: datetime) -> OutboxItem | None:
        """Queue a repeat of an open alert (``kind`` ``repeat``); ``None`` when ``event_id``
        was queued before."""
        ...

    def open_alerts(self) -> list[StoredAlert]:
        """Every alert occurrence still open, oldest first."""
        ...

    def alerts(
        self, *, meter_id: str | None = None, open_only: bool = False, limit: int = 100
    ) -> list[StoredAlert]:
        """The most recent occurrences (by start), newest first."""
        ...

    def get(self, alert_id: int) -> StoredAlert | None: ...

    def acknowledge(self, alert_id: int, acknowledgement: Acknowledgement) -> StoredAlert:
        """Record who took charge of an alert; ``KeyError`` for an unknown id."""
        ...

    def close(self, alert_ids: Sequence[int], at: datetime) -> None:
        """End occurrences without an event (their rule is gone, or the data was reset)."""
        ...

    # --- the outbox -----------------------------------------------------------------------
    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[OutboxItem]:
        """Take up to ``limit`` notifications due at ``now`` (pending, or claimed longer
        than ``lease_s`` ago by a dispatcher that never reported), oldest first, marking
        them ``sending``; concurrent claimers never get the same one."""
        ...

    def mark_sent(self, notification_id: int, at: datetime) -> None: ...

    def mark_failed(
        self,
        notification_id: int,
        error: str,
        retry_at: datetime | None,
        channels: Sequence[str] = (),
    ) -> None:
        """A failed attempt: ``pending`` again at ``retry_at``, or ``failed`` for good
        (``None``); ``channels``: the ones that failed, the only ones retried (empty: all)."""
        ...

    def notifications(self, *, alert_id: int | None = None, limit: int = 100) -> list[OutboxItem]:
        """The most recent notifications (newest first): their delivery state for pages."""
        ...


class MuteStore(Protocol):
    """Silences and maintenance windows."""

    def add_silence(self, silence: Silence) -> None: ...

    def remove_silence(self, silence_id: str) -> bool: ...

    def silences(self) -> list[Silence]: ...

    def add_window(self, window: MaintenanceWindow) -> None: ...

    def remove_window(self, window_id: str) -> bool: ...

    def windows(self) -> list[MaintenanceWindow]: ...


class FeedbackStore(Protocol):
    """Users' verdicts on incidents and flagged readings."""

    def add(self, feedback: Feedback) -> Feedback:
        """Store ``feedback``; returned with its ``id``."""
        ...

    def feedback(self, *, meter_id: str | None = None, limit: int = 1000) -> list[Feedback]:
        """The most recent feedback, newest first."""
        ...
