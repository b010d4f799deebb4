"""The settings every energy figure shares, checked once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from energy_core.energy.calendar import check_zone

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class EnergySettings:
    """How energy figures are computed.

    ``timezone``: the IANA zone of calendar periods (hours, days, ISO weeks from Monday,
    months), of demand intervals' alignment and of the hour-of-week baseline.
    ``gap_limit``: two samples farther apart than this are a gap: nothing is integrated
    across it (power), or the register's increase across it is counted where it was read
    and reported apart (counters). ``demand_interval``: the billing demand interval, whole
    minutes dividing an hour, aligned to the clock. ``min_coverage``: the share of an
    interval that data must cover for its mean power to count (peak, baseload, load
    factor). ``baseload_percentile``: the percentile of interval means taken as baseload.
    ``power_factor_limit``: power factors (absolute) below it count as low.
    ``baseline_weeks``: how many previous weeks the anomaly baseline looks at.
    """

    timezone: str = "UTC"
    gap_limit: timedelta = timedelta(minutes=15)
    demand_interval: timedelta = timedelta(minutes=15)
    min_coverage: float = 0.9
    baseload_percentile: float = 5.0
    power_factor_limit: float = 0.9
    baseline_weeks: int = 4

    def __post_init__(self) -> None:
        check_zone(self.timezone, "timezone")
        if self.gap_limit <= timedelta(0):
            raise ValueError(f"gap_limit {self.gap_limit}: must be positive")
        interval = self.demand_interval
        if (
            interval <= timedelta(0)
            or interval % timedelta(minutes=1)
            or HOUR % interval
            or interval > HOUR
        ):
            raise ValueError(
                f"demand_interval {interval}: must be whole minutes dividing an hour"
                " (e.g. 5, 15, 30 or 60 minutes)"
            )
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError(f"min_coverage {self.min_coverage}: must be within (0, 1]")
        if not 0.0 <= self.baseload_percentile <= 100.0:
            raise ValueError(
                f"baseload_percentile {self.baseload_percentile}: must be within [0, 100]"
            )
        if not 0.0 < self.power_factor_limit <= 1.0:
            raise ValueError(f"power_factor_limit {self.power_factor_limit}: must be within (0, 1]")
        if self.baseline_weeks < 1:
            raise ValueError(f"baseline_weeks {self.baseline_weeks}: must be 1 or more")

    @property
    def gap_limit_s(self) -> float:
        return self.gap_limit.total_seconds()
