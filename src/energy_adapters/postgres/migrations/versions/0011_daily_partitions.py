"""Readings (registros) and their per-minute rollups (registros_por_minuto) partitioned by
day, keeping every row.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-20

Each table becomes a declarative range-partitioned table on its time column (``timestamp``,
``minute``) with one partition per UTC day (``registros_pYYYYMMDD``,
``registros_por_minuto_pYYYYMMDD``) and a DEFAULT partition (``registros_default``,
``registros_por_minuto_default``) for rows of a day without one. Retention then drops whole
days instead of deleting their rows; the application creates days ahead and on demand
(``energy_adapters.postgres.partitions``), with the names and bounds used here.

A primary key of a partitioned table must include the partition key: ``registros``' is
``(id, timestamp)`` (ids still come from the one sequence ``registros_id_seq``, so they stay
unique), ``registros_por_minuto``'s ``(minute, meter_id)`` already does.

Upgrade: the old table is renamed, the partitioned one created with the same columns in the
same order, a partition made for every day holding data (found by skipping along the time
index, one probe per day) and for yesterday to three days ahead, every row copied across,
then the indexes built and the old table dropped; the id sequence moves to the new table and
goes on from where it was. Downgrade: the same the other way, into plain tables. Both run in
one transaction: writers wait until it commits, for as long as the copy takes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

# Frozen here as they are at this revision; the application's own copy lives in
# ``energy_adapters.postgres.partitions`` (same names, same bounds).
_EPOCH_DAY = date(1970, 1, 1)
_LAST_PYTHON_DAY = (date.max - _EPOCH_DAY).days
_WINDOW = range(-1, 4)  # yesterday to three days ahead
_SEQUENCE = "registros_id_seq"
_INDEXES: dict[str, tuple[tuple[str, str], ...]] = {
    "registros": (
        ("ix_registros_timestamp_id", '("timestamp", id)'),
        ("ix_registros_flagged_timestamp_id", '("timestamp", id) WHERE is_flagged'),
        ("ix_registros_meter_timestamp_id", '(meter_id, "timestamp", id)'),
    ),
    "registros_por_minuto": (("ix_registros_por_minuto_meter_minute", "(meter_id, minute)"),),
}
_KEYS = {"registros": "timestamp", "registros_por_minuto": "minute"}
_PARTITIONED_KEYS = {"registros": '(id, "timestamp")', "registros_por_minuto": "(minute, meter_id)"}
_PLAIN_KEYS = {"registros": "(id)", "registros_por_minuto": "(minute, meter_id)"}


def _bound(day: int) -> str:
    if day == _LAST_PYTHON_DAY + 1:
        return "'10000-01-01 00:00:00+00'"
    start = _EPOCH_DAY + timedelta(days=day)
    return f"'{start.year:04d}-{start.month:02d}-{start.day:02d} 00:00:00+00'"


def _name(parent: str, day: int) -> str:
    start = _EPOCH_DAY + timedelta(days=day)
    return f"{parent}_p{start.year:04d}{start.month:02d}{start.day:02d}"


def _days_holding_data(table: str, key: str) -> set[int]:
    """The UTC days (since 1970-01-01) with rows in ``table``, one index probe per day."""
    column = f'"{key}"'
    rows = op.get_bind().execute(
        sa.text(
            f"""
            WITH RECURSIVE days (day) AS (
                SELECT date_bin('1 day', min({column}), timestamptz '1970-01-01 00:00:00+00')
                FROM {table}
                UNION ALL
                SELECT (
                    SELECT date_bin('1 day', min({column}), timestamptz '1970-01-01 00:00:00+00')
                    FROM {table} WHERE {column} >= days.day + interval '1 day'
                )
                FROM days WHERE days.day IS NOT NULL
            )
            SELECT (extract(epoch FROM day) / 86400)::bigint FROM days WHERE day IS NOT NULL
            """
        )
    )
    return {int(day) for (day,) in rows}


def upgrade() -> None:
    today = (datetime.now(UTC).date() - _EPOCH_DAY).days
    days = {today + offset for offset in _WINDOW}
    for table, key in _KEYS.items():
        days |= _days_holding_data(table, key)
    for table, key in _KEYS.items():
        old = f"{table}_0010"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {table}_pkey")
        for index, _ in _INDEXES[table]:
            op.execute(f"DROP INDEX {index}")
        if table == "registros":
            op.execute(f"ALTER SEQUENCE {_SEQUENCE} OWNED BY NONE")
        op.execute(
            f'CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS) PARTITION BY RANGE ("{key}")'
        )
        for day in sorted(days):
            op.execute(
                f"CREATE TABLE {_name(table, day)} PARTITION OF {table}"
                f" FOR VALUES FROM ({_bound(day)}) TO ({_bound(day + 1)})"
            )
        op.execute(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        # Rows first, indexes after: one sort per index and partition instead of an
        # index insertion per row.
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey"
            f" PRIMARY KEY {_PARTITIONED_KEYS[table]}"
        )
        for index, definition in _INDEXES[table]:
            op.execute(f"CREATE INDEX {index} ON {table} {definition}")
        op.execute(f"DROP TABLE {old}")
        op.execute(f"ANALYZE {table}")
        if table == "registros":
            _sequence_follows("registros")


def _sequence_follows(table: str) -> None:
    """``registros_id_seq`` belongs to ``table``'s id and goes on past every stored id."""
    op.execute(f"ALTER SEQUENCE {_SEQUENCE} OWNED BY {table}.id")
    op.execute(
        f"""
        SELECT setval('{_SEQUENCE}', stored.last_id)
        FROM (SELECT max(id) AS last_id FROM {table}) stored
        WHERE stored.last_id >= (SELECT last_value FROM {_SEQUENCE})
        """
    )


def downgrade() -> None:
    """Back to plain tables, every row kept."""
    for table, _key in _KEYS.items():
        old = f"{table}_partitioned"
        op.execute(f"ALTER TABLE {table} RENAME TO {old}")
        op.execute(f"ALTER TABLE {old} DROP CONSTRAINT {table}_pkey")
        for index, _ in _INDEXES[table]:
            op.execute(f"DROP INDEX {index}")
        if table == "registros":
            op.execute(f"ALTER SEQUENCE {_SEQUENCE} OWNED BY NONE")
        op.execute(f"CREATE TABLE {table} (LIKE {old} INCLUDING DEFAULTS)")
        op.execute(f"INSERT INTO {table} SELECT * FROM {old}")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_pkey PRIMARY KEY {_PLAIN_KEYS[table]}"
        )
        for index, definition in _INDEXES[table]:
            op.execute(f"CREATE INDEX {index} ON {table} {definition}")
        op.execute(f"DROP TABLE {old}")  # its partitions with it
        if table == "registros":
            _sequence_follows("registros")
