"""Detector health: alerts about the detector itself, from plain facts the caller passes.

Four conditions, each its own alert (key ``detector:<condition>``):

- ``no_model``: nothing is scoring because no model is trained;
- ``model_age``: the model was trained longer than ``max_model_age`` ago;
- ``scoring_failed``: the caller's last attempt to score failed (its error is the detail);
- ``flag_rate``: in the caller's recent window the model flagged more than ``factor`` × the
  rate it was calibrated for, with at least ``min_flagged`` flags among ``min_scored``
  scored readings (small samples do not alarm). It resolves once a window of at least
  ``min_scored`` readings is back at or below ``factor`` × expected; a smaller window
  changes nothing.

Without a model, ``model_age`` and ``flag_rate`` do not apply (and resolve if open).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from energy_core.alerts.model import (
    Alert,
    AlertEvent,
    AlertKind,
    Severity,
    as_utc,
    detector_key,
)

DetectorCondition = Literal["no_model", "model_age", "scoring_failed", "flag_rate"]
DETECTOR_CONDITIONS: tuple[DetectorCondition, ...] = get_args(DetectorCondition)


@dataclass(frozen=True, slots=True)
class DetectorStatus:
    """What the caller knows of the detector now.

    ``trained_at``: when the model in use was trained (``None``: no model).
    ``expected_rate``: the share of readings (0–1) it was calibrated to flag (its
    contamination; ``None``: unknown, no flag-rate check). ``scored`` and ``flagged``: how
    many readings it scored and flagged in the caller's recent window (e.g. the last
    hour). ``scoring_error``: why the last scoring failed (``None``: it did not).
    """

    trained_at: datetime | None
    expected_rate: float | None = None
    scored: int = 0
    flagged: int = 0
    scoring_error: str | None = None

    def __post_init__(self) -> None:
        if self.expected_rate is not None and not 0.0 <= self.expected_rate <= 1.0:
            raise ValueError(f"expected_rate={self.expected_rate}: must be within [0, 1]")
        if self.scored < 0 or not 0 <= self.flagged <= self.scored:
            raise ValueError(
                f"scored={self.scored}, flagged={self.flagged}: need 0 <= flagged <= scored"
            )

    @property
    def flag_rate(self) -> float | None:
        """``flagged / scored``; ``None`` when nothing was scored."""
        return self.flagged / self.scored if self.scored else None


@dataclass(frozen=True, slots=True)
class DetectorHealthRule:
    """Thresholds of the detector-health conditions (see the module's docstring).

    ``max_model_age``: ``None`` disables the age check. ``factor`` > 1: how many times the
    calibrated rate is "far above". ``min_flagged``, ``min_scored``: the least sample that
    may alarm. ``severities``: per condition (defaults: no model and failing scoring are
    critical — nothing is detected —, the others warnings).
    """

    max_model_age: timedelta | None = timedelta(days=30)
    factor: float = 3.0
    min_flagged: int = 10
    min_scored: int = 100
    no_model_severity: Severity = Severity.CRITICAL
    model_age_severity: Severity = Severity.WARNING
    scoring_failed_severity: Severity = Severity.CRITICAL
    flag_rate_severity: Severity = Severity.WARNING
    rule_id: str = "detector"

    def __post_init__(self) -> None:
        for name in (
            "no_model_severity",
            "model_age_severity",
            "scoring_failed_severity",
            "flag_rate_severity",
        ):
            object.__setattr__(self, name, Severity(getattr(self, name)))
        if self.max_model_age is not None and self.max_model_age <= timedelta(0):
            raise ValueError(f"max_model_age={self.max_model_age}: must be a positive duration")
        if not (math.isfinite(self.factor) and self.factor > 1.0):
            raise ValueError(f"factor={self.factor}: must be a finite number above 1")
        if self.min_flagged < 1 or self.min_scored < 1:
            raise ValueError(
                f"min_flagged={self.min_flagged}, min_scored={self.min_scored}: must be 1 or more"
            )

    def severity(self, condition: DetectorCondition) -> Severity:
        """The severity of ``condition``'s alert."""
        severity: Severity = getattr(self, f"{condition}_severity")
        return severity


_Verdict = tuple[bool | None, dict[str, str | float | int]]
"""Whether a condition holds (``None``: not enough to say, keep as is) and its details."""


class DetectorHealth:
    """The detector's conditions as alerts, from ``check(status, now)`` calls."""

    def __init__(self, rule: DetectorHealthRule | None = None) -> None:
        self.rule = rule or DetectorHealthRule()
        self._open: dict[DetectorCondition, Alert] = {}

    def check(self, status: DetectorStatus, now: datetime) -> list[AlertEvent]:
        """Evaluate every condition on ``status`` at ``now``; the alerts that open or
        resolve (in condition order)."""
        now = as_utc(now, "now")
        events: list[AlertEvent] = []
        for condition in DETECTOR_CONDITIONS:
            holds, details = self._verdict(condition, status, now)
            alert = self._open.get(condition)
            if holds is None:
                continue
            if holds and alert is None:
                alert = self._open[condition] = self._alert(condition, now, details)
                events.append(AlertEvent("opened", alert, now))
            elif not holds and alert is not None:
                del self._open[condition]
                ended = Alert(
                    key=alert.key,
                    kind=alert.kind,
                    rule_id=alert.rule_id,
                    meter_id=None,
                    severity=alert.severity,
                    started_at=alert.started_at,
                    updated_at=now,
                    ended_at=now,
                    peak=alert.peak,
                    details={**alert.details, **details},
                )
                events.append(AlertEvent("resolved", ended, now))
        return events

    def open_alerts(self) -> list[Alert]:
        """The detector alerts open now, in condition order."""
        return [self._open[c] for c in DETECTOR_CONDITIONS if c in self._open]

    def restore(self, alert: Alert) -> bool:
        """Take back a detector alert left open by an earlier run (its condition is in
        ``details["condition"]``); ``False`` (ignored) otherwise."""
        condition = alert.details.get("condition")
        if alert.kind is not AlertKind.DETECTOR or not alert.is_open:
            return False
        for known in DETECTOR_CONDITIONS:
            if condition == known:
                self._open[known] = alert
                return True
        return False

    def forget(self) -> None:
        """Start over, without events."""
        self._open.clear()

    def _verdict(
        self, condition: DetectorCondition, status: DetectorStatus, now: datetime
    ) -> _Verdict:
        rule = self.rule
        if condition == "no_model":
            return status.trained_at is None, {}
        if condition == "scoring_failed":
            error = status.scoring_error
            return error is not None, {"error": error} if error is not None else {}
        if status.trained_at is None:
            return False, {}
        if condition == "model_age":
            if rule.max_model_age is None:
                return False, {}
            age = now - as_utc(status.trained_at, "trained_at")
            return age > rule.max_model_age, {
                "age_s": age.total_seconds(),
                "max_age_s": rule.max_model_age.total_seconds(),
                "trained_at": status.trained_at.isoformat(),
            }
        rate = status.flag_rate
        if status.expected_rate is None or rate is None or status.scored < rule.min_scored:
            return (False if status.expected_rate is None else None), {}
        details: dict[str, str | float | int] = {
            "rate": rate,
            "expected_rate": status.expected_rate,
            "factor": rule.factor,
            "scored": status.scored,
            "flagged": status.flagged,
        }
        too_high = rate > rule.factor * status.expected_rate
        if too_high and status.flagged < rule.min_flagged:
            return None, details
        return too_high, details

    def _alert(
        self, condition: DetectorCondition, now: datetime, details: dict[str, str | float | int]
    ) -> Alert:
        peak = details.get("rate")
        return Alert(
            key=detector_key(condition),
            kind=AlertKind.DETECTOR,
            rule_id=self.rule.rule_id,
            meter_id=None,
            severity=self.rule.severity(condition),
            started_at=now,
            updated_at=now,
            peak=float(peak) if isinstance(peak, int | float) else None,
            details={"condition": condition, **details},
        )
