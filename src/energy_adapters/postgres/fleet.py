"""``FleetQueries`` on PostgreSQL: one row per meter, sorted, filtered and paged in SQL.

What each part reads, so that a page stays fast with 10,000 meters:

- the meters: ``registros_contadores`` (one row per meter);
- readings and flagged in the last hour: ``registros_por_minuto`` (the hour is whole
  minutes, see ``energy_core.health.fleet.last_hour``), never raw rows;
- last seen, cadence and the variables sent: the meter's newest ``CADENCE_READINGS`` rows of
  ``registros``, through the index on ``(meter_id, timestamp, id)`` (migration 0006).

Only the page's meters get the per-meter details. A column is computed for every matching
meter only when the query sorts or filters by it: the hour's counts (one pass over the
hour's rollups; ``silent`` only probes each meter's minutes), last seen (one index probe per
meter) or the cadence (the newest timestamps of every meter: the slowest sort, see
bench/fleet.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, TextClause, text

from energy_adapters.postgres.urls import Database
from energy_core.health.fleet import CADENCE_READINGS, health_now, last_hour
from energy_core.ports import FleetPage, FleetQuery, FleetSort, MeterOverview
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.readings import Origin, utc

_HOUR_COUNTS = """
    SELECT meter_id, sum(readings)::bigint AS readings, sum(flagged)::bigint AS flagged
    FROM registros_por_minuto
    WHERE minute >= :hour_start AND minute < :hour_end
      AND strpos(lower(meter_id), :contains) > 0
    GROUP BY meter_id
"""
# float8 throughout, as Python computes it: 100.0 * flagged / readings.
_SHARE = "CASE WHEN h.readings > 0 THEN 100.0::float8 * h.flagged / h.readings END"
_LAST_SEEN = """(
    SELECT r.timestamp FROM registros r
    WHERE r.meter_id = c.meter_id
    ORDER BY r.timestamp DESC, r.id DESC LIMIT 1
)"""


def _newest(meter: str) -> str:
    """The newest rows of ``meter`` (an SQL expression), newest first, with the gap to the
    next newer one in seconds."""
    columns = ", ".join(VARIABLE_NAMES)
    return f"""
        SELECT timestamp, {columns},
               extract(epoch FROM lag(timestamp) OVER (ORDER BY timestamp DESC, id DESC)
                                  - timestamp)::float8 AS gap
        FROM (
            SELECT * FROM registros r
            WHERE r.meter_id = {meter}
            ORDER BY r.timestamp DESC, r.id DESC
            LIMIT {CADENCE_READINGS}
        ) newest
    """


# Timestamps only, so that sorting every meter by cadence reads the index, not the rows.
_CADENCE = f"""(
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) FROM (
        SELECT extract(epoch FROM lag(timestamp) OVER (ORDER BY timestamp DESC, id DESC)
                                  - timestamp)::float8 AS gap
        FROM (
            SELECT r.timestamp, r.id FROM registros r
            WHERE r.meter_id = c.meter_id
            ORDER BY r.timestamp DESC, r.id DESC
            LIMIT {CADENCE_READINGS}
        ) newest
    ) g
)"""
_SORT_COLUMNS: dict[FleetSort, str] = {
    "meter_id": 'c.meter_id COLLATE "C"',
    "last_seen": _LAST_SEEN,
    "cadence_s": _CADENCE,
    "readings_last_hour": "coalesce(h.readings, 0)",
    "flagged_last_hour": "coalesce(h.flagged, 0)",
    "flagged_share": _SHARE,
    "health": _SHARE,
}
_NEEDS_HOUR = {"readings_last_hour", "flagged_last_hour", "flagged_share", "health"}
_HEALTH_CONDITIONS = {
    # One index probe per meter rather than the whole hour's rollups.
    "silent": """NOT EXISTS (
        SELECT 1 FROM registros_por_minuto m
        WHERE m.meter_id = c.meter_id AND m.minute >= :hour_start AND m.minute < :hour_end
          AND m.readings > 0
    )""",
    "normal": f"{_SHARE} < :caution",
    "caution": f"{_SHARE} >= :caution AND {_SHARE} < :critical",
    "critical": f"{_SHARE} >= :critical",
}
_PRESENT = ", ".join(f"bool_or({name} IS NOT NULL) AS has_{name}" for name in VARIABLE_NAMES)


def _statement(query: FleetQuery) -> TextClause:
    """The one statement of ``query``: the total, then the page's rows in order (a single
    row of NULLs but the total when the page is empty)."""
    needs_hour = query.sort in _NEEDS_HOUR or query.health not in (None, "silent")
    hour = f"LEFT JOIN ({_HOUR_COUNTS}) h ON h.meter_id = c.meter_id" if needs_hour else ""
    conditions = ["c.readings > 0", "strpos(lower(c.meter_id), :contains) > 0"]
    if query.health is not None:
        conditions.append(_HEALTH_CONDITIONS[query.health])
    direction = "DESC" if query.descending else "ASC"
    sort = (
        "" if query.sort == "meter_id" else f"{_SORT_COLUMNS[query.sort]} {direction} NULLS LAST, "
    )
    tie = f'c.meter_id COLLATE "C" {direction if query.sort == "meter_id" else "ASC"}'
    return text(
        f"""
        WITH fleet AS (
            SELECT c.meter_id, row_number() OVER (ORDER BY {sort}{tie}) AS position
            FROM registros_contadores c
            {hour}
            WHERE {" AND ".join(conditions)}
        ), page AS (
            SELECT meter_id, position FROM fleet
            WHERE position > :offset ORDER BY position LIMIT :limit
        )
        SELECT total.n, p.meter_id, stats.readings, stats.flagged, recent.*,
               o.channel, o.format
        FROM (SELECT count(*) AS n FROM fleet) total
        LEFT JOIN page p ON true
        LEFT JOIN medidores o ON o.meter_id = p.meter_id
        LEFT JOIN LATERAL (
            SELECT coalesce(sum(m.readings), 0)::bigint AS readings,
                   coalesce(sum(m.flagged), 0)::bigint AS flagged
            FROM registros_por_minuto m
            WHERE m.meter_id = p.meter_id
              AND m.minute >= :hour_start AND m.minute < :hour_end
        ) stats ON p.meter_id IS NOT NULL
        LEFT JOIN LATERAL (
            SELECT max(timestamp) AS last_seen,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY gap) AS cadence,
                   {_PRESENT}
            FROM ({_newest("p.meter_id")}) g
        ) recent ON p.meter_id IS NOT NULL
        ORDER BY p.position
        """
    )


class PostgresFleetQueries:
    """The fleet of the readings stored in one PostgreSQL database."""

    def __init__(self, database: Database | Engine) -> None:
        self._db = database if isinstance(database, Database) else Database(database)

    def meters_overview(self, query: FleetQuery, now: datetime) -> FleetPage:
        start, end = last_hour(utc(now))
        parameters: dict[str, Any] = {
            "hour_start": start,
            "hour_end": end,
            "contains": query.meter_contains.lower(),
            "caution": query.thresholds.caution,
            "critical": query.thresholds.critical,
            "offset": query.offset,
            "limit": query.page_size,
        }
        with self._db.connection() as connection:
            rows = connection.execute(_statement(query), parameters).all()
        total = int(rows[0].n) if rows else 0
        found = tuple(_overview(row, query) for row in rows if row.meter_id is not None)
        return FleetPage(rows=found, total=total, query=query)


def _overview(row: Any, query: FleetQuery) -> MeterOverview:
    readings, flagged = int(row.readings), int(row.flagged)
    share, health = health_now(readings, flagged, query.thresholds)
    present: Sequence[bool] = [getattr(row, f"has_{name}") for name in VARIABLE_NAMES]
    return MeterOverview(
        meter_id=row.meter_id,
        variables=tuple(name for name, sent in zip(VARIABLE_NAMES, present, strict=True) if sent),
        last_seen=row.last_seen,
        cadence_s=None if row.cadence is None else float(row.cadence),
        readings_last_hour=readings,
        flagged_last_hour=flagged,
        flagged_share=share,
        health=health,
        origin=None if row.channel is None else Origin(row.channel, row.format),
    )
