"""Calendar periods and wall-clock times in a time zone, daylight saving included (zoneinfo).

Instants are kept as seconds since the Unix epoch (UTC) in arrays. Every UTC offset in use
since 2000 is a whole number of quarter hours, and clocks change on quarter hours of UTC:
offsets are therefore looked up once per quarter hour and hold within it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Literal, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from energy_core.energy.ports import FloatArray, IntArray
from energy_core.telemetry.buckets import EPOCH

Period = Literal["hour", "day", "week", "month"]
PERIODS: tuple[Period, ...] = get_args(Period)
QUARTER_HOUR_S = 900
WEEK_S = 7 * 86_400
# 1970-01-01 was a Thursday: the first Monday 00:00 came 4 days later.
FIRST_MONDAY_S = 4 * 86_400


def check_zone(name: str, field: str = "timezone") -> ZoneInfo:
    """The zone called ``name``; ``ValueError`` naming ``field`` when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"{field} {name!r}: unknown time zone (an IANA name, e.g. 'Europe/Madrid')"
        ) from None


def seconds(moment: datetime, name: str = "time") -> float:
    """``moment`` (aware) as seconds since the Unix epoch; ``ValueError`` naming ``name``
    when it carries no time zone."""
    if moment.tzinfo is None:
        raise ValueError(f"{name} {moment.isoformat()}: must carry a time zone (UTC)")
    return (moment - EPOCH).total_seconds()


def instant(epoch_seconds: float) -> datetime:
    """Seconds since the Unix epoch as an aware UTC datetime."""
    return EPOCH + timedelta(seconds=float(epoch_seconds))


def utc_offsets(epoch_seconds: FloatArray | IntArray, zone: ZoneInfo) -> IntArray:
    """The zone's UTC offset (seconds) at each instant."""
    quarters = np.floor(np.asarray(epoch_seconds, dtype=np.float64) / QUARTER_HOUR_S)
    unique, inverse = np.unique(quarters, return_inverse=True)
    offsets = np.array(
        [
            int(
                (
                    datetime.fromtimestamp(q * QUARTER_HOUR_S, UTC).astimezone(zone).utcoffset()
                ).total_seconds()  # type: ignore[union-attr]
            )
            for q in unique
        ],
        dtype=np.int64,
    )
    return offsets[inverse.reshape(-1)]


def minute_of_week(epoch_seconds: FloatArray | IntArray, zone: ZoneInfo) -> IntArray:
    """The local wall-clock minute of the week (0 = Monday 00:00 … 10079) at each instant."""
    local = np.asarray(epoch_seconds, dtype=np.float64) + utc_offsets(epoch_seconds, zone)
    return (np.floor((local - FIRST_MONDAY_S) / 60.0).astype(np.int64)) % (WEEK_S // 60)


def _local_midnight(day: date, zone: ZoneInfo) -> datetime:
    # fold=0: a midnight the clock skips maps to the instant of the change itself, a
    # midnight it repeats to its first occurrence.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CalendarPeriod:
    """One period of a window: ``label`` names it by the local calendar (``2025-03-30``
    a day, ``2025-03-30T02:00+02:00`` an hour, ``2025-W13`` an ISO week, ``2025-03`` a
    month); ``start`` (inclusive) and ``end`` (exclusive) are UTC instants, the first and
    last cut to the window."""

    label: str
    start: datetime
    end: datetime


def _label(moment: datetime, period: Period, zone: ZoneInfo) -> str:
    local = moment.astimezone(zone)
    if period == "hour":
        return local.replace(minute=0, second=0, microsecond=0).isoformat(timespec="minutes")
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def _boundaries(start: datetime, end: datetime, period: Period, zone: ZoneInfo) -> list[datetime]:
    """Local period starts strictly between ``start`` and ``end`` (UTC)."""
    found: set[datetime] = set()
    if period == "hour":
        # Local hours start on quarter hours of UTC (offsets are whole quarter hours);
        # an hour the clock repeats starts twice.
        first = (int(seconds(start)) // QUARTER_HOUR_S + 1) * QUARTER_HOUR_S
        quarters = np.arange(first, seconds(end), QUARTER_HOUR_S, dtype=np.float64)
        local = quarters + utc_offsets(quarters, zone)
        found.update(instant(q) for q in quarters[local % 3600 == 0])
    else:
        day = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        while day <= last:
            if (
                period == "day"
                or (period == "week" and day.weekday() == 0)
                or (period == "month" and day.day == 1)
            ):
                found.add(_local_midnight(day, zone))
            day += timedelta(days=1)
    return sorted(moment for moment in found if start < moment < end)


def calendar_periods(
    start: datetime, end: datetime, period: Period, timezone: str
) -> list[CalendarPeriod]:
    """The hours, days, ISO weeks (from Monday) or months of ``timezone`` that
    [``start``, ``end``) touches, in order; the first and last cut to the window. A day
    with a clock change lasts 23 or 25 hours."""
    if period not in PERIODS:
        raise ValueError(f"period {period!r}: must be one of {', '.join(PERIODS)}")
    zone = check_zone(timezone)
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return []
    edges = [start, *_boundaries(start, end, period, zone), end]
    return [CalendarPeriod(_label(low, period, zone), low, high) for low, high in pairwise(edges)]


def clock_intervals(
    start: datetime, end: datetime, interval: timedelta, timezone: str
) -> FloatArray:
    """Edges (epoch seconds) of the whole ``interval``-long intervals inside [``start``,
    ``end``), aligned to ``timezone``'s wall clock (``interval`` divides an hour: a
    15-minute interval starts at :00, :15, :30 and :45 local time)."""
    zone = check_zone(timezone)
    width = interval.total_seconds()
    low, high = seconds(start, "start"), seconds(end, "end")
    # Local alignment is UTC alignment shifted by the offset modulo the interval (offsets
    # change by whole hours, or half hours, so the shift holds across clock changes).
    shift = float(utc_offsets(np.array([low]), zone)[0]) % width
    first = math.ceil((low + shift) / width) * width - shift
    count = math.floor((high - first) / width) if high >= first else -1
    return first + width * np.arange(count + 1, dtype=np.float64)
