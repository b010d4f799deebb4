"""Every command end to end against the test PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import polars as pl
import pytest
from sqlalchemy import Engine, inspect, text
from typer.testing import CliRunner

from energy_adapters.postgres import current_revision, open_engine
from energy_ui.cli import app
from tests.postgres_support import (
    ALL_TABLES,
    newest_migration_file,
    scratch_database,
    truncate_all,
)

pytestmark = pytest.mark.postgres
runner = CliRunner()


@pytest.fixture
def database(pg_engine: Engine, pg_database_url: str, monkeypatch, tmp_path) -> Iterator[str]:
    truncate_all(pg_engine)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    monkeypatch.setenv("ENERGY_METERS", "2")
    yield pg_database_url


def scalar(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def invoke(*arguments: str, expect: int = 0, stdin: str | None = None) -> str:
    result = runner.invoke(app, list(arguments), input=stdin)
    assert result.exit_code == expect, result.output
    return result.output


def command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "energy_ui", *arguments]


def test_seed_db_creates_the_schema_on_an_empty_database(pg_server_url, monkeypatch, tmp_path):
    newest = newest_migration_file()
    with scratch_database(pg_server_url, prefix="smartenergy_seed") as url:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("DATABASE_URL", url)
        engine = open_engine(url)
        try:
            assert current_revision(engine) is None
            monkeypatch.setenv("ENERGY_LANGUAGE", "es")
            assert f"esquema al día (revisión {newest})" in invoke("seed-db")
            assert current_revision(engine) == newest
            with engine.connect() as connection:
                tables = set(inspect(connection).get_table_names())
            assert set(ALL_TABLES.split(", ")) <= tables
            # Again on the migrated database: nothing to do, the same revision.
            monkeypatch.setenv("ENERGY_LANGUAGE", "en")
            assert f"schema up to date (revision {newest})" in invoke("seed-db")
        finally:
            engine.dispose()


def test_simulate_respects_the_maximum(database, pg_engine):
    invoke("simulate", "--count", "3000", "--max-registros", "2000")
    assert scalar(pg_engine, "SELECT count(*) FROM registros") == 2000


def test_reset_asks_then_empties_and_repopulates(database, pg_engine):
    invoke("simulate", "--count", "500")
    invoke("reset-db", stdin="n\n", expect=1)
    assert scalar(pg_engine, "SELECT count(*) FROM registros") == 500
    invoke("reset-db", "--yes", "--count", "1200")
    assert scalar(pg_engine, "SELECT count(*) FROM registros") == 1200
    assert scalar(pg_engine, "SELECT count(*) FROM metricas") == 0


def test_reset_db_tells_every_other_process(database, pg_engine):
    """reset-db goes through the reset use case: a dashboard in another process hears it
    and forgets what it showed (and its scoring context)."""
    from energy_adapters.postgres import PostgresChangeFeed

    heard = []
    with PostgresChangeFeed(pg_engine) as feed:
        feed.subscribe(heard.append)
        invoke("reset-db", "--yes", "--count", "0")
        assert feed.sync(timeout=15)
    assert [event.topic for event in heard] == ["reset"]


def test_train_detect_and_stream_scored_on_ingest_holding_the_limit(
    database, pg_engine, monkeypatch
):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    invoke("simulate", "--count", "1500")
    assert "model v1 (" in invoke("train")
    output = invoke("detect")
    assert "1500" in output
    assert scalar(pg_engine, "SELECT count(*) FROM metricas") == 1
    output = invoke(
        "stream",
        "--batches",
        "4",
        "--interval",
        "0.05",
        "--batch-size",
        "10",
        "--max-registros",
        "1520",
    )
    assert output.count("batch ") == 4
    assert "no model" not in output
    assert scalar(pg_engine, "SELECT count(*) FROM registros") == 1520
    assert scalar(pg_engine, "SELECT count(*) FROM registros WHERE score IS NULL") == 0


def test_detect_without_a_model_says_how_to_get_one(database):
    invoke("simulate", "--count", "100")
    assert "train" in invoke("detect", expect=1)


def test_import_stores_good_lines_and_reports_bad_ones(database, pg_engine, tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    source = tmp_path / "meters.csv"
    header = (
        "meter_id,timestamp,voltage,current,active_power,power_factor,frequency,motor_temperature"
    )
    source.write_text(
        "\n".join(
            [
                header,
                "pump-1,2025-01-01T00:00:00Z,230,10,2.1,0.9,50,40",
                "pump-1,2025-01-01T00:00:01Z,230,10,2.1,1.9,50,40",
                "pump-1,2025-01-01T00:00:02Z,231,10,2.1,0.9,50,41",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    output = invoke("import", str(source), expect=1)
    assert "line 3: power_factor=" in output
    assert "3 líneas: 2 aceptadas, 1 rechazadas" in output
    assert scalar(pg_engine, "SELECT count(*) FROM registros WHERE meter_id = 'pump-1'") == 2


def test_export_filters_to_csv_and_parquet(database, tmp_path):
    invoke("simulate", "--count", "400")
    invoke("export", str(tmp_path / "one.csv"), "--meter", "meter-01", "--limit", "50")
    frame = pl.read_csv(tmp_path / "one.csv")
    assert frame.height == 50 and set(frame["meter_id"]) == {"meter-01"}
    invoke("export", str(tmp_path / "all.parquet"))
    assert pl.read_parquet(tmp_path / "all.parquet").height == 400


def test_a_second_auto_train_loop_refuses_to_start(database, pg_engine, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    invoke("simulate", "--count", "600")
    environment = {**os.environ}
    first = subprocess.Popen(
        command("auto-train", "--interval", "60"),
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while scalar(pg_engine, "SELECT count(*) FROM metricas") == 0:
            assert first.poll() is None, first.stdout.read() if first.stdout else ""
            assert time.monotonic() < deadline, "the first loop never completed a cycle"
            time.sleep(0.2)
        output = invoke("auto-train", "--cycles", "1", expect=1)
        assert "already running" in output
    finally:
        first.terminate()
        first.wait(20)
    # Once the first loop is gone, the lock is free again.
    assert "ciclo 1: modelo v" in invoke("auto-train", "--cycles", "1", "--interval", "1")


def test_ctrl_c_during_a_long_simulation_leaves_only_whole_batches(database, pg_engine):
    child = subprocess.Popen(
        command("simulate", "--count", "2000000", "--max-registros", "5000000", "--meters", "1"),
        env={**os.environ, "ENERGY_LANGUAGE": "en"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while scalar(pg_engine, "SELECT count(*) FROM registros") < 20_000:
        assert child.poll() is None, child.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    _, errors = child.communicate(timeout=60)
    assert child.returncode == 130, errors
    assert "interrupted" in errors
    stored = scalar(pg_engine, "SELECT count(*) FROM registros")
    assert 0 < stored < 2_000_000
    assert stored % 10_000 == 0  # chunks of 10,000 readings, each one transaction


def test_commands_that_need_shared_storage_refuse_in_memory(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    assert "DATABASE_URL" in invoke("stream", "--batches", "1", expect=1)


def test_an_unreachable_database_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://smart:secret@127.0.0.1:1/smartenergy")
    output = invoke("train", expect=1)
    assert "127.0.0.1:1" in output and "smartenergy" in output
    assert "secret" not in output and "Traceback" not in output
    assert len(output.strip().splitlines()) == 1
