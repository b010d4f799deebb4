"""How fast the fleet view (the Meters tab, GET /api/v1/meters) answers with 10,000 meters.

Stores 10,000 meters × 60 readings (600 k; ``--quick``: 2,000 meters) through
``PostgresReadingRepository.add_many``, so rollups and counters are the product's own:

- 70 % of the meters send one reading a minute (their whole hour is in the last hour: the
  worst case for the rollups, one rollup row per reading),
- 20 % one every 10 s (the last 10 minutes),
- 10 % one every 5 min, silent for the last two hours;

about 3 % of readings flagged, and 5 % of the meters faulty (25 % flagged).

Then measures ``PostgresFleetQueries.meters_overview`` (a page of 50) for the default view,
a deep page, a meter-id filter, health filters and each kind of sort, and, as the baseline
in the same run, the same default page computed from raw rows (one pass over ``registros``
with window functions, no rollups, no per-meter index); last, the default page again without
the per-meter indexes of migration 0006. Prints a table of medians and, as
its last line, one JSON object.

DATABASE_URL names the server (default: the local one); everything happens in a scratch
database of its own, dropped at the end.

    python bench/fleet.py --quick
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, print_table, scratch_engine, server_url, timed

from energy_adapters.postgres import PostgresReadingRepository, describe_url
from energy_adapters.postgres.fleet import PostgresFleetQueries
from energy_core.health.fleet import CADENCE_READINGS, last_hour
from energy_core.ports import FleetQuery
from energy_core.telemetry.catalogue import VARIABLE_NAMES, VARIABLES
from energy_core.telemetry.readings import Reading

NOW = datetime(2025, 6, 1, 12, 0, 30, tzinfo=UTC)
READINGS_PER_METER = 60
PAGE_SIZE = 50
TARGET_MS = 200.0
BATCH = 50_000


def fleet(meters: int, seed: int = 5) -> list[Reading]:
    """``meters`` × 60 readings in time order, as described above."""
    rng = random.Random(seed)
    values = {spec.name: (spec.minimum + spec.maximum) / 2 for spec in VARIABLES}
    readings = []
    for number in range(meters):
        meter = f"meter-{number:05d}"
        kind = number % 10
        if kind < 7:
            step, newest = timedelta(minutes=1), NOW - timedelta(seconds=rng.randint(0, 59))
        elif kind < 9:
            step, newest = timedelta(seconds=10), NOW - timedelta(seconds=rng.randint(0, 9))
        else:
            step, newest = (
                timedelta(minutes=5),
                NOW - timedelta(hours=2, minutes=rng.randint(0, 30)),
            )
        faulty = number % 20 == 3
        for k in range(READINGS_PER_METER):
            flagged = rng.random() < (0.25 if faulty else 0.02)
            readings.append(
                Reading(timestamp=newest - k * step, meter_id=meter, values=values).scored(
                    0.9 if flagged else 0.1, flagged, ("voltage",) if flagged else ()
                )
            )
    readings.sort(key=lambda reading: reading.timestamp)
    return readings


def load(engine: Engine, meters: int) -> float:
    started = time.perf_counter()
    repository = PostgresReadingRepository(engine)
    readings = fleet(meters)
    for first in range(0, len(readings), BATCH):
        repository.add_many(readings[first : first + BATCH])
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE registros, registros_por_minuto"))
        connection.execute(text("VACUUM ANALYZE registros_contadores"))
    return time.perf_counter() - started


def raw_rows_page(engine: Engine) -> Callable[[], list[tuple[Any, ...]]]:
    """The default page (first 50 meters by id) from raw rows only: the baseline."""
    start, end = last_hour(NOW)
    present = ", ".join(
        f"bool_or({name} IS NOT NULL) FILTER (WHERE position <= {CADENCE_READINGS})"
        for name in VARIABLE_NAMES
    )
    statement = text(
        f"""
        WITH ranked AS (
            SELECT meter_id, timestamp, is_flagged, {", ".join(VARIABLE_NAMES)},
                   row_number() OVER newest AS position,
                   extract(epoch FROM lag(timestamp) OVER newest - timestamp)::float8 AS gap
            FROM registros
            WINDOW newest AS (PARTITION BY meter_id ORDER BY timestamp DESC, id DESC)
        )
        SELECT meter_id, max(timestamp),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY gap)
                   FILTER (WHERE position <= {CADENCE_READINGS}),
               count(*) FILTER (WHERE timestamp >= :start AND timestamp < :end),
               count(*) FILTER (WHERE timestamp >= :start AND timestamp < :end AND is_flagged),
               {present}
        FROM ranked
        GROUP BY meter_id
        ORDER BY meter_id COLLATE "C"
        LIMIT {PAGE_SIZE}
        """
    )

    def run() -> list[tuple[Any, ...]]:
        with engine.connect() as connection:
            return [
                tuple(row) for row in connection.execute(statement, {"start": start, "end": end})
            ]

    return run


def measure(engine: Engine, meters: int, repeats: int) -> dict[str, Any]:
    queries = PostgresFleetQueries(engine)
    last_page = max(1, (meters + PAGE_SIZE - 1) // PAGE_SIZE)
    cases: list[tuple[str, str, FleetQuery]] = [
        ("default", "by meter id, page 1", FleetQuery()),
        ("deep_page", f"by meter id, page {last_page}", FleetQuery(page=last_page)),
        ("filter_id", "meter id contains '12'", FleetQuery(meter_contains="12")),
        ("filter_critical", "health = critical", FleetQuery(health="critical")),
        ("filter_silent", "health = silent", FleetQuery(health="silent")),
        ("sort_health", "by health, worst first", FleetQuery(sort="health", descending=True)),
        (
            "sort_readings",
            "by readings in the last hour",
            FleetQuery(sort="readings_last_hour", descending=True),
        ),
        (
            "sort_last_seen",
            "by last seen, newest first",
            FleetQuery(sort="last_seen", descending=True),
        ),
        ("sort_cadence", "by cadence", FleetQuery(sort="cadence_s")),
    ]
    results: dict[str, Any] = {"meters": meters, "readings": meters * READINGS_PER_METER}
    rows = []
    for key, label, query in cases:
        p50, p90, page = timed(lambda query=query: queries.meters_overview(query, NOW), repeats)
        results[f"{key}_ms_p50"] = round(p50, 2)
        rows.append((label, f"{p50:.1f}", f"{p90:.1f}", f"{len(page.rows)} of {page.total:,}"))
    p50, p90, baseline = timed(raw_rows_page(engine), max(3, repeats // 10))
    results["raw_rows_default_ms_p50"] = round(p50, 2)
    rows.append(
        ("baseline: page 1 from raw rows", f"{p50:.1f}", f"{p90:.1f}", f"{len(baseline)} rows")
    )
    # The baseline must be the same answer, or the comparison means nothing.
    default = queries.meters_overview(FleetQuery(), NOW).rows
    same = [row[0] for row in baseline] == [row.meter_id for row in default] and all(
        (row[1], row[3], row[4])
        == (mine.last_seen, mine.readings_last_hour, mine.flagged_last_hour)
        and abs((row[2] or 0) - (mine.cadence_s or 0)) < 1e-6
        for row, mine in zip(baseline, default, strict=True)
    )
    results["baseline_agrees"] = same
    # Last, as it changes the database: the default page without revision 0006's indexes.
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_registros_meter_timestamp_id"))
        connection.execute(text("DROP INDEX ix_registros_por_minuto_meter_minute"))
    p50, p90, page = timed(
        lambda: queries.meters_overview(FleetQuery(), NOW), max(3, repeats // 10)
    )
    results["without_meter_indexes_default_ms_p50"] = round(p50, 2)
    rows.append(
        (
            "page 1 without the per-meter indexes",
            f"{p50:.1f}",
            f"{p90:.1f}",
            f"{len(page.rows)} rows",
        )
    )
    print_table(
        f"\n{meters:,} meters, {meters * READINGS_PER_METER:,} readings; pages of {PAGE_SIZE}",
        rows,
        ("query", "p50 ms", "p90 ms", "answer"),
    )
    slowest = max(
        value
        for key, value in results.items()
        if key.endswith("_ms_p50") and not key.startswith(("raw", "without"))
    )
    results["slowest_page_ms_p50"] = slowest
    results["raw_over_default"] = round(
        results["raw_rows_default_ms_p50"] / results["default_ms_p50"], 1
    )
    print(
        f"\nbaseline agrees with the adapter: {same}; slowest page {slowest:.1f} ms"
        f" (target ≤ {TARGET_MS:.0f} ms: {'met' if slowest <= TARGET_MS else 'MISSED'})"
    )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 meters, fewer repeats")
    parser.add_argument("--meters", type=int, help="how many meters (default 10,000)")
    parser.add_argument("--repeats", type=int, help="runs per query (median)")
    args = parser.parse_args(argv)
    meters = args.meters or (2_000 if args.quick else 10_000)
    repeats = args.repeats or (10 if args.quick else 30)
    url = server_url()
    print(f"server {describe_url(url)}")
    with scratch_engine(url, "smartenergy_bench_fleet") as engine:
        seconds = load(engine, meters)
        print(f"stored {meters * READINGS_PER_METER:,} readings in {seconds:.1f} s")
        results = {**measure(engine, meters, repeats), "load_s": round(seconds, 1)}
    emit_json(results)


if __name__ == "__main__":
    main()
