"""A meter's health now, as every adapter of ``FleetQueries`` computes it.

The rules live here once so that the memory and the PostgreSQL adapters agree: which minutes
are "the last hour", how a cadence is read from timestamps, how a share becomes a state.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta

from energy_core.health.analysis import HealthState, HealthThresholds
from energy_core.ports import FleetHealth
from energy_core.telemetry.buckets import bucket_start

MINUTE = timedelta(minutes=1)
HOUR_MINUTES = 60
CADENCE_READINGS = 21
"""A meter's newest readings that its cadence and its variables are read from (20 gaps)."""

HEALTH_KEYS: dict[HealthState, FleetHealth] = {
    HealthState.NORMAL: "normal",
    HealthState.CAUTION: "caution",
    HealthState.CRITICAL: "critical",
}


def last_hour(now: datetime) -> tuple[datetime, datetime]:
    """``[start, end)`` of the last hour at ``now``: the 60 whole epoch-aligned UTC minutes up
    to and including the one holding ``now``, so per-minute rollups answer it exactly."""
    current = bucket_start(now, MINUTE)
    return current - (HOUR_MINUTES - 1) * MINUTE, current + MINUTE


def median_interval(newest_first: Sequence[datetime]) -> float | None:
    """The median gap, in seconds, between consecutive instants (given newest first);
    ``None`` with fewer than two."""
    if len(newest_first) < 2:
        return None
    gaps = [
        (later - earlier).total_seconds() for later, earlier in itertools.pairwise(newest_first)
    ]
    return float(statistics.median(gaps))


def health_now(
    readings: int, flagged: int, thresholds: HealthThresholds
) -> tuple[float | None, HealthState | None]:
    """The flagged share (per cent) of a meter's readings in the last hour and its state;
    ``(None, None)`` when it sent none (silent)."""
    if readings <= 0:
        return None, None
    share = 100.0 * flagged / readings
    return share, thresholds.state(share)


def health_key(health: HealthState | None) -> FleetHealth:
    """The filter value of a meter's health: ``normal``, ``caution``, ``critical`` or
    ``silent``."""
    return "silent" if health is None else HEALTH_KEYS[health]
