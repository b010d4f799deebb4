"""The schema's two revisions: data stored at revision 1 survives the upgrade, and the
rollups and counters of revision 2 are back-filled from it."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from sqlalchemy import insert, inspect

from energy_adapters.memory import MemoryReadingRepository
from energy_adapters.postgres import (
    PostgresReadingRepository,
    current_revision,
    head_revision,
    open_engine,
    upgrade,
)
from energy_adapters.postgres.schema import metric_snapshots
from energy_adapters.postgres.schema import readings as readings_table
from energy_core import ReadingFilter, Simulator
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from tests.postgres_support import bookkeeping_errors, newest_migration_file, scratch_database
from tests.strategies import BASE

pytestmark = pytest.mark.postgres


def revision_1_rows(readings):
    """What a writer of revision 1 stored: plain rows, no rollups to maintain."""
    return [
        {
            "meter_id": reading.meter_id,
            "timestamp": reading.timestamp,
            **{name: reading.values[name] for name in VARIABLE_NAMES},
            "is_anomaly": reading.is_anomaly,
            "anomaly_kind": reading.anomaly_kind,
            "score": reading.score,
            "is_flagged": reading.is_flagged,
            "top_variables": list(reading.top_variables),
        }
        for reading in readings
    ]


def test_upgrading_a_filled_revision_1_database_loses_nothing_and_backfills(pg_server_url):
    history = Simulator(meters=3, seed=21, anomaly_ratio=0.05).history(3000, end=BASE)
    readings = [
        reading.scored(0.01 * (index % 50), index % 11 == 0, ("current",) * (index % 11 == 0))
        for index, reading in enumerate(history)
    ]
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        engine = open_engine(url)
        try:
            upgrade(engine, "0001")
            assert current_revision(engine) == "0001"
            assert not inspect(engine).has_table("registros_por_minuto")
            with engine.begin() as connection:
                connection.execute(insert(readings_table), revision_1_rows(readings))
                connection.execute(
                    insert(metric_snapshots).values(
                        computed_at=BASE,
                        total_readings=3000,
                        anomalies_detected=273,
                        percentage=9.1,
                        health="Precaución",
                    )
                )

            upgrade(engine)

            assert current_revision(engine) == head_revision() == newest_migration_file()
            repository = PostgresReadingRepository(engine)
            stored = repository.window(ReadingFilter())
            assert [replace(reading, id=None) for reading in stored] == readings
            assert bookkeeping_errors(engine) == []
            assert repository.count() == 3000
            flagged = sum(1 for reading in readings if reading.is_flagged)
            assert repository.count(ReadingFilter(state="anomalous")) == flagged
            reference = MemoryReadingRepository()
            reference.add_many(readings)
            wide = ReadingFilter(meter_ids=("meter-01", "meter-03"))
            assert [
                (bucket.start, bucket.count, bucket.maximum, bucket.flagged)
                for bucket in repository.downsample("voltage", wide, 40)
            ] == [
                (bucket.start, bucket.count, bucket.maximum, bucket.flagged)
                for bucket in reference.downsample("voltage", wide, 40)
            ]
            with engine.connect() as connection:
                assert connection.exec_driver_sql("SELECT count(*) FROM metricas").scalar() == 1

            upgrade(engine)  # at every start: nothing left to do, nothing changed
            assert current_revision(engine) == newest_migration_file()
            assert repository.count() == 3000
            assert bookkeeping_errors(engine) == []
        finally:
            engine.dispose()


def test_several_processes_starting_at_once_migrate_once(pg_server_url):
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        failures: list[BaseException] = []

        def start() -> None:
            try:
                upgrade(url)
            except BaseException as error:
                failures.append(error)

        starters = [threading.Thread(target=start) for _ in range(3)]
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join()
        assert failures == []
        engine = open_engine(url)
        try:
            assert current_revision(engine) == head_revision()
        finally:
            engine.dispose()
