"""How fast readings get into PostgreSQL, and against what.

Measures, in one run and on the same readings (10 meters at 1 Hz, scored, ~2 % flagged):

- adapter   ``PostgresReadingRepository.add_many`` per batch: binary COPY into ``registros``
            with its indexes, plus the per-minute rollups and per-meter counters, in one
            transaction per batch (the path ``Monitor.ingest`` takes);
- bare COPY the same readings, same encoder, same batches, into a table with the same
            columns and no index, constraint or rollup: the machine's limit for this data;
- ORM       one ``session.add`` per reading, one commit per batch (fewer readings);
- to_sql    ``pandas.DataFrame.to_sql`` per batch, as the MVP stored readings (fewer).

Prints a table of medians over ``--repeats`` and, as its last line, one JSON object.
DATABASE_URL names the server (default: the local one); everything happens in a scratch
database of its own, dropped at the end.

    PYTHONPATH=src python bench/ingest.py --quick
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, MetaData, Table, text
from sqlalchemy.orm import Session, registry

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import emit_json, median, print_table, scratch_engine, server_url

from energy_adapters.postgres import PostgresReadingRepository, describe_url
from energy_adapters.postgres.binary_copy import (
    COLUMNS,
    HEADER,
    TRAILER,
    ChunkReader,
    ReadingEncoder,
)
from energy_adapters.postgres.schema import readings as readings_table
from energy_core import Reading, Simulator
from energy_core.telemetry.catalogue import VARIABLE_NAMES

END = datetime(2025, 6, 1, tzinfo=UTC)


def make_readings(count: int) -> list[Reading]:
    """``count`` scored readings of 10 meters at 1 Hz, about 2 % of them flagged."""
    history = Simulator(meters=10, seed=7, anomaly_ratio=0.02).history(
        count, end=END, cadence=timedelta(seconds=1)
    )
    return [
        reading.scored(
            0.4 + 0.001 * (index % 97),
            bool(reading.is_anomaly),
            ("voltage",) * bool(reading.is_anomaly),
        )
        for index, reading in enumerate(history)
    ]


def batches(readings: Sequence[Reading], size: int) -> list[Sequence[Reading]]:
    return [readings[start : start + size] for start in range(0, len(readings), size)]


def rate(rows: int, run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return rows / (time.perf_counter() - started)


# --- the four ways in ---------------------------------------------------------------------
def adapter_ingest(engine: Engine, readings: Sequence[Reading], size: int) -> float:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE registros, registros_por_minuto, registros_contadores"))
    repository = PostgresReadingRepository(engine)
    return rate(
        len(readings), lambda: [repository.add_many(batch) for batch in batches(readings, size)]
    )


def streamed(batch: Sequence[Reading], ids: Sequence[int]) -> Iterator[bytes]:
    """The same chunked encoding the adapter streams, so the server works while the client
    encodes: the fastest way these readings can go in."""
    encoder = ReadingEncoder()
    yield HEADER
    for start in range(0, len(batch), 1_000):
        yield encoder.rows(batch[start : start + 1_000], ids[start : start + 1_000])
    yield TRAILER


def bare_copy(engine: Engine, readings: Sequence[Reading], size: int) -> float:
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS bare_copy"))
        # Same columns and types, nothing else: no index, constraint, default or trigger.
        connection.execute(text("CREATE TABLE bare_copy (LIKE registros)"))
    statement = f"COPY bare_copy ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT binary)"

    def run() -> None:
        next_id = 1
        for batch in batches(readings, size):
            ids = range(next_id, next_id + len(batch))
            next_id += len(batch)
            connection = engine.raw_connection()
            try:
                cursor = connection.cursor()
                cursor.copy_expert(statement, ChunkReader(streamed(batch, ids)), size=1 << 16)  # type: ignore[attr-defined]
                cursor.close()
                connection.commit()
            finally:
                connection.close()

    return rate(len(readings), run)


class OrmReading:
    """A plain class mapped onto a copy of ``registros`` for the ORM baseline."""


def orm_table(engine: Engine) -> Table:
    metadata = MetaData()
    table = readings_table.to_metadata(metadata, name="orm_registros")
    with engine.begin() as connection:
        table.drop(connection, checkfirst=True)
        table.create(connection)
        connection.execute(text("CREATE INDEX ON orm_registros (timestamp, id)"))
    return table


def orm_inserts(engine: Engine, table: Table, readings: Sequence[Reading], size: int) -> float:
    with engine.begin() as connection:
        connection.execute(text("TRUNCATE orm_registros"))

    def run() -> None:
        for batch in batches(readings, size):
            with Session(engine) as session:
                for reading in batch:
                    row = OrmReading()
                    row.meter_id = reading.meter_id  # type: ignore[attr-defined]
                    row.timestamp = reading.timestamp  # type: ignore[attr-defined]
                    for name in VARIABLE_NAMES:
                        setattr(row, name, reading.values.get(name))  # None: NULL
                    row.is_anomaly = reading.is_anomaly  # type: ignore[attr-defined]
                    row.anomaly_kind = reading.anomaly_kind  # type: ignore[attr-defined]
                    row.score = reading.score  # type: ignore[attr-defined]
                    row.is_flagged = reading.is_flagged  # type: ignore[attr-defined]
                    row.top_variables = list(reading.top_variables)  # type: ignore[attr-defined]
                    session.add(row)
                session.commit()

    return rate(len(readings), run)


def frame(readings: Sequence[Reading]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "meter_id": [reading.meter_id for reading in readings],
            "timestamp": [reading.timestamp for reading in readings],
            **{name: [reading.values.get(name) for reading in readings] for name in VARIABLE_NAMES},
            "is_anomaly": [reading.is_anomaly for reading in readings],
            "anomaly_kind": [reading.anomaly_kind for reading in readings],
            "score": [reading.score for reading in readings],
            "is_flagged": [reading.is_flagged for reading in readings],
            "top_variables": [list(reading.top_variables) for reading in readings],
        }
    )


def to_sql(engine: Engine, readings: Sequence[Reading], size: int) -> float:
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE IF EXISTS to_sql_registros"))
        connection.execute(text("CREATE TABLE to_sql_registros (LIKE registros INCLUDING ALL)"))

    def run() -> None:
        for batch in batches(readings, size):
            frame(batch).to_sql("to_sql_registros", engine, if_exists="append", index=False)

    return rate(len(readings), run)


# --- report -------------------------------------------------------------------------------
def verdict(value: float, target: float) -> str:
    return f"{value:.2f} {'met' if value >= target else 'MISSED'}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer readings, under a minute")
    parser.add_argument("--rows", type=int, help="readings for the adapter and bare COPY")
    parser.add_argument("--batch", type=int, default=10_000, help="readings per transaction")
    parser.add_argument("--repeats", type=int, help="measurements per method (median)")
    args = parser.parse_args(argv)
    rows = args.rows or (50_000 if args.quick else 200_000)
    repeats = args.repeats or (3 if args.quick else 5)
    orm_rows = min(rows, 3_000 if args.quick else 10_000)
    to_sql_rows = min(rows, 5_000 if args.quick else 20_000)
    readings = make_readings(rows)

    url = server_url()
    print(f"server {describe_url(url)}; {rows:,} readings in batches of {args.batch:,}")
    with scratch_engine(url, "smartenergy_bench_ingest") as engine:
        orm = orm_table(engine)
        registry().map_imperatively(OrmReading, orm)
        measured: dict[str, list[float]] = {"adapter": [], "bare": [], "orm": [], "to_sql": []}
        # Interleaved, so that a slow moment of the machine hurts every method alike.
        for _ in range(repeats):
            measured["adapter"].append(adapter_ingest(engine, readings, args.batch))
            measured["bare"].append(bare_copy(engine, readings, args.batch))
            measured["orm"].append(orm_inserts(engine, orm, readings[:orm_rows], args.batch))
            measured["to_sql"].append(to_sql(engine, readings[:to_sql_rows], args.batch))

    medians = {name: median(values) for name, values in measured.items()}
    counts = {"adapter": rows, "bare": rows, "orm": orm_rows, "to_sql": to_sql_rows}
    labels = {
        "adapter": "adapter add_many (COPY + indexes + rollups + counters)",
        "bare": "bare COPY, unindexed table (machine limit)",
        "orm": "ORM, session.add per row, commit per batch",
        "to_sql": "pandas DataFrame.to_sql (the MVP)",
    }
    print_table(
        f"\nmedians of {repeats}",
        [
            (
                labels[name],
                f"{counts[name]:,}",
                f"{medians[name]:,.0f}",
                f"{medians['adapter'] / medians[name]:.2f}×",
            )
            for name in ("adapter", "bare", "orm", "to_sql")
        ],
        ("method", "readings", "readings/s", "adapter is"),
    )
    limit_ratio = medians["adapter"] / medians["bare"]
    orm_speedup = medians["adapter"] / medians["orm"]
    to_sql_speedup = medians["adapter"] / medians["to_sql"]
    print(
        f"\ntargets (medians of {repeats}):"
        f" ≥0.6× bare COPY: {verdict(limit_ratio, 0.6)};"
        f" ≥30× ORM: {verdict(orm_speedup, 30)};"
        f" ≥10× to_sql: {verdict(to_sql_speedup, 10)}"
    )
    emit_json(
        {
            "rows": rows,
            "batch": args.batch,
            "repeats": repeats,
            "readings_per_s": round(medians["adapter"]),
            "bare_copy_readings_per_s": round(medians["bare"]),
            "orm_readings_per_s": round(medians["orm"]),
            "to_sql_readings_per_s": round(medians["to_sql"]),
            "limit_ratio": round(limit_ratio, 3),
            "speedup": round(orm_speedup, 1),
            "speedup_vs_to_sql": round(to_sql_speedup, 1),
        }
    )


if __name__ == "__main__":
    main()
