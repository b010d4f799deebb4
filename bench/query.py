"""How fast the dashboard's questions are answered with millions of readings stored.

Loads 1 M readings (and 10 M without ``--quick``): 10 meters at 1 Hz, generated as numpy
columns and sent with one binary COPY per million rows (building millions of Reading objects
would take longer than the whole benchmark) into their days' partitions, made first as the
writers make them; then builds the per-minute rollups and per-meter counters with one SQL
statement each, as the migration back-fills them.

Then measures, through ``PostgresReadingQueries``: ``count()``, the last 24 h of all
meters downsampled to 1,000 buckets, the latest page (100 readings), anomaly counts, and,
as the baseline, loading the raw 24 h window into Python. Prints a table of medians and, as
its last line, one JSON object (the largest size's numbers).

DATABASE_URL names the server (default: the local one); everything happens in a scratch
database of its own, dropped at the end.

    PYTHONPATH=src python bench/query.py --quick
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, text

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, print_table, scratch_engine, server_url, timed

from energy_adapters.postgres import PostgresReadingQueries, describe_url
from energy_adapters.postgres.binary_copy import COLUMNS, HEADER, TRAILER
from energy_adapters.postgres.partitions import create_days, day_of
from energy_adapters.postgres.rollups import MINUTE_OF_TIMESTAMP
from energy_adapters.postgres.schema import rollup_columns, rollup_count_column
from energy_core import ReadingFilter
from energy_core.telemetry.catalogue import VARIABLE_NAMES

GENERATED = VARIABLE_NAMES[:6]
"""The variables the generated meters send; the others are NULL (a length of -1, no value)."""

METERS = 10
END = datetime(2025, 6, 1, tzinfo=UTC)
CHUNK_ROWS = 1_000_000
# PostgreSQL counts timestamps in microseconds from 2000-01-01 UTC.
_UNIX_SECONDS_AT_2000 = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
_TEXT_OID = 25

# One binary COPY row with every field fixed-width (meter ids all 8 characters, no anomaly
# kind, no top variables), so a whole chunk is one numpy structured array.
_ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("id_length", ">i4"),
        ("id", ">i8"),
        ("timestamp_length", ">i4"),
        ("timestamp", ">i8"),
        *[
            item
            for name in VARIABLE_NAMES
            for item in (
                ((f"{name}_length", ">i4"), (name, ">f8"))
                if name in GENERATED
                else ((f"{name}_length", ">i4"),)
            )
        ],
        ("meter_length", ">i4"),
        ("meter", "S8"),
        ("is_anomaly_length", ">i4"),
        ("is_anomaly", "u1"),
        ("kind_length", ">i4"),
        ("score_length", ">i4"),
        ("score", ">f8"),
        ("is_flagged_length", ">i4"),
        ("is_flagged", "u1"),
        ("top_length", ">i4"),
        ("top_dimensions", ">i4"),
        ("top_has_nulls", ">i4"),
        ("top_element_type", ">i4"),
    ]
)


def generated_chunk(first_row: int, rows: int, start_second: int, seed: int) -> bytes:
    """Rows ``first_row`` … of 10 meters sampled every second, as binary COPY data."""
    rng = np.random.default_rng(seed)
    index = np.arange(first_row, first_row + rows)
    second = start_second + index // METERS
    meter = index % METERS
    hours = (second % 86_400) / 3_600.0
    load = 0.35 + 0.45 * np.exp(-(((hours - 14.0) / 4.0) ** 2)) + 0.02 * rng.standard_normal(rows)
    flagged = rng.random(rows) < 0.02
    current = 40.0 * load * (1 + 0.1 * meter / METERS)
    voltage = 230.0 - 4.0 * load + 0.8 * rng.standard_normal(rows)
    voltage[flagged] *= rng.choice([0.8, 1.15], size=int(flagged.sum()))
    power_factor = np.clip(0.82 + 0.1 * load + 0.01 * rng.standard_normal(rows), -1, 1)
    columns: dict[str, npt.NDArray[np.float64]] = {
        "voltage": voltage,
        "current": current,
        "active_power": voltage * current * power_factor / 1000.0,
        "power_factor": power_factor,
        "frequency": 50.0 + 0.02 * rng.standard_normal(rows),
        "motor_temperature": 35.0 + 30.0 * load**2 + 0.3 * rng.standard_normal(rows),
    }
    row = np.zeros(rows, dtype=_ROW)
    row["fields"] = len(COLUMNS)
    row["id_length"] = row["timestamp_length"] = row["score_length"] = 8
    row["id"] = index + 1
    row["timestamp"] = (second - _UNIX_SECONDS_AT_2000) * 1_000_000
    for name in VARIABLE_NAMES:
        if name in GENERATED:
            row[f"{name}_length"] = 8
            row[name] = columns[name]
        else:
            row[f"{name}_length"] = -1  # NULL: not sent
    row["meter_length"] = 8
    row["meter"] = np.char.encode(np.char.add("meter-", np.char.zfill((meter + 1).astype(str), 2)))
    row["is_anomaly_length"] = row["is_flagged_length"] = 1
    row["is_anomaly"] = row["is_flagged"] = flagged
    row["kind_length"] = -1  # NULL
    row["score"] = np.where(flagged, 0.6, 0.4) + 0.05 * rng.random(rows)
    row["top_length"] = 12
    row["top_element_type"] = _TEXT_OID  # an empty text[]
    return HEADER + row.tobytes() + TRAILER


def load(engine: Engine, rows: int) -> float:
    """Store ``rows`` generated readings ending at END; returns the seconds it took."""
    started = time.perf_counter()
    steps = rows // METERS
    start_second = int((END - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) - steps + 1
    # The days' partitions first, as the application's writers make them (else every row
    # would land in the default partitions, which no time bound can leave out).
    first_day = day_of(datetime.fromtimestamp(start_second, UTC))
    with engine.begin() as connection:
        create_days(connection, range(first_day, day_of(END) + 1))
    statement = f"COPY registros ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT binary)"
    for first in range(0, rows, CHUNK_ROWS):
        payload = generated_chunk(first, min(CHUNK_ROWS, rows - first), start_second, seed=first)
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.copy_expert(statement, io.BytesIO(payload))  # type: ignore[attr-defined]
            cursor.close()
            connection.commit()
        finally:
            connection.close()
    columns = ", ".join(
        column
        for name in VARIABLE_NAMES
        for column in (*rollup_columns(name), rollup_count_column(name))
    )
    aggregates = ", ".join(
        f"min({name}), max({name}), sum({name}), count({name})" for name in VARIABLE_NAMES
    )
    with engine.begin() as connection:
        connection.execute(text("SELECT setval('registros_id_seq', :n)"), {"n": rows})
        connection.execute(
            text(
                f"INSERT INTO registros_por_minuto (minute, meter_id, readings, flagged, {columns})"
                f" SELECT {MINUTE_OF_TIMESTAMP}, meter_id, count(*),"
                f" count(*) FILTER (WHERE is_flagged), {aggregates}"
                " FROM registros GROUP BY 1, 2"
            )
        )
        connection.execute(
            text(
                "INSERT INTO registros_contadores (meter_id, readings, flagged)"
                " SELECT meter_id, count(*), count(*) FILTER (WHERE is_flagged)"
                " FROM registros GROUP BY meter_id"
            )
        )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE registros, registros_por_minuto"))
    return time.perf_counter() - started


def measure(engine: Engine, rows: int, repeats: int) -> dict[str, Any]:
    repository = PostgresReadingQueries(engine)
    day = ReadingFilter(start=END - timedelta(hours=24), end=END)
    # A window whose edges cut minutes: rollups in the middle, raw rows at the edges.
    ragged = ReadingFilter(
        start=END - timedelta(hours=24, seconds=17), end=END - timedelta(seconds=29)
    )
    anomalous_day = ReadingFilter(start=day.start, end=day.end, state="anomalous")
    cases: list[tuple[str, str, Callable[[], Any], int]] = [
        ("count", "count()", repository.count, repeats),
        (
            "downsample_24h",
            "24 h, all meters, 1,000 buckets",
            lambda: repository.downsample("active_power", day, 1_000),
            repeats,
        ),
        (
            "downsample_24h_ragged",
            "same, window edges inside minutes",
            lambda: repository.downsample("active_power", ragged, 1_000),
            repeats,
        ),
        ("latest_100", "latest page (100 readings)", lambda: repository.latest(100), repeats),
        (
            "anomaly_count",
            "anomaly count, all stored",
            lambda: repository.count(ReadingFilter(state="anomalous")),
            repeats,
        ),
        (
            "anomaly_count_24h",
            "anomaly count, last 24 h",
            lambda: repository.count(anomalous_day),
            repeats,
        ),
        (
            "downsample_24h_anomalous",
            "24 h flagged only (raw rows, partial index)",
            lambda: repository.downsample("active_power", anomalous_day, 1_000),
            repeats,
        ),
        ("raw_24h", "baseline: raw 24 h window into Python", lambda: repository.window(day), 3),
    ]
    results: dict[str, Any] = {"rows": rows}
    table = []
    for key, label, run, times in cases:
        p50, p90, answer = timed(run, times)
        results[f"{key}_ms_p50"] = round(p50, 2)
        shown = f"{len(answer):,} items" if isinstance(answer, list) else f"{answer:,}"
        table.append((label, f"{p50:.2f}", f"{p90:.2f}", shown))
    print_table(f"\n{rows:,} readings stored", table, ("query", "p50 ms", "p90 ms", "answer"))
    results["raw_over_downsample"] = round(
        results["raw_24h_ms_p50"] / results["downsample_24h_ms_p50"], 1
    )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 M readings only")
    parser.add_argument("--sizes", type=int, nargs="+", help="readings to store, ascending")
    parser.add_argument("--repeats", type=int, default=30, help="runs per query (median)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([1_000_000] if args.quick else [1_000_000, 10_000_000])
    url = server_url()
    print(f"server {describe_url(url)}; 10 meters at 1 Hz")
    results: dict[str, Any] = {}
    for rows in sizes:
        with scratch_engine(url, "smartenergy_bench_query") as engine:
            seconds = load(engine, rows)
            print(f"loaded {rows:,} readings with rollups and counters in {seconds:.1f} s")
            results = {**measure(engine, rows, args.repeats), "load_s": round(seconds, 1)}
    downsample, count = results["downsample_24h_ms_p50"], results["count_ms_p50"]
    print(
        f"\ntargets at {results['rows']:,} readings:"
        f" downsample 24 h ≤ 100 ms: {downsample:.1f} {'met' if downsample <= 100 else 'MISSED'};"
        f" count ≤ 10 ms: {count:.2f} {'met' if count <= 10 else 'MISSED'}"
    )
    emit_json(results)


if __name__ == "__main__":
    main()
