"""Constructed meters for the energy tests: readings at chosen instants, and the two ways to
a series (from readings, exact; through per-minute aggregates, as the rollups answer)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

from energy_core import Reading
from energy_core.energy import (
    MeterSeries,
    aggregate_minutes,
    series_from_minutes,
    series_from_readings,
)

DAY = datetime(2025, 6, 2, tzinfo=UTC)  # a Monday
"""Midnight UTC starting a Monday."""


def at(base: datetime, seconds: float) -> datetime:
    return base + timedelta(seconds=seconds)


def power_readings(
    start: datetime,
    seconds: float,
    step: float,
    power: Callable[[float], float] | float,
    *,
    meter: str = "m1",
    extra: Callable[[float], dict[str, float]] | None = None,
) -> list[Reading]:
    """Readings of ``meter`` every ``step`` s from ``start`` to ``start + seconds``
    (both included), active power ``power(t)`` (kW, t in s from start) or constant."""
    readings = []
    start = start.astimezone(UTC)  # steps of real time, not of the wall clock
    count = round(seconds / step)
    for index in range(count + 1):
        t = index * step
        kw = power(t) if callable(power) else power
        values = {"active_power": kw, **(extra(t) if extra else {})}
        readings.append(Reading(at(start, t), meter, values))
    return readings


def counter_readings(
    start: datetime,
    values: Iterable[tuple[float, float]],
    *,
    meter: str = "m1",
    name: str = "energy_import",
) -> list[Reading]:
    """``(seconds from start, register kWh)`` pairs as readings of ``meter``."""
    start = start.astimezone(UTC)
    return [Reading(at(start, t), meter, {name: kwh}) for t, kwh in values]


def raw(readings: Iterable[Reading]) -> dict[str, MeterSeries]:
    """Series at the readings' own instants."""
    return series_from_readings(readings)


def through_minutes(readings: Iterable[Reading]) -> dict[str, MeterSeries]:
    """Series rebuilt from per-minute aggregates (what the rollups give)."""
    return {m.meter_id: series_from_minutes(m) for m in aggregate_minutes(readings)}


SERIES_PATHS = {"raw": raw, "minutes": through_minutes}
