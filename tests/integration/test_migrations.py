"""The schema's revisions: data stored at revision 1 survives the upgrade, the rollups and
counters of revision 2 are back-filled from it, revision 7 (readings with the variables a
meter has) keeps a filled revision 6 database whole, revision 9 (alerting) comes and goes
around a filled revision 8 one, revision 10 (per-meter threshold factors) loads a model stored
before it with none, and every revision steps down and up again."""

from __future__ import annotations

import math
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, insert, inspect, text

from energy_adapters.memory import MemoryReadingRepository
from energy_adapters.model_codec import FORMAT, dump_detector
from energy_adapters.postgres import (
    PostgresReadingQueries,
    PostgresReadingRepository,
    current_revision,
    head_revision,
    open_engine,
    upgrade,
)
from energy_adapters.postgres.alerts import (
    PostgresAlertStore,
    PostgresFeedbackStore,
    PostgresMuteStore,
)
from energy_adapters.postgres.migrations import alembic_config
from energy_adapters.postgres.model_store import PostgresModelStore
from energy_adapters.postgres.schema import metric_snapshots
from energy_adapters.postgres.schema import readings as readings_table
from energy_core import Reading, ReadingFilter, Simulator, feature_matrix
from energy_core.alerts import Alert, AlertEvent, AlertKind, Decision, Severity, Silence
from energy_core.alerts.store import Feedback, Recorded
from energy_core.detection.registry import make_detector
from tests.postgres_support import (
    bookkeeping_errors,
    newest_migration_file,
    scratch_database,
    todays_reading_columns,
)
from tests.strategies import BASE

pytestmark = pytest.mark.postgres

# The catalogue of revisions 1 to 6: every reading carried these six.
VARIABLE_NAMES = (
    "voltage",
    "current",
    "active_power",
    "power_factor",
    "frequency",
    "motor_temperature",
)


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
            repository = PostgresReadingQueries(engine)
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


def test_revision_7_keeps_a_filled_revision_6_database_and_then_stores_subsets(pg_server_url):
    history = Simulator(meters=2, seed=5, anomaly_ratio=0.05).history(1200, end=BASE)
    readings = [
        reading.scored(0.5, index % 7 == 0, ("voltage",) * (index % 7 == 0))
        for index, reading in enumerate(history)
    ]
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        engine = open_engine(url)
        try:
            upgrade(engine, "0001")
            with engine.begin() as connection:
                connection.execute(insert(readings_table), revision_1_rows(readings))
            upgrade(engine, "0006")  # rollups and counters back-filled by revision 2
            columns = {c["name"]: c for c in inspect(engine).get_columns("registros")}
            assert "energy_import" not in columns and not columns["voltage"]["nullable"]

            upgrade(engine)

            columns = {c["name"]: c for c in inspect(engine).get_columns("registros")}
            assert columns["voltage"]["nullable"] and columns["energy_import"]["nullable"]
            repository = PostgresReadingQueries(engine)
            assert [replace(r, id=None) for r in repository.window(ReadingFilter())] == readings
            assert bookkeeping_errors(engine) == []
            reference = MemoryReadingRepository()
            reference.add_many(readings)
            for name in ("voltage", "motor_temperature"):
                assert [
                    (b.start, b.count, b.minimum, b.maximum, b.flagged)
                    for b in repository.downsample(name, ReadingFilter(), 30)
                ] == [
                    (b.start, b.count, b.minimum, b.maximum, b.flagged)
                    for b in reference.downsample(name, ReadingFilter(), 30)
                ]

            later = BASE + timedelta(seconds=30)
            plug = Reading(later, "meter-01", {"voltage": 229.5, "energy_import": 12.25})
            [stored] = PostgresReadingRepository(engine).add_many([plug])
            assert repository.window(ReadingFilter(start=later)) == [stored]
            assert dict(stored.values) == {"voltage": 229.5, "energy_import": 12.25}
            assert bookkeeping_errors(engine) == []
            [bucket] = repository.downsample(
                "motor_temperature", ReadingFilter(start=later, end=later + timedelta(days=1)), 2
            )
            assert (bucket.count, bucket.flagged) == (0, 0) and math.isnan(bucket.mean)
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


ALERT_TABLES = ("alertas", "notificaciones", "silencios", "ventanas_mantenimiento", "valoraciones")


def downgrade(engine: Engine, revision: str) -> None:
    """Alembic's downgrade to ``revision`` on ``engine`` (no application code does this)."""
    config = alembic_config()
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)
        connection.commit()


def test_revision_9_adds_alerting_to_a_filled_revision_8_database_and_goes_away(pg_server_url):
    history = Simulator(meters=2, seed=9).history(200, end=BASE)
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        engine = open_engine(url)
        try:
            upgrade(engine, "0008")
            with todays_reading_columns(engine):
                PostgresReadingRepository(engine).add_many(history)
            assert not any(inspect(engine).has_table(name) for name in ALERT_TABLES)

            upgrade(engine)

            assert all(inspect(engine).has_table(name) for name in ALERT_TABLES)
            alert = Alert(
                key="health",
                kind=AlertKind.HEALTH,
                rule_id="health",
                meter_id=None,
                severity=Severity.WARNING,
                started_at=BASE,
                updated_at=BASE,
                details={"state": "Precaución"},
            )
            event = AlertEvent("opened", alert, BASE)
            store = PostgresAlertStore(engine)
            [item] = store.record([Recorded(event, Decision("send", "notify"), "opened")])
            assert [item] == store.notifications()
            PostgresMuteStore(engine).add_silence(Silence.lasting("s", BASE, timedelta(hours=1)))
            PostgresFeedbackStore(engine).add(
                Feedback("meter-01", BASE, BASE, "false_alarm", by="ana", at=BASE)
            )

            downgrade(engine, "0008")

            assert current_revision(engine) == "0008"
            assert not any(inspect(engine).has_table(name) for name in ALERT_TABLES)
            assert PostgresReadingQueries(engine).count() == len(history)
            assert bookkeeping_errors(engine) == []

            upgrade(engine)  # back again, empty
            assert current_revision(engine) == head_revision()
            assert PostgresAlertStore(engine).alerts() == []
            assert PostgresAlertStore(engine).record(
                [Recorded(event, Decision("send", "notify"), "opened")]
            )
        finally:
            engine.dispose()


def test_revision_10_loads_a_model_stored_at_revision_9_with_no_meter_factors(pg_server_url):
    history = Simulator(meters=2, seed=10).history(400, end=BASE)
    detector = make_detector("temporal").fit(
        feature_matrix(history), groups=[reading.meter_id for reading in history]
    )
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        engine = open_engine(url)
        try:
            upgrade(engine, "0009")
            with engine.begin() as connection:  # what a writer of revision 9 stored
                connection.execute(
                    text(
                        "INSERT INTO modelos (version, trained_at, rows, features,"
                        " contamination, threshold, detector, evaluation, format, payload,"
                        " stored_at) VALUES (1, :at, 400, :features, 'q', 1.0, 'temporal',"
                        " '{}', :format, :payload, now())"
                    ),
                    {
                        "at": BASE,
                        "features": list(detector.features),
                        "format": FORMAT,
                        "payload": dump_detector(detector),
                    },
                )

            upgrade(engine)

            loaded, info = PostgresModelStore(engine).load(1)
            assert info.meter_factors == {} and info.detector == "temporal"
            assert loaded.threshold_ == detector.threshold_
            downgrade(engine, "0009")
            assert "meter_factors" not in {
                column["name"] for column in inspect(engine).get_columns("modelos")
            }
        finally:
            engine.dispose()


def flagged_by_columns(engine: Engine) -> dict[str, bool]:
    """Each table of ``registros`` (the parent and every partition): whether it has
    ``flagged_by``."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                """
                SELECT c.relname, EXISTS (
                    SELECT 1 FROM pg_attribute a
                    WHERE a.attrelid = c.oid AND a.attname = 'flagged_by' AND NOT a.attisdropped
                )
                FROM pg_class c
                WHERE c.oid = 'registros'::regclass
                   OR c.oid IN (SELECT inhrelid FROM pg_inherits
                                WHERE inhparent = 'registros'::regclass)
                """
            )
        ).all()
    return {name: present for name, present in rows}


def test_revision_12_keeps_which_view_flagged_a_reading_in_every_partition(pg_server_url):
    history = Simulator(meters=2, seed=12).history(300, end=BASE)
    views = ("point", "stuck", "profile", "collective", None)
    readings = [
        reading.scored(0.9, True, ("voltage",), views[index % 5]) if index % 4 == 0 else reading
        for index, reading in enumerate(history)
    ]
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        engine = open_engine(url)
        try:
            upgrade(engine)
            writer, queries = PostgresReadingRepository(engine), PostgresReadingQueries(engine)
            stored = writer.add_many(readings)
            assert [replace(r, id=None) for r in queries.window(ReadingFilter())] == readings
            tables = flagged_by_columns(engine)
            assert {"registros", "registros_default"} < set(tables) and all(tables.values())

            downgrade(engine, "0011")

            assert not any(flagged_by_columns(engine).values())
            assert queries.count() == len(readings)
            assert bookkeeping_errors(engine) == []

            upgrade(engine)

            assert all(flagged_by_columns(engine).values())
            back = queries.window(ReadingFilter())
            # Stored before revision 12: the view is not known, all else is kept.
            assert [r.flagged_by for r in back] == [None] * len(readings)
            assert [replace(r, id=None) for r in back] == [
                replace(r, flagged_by=None) for r in readings
            ]
            writer.update_scores([stored[1].scored(0.95, True, ("current",), "collective")])
            by_id = {r.id: r for r in queries.window(ReadingFilter())}
            assert by_id[stored[1].id].flagged_by == "collective"
            assert bookkeeping_errors(engine) == []
        finally:
            engine.dispose()


def test_every_revision_steps_down_and_up_again(pg_server_url):
    revisions = [
        script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()
    ][::-1]
    assert revisions[0] == "0001" and revisions[-1] == head_revision()
    with scratch_database(pg_server_url, prefix="smartenergy_migration") as url:
        engine = open_engine(url)
        try:
            upgrade(engine)
            for below in [*revisions[:-1][::-1], "base"]:
                downgrade(engine, below)
                assert current_revision(engine) == (None if below == "base" else below)
            assert inspect(engine).get_table_names() == ["alembic_version"]
            for revision in revisions:
                upgrade(engine, revision)
                assert current_revision(engine) == revision
        finally:
            engine.dispose()
