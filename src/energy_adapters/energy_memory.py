"""``EnergyQueries`` over any ``ReadingQueries``, in Python: the in-memory demo's and the unit
tests' energy reads.

It reads the window's readings and aggregates them per minute as the PostgreSQL rollups do
(``energy_core.energy.aggregate_minutes``), so it suits the bounded in-memory store; the
PostgreSQL adapter (``energy_adapters.postgres.energy``) reads the rollups themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from energy_core.energy import MeterMinutes, aggregate_minutes, check_minute_window
from energy_core.ports import ReadingFilter, ReadingQueries


class MemoryEnergyQueries:
    """Per-minute energy aggregates computed from ``readings``."""

    def __init__(self, readings: ReadingQueries) -> None:
        self._readings = readings

    def minutes(
        self, start: datetime, end: datetime, meter_ids: Sequence[str] = ()
    ) -> list[MeterMinutes]:
        check_minute_window(start, end)
        where = ReadingFilter(start=start, end=end, meter_ids=tuple(meter_ids))
        return aggregate_minutes(self._readings.window(where))
