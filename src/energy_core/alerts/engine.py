"""The alert engine: every rule of this package behind one object, state in memory.

The caller feeds it scored readings (``observe``), health analyses (``observe_health``) and
the clock (``check``, with the detector's status), stores the events it returns and asks the
policy what to notify. After a restart, ``restore`` takes back the alerts storage holds
open, so that they resolve instead of opening twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter

from energy_core.alerts.detector_health import DetectorHealth, DetectorHealthRule, DetectorStatus
from energy_core.alerts.health import HealthAlerts
from energy_core.alerts.incidents import IncidentRule, IncidentTracker
from energy_core.alerts.limits import LimitRule, LimitTracker
from energy_core.alerts.model import Alert, AlertEvent, as_utc
from energy_core.alerts.silent import SilentMeterRule, SilentMeterTracker
from energy_core.health.alarm import HealthAlarm
from energy_core.health.analysis import HealthThresholds
from energy_core.telemetry.readings import Reading


@dataclass(frozen=True, slots=True)
class AlertRules:
    """Which rules the engine runs (``None`` turns a rule off) and how much it remembers.

    ``health_margin``: the health hysteresis in percentage points (``HealthAlarm``).
    ``forget_after``: a meter with no open alert and no reading for this long is forgotten
    (its learnt cadence too). A meter with an open alert is kept: one that stopped for good
    stays silent until ``AlertEngine.forget(meter_id)``. ``max_meters``: the most meters
    remembered; past it, those seen longest ago without an open alert are forgotten first
    (meters with an open alert are kept: the bound is ``max_meters`` plus those).
    """

    incidents: IncidentRule | None = field(default_factory=IncidentRule)
    limits: tuple[LimitRule, ...] = ()
    silent: SilentMeterRule | None = field(default_factory=SilentMeterRule)
    health: HealthThresholds | None = field(default_factory=HealthThresholds)
    health_margin: float = 1.0
    detector: DetectorHealthRule | None = field(default_factory=DetectorHealthRule)
    forget_after: timedelta = timedelta(days=7)
    max_meters: int = 100_000

    def __post_init__(self) -> None:
        object.__setattr__(self, "limits", tuple(self.limits))
        if self.forget_after <= timedelta(0):
            raise ValueError(f"forget_after={self.forget_after}: must be a positive duration")
        if self.max_meters < 1:
            raise ValueError(f"max_meters={self.max_meters}: must be 1 or more")
        if self.health_margin < 0:
            raise ValueError(f"health_margin={self.health_margin}: must not be negative")


class AlertEngine:
    """Runs the rules over readings, analyses and the clock; returns alert events.

    Pure and in memory: no I/O, no clock of its own (every instant comes from the caller),
    not thread-safe (one owner calls it). Events come in time order per call.
    """

    def __init__(self, rules: AlertRules | None = None) -> None:
        self.rules = rules or AlertRules()
        r = self.rules
        self._incidents = IncidentTracker(r.incidents) if r.incidents is not None else None
        self._limits = LimitTracker(r.limits) if r.limits else None
        self._silent = SilentMeterTracker(r.silent) if r.silent is not None else None
        self._health = (
            HealthAlerts(HealthAlarm(r.health, margin=r.health_margin))
            if r.health is not None
            else None
        )
        self._detector = DetectorHealth(r.detector) if r.detector is not None else None
        # meter → timestamp of its latest reading, least recently observed first
        self._seen: OrderedDict[str, datetime] = OrderedDict()

    def observe(self, readings: Iterable[Reading]) -> list[AlertEvent]:
        """Take a batch of readings (scored ones open and close incidents; any reading
        counts for limits and silence); the events they cause, in time order. Readings are
        taken in timestamp order; a meter's reading at or before its previous one is
        ignored by incidents and limits (it still shows the meter is alive)."""
        batch = sorted(readings, key=attrgetter("timestamp"))
        if not batch:
            return []
        events: list[AlertEvent] = []
        if self._silent is not None:
            events += self._silent.observe(batch)
        if self._incidents is not None:
            events += self._incidents.observe(batch)
        if self._limits is not None:
            events += self._limits.observe(batch)
        seen = self._seen
        for reading in batch:
            last = seen.get(reading.meter_id)
            seen[reading.meter_id] = (
                reading.timestamp if last is None else max(last, reading.timestamp)
            )
            seen.move_to_end(reading.meter_id)
        if len(seen) > self.rules.max_meters:
            self._evict_over_cap()
        events.sort(key=attrgetter("at"))
        return events

    def observe_health(self, percentage: float, at: datetime) -> list[AlertEvent]:
        """Take one health analysis: ``percentage`` (0–100) of readings flagged, computed
        ``at`` an instant; the event it causes, if any."""
        return [] if self._health is None else self._health.observe(percentage, at)

    def check(self, now: datetime, detector: DetectorStatus | None = None) -> list[AlertEvent]:
        """Evaluate what depends on the clock at ``now``: silent meters and, given its
        ``detector`` status, detector health. Also forgets meters idle for longer than
        ``forget_after``. Call it regularly (e.g. every few seconds)."""
        now = as_utc(now, "now")
        events: list[AlertEvent] = []
        if self._silent is not None:
            events += self._silent.check(now)
        if self._detector is not None and detector is not None:
            events += self._detector.check(detector, now)
        self._forget_idle(now)
        return events

    def open_alerts(self) -> list[Alert]:
        """Every alert open now, oldest first."""
        alerts: list[Alert] = []
        for tracker in (self._incidents, self._limits, self._silent, self._detector):
            if tracker is not None:
                alerts += tracker.open_alerts()
        if self._health is not None and self._health.open_alert is not None:
            alerts.append(self._health.open_alert)
        return sorted(alerts, key=attrgetter("started_at"))

    def restore(self, alerts: Iterable[Alert]) -> list[Alert]:
        """Take back alerts left open by an earlier run (from storage), so that later input
        updates and resolves them rather than opening them again. Returns those not taken
        (resolved already, or of a rule no longer configured): the caller may close them."""
        refused: list[Alert] = []
        for alert in alerts:
            taken = False
            for tracker in (
                self._incidents,
                self._limits,
                self._silent,
                self._health,
                self._detector,
            ):
                if tracker is not None and tracker.restore(alert):
                    taken = True
                    break
            if taken and alert.meter_id is not None:
                last = self._seen.get(alert.meter_id)
                self._seen[alert.meter_id] = (
                    alert.updated_at if last is None else max(last, alert.updated_at)
                )
            elif not taken:
                refused.append(alert)
        return refused

    def meters(self) -> list[str]:
        """The meters the engine remembers now, least recently observed first."""
        return list(self._seen)

    def forget(self, meter_id: str | None = None) -> None:
        """Forget one meter (``meter_id``), or everything (after a data reset): its state
        and open alerts go without events (the caller closes what it stored)."""
        if meter_id is not None:
            self._drop(meter_id)
            return
        for tracker in (
            self._incidents,
            self._limits,
            self._silent,
            self._health,
            self._detector,
        ):
            if tracker is not None:
                tracker.forget()
        self._seen.clear()

    def _has_open(self, meter_id: str) -> bool:
        return any(
            tracker is not None and tracker.has_open(meter_id)
            for tracker in (self._incidents, self._limits, self._silent)
        )

    def _drop(self, meter_id: str) -> None:
        for tracker in (self._incidents, self._limits, self._silent):
            if tracker is not None:
                tracker.drop(meter_id)
        self._seen.pop(meter_id, None)

    def _forget_idle(self, now: datetime) -> None:
        cutoff = now - self.rules.forget_after
        idle = [
            meter
            for meter, last in self._seen.items()
            if last < cutoff and not self._has_open(meter)
        ]
        for meter in idle:
            self._drop(meter)

    def _evict_over_cap(self) -> None:
        excess = len(self._seen) - self.rules.max_meters
        # oldest observed first; meters with an open alert stay
        victims: list[str] = []
        for meter in self._seen:
            if len(victims) == excess:
                break
            if not self._has_open(meter):
                victims.append(meter)
        for meter in victims:
            self._drop(meter)
