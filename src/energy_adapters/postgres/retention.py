"""Retention on PostgreSQL: the oldest readings beyond a count, or before an instant,
deleted with their rollups and counters settled in the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, text

from energy_adapters.postgres import rollups
from energy_adapters.postgres.locks import lock_key
from energy_adapters.postgres.reading_rows import ORDER
from energy_adapters.postgres.schema import meter_counters
from energy_adapters.postgres.schema import readings as table
from energy_adapters.postgres.urls import Database
from energy_core.telemetry.readings import utc

# Retention from several processes at once would each see the same excess; take turns.
_RETENTION_LOCK = lock_key("smartenergy:retention")
_TRUNCATE = text("TRUNCATE registros, registros_por_minuto, registros_contadores, lotes, medidores")


def stored_total(connection: Connection) -> int:
    """How many readings are stored, from the per-meter counters."""
    total = select(func.coalesce(func.sum(meter_counters.c.readings), 0))
    return int(connection.execute(total).scalar_one())


def delete_oldest(database: Database, keep: int) -> int:
    """Keep the ``keep`` most recent readings (time order, ties by id); how many went."""
    # Below the limit (usually, when the limit is large) there is nothing to delete:
    # answer from the counters without taking the retention lock, so concurrent
    # writers do not queue for it. Only writers add readings meanwhile, and each of
    # them calls this after its own batch.
    with database.connection() as connection:
        if stored_total(connection) <= max(keep, 0):
            return 0
    with database.transaction() as connection:
        connection.execute(select(func.pg_advisory_xact_lock(_RETENTION_LOCK)))
        excess = stored_total(connection) - max(keep, 0)
        if excess <= 0:
            return 0
        # Walk the (timestamp, id) index to the last reading to drop: no sort, and only
        # as far as the excess, which at every batch is about the batch's size.
        cut_time, cut_id = connection.execute(
            select(table.c.timestamp, table.c.id).order_by(*ORDER).offset(excess - 1).limit(1)
        ).one()
        return _delete(
            connection,
            "(timestamp, id) <= (:cut_time, :cut_id)",
            {"cut_time": cut_time, "cut_id": cut_id},
        )


def delete_before(database: Database, cutoff: datetime) -> int:
    """Delete the readings older than ``cutoff``; how many went."""
    with database.transaction() as connection:
        connection.execute(select(func.pg_advisory_xact_lock(_RETENTION_LOCK)))
        return _delete(connection, "timestamp < :cutoff", {"cutoff": utc(cutoff)})


def clear(database: Database) -> None:
    """Remove every reading, rollup, counter and batch key. Ids keep increasing afterwards,
    as live readers expect."""
    with database.transaction() as connection:
        connection.execute(_TRUNCATE)


def _delete(connection: Connection, condition: str, parameters: dict[str, Any]) -> int:
    """Delete the readings matching ``condition``, settle rollups and counters, and
    return how many went. The caller holds the retention lock."""
    connection.execute(rollups.CREATE_REMOVED_BY_MINUTE)
    connection.execute(rollups.lock_readings_where(condition), parameters)
    connection.execute(rollups.delete_readings_where(condition), parameters)
    removed = int(connection.execute(rollups.REMOVED_COUNT).scalar_one())
    if removed:
        for statement in (
            rollups.LOCK_REMOVED_MINUTES,
            rollups.DROP_EMPTIED_MINUTES,
            rollups.RECOUNT_PARTLY_REMOVED_MINUTES,
            rollups.LOCK_COUNTERS_OF_REMOVED,
            rollups.RECOUNT_REMOVED_FROM_COUNTERS,
            rollups.DROP_EMPTIED_COUNTERS,
        ):
            connection.execute(statement)
    return removed
