"""Installation health as an alert: the existing ``HealthAlarm`` (Normal / Precaución /
Crítico, with its hysteresis) turned into alert events.

Precaución opens a warning, Crítico a critical alert; moving between them updates the one
alert (a rise to Crítico is an *escalated* update, which notifies); back to Normal resolves
it. Unlike the alarm alone, the first percentage observed opens an alert when the state is
not Normal: an alert reflects a condition, and nothing stored says it was already told
(``restore`` takes one back after a restart).
"""

from __future__ import annotations

from datetime import datetime

from energy_core.alerts.model import (
    HEALTH_KEY,
    Alert,
    AlertEvent,
    AlertKind,
    Severity,
    as_utc,
)
from energy_core.health.alarm import HealthAlarm
from energy_core.health.analysis import HealthState, HealthThresholds

_SEVERITY = {HealthState.CAUTION: Severity.WARNING, HealthState.CRITICAL: Severity.CRITICAL}
_STATE = {severity: state for state, severity in _SEVERITY.items()}


def health_severity(state: HealthState) -> Severity | None:
    """The alert severity of a health state: Precaución → warning, Crítico → critical,
    Normal → ``None`` (no alert)."""
    return _SEVERITY.get(state)


class HealthAlerts:
    """The installation's health alert, from successive analysis percentages. Its
    ``peak`` is the highest percentage while open.

    ``alarm``: the hysteresis to wrap (default: ``HealthAlarm(HealthThresholds())``, a
    one-point margin). ``rule_id`` names the rule in the alert.
    """

    def __init__(self, alarm: HealthAlarm | None = None, *, rule_id: str = "health") -> None:
        self.alarm = alarm or HealthAlarm(HealthThresholds())
        self.rule_id = rule_id
        self._alert: Alert | None = None

    def observe(self, percentage: float, at: datetime) -> list[AlertEvent]:
        """Take one analysis: ``percentage`` of readings flagged (0–100) ``at`` an instant;
        the event it causes, if any."""
        at = as_utc(at, "at")
        first = self.alarm.state is None
        change = self.alarm.observe(percentage)
        state = self.alarm.state
        assert state is not None
        if change is None and not (first and state is not HealthState.NORMAL):
            return []
        severity = health_severity(state)
        alert = self._alert
        if severity is None:
            if alert is None:
                return []
            self._alert = None
            ended = self._build(
                alert.severity, alert.started_at, at, percentage, peak=alert.peak, ended=True
            )
            return [AlertEvent("resolved", ended, at)]
        if alert is None:
            self._alert = self._build(severity, at, at, percentage)
            return [AlertEvent("opened", self._alert, at)]
        self._alert = self._build(severity, alert.started_at, at, percentage, peak=alert.peak)
        escalated = severity.rank > alert.severity.rank
        return [AlertEvent("updated", self._alert, at, escalated=escalated)]

    @property
    def open_alert(self) -> Alert | None:
        """The health alert open now, if any."""
        return self._alert

    def restore(self, alert: Alert) -> bool:
        """Take back the health alert left open by an earlier run: the alarm resumes from
        its state. ``False`` (ignored) for another kind or a resolved one."""
        if alert.kind is not AlertKind.HEALTH or not alert.is_open:
            return False
        self._alert = alert
        self.alarm.state = _STATE.get(alert.severity, HealthState.CAUTION)
        return True

    def forget(self) -> None:
        """Start over (after a data reset), without events."""
        self._alert = None
        self.alarm.forget()

    def _build(
        self,
        severity: Severity,
        started_at: datetime,
        at: datetime,
        percentage: float,
        *,
        peak: float | None = None,
        ended: bool = False,
    ) -> Alert:
        state = self.alarm.state
        assert state is not None
        return Alert(
            key=HEALTH_KEY,
            kind=AlertKind.HEALTH,
            rule_id=self.rule_id,
            meter_id=None,
            severity=severity,
            started_at=started_at,
            updated_at=at,
            ended_at=at if ended else None,
            peak=percentage if peak is None else max(peak, percentage),
            details={
                "state": state.value,
                "percentage": percentage,
                "caution": self.alarm.thresholds.caution,
                "critical": self.alarm.thresholds.critical,
            },
        )
