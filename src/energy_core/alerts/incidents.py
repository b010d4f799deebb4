"""Anomaly incidents: a meter's flagged readings grouped into one alert that opens, updates
and resolves with hysteresis, instead of one alert per flagged reading.

Per meter, in time order, over scored readings only (a reading without a score neither
opens nor closes anything):

- a run of consecutive flagged readings opens an incident once it has ``open_after``
  readings, or once it spans ``open_for`` (last flagged timestamp − first ≥ ``open_for``);
  an unflagged reading before that drops the run;
- an open incident resolves after ``close_after`` consecutive unflagged readings, or at an
  unflagged reading ``close_quiet`` or more after its last flagged one; a flagged reading
  before that keeps it open.

An incident starts at its first flagged reading and ends at its last flagged one; the
resolved event is at the reading that confirmed the end. It names the variables most often
to blame (``top_variables``) and, when its readings' detector said which of its views fired
(``Reading.flagged_by``), the one that fired most often (``details["flagged_by"]``, absent
otherwise).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from energy_core.alerts._events import EventBuffer
from energy_core.alerts.model import Alert, AlertEvent, AlertKind, Severity, incident_key
from energy_core.telemetry.readings import Reading


@dataclass(frozen=True, slots=True)
class IncidentRule:
    """When flagged readings make an incident and when it is over.

    ``open_after``: consecutive flagged readings that open an incident (``None``: count does
    not open). ``open_for``: a run of flagged readings spanning this long opens one
    (``None``: span does not open). ``close_after``: consecutive unflagged readings that
    resolve it (``None``: count does not close). ``close_quiet``: an unflagged reading this
    long after the last flagged one resolves it (``None``: time does not close). At least
    one of each pair is needed. ``severity``: the incident's severity, raised to critical
    once its peak score reaches ``critical_score`` (scores: higher = more anomalous).
    ``top``: how many variables an incident names.
    """

    open_after: int | None = 1
    open_for: timedelta | None = None
    close_after: int | None = 3
    close_quiet: timedelta | None = None
    severity: Severity = Severity.WARNING
    critical_score: float | None = None
    top: int = 3
    rule_id: str = "incident"

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))
        if self.open_after is None and self.open_for is None:
            raise ValueError("open_after and open_for: at least one must be set")
        if self.close_after is None and self.close_quiet is None:
            raise ValueError("close_after and close_quiet: at least one must be set")
        for name, count in (("open_after", self.open_after), ("close_after", self.close_after)):
            if count is not None and count < 1:
                raise ValueError(f"{name}={count}: must be 1 or more readings")
        for name, span in (("open_for", self.open_for), ("close_quiet", self.close_quiet)):
            if span is not None and span <= timedelta(0):
                raise ValueError(f"{name}={span}: must be a positive duration")
        if self.top < 0:
            raise ValueError(f"top={self.top}: must not be negative")
        if not self.rule_id:
            raise ValueError("rule_id: must not be empty")


@dataclass(slots=True)
class _Run:
    """A run of flagged readings of one meter: pending until it opens, then an incident."""

    start: datetime
    last_flag: datetime
    flagged: int
    peak: float
    variables: Counter[str] = field(default_factory=Counter)
    views: Counter[str] = field(default_factory=Counter)
    scored: int = 1
    quiet: int = 0
    alert: Alert | None = None


@dataclass(slots=True)
class _Meter:
    last: datetime
    run: _Run | None = None


class IncidentTracker:
    """Anomaly incidents of every meter, from its scored readings in time order.

    A meter's reading at or before its previous one is ignored (a duplicate or late
    arrival). State: one small record per meter seen, dropped with ``drop``.
    """

    def __init__(self, rule: IncidentRule | None = None) -> None:
        self.rule = rule or IncidentRule()
        self._meters: dict[str, _Meter] = {}

    def observe(self, readings: Iterable[Reading]) -> list[AlertEvent]:
        """Take readings (each meter's in time order); the events they cause, in time
        order: at most one ``updated`` per incident."""
        events = EventBuffer()
        for reading in readings:
            score = reading.score
            if score is None or reading.is_flagged is None:
                continue
            state = self._meters.get(reading.meter_id)
            if state is None:
                state = self._meters[reading.meter_id] = _Meter(reading.timestamp)
            elif reading.timestamp <= state.last:
                continue
            state.last = reading.timestamp
            if reading.is_flagged:
                self._flagged(reading, float(score), state, events)
            elif state.run is not None:
                self._unflagged(reading, state, events)
        return events.events()

    def open_alerts(self) -> list[Alert]:
        """The incidents open now, oldest first."""
        alerts = [
            state.run.alert
            for state in self._meters.values()
            if state.run is not None and state.run.alert is not None
        ]
        return sorted(alerts, key=lambda alert: alert.started_at)

    def has_open(self, meter_id: str) -> bool:
        """Whether ``meter_id`` has an open incident."""
        state = self._meters.get(meter_id)
        return state is not None and state.run is not None and state.run.alert is not None

    def restore(self, alert: Alert) -> bool:
        """Take back an incident left open by an earlier run (from storage): later readings
        update and resolve it. ``False`` (ignored) for another kind of alert or one
        resolved already."""
        if alert.kind is not AlertKind.INCIDENT or not alert.is_open or alert.meter_id is None:
            return False
        # Counts behind the top variables are not stored: keep their order.
        variables = Counter(
            {name: len(alert.top_variables) - i for i, name in enumerate(alert.top_variables)}
        )
        view = alert.details.get("flagged_by")
        run = _Run(
            start=alert.started_at,
            last_flag=alert.updated_at,
            flagged=alert.readings,
            peak=alert.peak if alert.peak is not None else float("-inf"),
            variables=variables,
            # Nor those behind the view: it stays first until another fires more often.
            views=Counter({view: 1}) if isinstance(view, str) else Counter(),
            scored=int(alert.details.get("scored", alert.readings)),
            alert=alert,
        )
        self._meters[alert.meter_id] = _Meter(alert.updated_at, run)
        return True

    def drop(self, meter_id: str) -> None:
        """Forget ``meter_id`` (its open incident too, without an event)."""
        self._meters.pop(meter_id, None)

    def forget(self) -> None:
        """Forget every meter (after a data reset), without events."""
        self._meters.clear()

    def _flagged(self, reading: Reading, score: float, state: _Meter, events: EventBuffer) -> None:
        run = state.run
        if run is None:
            run = state.run = _Run(
                start=reading.timestamp, last_flag=reading.timestamp, flagged=1, peak=score
            )
        else:
            run.scored += run.quiet + 1
            run.quiet = 0
            run.flagged += 1
            run.last_flag = reading.timestamp
            run.peak = max(run.peak, score)
        run.variables.update(reading.top_variables)
        if reading.flagged_by is not None:
            run.views[reading.flagged_by] += 1
        rule = self.rule
        if run.alert is None:
            long_enough = (rule.open_after is not None and run.flagged >= rule.open_after) or (
                rule.open_for is not None and run.last_flag - run.start >= rule.open_for
            )
            if long_enough:
                run.alert = self._alert(reading.meter_id, run, reading.timestamp)
                events.opened(run.alert, reading.timestamp)
            return
        before = run.alert.severity
        run.alert = self._alert(reading.meter_id, run, reading.timestamp)
        events.updated(
            run.alert, reading.timestamp, escalated=run.alert.severity.rank > before.rank
        )

    def _unflagged(self, reading: Reading, state: _Meter, events: EventBuffer) -> None:
        run = state.run
        assert run is not None
        if run.alert is None:
            state.run = None  # a pending run is broken by any unflagged reading
            return
        run.quiet += 1
        rule = self.rule
        over = (rule.close_after is not None and run.quiet >= rule.close_after) or (
            rule.close_quiet is not None and reading.timestamp - run.last_flag >= rule.close_quiet
        )
        if over:
            resolved = self._alert(reading.meter_id, run, reading.timestamp, ended=True)
            events.resolved(resolved, reading.timestamp)
            state.run = None

    def _alert(self, meter_id: str, run: _Run, at: datetime, *, ended: bool = False) -> Alert:
        rule = self.rule
        severity = rule.severity
        if rule.critical_score is not None and run.peak >= rule.critical_score:
            severity = Severity.CRITICAL
        details: dict[str, str | int] = {
            "scored": run.scored,
            "last_flagged_at": run.last_flag.isoformat(),
        }
        if run.views:
            details["flagged_by"] = run.views.most_common(1)[0][0]
        return Alert(
            key=incident_key(meter_id, run.start),
            kind=AlertKind.INCIDENT,
            rule_id=rule.rule_id,
            meter_id=meter_id,
            severity=severity,
            started_at=run.start,
            updated_at=at,
            ended_at=run.last_flag if ended else None,
            peak=run.peak,
            readings=run.flagged,
            top_variables=tuple(name for name, _ in run.variables.most_common(rule.top)),
            details=details,
        )
