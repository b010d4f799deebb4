"""Revision 0011 turns a filled database's plain ``registros`` and ``registros_por_minuto``
into tables partitioned by day: every row kept (ids, values, scores), a partition for every
day holding data, the default partitions empty, the rollups and counters still true, the id
sequence going on where it was, a batch key stored before still answered; and back down to
plain tables the same way."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, text

from energy_adapters.postgres import (
    PostgresReadingQueries,
    PostgresReadingRepository,
    current_revision,
    head_revision,
    open_engine,
    upgrade,
)
from energy_adapters.postgres.migrations import alembic_config
from energy_adapters.postgres.partitions import day_of, stored_days
from energy_core import Reading, ReadingFilter, Simulator
from tests.postgres_support import bookkeeping_errors, scratch_database, todays_reading_columns
from tests.strategies import BASE

pytestmark = pytest.mark.postgres


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        connection.commit()


def kind_of(engine: Engine, table: str) -> str:
    """``p`` for a partitioned table, ``r`` for a plain one."""
    with engine.connect() as connection:
        return str(
            connection.execute(
                text("SELECT relkind FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
            ).scalar_one()
        )


def in_default(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT (SELECT count(*) FROM registros_default)"
                    " + (SELECT count(*) FROM registros_por_minuto_default)"
                )
            ).scalar_one()
        )


def in_time_order(readings: list[Reading]) -> list[Reading]:
    return sorted(readings, key=lambda reading: (reading.timestamp, reading.id))


def three_days() -> list[Reading]:
    """Two meters every 7 minutes over three days."""
    history = Simulator(meters=2, seed=17, anomaly_ratio=0.05).history(
        2 * 3 * 24 * 60 // 7, end=BASE + timedelta(days=3, minutes=-2), cadence=timedelta(minutes=7)
    )
    return [
        reading.scored(0.1 * (index % 10), index % 6 == 0, ("current",) * (index % 6 == 0))
        for index, reading in enumerate(history)
    ]


ODD = [
    Reading(datetime(2001, 2, 3, 4, 5, 6, 789, tzinfo=UTC), "meter-01", {"voltage": 231.5}),
    Reading(BASE + timedelta(days=9, hours=1), "plug-9", {"energy_import": 12.5}),
]
"""A late reading of 2001 and one days ahead of the rest."""


def test_revision_11_partitions_a_filled_revision_9_database_keeping_every_row(pg_server_url):
    readings = three_days()
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        engine = open_engine(url)
        try:
            upgrade(engine, "0009")
            writer = PostgresReadingRepository(engine)
            queries = PostgresReadingQueries(engine)
            with todays_reading_columns(engine):
                stored = writer.add_many(readings[:-50])
                keyed = writer.add_many(readings[-50:], key="batch-before-0011")
                stored += keyed
                writer.delete_oldest(len(readings) - 20)  # retention ran at 0009 too
                stored += writer.add_many(ODD)
                writer.update_scores(
                    [reading.scored(0.99, True, ("voltage",)) for reading in stored[::5]]
                )
                before = queries.window(ReadingFilter())
            assert len(before) == len(readings) - 20 + len(ODD)
            assert bookkeeping_errors(engine) == []
            last_id = max(reading.id for reading in stored)

            upgrade(engine)

            assert current_revision(engine) == head_revision()
            assert kind_of(engine, "registros") == kind_of(engine, "registros_por_minuto") == "p"
            assert queries.window(ReadingFilter()) == before  # ids, values, scores, flags
            assert queries.count() == len(before)
            assert bookkeeping_errors(engine) == []
            with engine.connect() as connection:
                made = stored_days(connection)
            data_days = {day_of(reading.timestamp) for reading in before}
            assert data_days <= made["registros"] and data_days <= made["registros_por_minuto"]
            assert in_default(engine) == 0
            # The sequence goes on from the last id it gave.
            later = Reading(BASE + timedelta(days=3, hours=1), "meter-02", {"voltage": 230.0})
            [new] = PostgresReadingRepository(engine).add_many([later])
            assert new.id == last_id + 1
            # A batch retried under the key it was stored with before is answered, not stored.
            again = PostgresReadingRepository(engine).add_many(
                readings[-50:], key="batch-before-0011"
            )
            assert [reading.id for reading in again] == [reading.id for reading in keyed]
            assert queries.count() == len(before) + 1

            downgrade(engine, "0010")

            assert kind_of(engine, "registros") == kind_of(engine, "registros_por_minuto") == "r"
            with todays_reading_columns(engine):
                assert queries.window(ReadingFilter()) == in_time_order([*before, new])
                [newer] = PostgresReadingRepository(engine).add_many(
                    [replace(later, timestamp=later.timestamp + timedelta(seconds=1))]
                )
            assert bookkeeping_errors(engine) == []
            with engine.connect() as connection:
                assert not connection.execute(
                    text("SELECT to_regclass('registros_default')")
                ).scalar()
            assert newer.id == new.id + 1

            upgrade(engine)
            assert current_revision(engine) == head_revision()
            assert queries.window(ReadingFilter()) == in_time_order([*before, new, newer])
            assert bookkeeping_errors(engine) == []
            assert in_default(engine) == 0
        finally:
            engine.dispose()


def test_revision_11_on_an_empty_database_makes_the_days_around_today(pg_server_url):
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        engine = open_engine(url)
        try:
            upgrade(engine)
            today = day_of(datetime.now(UTC))
            with engine.connect() as connection:
                made = stored_days(connection)
            for parent in ("registros", "registros_por_minuto"):
                assert set(range(today - 1, today + 4)) <= made[parent]
            [first] = PostgresReadingRepository(engine).add_many(
                [Reading(datetime.now(UTC), "m", {"voltage": 230.0})]
            )
            assert first.id == 1
            assert in_default(engine) == 0
        finally:
            engine.dispose()
