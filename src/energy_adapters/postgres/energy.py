"""``EnergyQueries`` on PostgreSQL: per-minute energy aggregates read from the rollups
(``registros_por_minuto``), never from raw rows; only the statistics energy figures use
(``VariableMinutes``).

The rows leave the server as one binary COPY whose fields are all fixed-width (no NULLs:
an empty statistic is sent as NaN, a meter as its index in the list asked for), so the
whole answer is read as one numpy structured array instead of row by row.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import Engine, select

from energy_adapters.postgres.schema import meter_counters, rollup_columns, rollup_count_column
from energy_adapters.postgres.urls import Database
from energy_core.energy import (
    ENERGY_VARIABLES,
    REGISTERS,
    MeterMinutes,
    VariableMinutes,
    check_minute_window,
)

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
_HEADER = struct.Struct(">11sii")
_TRAILER = struct.pack(">h", -1)


def _statistics(name: str) -> tuple[str, ...]:
    """What is read of ``name``: what energy figures use (see ``VariableMinutes``)."""
    return ("count", "min", "max") if name in REGISTERS else ("count", "sum")


def _row_type() -> np.dtype[Any]:
    fields: list[tuple[str, str]] = [
        ("fields", ">i2"),
        ("minute_length", ">i4"),
        ("minute", ">i4"),
        ("meter_length", ">i4"),
        ("meter", ">i4"),
    ]
    for name in ENERGY_VARIABLES:
        for statistic in _statistics(name):
            fields.append((f"{name}_{statistic}_length", ">i4"))
            fields.append((f"{name}_{statistic}", ">i4" if statistic == "count" else ">f8"))
    return np.dtype(fields)


_ROW = _row_type()
_NATIVE_ROW = _ROW.newbyteorder("=")


def _select_list() -> str:
    columns = []
    for name in ENERGY_VARIABLES:
        low, high, total = rollup_columns(name)
        source = {"count": rollup_count_column(name), "sum": total, "min": low, "max": high}
        for statistic in _statistics(name):
            column = source[statistic]
            columns.append(
                f"r.{column}::int4"
                if statistic == "count"
                else f"coalesce(r.{column}, 'NaN')::float8"
            )
    return ", ".join(columns)


_ANY_VALUE = " OR ".join(f"r.{rollup_count_column(name)} > 0" for name in ENERGY_VARIABLES)
# Minutes are numbered from the epoch (an int4 lasts until the year 6053).
_QUERY = f"""
    SELECT (extract(epoch FROM r.minute)::bigint / 60)::int4, (m.position - 1)::int4,
           {_select_list()}
    FROM unnest(%(meters)s::text[]) WITH ORDINALITY AS m (meter_id, position)
    JOIN registros_por_minuto r ON r.meter_id = m.meter_id
    WHERE r.minute >= %(start)s AND r.minute < %(end)s AND ({_ANY_VALUE})
"""
# Not ordered in SQL: sorting there spills to disk for a few hundred thousand rows, while
# numpy orders them in milliseconds (``split_by_meter``).


def decode(payload: bytes) -> np.ndarray[Any, np.dtype[Any]]:
    """The rows of a binary COPY of ``_QUERY`` as a structured array (native byte order)."""
    signature, _flags, extension = _HEADER.unpack_from(payload)
    if signature != _SIGNATURE:
        raise ValueError("not a binary COPY stream")
    body = payload[_HEADER.size + extension :]
    if not body.endswith(_TRAILER):
        raise ValueError("binary COPY stream without its trailer")
    return np.frombuffer(body[: -len(_TRAILER)], dtype=_ROW).astype(_NATIVE_ROW)


def split_by_meter(
    rows: np.ndarray[Any, np.dtype[Any]], meters: Sequence[str]
) -> list[MeterMinutes]:
    """Decoded rows as one ``MeterMinutes`` per meter, minutes ascending."""
    if not len(rows):
        return []
    rows = rows[np.lexsort((rows["minute"], rows["meter"]))]
    meter = rows["meter"]
    positions, first = np.unique(meter, return_index=True)
    bounds = [*first.tolist(), len(rows)]
    result = []
    for position, low, high in zip(positions.tolist(), bounds, bounds[1:], strict=False):
        part = rows[low:high]
        variables = {}
        for name in ENERGY_VARIABLES:
            count = part[f"{name}_count"].astype(np.int64)
            nothing = np.full(len(part), np.nan)
            if name in REGISTERS:
                variables[name] = VariableMinutes(
                    count, nothing, part[f"{name}_min"].copy(), part[f"{name}_max"].copy()
                )
                continue
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(count > 0, part[f"{name}_sum"] / count, np.nan)
            variables[name] = VariableMinutes(count, mean, nothing, nothing.copy())
        minutes = part["minute"].astype(np.int64) * 60
        result.append(MeterMinutes(meters[position], minutes, variables))
    return result


class PostgresEnergyQueries:
    """Energy reads from the per-minute rollups. Thread-safe: every call uses its own pooled
    connection."""

    def __init__(self, database: Database | Engine):
        self._db = database if isinstance(database, Database) else Database(database)

    def minutes(
        self, start: datetime, end: datetime, meter_ids: Sequence[str] = ()
    ) -> list[MeterMinutes]:
        low, high = check_minute_window(start, end)
        with self._db.connection() as connection:
            if meter_ids:
                meters = sorted(set(meter_ids))
            else:
                query = select(meter_counters.c.meter_id).where(meter_counters.c.readings > 0)
                # Python's order, not the database collation's: the memory adapter's.
                meters = sorted(connection.execute(query).scalars())
            if not meters or high <= low:
                return []
            raw = connection.connection.dbapi_connection
            assert raw is not None
            with raw.cursor() as cursor:
                parameters = {
                    "meters": meters,
                    "start": datetime.fromtimestamp(low, UTC),
                    "end": datetime.fromtimestamp(high, UTC),
                }
                selection = cursor.mogrify(_QUERY, parameters).decode()
                output = io.BytesIO()
                cursor.copy_expert(f"COPY ({selection}) TO STDOUT (FORMAT binary)", output)
        return split_by_meter(decode(output.getvalue()), meters)
