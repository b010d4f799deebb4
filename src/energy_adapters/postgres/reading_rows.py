"""How a row of ``registros`` is selected and read back as a ``Reading``: shared by the
writes (a batch stored before, read back) and the reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import type_coerce
from sqlalchemy.types import NullType

from energy_adapters.postgres.schema import readings as table
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.readings import Reading

SELECTED = (
    table.c.id,
    table.c.meter_id,
    table.c.timestamp,
    *(table.c[name] for name in VARIABLE_NAMES),
    table.c.is_anomaly,
    table.c.anomaly_kind,
    table.c.score,
    table.c.is_flagged,
    # psycopg2 already hands text[] back as a list of str: read as is, not through
    # SQLAlchemy's ARRAY result processor, which walked each list again (~2.5 µs a row, a
    # fifth of a dashboard page's time on 1 M readings).
    type_coerce(table.c.top_variables, NullType()).label("top_variables"),
    table.c.flagged_by,
)
_FIRST_VALUE = 3
_AFTER_VALUES = _FIRST_VALUE + len(VARIABLE_NAMES)
ORDER = (table.c.timestamp, table.c.id)
NEWEST_FIRST = (table.c.timestamp.desc(), table.c.id.desc())


def to_reading(row: Sequence[Any]) -> Reading:
    return Reading(
        timestamp=row[2],
        meter_id=row[1],
        values={
            name: value
            for name, value in zip(VARIABLE_NAMES, row[_FIRST_VALUE:_AFTER_VALUES], strict=True)
            if value is not None  # NULL: the meter did not send it
        },
        is_anomaly=row[_AFTER_VALUES],
        anomaly_kind=row[_AFTER_VALUES + 1],
        score=row[_AFTER_VALUES + 2],
        is_flagged=row[_AFTER_VALUES + 3],
        top_variables=tuple(row[_AFTER_VALUES + 4]),
        flagged_by=row[_AFTER_VALUES + 5],
        id=row[0],
    )
