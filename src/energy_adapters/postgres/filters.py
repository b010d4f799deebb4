"""``ReadingFilter`` as SQL conditions, and time ranges split into whole minutes and edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, true

from energy_adapters.postgres.schema import ROLLUP_WIDTH
from energy_adapters.postgres.schema import readings as readings_table
from energy_core.ports import ReadingFilter
from energy_core.telemetry.buckets import bucket_start
from energy_core.telemetry.readings import utc


def normalised(where: ReadingFilter | None) -> ReadingFilter:
    """``where`` with its bounds as aware UTC datetimes (naive ones are taken to be UTC)."""
    if where is None:
        return ReadingFilter()
    return ReadingFilter(
        start=utc(where.start) if where.start is not None else None,
        end=utc(where.end) if where.end is not None else None,
        meter_ids=where.meter_ids,
        state=where.state,
    )


def time_conditions(
    start: datetime | None, end: datetime | None, table: Table = readings_table
) -> list[ColumnElement[bool]]:
    column = table.c.timestamp
    conditions: list[ColumnElement[bool]] = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return conditions


def meter_and_state_conditions(
    where: ReadingFilter, table: Table = readings_table
) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if where.meter_ids:
        conditions.append(table.c.meter_id.in_(where.meter_ids))
    if where.state == "anomalous":
        # Written as the bare column so the planner can use the partial index on flagged rows.
        conditions.append(table.c.is_flagged)
    elif where.state == "normal":
        conditions.append(table.c.is_flagged.is_not(True))
    return conditions


def reading_conditions(
    where: ReadingFilter,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    override_time: bool = False,
) -> ColumnElement[bool]:
    """The SQL condition of ``where`` on ``registros`` (with ``override_time``, of
    ``where`` but between ``start`` and ``end`` instead of its own bounds)."""
    bounds = (start, end) if override_time else (where.start, where.end)
    conditions = [*time_conditions(*bounds), *meter_and_state_conditions(where)]
    return and_(true(), *conditions)


def floor_minute(moment: datetime) -> datetime:
    return bucket_start(moment, ROLLUP_WIDTH)


def ceil_minute(moment: datetime) -> datetime:
    floor = floor_minute(moment)
    return floor if floor == moment else floor + ROLLUP_WIDTH


@dataclass(frozen=True, slots=True)
class MinuteSplit:
    """A time range as whole epoch-aligned minutes (answerable from the rollups) plus the
    ragged edges before and after them (answerable only from raw rows).

    ``None`` bounds are open. ``whole`` is ``None`` when no whole minute fits.
    """

    whole: tuple[datetime | None, datetime | None] | None
    edges: tuple[tuple[datetime | None, datetime | None], ...]


def split_by_minute(start: datetime | None, end: datetime | None) -> MinuteSplit:
    inner_start = ceil_minute(start) if start is not None else None
    inner_end = floor_minute(end) if end is not None else None
    if inner_start is not None and inner_end is not None and inner_start >= inner_end:
        return MinuteSplit(whole=None, edges=((start, end),))
    edges: list[tuple[datetime | None, datetime | None]] = []
    if start is not None and inner_start != start:
        edges.append((start, inner_start))
    if end is not None and inner_end != end:
        edges.append((inner_end, end))
    return MinuteSplit(whole=(inner_start, inner_end), edges=tuple(edges))
