"""History that stays fast: 10,000 meters' readings over five weeks, partitioned by day.

Checks the free disk first and says what the box can hold: the target is 100 M readings,
the fallback 10 M with the same queries (``--rows``). Fills the history straight into the
day partitions with ``INSERT … SELECT generate_series`` (each day filled into a table of its
own and attached with its indexes built after, as partitions; the per-minute rollups of a
day from its readings, the per-meter counters from the rollups; never through the ingest),
then measures medians of what the dashboard reads, through the application's own code:

- the 24 h view and the 30-day view of one meter: ``load_view`` (everything a page of the
  dashboard reads for those filters: sample, the six charts' buckets, counts, flagged and
  latest rows, status) and, inside it, one chart's ``downsample`` (1,000 buckets);
- the count (``count()``, what the header shows);
- the fleet page (``PostgresFleetQueries.meters_overview``, 50 meters by id, and by health);
- retention dropping one day (``delete_before`` at the day's end: its partitions dropped,
  counters settled) against DELETE of the same rows from a copy of that day's two
  partitions (indexes included; the bare DELETE, without the books the old retention
  kept: a lower bound for it);
- the disk used: the database, the readings and the rollups, per reading.

Works in a database of its own (``history_bench_…``) beside DATABASE_URL's (default: the
local server), dropped at the end.

    PYTHONPATH=src python bench/history.py --quick      # 1 M readings, about a minute
    PYTHONPATH=src python bench/history.py --rows 10000000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, text

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, median, print_table, scratch_database, server_url, timed

from energy_adapters.postgres import describe_url, open_engine, retention, upgrade
from energy_adapters.postgres.partitions import (
    Partitions,
    bound_literal,
    create_days,
    day_of,
    day_start,
    partition_name,
    stored_days,
)
from energy_adapters.postgres.rollups import MINUTE_OF_TIMESTAMP
from energy_adapters.postgres.schema import rollup_columns, rollup_count_column
from energy_adapters.postgres.urls import Database
from energy_core.ports import FleetQuery
from energy_core.telemetry.catalogue import VARIABLE_NAMES

TARGET_ROWS = 100_000_000
FALLBACK_ROWS = 10_000_000
METERS = 10_000
SPAN = timedelta(days=35)
"""Five weeks of history: the 30-day view has its 30 days, and days are left to drop."""
BYTES_PER_READING = 700
"""Disk per stored reading with its share of rollups and indexes, as measured by this bench
on this box (about 600 B at a reading per meter every 5 minutes or slower, where each reading
is a rollup row of its own), plus headroom."""
DISK_SHARE = 0.5
"""At most this share of the free disk is used: the box is shared."""
METER = "meter-05000"
DROPS = 3
GENERATED = ("voltage", "current", "active_power", "power_factor", "frequency", "motor_temperature")


# --- the disk -------------------------------------------------------------------------------
def free_disk(engine: Engine) -> tuple[float, str]:
    """Free bytes where the server keeps its data, and that place (the current directory's
    disk when the server's directory is not on this machine)."""
    with engine.connect() as connection:
        try:
            place = str(connection.execute(text("SHOW data_directory")).scalar_one())
        except Exception:  # not allowed to see it
            place = "."
    if not Path(place).exists():
        place = "."
    return float(shutil.disk_usage(place).free), place


def choose_rows(asked: int, free: float) -> tuple[int, str]:
    """How many readings to store: ``asked`` if they fit in ``DISK_SHARE`` of ``free``,
    else the fallback; and what to say about it."""
    budget = free * DISK_SHARE
    needed = asked * BYTES_PER_READING
    said = (
        f"free disk {free / 1e9:.1f} GB; {asked:,} readings need about {needed / 1e9:.1f} GB"
        f" ({BYTES_PER_READING} B each with rollups and indexes); this bench uses at most"
        f" {DISK_SHARE:.0%} of the free disk ({budget / 1e9:.1f} GB): the box can hold about"
        f" {int(budget // BYTES_PER_READING):,} readings"
    )
    if needed <= budget:
        return asked, said
    fallback = min(asked, FALLBACK_ROWS)
    if fallback * BYTES_PER_READING > budget:
        raise SystemExit(f"{said}; not even {fallback:,} fit: stopping")
    return fallback, f"{said}; falling back to {fallback:,}"


# --- filling the history -----------------------------------------------------------------------
def _rollup_statement(target: str, source: str) -> str:
    columns = ", ".join(
        column
        for name in VARIABLE_NAMES
        for column in (*rollup_columns(name), rollup_count_column(name))
    )
    aggregates = ", ".join(
        f"min({name}), max({name}), sum({name}), count({name})" for name in VARIABLE_NAMES
    )
    return (
        f"INSERT INTO {target} (minute, meter_id, readings, flagged, {columns})"
        f" SELECT {MINUTE_OF_TIMESTAMP}, meter_id, count(*), count(*) FILTER (WHERE is_flagged),"
        f" {aggregates} FROM {source} GROUP BY 1, 2"
    )


def _readings_statement(target: str, low: str, high: str) -> str:
    """Readings of every meter at its own phase, every ``:cadence`` seconds: reading ``j``
    of meter ``m`` at ``:first + j × cadence + m × cadence / meters``; id ``j × meters + m
    + 1`` (ids grow with time, as the ingest gives them); about 2 % flagged."""
    return f"""
        INSERT INTO {target} (id, meter_id, timestamp, {", ".join(GENERATED)},
                              is_anomaly, anomaly_kind, score, is_flagged, top_variables)
        SELECT id, meter_id, t,
               v, i, v * i * pf / 1000.0, pf, 50.0 + 0.04 * (random() - 0.5),
               35.0 + 30.0 * load * load + random(),
               flag, CASE WHEN flag THEN 'voltage_sag' END,
               CASE WHEN flag THEN 0.6 ELSE 0.4 END + 0.05 * random(), flag,
               CASE WHEN flag THEN ARRAY['voltage'] ELSE '{{}}'::text[] END
        FROM (
            SELECT j::bigint * :meters + m + 1 AS id,
                   'meter-' || lpad((m + 1)::text, 5, '0') AS meter_id,
                   timestamptz 'epoch' + interval '1 second' * (
                       CAST(:first AS bigint) + j::bigint * :cadence
                       + m::bigint * :cadence / :meters
                   ) AS t,
                   m
            FROM generate_series(:j_low, :j_high) j, generate_series(0, :meters - 1) m
        ) slots
        CROSS JOIN LATERAL (
            SELECT 0.35 + 0.45 * exp(-power((extract(hour FROM t) - 14.0) / 4.0, 2))
                   + 0.02 * random() AS load,
                   random() < 0.02 AS flag
        ) shape
        CROSS JOIN LATERAL (
            SELECT CASE WHEN flag THEN 0.85 ELSE 1.0 END * (230.0 - 4.0 * load + random())
                       AS v,
                   40.0 * load * (1.0 + 0.1 * (m % 10) / 10.0) AS i,
                   least(1.0, 0.82 + 0.1 * load + 0.01 * random()) AS pf
        ) values_
        WHERE t >= {low} AND t < {high}
    """


class History:
    """Where the generated readings fall: ``per_meter`` readings of each of ``meters``
    meters, ``cadence`` whole seconds apart, the last ones just before ``end``."""

    def __init__(self, rows: int, meters: int, end: datetime) -> None:
        self.meters = meters
        self.per_meter = max(1, rows // meters)
        self.cadence = max(1, int(SPAN.total_seconds()) // self.per_meter)
        self.rows = self.per_meter * meters
        self.first = int(end.timestamp()) - self.per_meter * self.cadence
        self.end = end

    def days(self) -> list[int]:
        last = self.first + (self.per_meter - 1) * self.cadence + self.cadence
        return list(
            range(
                day_of(datetime.fromtimestamp(self.first, UTC)),
                day_of(datetime.fromtimestamp(last, UTC)) + 1,
            )
        )

    def parameters(self, day: int) -> dict[str, int]:
        start = int(day_start(day).timestamp())
        low = max(0, (start - self.first) // self.cadence - 1)
        high = min(self.per_meter - 1, (start + 86_400 - self.first) // self.cadence + 1)
        return {
            "meters": self.meters,
            "cadence": self.cadence,
            "first": self.first,
            "j_low": low,
            "j_high": high,
        }


def fill_day(engine: Engine, history: History, day: int, attached: bool) -> None:
    """One day's readings and rollups: into its partitions when they exist, else into
    tables of its own attached as them (their indexes built once, after the rows)."""
    readings, rollups = (
        partition_name("registros", day),
        partition_name("registros_por_minuto", day),
    )
    low, high = bound_literal(day), bound_literal(day + 1)
    with engine.begin() as connection:
        if not attached:
            for table, parent in ((readings, "registros"), (rollups, "registros_por_minuto")):
                connection.execute(text(f"CREATE TABLE {table} (LIKE {parent} INCLUDING DEFAULTS)"))
        connection.execute(text(_readings_statement(readings, low, high)), history.parameters(day))
        connection.execute(text(_rollup_statement(rollups, readings)))
        if not attached:
            # A CHECK that says what ATTACH would verify spares it a scan of the day.
            for table, parent, key in (
                (readings, "registros", '"timestamp"'),
                (rollups, "registros_por_minuto", "minute"),
            ):
                connection.execute(
                    text(
                        f"ALTER TABLE {table} ADD CONSTRAINT bench_bounds"
                        f" CHECK ({key} >= {low} AND {key} < {high})"
                    )
                )
                connection.execute(
                    text(
                        f"ALTER TABLE {parent} ATTACH PARTITION {table}"
                        f" FOR VALUES FROM ({low}) TO ({high})"
                    )
                )
                connection.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT bench_bounds"))


def fill(engine: Engine, history: History, jobs: int) -> float:
    """The whole history, ``jobs`` days at a time; seconds it took."""
    started = time.perf_counter()
    with engine.connect() as connection:
        present = stored_days(connection)
    existing = present["registros"] & present["registros_por_minuto"]
    days = history.days()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for done, _ in enumerate(
            pool.map(lambda day: fill_day(engine, history, day, day in existing), days), 1
        ):
            if done % 5 == 0 or done == len(days):
                print(
                    f"  {done}/{len(days)} days, {time.perf_counter() - started:.0f} s", flush=True
                )
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO registros_contadores (meter_id, readings, flagged)"
                " SELECT meter_id, sum(readings), sum(flagged) FROM registros_por_minuto"
                " GROUP BY meter_id"
            )
        )
        connection.execute(
            text("SELECT setval('registros_id_seq', (SELECT max(id) FROM registros))")
        )
        # The application's own days around today, as a running installation has them.
        create_days(connection, range(day_of(datetime.now(UTC)) - 1, day_of(datetime.now(UTC)) + 4))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(
            text("VACUUM ANALYZE registros, registros_por_minuto, registros_contadores")
        )
    return time.perf_counter() - started


# --- what it takes on disk ------------------------------------------------------------------
def sizes(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        return {
            name: int(value)
            for name, value in connection.execute(
                text(
                    """
                    SELECT 'database', pg_database_size(current_database())
                    UNION ALL
                    SELECT 'readings', sum(pg_total_relation_size(relid))
                    FROM pg_partition_tree('registros')
                    UNION ALL
                    SELECT 'rollups', sum(pg_total_relation_size(relid))
                    FROM pg_partition_tree('registros_por_minuto')
                    UNION ALL
                    SELECT 'counters', pg_total_relation_size('registros_contadores')
                    """
                )
            )
        }


# --- the measurements ---------------------------------------------------------------------
def views(
    application: Any, yesterday: datetime, repeats: int
) -> list[tuple[str, str, Callable[[], Any], int]]:
    from energy_ui.dashboard.filters import Filters
    from energy_ui.dashboard.queries import load_view

    monitor = application.monitor
    day = yesterday.date()
    month = day - timedelta(days=29)
    one_day = Filters(date_from=day, date_to=day, meters=(METER,))
    thirty_days = Filters(date_from=month, date_to=day, meters=(METER,))

    def chart(filters: Filters) -> Callable[[], Any]:
        where = monitor.readable(filters.reading_filter())
        return lambda: monitor.queries.downsample("active_power", where, filters.sampling)

    return [
        (
            "view_24h",
            f"24 h view of {METER} (load_view)",
            lambda: load_view(monitor, one_day),
            repeats,
        ),
        ("chart_24h", "  its chart: downsample, 1,000 buckets", chart(one_day), repeats),
        (
            "view_30d",
            f"30-day view of {METER} (load_view)",
            lambda: load_view(monitor, thirty_days),
            repeats,
        ),
        ("chart_30d", "  its chart: downsample, 1,000 buckets", chart(thirty_days), repeats),
        ("count", "count() (the header)", monitor.queries.count, repeats),
        (
            "count_meter_30d",
            f"count of {METER} over 30 days",
            lambda: monitor.queries.count(monitor.readable(thirty_days.reading_filter())),
            repeats,
        ),
        (
            "fleet_page",
            "fleet page: 50 meters by id",
            lambda: application.fleet.meters_overview(FleetQuery(), datetime.now(UTC)),
            repeats,
        ),
        (
            "fleet_sorted_health",
            "fleet page: by health, worst first",
            lambda: application.fleet.meters_overview(
                FleetQuery(sort="health", descending=True), datetime.now(UTC)
            ),
            repeats,
        ),
    ]


@contextmanager
def watching(engine: Engine) -> Iterator[list[float]]:
    """Meanwhile, a reader asks for the newest reading again and again; yields the
    durations (ms) of its questions: the longest is how long the drop held readers up."""
    durations: list[float] = [0.0]
    done = threading.Event()

    def read() -> None:
        with engine.connect() as connection:
            while not done.is_set():
                started = time.perf_counter()
                connection.execute(text(_NEWEST)).all()
                connection.rollback()
                durations.append((time.perf_counter() - started) * 1000)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        time.sleep(0.05)
        yield durations
    finally:
        done.set()
        reader.join()


_NEWEST = 'SELECT id FROM registros ORDER BY "timestamp" DESC, id DESC LIMIT 1'


class _NoDrops(Partitions):
    """A view of the days that never offers one to drop: retention deletes row by row, as
    it did before the tables were partitioned."""

    def droppable(self, connection: Connection, before: datetime) -> list[int]:
        return []

    def keep_ahead(self) -> None:
        pass


def drop_against_delete(engine: Engine, pairs: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """For each pair of whole days (oldest first): retention dropping the first against
    DELETE of the same rows from a copy of its two partitions, and the row-by-row retention
    of before (the same code, never offered a day to drop) deleting the second, as large."""
    database = Database(engine)
    dropping = Partitions(database)
    figures: dict[str, list[float]] = {
        "drop": [],
        "stall": [],
        "delete": [],
        "rows_path": [],
        "rows": [],
        "rows_path_rows": [],
    }
    for dropped_day, deleted_day in pairs:
        readings = partition_name("registros", dropped_day)
        rollups = partition_name("registros_por_minuto", dropped_day)
        low, high = bound_literal(dropped_day), bound_literal(dropped_day + 1)
        with engine.begin() as connection:
            for copy, source in (
                ("bench_copy_readings", readings),
                ("bench_copy_rollups", rollups),
            ):
                connection.execute(text(f"DROP TABLE IF EXISTS {copy}"))
                connection.execute(text(f"CREATE TABLE {copy} (LIKE {source} INCLUDING ALL)"))
                connection.execute(text(f"INSERT INTO {copy} SELECT * FROM {source}"))
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE bench_copy_readings, bench_copy_rollups"))
        started = time.perf_counter()
        with engine.begin() as connection:
            deleted = connection.execute(
                text(
                    "DELETE FROM bench_copy_readings"
                    f' WHERE "timestamp" >= {low} AND "timestamp" < {high}'
                )
            ).rowcount
            connection.execute(
                text(f"DELETE FROM bench_copy_rollups WHERE minute >= {low} AND minute < {high}")
            )
        figures["delete"].append((time.perf_counter() - started) * 1000)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE bench_copy_readings, bench_copy_rollups"))

        with watching(engine) as stalls:
            started = time.perf_counter()
            dropped = retention.delete_before(database, day_start(dropped_day + 1), dropping)
            figures["drop"].append((time.perf_counter() - started) * 1000)
        figures["stall"].append(max(stalls))
        with engine.connect() as connection:
            assert dropped_day not in stored_days(connection)["registros"], "not dropped"
        if dropped != deleted:
            raise RuntimeError(f"retention dropped {dropped:,} readings, the copy held {deleted:,}")
        figures["rows"].append(dropped)

        started = time.perf_counter()
        removed = retention.delete_before(database, day_start(deleted_day + 1), _NoDrops(database))
        figures["rows_path"].append((time.perf_counter() - started) * 1000)
        figures["rows_path_rows"].append(removed)
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M readings, 5 repeats")
    parser.add_argument("--rows", type=int, help=f"readings to store (default {TARGET_ROWS:,})")
    parser.add_argument("--meters", type=int, default=METERS)
    parser.add_argument("--repeats", type=int, help="runs per query (median); default 20")
    parser.add_argument("--jobs", type=int, default=2, help="days filled at once")
    args = parser.parse_args(argv)
    asked = args.rows or (1_000_000 if args.quick else TARGET_ROWS)
    repeats = args.repeats or (5 if args.quick else 20)
    drops = 2 if args.quick else DROPS
    url = server_url()
    admin = open_engine(url)
    try:
        free, place = free_disk(admin)
    finally:
        admin.dispose()
    rows, verdict = choose_rows(asked, free)
    print(f"server {describe_url(url)}; data directory {place}")
    print(verdict)
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    history = History(rows, args.meters, end)
    print(
        f"{history.rows:,} readings: {history.meters:,} meters, one every {history.cadence:,} s"
        f" each, over {SPAN.days} days ({len(history.days())} day partitions)"
    )
    results: dict[str, Any] = {
        "rows_target": asked,
        "rows": history.rows,
        "meters": history.meters,
        "cadence_s": history.cadence,
        "days": SPAN.days,
        "disk_free_gb": round(free / 1e9, 1),
        "disk_needed_gb": round(asked * BYTES_PER_READING / 1e9, 1),
        "fell_back": rows != asked,
    }
    with scratch_database(url, "history_bench") as database_url:
        upgrade(database_url)
        engine = open_engine(database_url, pool_size=args.jobs + 1)
        try:
            load_s = fill(engine, history, args.jobs)
            results["load_s"] = round(load_s, 1)
            with engine.connect() as connection:
                stored = int(
                    connection.execute(text("SELECT count(*) FROM registros")).scalar_one()
                )
                counted = int(
                    connection.execute(
                        text("SELECT coalesce(sum(readings), 0) FROM registros_contadores")
                    ).scalar_one()
                )
            if stored != history.rows or counted != history.rows:
                raise RuntimeError(
                    f"stored {stored:,}, counted {counted:,}, meant {history.rows:,}"
                )
            print(f"filled in {load_s:.0f} s ({history.rows / load_s:,.0f} readings/s)")
            used = sizes(engine)
            results.update(
                disk_gb=round(used["database"] / 1e9, 2),
                readings_gb=round(used["readings"] / 1e9, 2),
                rollups_gb=round(used["rollups"] / 1e9, 2),
                bytes_per_reading=round(
                    (used["readings"] + used["rollups"] + used["counters"]) / history.rows
                ),
            )
            from energy_ui.bootstrap import bootstrap
            from energy_ui.settings import Settings

            settings = Settings(_env_file=None, database_url=database_url, max_readings=None)
            application = bootstrap(settings)
            try:
                yesterday = datetime.combine(
                    end.date() - timedelta(days=1), datetime.min.time(), UTC
                )
                table: list[tuple[str, float, float]] = []
                for key, label, run, times in views(application, yesterday, repeats):
                    p50, p90, _ = timed(run, times)
                    results[f"{key}_ms_p50"] = round(p50, 2)
                    table.append((label, p50, p90))
            finally:
                application.close()
            whole = history.days()[1:-1]  # whole days (the first and the last are partial)
            retention.delete_before(
                Database(engine), day_start(whole[0]), Partitions(Database(engine))
            )
            pairs = [(whole[2 * n], whole[2 * n + 1]) for n in range(drops)]
            compared = drop_against_delete(engine, pairs)
            drop_ms, delete_ms, rows_ms, stall_ms = (
                compared[key] for key in ("drop", "delete", "rows_path", "stall")
            )
            results.update(
                day_rows=int(median(compared["rows"])),
                drop_day_ms_p50=round(median(drop_ms), 1),
                drop_stall_ms_p50=round(median(stall_ms), 1),
                delete_day_ms_p50=round(median(delete_ms), 1),
                row_retention_day_ms_p50=round(median(rows_ms), 1),
                row_retention_day_rows=int(median(compared["rows_path_rows"])),
                row_retention_over_drop=round(median(rows_ms) / median(drop_ms), 1),
            )
            dropped_rows = f"{results['day_rows']:,}"
            deleted_rows = f"{results['row_retention_day_rows']:,}"
            table += [
                (f"retention drops a day ({dropped_rows} readings)", median(drop_ms), max(drop_ms)),
                ("  a reader held up meanwhile, at most", median(stall_ms), max(stall_ms)),
                (
                    f"  row-by-row retention of the next ({deleted_rows})",
                    median(rows_ms),
                    max(rows_ms),
                ),
                ("  DELETE of the same rows (a copy, no books)", median(delete_ms), max(delete_ms)),
            ]
            print_table(
                f"\n{history.rows:,} readings, {history.meters:,} meters, {SPAN.days} days",
                [(label, f"{p50:.1f}", f"{top:.1f}") for label, p50, top in table],
                ("question", "p50 ms", "p90/max ms"),
            )
            results["load_average"] = round(os.getloadavg()[0], 1)
            print(
                f"\nload average (1 min) at the end: {results['load_average']}"
                f" on {os.cpu_count()} cores"
            )
            print(
                f"disk: database {results['disk_gb']} GB; readings {results['readings_gb']} GB,"
                f" rollups {results['rollups_gb']} GB: {results['bytes_per_reading']} B per reading"
            )
        finally:
            engine.dispose()
    emit_json(results)


if __name__ == "__main__":
    main()
