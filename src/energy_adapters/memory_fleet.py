"""``FleetQueries`` over any ``ReadingQueries``, in Python: the in-memory demo's and the
unit tests' fleet view.

It reads every stored reading once per query, so it suits the bounded in-memory store; the
PostgreSQL adapter (``energy_adapters.postgres.fleet``) answers from indexes and rollups.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from energy_core.health.fleet import (
    CADENCE_READINGS,
    health_key,
    health_now,
    last_hour,
    median_interval,
)
from energy_core.ports import (
    FleetPage,
    FleetQuery,
    MeterOverview,
    ReadingFilter,
    ReadingQueries,
)
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.readings import Origin, Reading


@dataclass
class _Meter:
    newest: deque[Reading] = field(default_factory=lambda: deque(maxlen=CADENCE_READINGS))
    readings: int = 0
    flagged: int = 0
    origin: Origin | None = None


class MemoryFleetQueries:
    """The fleet of ``readings``: filtered, sorted and paged after one pass over them."""

    def __init__(self, readings: ReadingQueries) -> None:
        self._readings = readings

    def meters_overview(self, query: FleetQuery, now: datetime) -> FleetPage:
        start, end = last_hour(now)
        meters: dict[str, _Meter] = {}
        wanted = query.meter_contains.lower()
        for reading in self._readings.window(ReadingFilter()):  # time order, ties by id
            if wanted not in reading.meter_id.lower():
                continue
            meter = meters.setdefault(reading.meter_id, _Meter())
            meter.newest.append(reading)
            meter.origin = reading.origin or meter.origin
            if start <= reading.timestamp < end:
                meter.readings += 1
                meter.flagged += bool(reading.is_flagged)
        rows = [
            _overview(meter_id, meter, query) for meter_id, meter in meters.items() if meter.newest
        ]
        if query.health is not None:
            rows = [row for row in rows if health_key(row.health) == query.health]
        rows.sort(key=lambda row: row.meter_id)
        # By the column, meters lacking it last, ties by meter id: sorts are stable, and
        # reverse=True keeps equal keys in their (ascending meter id) order.
        present = [row for row in rows if _sort_value(row, query) is not None]
        missing = [row for row in rows if _sort_value(row, query) is None]
        present.sort(key=lambda row: _sort_value(row, query), reverse=query.descending)
        ordered = present + missing
        page = ordered[query.offset : query.offset + query.page_size]
        return FleetPage(rows=tuple(page), total=len(ordered), query=query)


def _overview(meter_id: str, meter: _Meter, query: FleetQuery) -> MeterOverview:
    newest_first = list(reversed(meter.newest))
    sent = {name for reading in newest_first for name in reading.values}
    share, health = health_now(meter.readings, meter.flagged, query.thresholds)
    return MeterOverview(
        meter_id=meter_id,
        variables=tuple(name for name in VARIABLE_NAMES if name in sent),
        last_seen=newest_first[0].timestamp,
        cadence_s=median_interval([reading.timestamp for reading in newest_first]),
        readings_last_hour=meter.readings,
        flagged_last_hour=meter.flagged,
        flagged_share=share,
        health=health,
        origin=meter.origin,
    )


def _sort_value(row: MeterOverview, query: FleetQuery) -> Any:
    if query.sort == "health":
        return row.flagged_share
    return getattr(row, query.sort)
