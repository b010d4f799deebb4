"""Collecting one call's events: opened and resolved as they happen, at most one update per
alert (its latest state), all in time order."""

from __future__ import annotations

from datetime import datetime

from energy_core.alerts.model import Alert, AlertEvent


class EventBuffer:
    """The events of one call of a rule, built up reading by reading."""

    __slots__ = ("_events", "_updates")

    def __init__(self) -> None:
        self._events: list[AlertEvent] = []
        self._updates: dict[str, AlertEvent] = {}

    def opened(self, alert: Alert, at: datetime) -> None:
        self._updates.pop(alert.key, None)
        self._events.append(AlertEvent("opened", alert, at))

    def updated(self, alert: Alert, at: datetime, *, escalated: bool = False) -> None:
        """Keep only the latest update of ``alert`` in this call; an escalation anywhere in
        the call marks it escalated."""
        earlier = self._updates.get(alert.key)
        escalated = escalated or (earlier is not None and earlier.escalated)
        self._updates[alert.key] = AlertEvent("updated", alert, at, escalated=escalated)

    def resolved(self, alert: Alert, at: datetime) -> None:
        self._updates.pop(alert.key, None)
        self._events.append(AlertEvent("resolved", alert, at))

    def events(self) -> list[AlertEvent]:
        """Every event of the call in time order (updates after other events of their
        instant)."""
        return sorted([*self._events, *self._updates.values()], key=lambda event: event.at)
