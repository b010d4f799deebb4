"""Health alerts with hysteresis: a percentage hovering at a threshold does not flap."""

from __future__ import annotations

from dataclasses import dataclass

from energy_core.health.analysis import HealthState, HealthThresholds


@dataclass(frozen=True, slots=True)
class HealthChange:
    """The health state moved from ``previous`` to ``current`` at ``percentage`` (0–100)."""

    previous: HealthState
    current: HealthState
    percentage: float

    @property
    def worse(self) -> bool:
        return self.current.severity > self.previous.severity


class HealthAlarm:
    """Turns successive analysis percentages into the health changes worth an alert.

    The state worsens as soon as a percentage reaches a threshold, and improves only once
    the percentage falls ``margin`` percentage points below that threshold. The first
    percentage observed sets the state without raising an alert.
    """

    def __init__(self, thresholds: HealthThresholds, *, margin: float = 1.0) -> None:
        if margin < 0:
            raise ValueError(f"margin must not be negative, got {margin}")
        self.thresholds = thresholds
        self.margin = margin
        self.state: HealthState | None = None
        self._recovery = HealthThresholds(
            caution=max(thresholds.caution - margin, 0.0),
            critical=max(thresholds.critical - margin, 0.0),
        )

    def observe(self, percentage: float) -> HealthChange | None:
        """Take one analysis' percentage; the change it causes, if any."""
        current = self.state
        if current is None:
            self.state = self.thresholds.state(percentage)
            return None
        rising = self.thresholds.state(percentage)
        if rising.severity > current.severity:
            return self._move(current, rising, percentage)
        falling = self._recovery.state(percentage)
        if falling.severity < current.severity:
            return self._move(current, falling, percentage)
        return None

    def forget(self) -> None:
        """Start over (after the data was reset): the next percentage sets the state silently."""
        self.state = None

    def _move(self, previous: HealthState, current: HealthState, percentage: float) -> HealthChange:
        self.state = current
        return HealthChange(previous=previous, current=current, percentage=percentage)
