"""SQL that keeps the per-minute rollups and the per-meter counters true.

Every write to ``registros`` runs these in its own transaction. Locks are always taken in
one order, so concurrent writers (other threads, other processes) queue instead of
deadlocking: first the ``registros`` rows being changed, by (timestamp, id); then
``registros_por_minuto`` rows, by (minute, meter_id); then ``registros_contadores`` rows,
by meter_id. Counters are therefore written in a statement of their own, after the rollups
(inside one statement PostgreSQL does not promise in which order CTEs run).

Minutes are epoch-aligned with ``date_bin``, which, unlike ``date_trunc``, never depends on
the session's time zone.
"""

from __future__ import annotations

from sqlalchemy import TextClause, text

from energy_adapters.postgres.schema import rollup_columns, rollup_count_column
from energy_core.telemetry.catalogue import VARIABLE_NAMES

EPOCH_SQL = "timestamptz '1970-01-01 00:00:00+00'"


def minute_of(column: str) -> str:
    """SQL for the epoch-aligned minute holding ``column``'s timestamp."""
    return f"date_bin('1 minute', {column}, {EPOCH_SQL})"


MINUTE_OF_TIMESTAMP = minute_of("timestamp")

# A variable a reading does not carry is NULL: min, max and sum skip it (NULL when a minute
# has no value), count(name) counts the values there are; least/greatest ignore a NULL side.
_VARIABLE_COLUMNS = [
    column
    for name in VARIABLE_NAMES
    for column in (*rollup_columns(name), rollup_count_column(name))
]
_COLUMN_LIST = ", ".join(_VARIABLE_COLUMNS)
_AGGREGATES = ", ".join(
    f"min({name}), max({name}), sum({name}), count({name})" for name in VARIABLE_NAMES
)
_MERGE = ", ".join(
    f"{low} = least(m.{low}, excluded.{low}), "
    f"{high} = greatest(m.{high}, excluded.{high}), "
    f"{total} = coalesce(m.{total} + excluded.{total}, m.{total}, excluded.{total}), "
    f"{count} = m.{count} + excluded.{count}"
    for low, high, total, count in (
        (*rollup_columns(name), rollup_count_column(name)) for name in VARIABLE_NAMES
    )
)

# --- a stored batch -----------------------------------------------------------------------


def _add_batch_to_minutes(selection: str) -> TextClause:
    """Merge the batch's rows into their minutes; return per meter what the batch added."""
    return text(
        f"""
        WITH batch AS (
            SELECT {MINUTE_OF_TIMESTAMP} AS minute, meter_id, count(*) AS readings,
                   count(*) FILTER (WHERE is_flagged) AS flagged, {_AGGREGATES}
            FROM registros
            WHERE {selection}
            GROUP BY 1, 2
        ), rolled_up AS (
            INSERT INTO registros_por_minuto AS m
                (minute, meter_id, readings, flagged, {_COLUMN_LIST})
            SELECT * FROM batch ORDER BY minute, meter_id
            ON CONFLICT (minute, meter_id) DO UPDATE SET
                readings = m.readings + excluded.readings,
                flagged = m.flagged + excluded.flagged,
                {_MERGE}
        )
        SELECT meter_id, sum(readings)::bigint, sum(flagged)::bigint
        FROM batch GROUP BY meter_id ORDER BY meter_id
        """
    )


# A batch whose reserved ids are contiguous reads back as one range of the primary key
# (id, timestamp); its time span keeps the read to the partitions of its days.
_BATCH_SPAN = "timestamp BETWEEN :first_time AND :last_time"
ADD_TO_MINUTES_FROM_ID_RANGE = _add_batch_to_minutes(
    f"id BETWEEN :first_id AND :last_id AND {_BATCH_SPAN}"
)
ADD_TO_MINUTES_FROM_IDS = _add_batch_to_minutes(f"id = ANY(:ids) AND {_BATCH_SPAN}")
ADD_TO_COUNTERS = text(
    """
    INSERT INTO registros_contadores AS c (meter_id, readings, flagged)
    SELECT * FROM unnest(CAST(:meters AS text[]), CAST(:readings AS bigint[]),
                         CAST(:flagged AS bigint[])) AS added (meter_id, readings, flagged)
    ORDER BY meter_id
    ON CONFLICT (meter_id) DO UPDATE SET
        readings = c.readings + excluded.readings,
        flagged = c.flagged + excluded.flagged
    """
)

# A meter's origin is rewritten only when it changed: a steady meter costs no row version.
RECORD_ORIGINS = text(
    """
    INSERT INTO medidores AS o (meter_id, channel, format, updated_at)
    SELECT meter_id, channel, format, now()
    FROM unnest(CAST(:meters AS text[]), CAST(:channels AS text[]), CAST(:formats AS text[]))
         AS given (meter_id, channel, format)
    ORDER BY meter_id
    ON CONFLICT (meter_id) DO UPDATE SET
        channel = excluded.channel, format = excluded.format, updated_at = excluded.updated_at
    WHERE (o.channel, o.format) IS DISTINCT FROM (excluded.channel, excluded.format)
    """
)

# --- deletions ----------------------------------------------------------------------------
# The deleting statement fills ``removed_by_minute`` from its RETURNING rows; the
# statements after it settle rollups and counters from that.
CREATE_REMOVED_BY_MINUTE = text(
    """
    CREATE TEMP TABLE IF NOT EXISTS removed_by_minute (
        minute timestamptz NOT NULL,
        meter_id text NOT NULL,
        readings bigint NOT NULL,
        flagged bigint NOT NULL
    ) ON COMMIT DELETE ROWS
    """
)


def lock_readings_where(condition: str) -> TextClause:
    return text(
        f"""
        SELECT count(*) FROM (
            SELECT 1 FROM registros WHERE {condition} ORDER BY timestamp, id FOR UPDATE
        ) locked
        """
    )


def delete_readings_where(condition: str) -> TextClause:
    """Delete the readings matching ``condition`` and record per minute what went."""
    return text(
        f"""
        WITH gone AS (
            DELETE FROM registros WHERE {condition}
            RETURNING meter_id, timestamp, is_flagged
        )
        INSERT INTO removed_by_minute (minute, meter_id, readings, flagged)
        SELECT {MINUTE_OF_TIMESTAMP}, meter_id, count(*), count(*) FILTER (WHERE is_flagged)
        FROM gone
        GROUP BY 1, 2
        """
    )


REMOVED_COUNT = text("SELECT coalesce(sum(readings), 0) FROM removed_by_minute")
# A writer adding to one of these minutes now waits for this transaction, and the
# recount below, in a later statement, sees whatever such a writer committed before.
LOCK_REMOVED_MINUTES = text(
    """
    SELECT count(*) FROM (
        SELECT 1 FROM registros_por_minuto m
        JOIN removed_by_minute r USING (minute, meter_id)
        ORDER BY m.minute, m.meter_id
        FOR UPDATE OF m
    ) locked
    """
)
DROP_EMPTIED_MINUTES = text(
    """
    DELETE FROM registros_por_minuto m
    USING removed_by_minute r
    WHERE m.minute = r.minute AND m.meter_id = r.meter_id AND m.readings <= r.readings
    """
)
RECOUNT_PARTLY_REMOVED_MINUTES = text(
    f"""
    INSERT INTO registros_por_minuto AS m (minute, meter_id, readings, flagged, {_COLUMN_LIST})
    SELECT r.minute, r.meter_id, count(*), count(*) FILTER (WHERE g.is_flagged), {_AGGREGATES}
    FROM removed_by_minute r
    JOIN registros_por_minuto kept ON kept.minute = r.minute AND kept.meter_id = r.meter_id
    JOIN registros g ON g.meter_id = r.meter_id
        AND g.timestamp >= r.minute AND g.timestamp < r.minute + interval '1 minute'
    GROUP BY r.minute, r.meter_id
    ORDER BY r.minute, r.meter_id
    ON CONFLICT (minute, meter_id) DO UPDATE SET
        readings = excluded.readings,
        flagged = excluded.flagged,
        {", ".join(f"{column} = excluded.{column}" for column in _VARIABLE_COLUMNS)}
    """
)


def _lock_counters(meters_from: str) -> TextClause:
    return text(
        f"""
        SELECT count(*) FROM (
            SELECT 1 FROM registros_contadores
            WHERE meter_id IN (SELECT meter_id FROM {meters_from})
            ORDER BY meter_id FOR UPDATE
        ) locked
        """
    )


LOCK_COUNTERS_OF_REMOVED = _lock_counters("removed_by_minute")
RECOUNT_REMOVED_FROM_COUNTERS = text(
    """
    UPDATE registros_contadores c
    SET readings = c.readings - removed.readings, flagged = c.flagged - removed.flagged
    FROM (
        SELECT meter_id, sum(readings) AS readings, sum(flagged) AS flagged
        FROM removed_by_minute GROUP BY meter_id
    ) removed
    WHERE c.meter_id = removed.meter_id
    """
)
# A separate statement: one statement cannot update a row and then delete it.
DROP_EMPTIED_COUNTERS = text("DELETE FROM registros_contadores WHERE readings <= 0")

# --- rescoring ----------------------------------------------------------------------------
CREATE_SCORE_UPDATES = text(
    """
    CREATE TEMP TABLE IF NOT EXISTS score_updates (
        id bigint NOT NULL,
        score double precision,
        is_flagged boolean,
        top_variables text[] NOT NULL,
        flagged_by text,
        meter_id text,
        minute timestamptz,
        was_flagged boolean
    ) ON COMMIT DELETE ROWS
    """
)
SCORE_UPDATE_COLUMNS = ("id", "score", "is_flagged", "top_variables", "flagged_by")
# Locked first, so the flags read next are the ones being replaced.
LOCK_SCORED_READINGS = lock_readings_where("id IN (SELECT id FROM score_updates)")
READ_PREVIOUS_FLAGS = text(
    f"""
    UPDATE score_updates u
    SET meter_id = r.meter_id, minute = {minute_of("r.timestamp")},
        was_flagged = coalesce(r.is_flagged, false)
    FROM registros r
    WHERE r.id = u.id
    """
)
WRITE_SCORES = text(
    """
    UPDATE registros r
    SET score = u.score, is_flagged = u.is_flagged, top_variables = u.top_variables,
        flagged_by = u.flagged_by
    FROM score_updates u
    WHERE r.id = u.id
    """
)
_FLAG_CHANGE = "coalesce(is_flagged, false)::int - was_flagged::int"
LOCK_RESCORED_MINUTES = text(
    """
    SELECT count(*) FROM (
        SELECT 1 FROM registros_por_minuto m
        WHERE (m.minute, m.meter_id) IN (
            SELECT minute, meter_id FROM score_updates WHERE meter_id IS NOT NULL
        )
        ORDER BY m.minute, m.meter_id
        FOR UPDATE
    ) locked
    """
)
APPLY_FLAG_CHANGES_TO_MINUTES = text(
    f"""
    UPDATE registros_por_minuto m SET flagged = m.flagged + changes.delta
    FROM (
        SELECT minute, meter_id, sum({_FLAG_CHANGE}) AS delta
        FROM score_updates WHERE meter_id IS NOT NULL
        GROUP BY minute, meter_id HAVING sum({_FLAG_CHANGE}) <> 0
    ) changes
    WHERE m.minute = changes.minute AND m.meter_id = changes.meter_id
    """
)
LOCK_COUNTERS_OF_RESCORED = _lock_counters("score_updates")
APPLY_FLAG_CHANGES_TO_COUNTERS = text(
    f"""
    UPDATE registros_contadores c SET flagged = c.flagged + changes.delta
    FROM (
        SELECT meter_id, sum({_FLAG_CHANGE}) AS delta
        FROM score_updates WHERE meter_id IS NOT NULL
        GROUP BY meter_id HAVING sum({_FLAG_CHANGE}) <> 0
    ) changes
    WHERE c.meter_id = changes.meter_id
    """
)
