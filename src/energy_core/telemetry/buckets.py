"""Time buckets shared by every adapter, so the same query gives the same buckets anywhere."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def bucket_width(start: datetime, end: datetime, buckets: int) -> timedelta:
    """The width of epoch-aligned buckets that cover [start, end) in at most ``buckets``.

    Widths are whole seconds, and whole minutes from one minute up, so stores that keep
    per-minute rollups can answer wide windows without touching raw rows.
    """
    if buckets < 2:
        raise ValueError(f"need at least 2 buckets, got {buckets}")
    span = max((end - start).total_seconds(), 1.0)
    seconds = max(1, math.ceil(span / (buckets - 1)))
    if seconds >= 60:
        seconds = 60 * math.ceil(seconds / 60)
    return timedelta(seconds=seconds)


def bucket_start(moment: datetime, width: timedelta) -> datetime:
    """The start of the epoch-aligned bucket of ``width`` holding ``moment``."""
    offset = (moment - EPOCH) // width
    return EPOCH + offset * width
