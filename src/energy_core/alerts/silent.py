"""Silent meters: a meter that sent nothing for longer than it should.

How long is too long, per meter (its *threshold*):

- learnt: ``multiple`` × its usual cadence, the median of its latest ``window`` intervals
  between readings, once it has ``min_intervals`` of them (never less than
  ``min_silence``, so a meter sending every second is not called silent after a
  five-second hiccup);
- fixed: ``after``.

With both, the **shorter wins**: they are two alarms on the same meter and the first to
ring counts, so ``after`` bounds how long any meter (also a slow one, or one whose cadence
is not learnt yet) may stay quiet, while the learnt cadence catches a fast meter sooner.
With neither known (no ``after`` and a cadence not learnt yet), the meter is not watched.

A meter is silent at ``check(now)`` when ``now`` − its latest reading's timestamp exceeds its
threshold; the alert starts at that latest reading and resolves at the meter's next reading.
The interval that spans the silence is not learnt as cadence.
"""

from __future__ import annotations

import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from energy_core.alerts._events import EventBuffer
from energy_core.alerts.model import (
    Alert,
    AlertEvent,
    AlertKind,
    Severity,
    as_utc,
    silent_key,
)
from energy_core.telemetry.meter_patterns import allows, check_patterns
from energy_core.telemetry.readings import Reading


@dataclass(frozen=True, slots=True)
class SilentMeterRule:
    """When a meter counts as silent (see the module's docstring).

    ``multiple``: how many usual intervals without a reading make a silence (``None``: the
    learnt cadence is not used). ``after``: a fixed silence that always counts (``None``:
    none). ``min_intervals``: intervals needed before a cadence is learnt; ``window``: how
    many recent intervals it is learnt from. ``min_silence``: the least learnt threshold.
    ``meters``: meter-id globs watched (none: every meter).
    """

    multiple: float | None = 5.0
    after: timedelta | None = None
    min_intervals: int = 5
    window: int = 32
    min_silence: timedelta = timedelta(seconds=30)
    meters: tuple[str, ...] = ()
    severity: Severity = Severity.WARNING
    rule_id: str = "silent_meter"

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        if self.multiple is None and self.after is None:
            raise ValueError("multiple and after: at least one must be set")
        if self.multiple is not None and not self.multiple > 1.0:
            raise ValueError(f"multiple={self.multiple}: must be more than 1 (intervals)")
        if self.after is not None and self.after <= timedelta(0):
            raise ValueError(f"after={self.after}: must be a positive duration")
        if self.min_intervals < 1:
            raise ValueError(f"min_intervals={self.min_intervals}: must be 1 or more")
        if self.window < self.min_intervals:
            raise ValueError(
                f"window={self.window}: must hold at least min_intervals={self.min_intervals}"
            )
        if self.min_silence < timedelta(0):
            raise ValueError(f"min_silence={self.min_silence}: must not be negative")
        if isinstance(self.meters, str):
            raise ValueError(f"meters {self.meters!r}: must be a list of patterns, not a text")
        object.__setattr__(self, "meters", check_patterns(self.meters))
        if not self.rule_id:
            raise ValueError("rule_id: must not be empty")

    def threshold(self, cadence: timedelta | None) -> timedelta | None:
        """The silence that counts for a meter of usual interval ``cadence`` (``None``: not
        learnt): the shorter of the learnt and fixed ones; ``None`` when neither is known."""
        candidates = []
        if self.multiple is not None and cadence is not None:
            candidates.append(max(cadence * self.multiple, self.min_silence))
        if self.after is not None:
            candidates.append(self.after)
        return min(candidates) if candidates else None


@dataclass(slots=True)
class _Meter:
    last_seen: datetime
    intervals: deque[float] = field(default_factory=deque)
    alert: Alert | None = None


class SilentMeterTracker:
    """The silence of every meter seen: learn cadences from ``observe``, raise alerts in
    ``check``. State: per meter, its latest timestamp and up to ``window`` intervals."""

    def __init__(self, rule: SilentMeterRule | None = None) -> None:
        self.rule = rule or SilentMeterRule()
        self._meters: dict[str, _Meter] = {}
        self._ignored: set[str] = set()

    def observe(self, readings: Iterable[Reading]) -> list[AlertEvent]:
        """Take readings; the ``resolved`` events of meters whose data came back."""
        events = EventBuffer()
        for reading in readings:
            meter = reading.meter_id
            state = self._meters.get(meter)
            at = reading.timestamp
            if state is None:
                if meter in self._ignored:
                    continue
                if not allows(self.rule.meters, meter):
                    self._ignored.add(meter)
                    continue
                self._meters[meter] = _Meter(at, deque(maxlen=self.rule.window))
                continue
            if state.alert is not None:
                resolved = self._alert(meter, state, at, ended=at)
                events.resolved(resolved, at)
                state.alert = None
            elif at > state.last_seen:
                state.intervals.append((at - state.last_seen).total_seconds())
            if at > state.last_seen:
                state.last_seen = at
        return events.events()

    def check(self, now: datetime) -> list[AlertEvent]:
        """The meters silent at ``now`` that were not yet: their ``opened`` events."""
        now = as_utc(now, "now")
        events = EventBuffer()
        for meter, state in self._meters.items():
            if state.alert is not None:
                continue
            threshold = self.rule.threshold(self.cadence(meter))
            if threshold is not None and now - state.last_seen > threshold:
                state.alert = self._alert(meter, state, now)
                events.opened(state.alert, now)
        return events.events()

    def cadence(self, meter_id: str) -> timedelta | None:
        """The usual interval of ``meter_id``'s readings, ``None`` until learnt."""
        state = self._meters.get(meter_id)
        if state is None or len(state.intervals) < self.rule.min_intervals:
            return None
        return timedelta(seconds=statistics.median(state.intervals))

    def last_seen(self, meter_id: str) -> datetime | None:
        """The timestamp of ``meter_id``'s latest reading, ``None`` if not watched."""
        state = self._meters.get(meter_id)
        return None if state is None else state.last_seen

    def open_alerts(self) -> list[Alert]:
        """The silent meters now, oldest first."""
        alerts = [state.alert for state in self._meters.values() if state.alert is not None]
        return sorted(alerts, key=lambda alert: alert.started_at)

    def has_open(self, meter_id: str) -> bool:
        """Whether ``meter_id`` is silent now."""
        state = self._meters.get(meter_id)
        return state is not None and state.alert is not None

    def restore(self, alert: Alert) -> bool:
        """Take back a silent-meter alert left open by an earlier run: the meter's next
        reading resolves it. ``False`` (ignored) for another kind or a resolved one."""
        if alert.kind is not AlertKind.SILENT_METER or not alert.is_open or not alert.meter_id:
            return False
        self._meters[alert.meter_id] = _Meter(
            alert.started_at, deque(maxlen=self.rule.window), alert
        )
        return True

    def drop(self, meter_id: str) -> None:
        """Forget ``meter_id`` (its open alert too, without an event)."""
        self._meters.pop(meter_id, None)
        self._ignored.discard(meter_id)

    def forget(self) -> None:
        """Forget every meter (after a data reset), without events."""
        self._meters.clear()
        self._ignored.clear()

    def _alert(
        self, meter: str, state: _Meter, at: datetime, *, ended: datetime | None = None
    ) -> Alert:
        cadence = self.cadence(meter)
        threshold = self.rule.threshold(cadence)
        details: dict[str, str | float | int] = {"last_seen": state.last_seen.isoformat()}
        if cadence is not None:
            details["cadence_s"] = cadence.total_seconds()
        if threshold is not None:
            details["threshold_s"] = threshold.total_seconds()
        if ended is not None:
            details["silent_s"] = (ended - state.last_seen).total_seconds()
        return Alert(
            key=silent_key(meter),
            kind=AlertKind.SILENT_METER,
            rule_id=self.rule.rule_id,
            meter_id=meter,
            severity=self.rule.severity,
            started_at=state.last_seen,
            updated_at=at,
            ended_at=ended,
            details=details,
        )
