"""Retention on PostgreSQL: the oldest readings beyond a count, or before an instant, gone
with their rollups and counters settled in the same transaction.

Whole days older than the cut go by dropping their partitions (``partitions.drop_days``):
milliseconds however many readings a day holds, and no dead rows left for VACUUM. Only the
rows of the day that straddles the cut (and any in the default partition) are deleted one
by one. Run after every batch, the cut moves a few seconds at a time, so that day is
trimmed a few rows at a time, and when the cut passes its end there is little left in it to
drop; a cut that moves by days at once (a lower maximum age, a first run on a long history,
a catch-up after downtime) drops them at once.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import sqlalchemy.exc
from sqlalchemy import Connection, func, select, text

from energy_adapters.postgres import rollups
from energy_adapters.postgres.locks import lock_key
from energy_adapters.postgres.partitions import BusyError, Partitions, drop_days, is_lock_timeout
from energy_adapters.postgres.reading_rows import ORDER
from energy_adapters.postgres.schema import meter_counters
from energy_adapters.postgres.schema import readings as table
from energy_adapters.postgres.urls import Database
from energy_core.telemetry.readings import utc

log = logging.getLogger(__name__)

# Retention from several processes at once would each see the same excess; take turns.
_RETENTION_LOCK = lock_key("smartenergy:retention")
_TRUNCATE = text("TRUNCATE registros, registros_por_minuto, registros_contadores, lotes, medidores")


def stored_total(connection: Connection) -> int:
    """How many readings are stored, from the per-meter counters."""
    total = select(func.coalesce(func.sum(meter_counters.c.readings), 0))
    return int(connection.execute(total).scalar_one())


def delete_oldest(database: Database, keep: int, partitions: Partitions) -> int:
    """Keep the ``keep`` most recent readings (time order, ties by id); how many went.

    Days wholly older than the cut are dropped first (in a transaction of their own), then
    the rest of the excess is deleted row by row."""
    # Below the limit (usually, when the limit is large) there is nothing to delete:
    # answer from the counters without taking the retention lock, so concurrent
    # writers do not queue for it. Only writers add readings meanwhile, and each of
    # them calls this after its own batch.
    with database.connection() as connection:
        if stored_total(connection) <= max(keep, 0):
            return 0
    partitions.keep_ahead()
    dropped = 0
    while True:  # whole days dropped, one transaction each time, then the rest deleted
        try:
            with database.transaction() as connection:
                connection.execute(select(func.pg_advisory_xact_lock(_RETENTION_LOCK)))
                excess = stored_total(connection) - max(keep, 0)
                if excess <= 0:
                    return dropped
                # Walk the (timestamp, id) index to the last reading to drop: no sort, and
                # only as far as the excess, which at every batch is about the batch's size.
                cut_time, cut_id = connection.execute(
                    select(table.c.timestamp, table.c.id)
                    .order_by(*ORDER)
                    .offset(excess - 1)
                    .limit(1)
                ).one()
                # Days ending at or before the cut's instant hold nothing newer than the cut.
                whole = partitions.droppable(connection, cut_time)
                if whole:
                    dropped += drop_days(connection, whole)
                else:
                    return dropped + _delete(
                        connection,
                        "(timestamp, id) <= (:cut_time, :cut_id)",
                        {"cut_time": cut_time, "cut_id": cut_id},
                    )
        except (sqlalchemy.exc.OperationalError, BusyError) as error:
            _postponed(error)
            return dropped
        partitions.forget(whole)


def delete_before(database: Database, cutoff: datetime, partitions: Partitions) -> int:
    """Delete the readings older than ``cutoff``; how many went.

    Days wholly older than it are dropped (a transaction of their own), then the rows left
    before it (the day straddling it, the default partition) are deleted. When the drop
    cannot have its locks in time, nothing is deleted now: the next call tries again."""
    cutoff = utc(cutoff)
    dropped = 0
    try:
        with database.transaction() as connection:
            connection.execute(select(func.pg_advisory_xact_lock(_RETENTION_LOCK)))
            whole = partitions.droppable(connection, cutoff)
            if whole:
                dropped = drop_days(connection, whole)
    except (sqlalchemy.exc.OperationalError, BusyError) as error:
        _postponed(error)
        return 0
    partitions.forget(whole)
    with database.transaction() as connection:
        connection.execute(select(func.pg_advisory_xact_lock(_RETENTION_LOCK)))
        removed = _delete(connection, "timestamp < :cutoff", {"cutoff": cutoff})
    partitions.keep_ahead()
    return dropped + removed


def _postponed(error: Exception) -> None:
    """Log that days could not be dropped now; raise ``error`` if it is something else."""
    if isinstance(error, sqlalchemy.exc.OperationalError) and not is_lock_timeout(error):
        raise error
    log.warning("retention postponed: the readings are busy (%s)", error)


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
