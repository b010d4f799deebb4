"""`smartenergy import` end to end against the test PostgreSQL: the same parser as the
dashboard's upload, rejections by line and field, never a traceback, progress off stdout."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from rich.console import Console
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from energy_ui import cli
from energy_ui.cli import app
from tests.postgres_support import truncate_all

pytestmark = pytest.mark.postgres
runner = CliRunner()

HEADER = "meter_id,timestamp,voltage,current,active_power,power_factor,frequency,motor_temperature"


def line(second: int, meter: str = "pump-1") -> str:
    return f"{meter},2025-01-01T00:00:{second:02d}Z,230,10,2.1,0.9,50,40"


@pytest.fixture
def database(pg_engine: Engine, pg_database_url: str, monkeypatch, tmp_path) -> Iterator[str]:
    truncate_all(pg_engine)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    monkeypatch.setenv("ENERGY_METERS", "2")
    yield pg_database_url


def stored(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM registros")).scalar_one())


def run_import(path: Path, *options: str) -> Result:
    result = runner.invoke(app, ["import", str(path), *options])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def test_a_utf8_file_with_byte_order_mark_crlf_and_quotes_is_imported(
    database, pg_engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    source = tmp_path / "excel.csv"
    quoted = ",".join(f'"{name}"' for name in HEADER.split(","))
    rows = [quoted, line(0), '"pump-1","2025-01-01T00:00:01Z","230","10","2.1","0.9","50","40"']
    source.write_bytes("\ufeff".encode() + "\r\n".join(rows).encode() + b"\r\n")
    result = run_import(source)
    assert result.exit_code == 0, result.output
    assert "2 líneas: 2 aceptadas, 0 rechazadas" in result.stdout
    assert stored(pg_engine) == 2


def test_an_unterminated_quote_is_reported_at_its_line_and_the_rest_imported(
    database, pg_engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    source = tmp_path / "quote.csv"
    rows = [
        HEADER,
        line(0),
        '"pump-1,2025-01-01T00:00:01Z,230,10,2.1,0.9,50,40',
        *map(line, (2, 3, 4)),
    ]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_import(source)
    assert result.exit_code == 1
    assert "line 3: unterminated quote" in result.stderr
    assert "5 lines: 4 accepted, 1 rejected" in result.stdout
    assert stored(pg_engine) == 4


def test_a_missing_field_is_named_as_missing(database, pg_engine, tmp_path):
    source = tmp_path / "short.csv"
    # A variable not sent (the short line 4) is not missing: a reading carries what it has.
    rows = [HEADER, line(0), "pump-1,,230,10,2.1,0.9,50,40", "pump-1,2025-01-01T00:00:02Z,230"]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_import(source)
    assert result.exit_code == 1
    assert "line 3: timestamp='': missing" in result.stderr
    assert "{" not in result.stderr  # not the whole row as "the value"
    assert stored(pg_engine) == 2


def test_a_file_that_is_not_utf8_is_refused_naming_file_line_and_byte(
    database, pg_engine, tmp_path
):
    source = tmp_path / "latin1.csv"
    rows = [HEADER, line(0), "caf\xe9-1,2025-01-01T00:00:01Z,230,10,2.1,0.9,50,40", line(2)]
    source.write_bytes("\n".join(rows).encode("latin-1") + b"\n")
    offset = len("\n".join(rows[:2])) + 1 + len("caf")
    result = run_import(source)
    assert result.exit_code == 1
    assert f"latin1.csv: not UTF-8 text at line 3, byte {offset}" in result.stderr
    assert stored(pg_engine) == 0


def test_a_nul_in_a_text_field_is_rejected_by_line_and_field_and_good_lines_stored(
    database, pg_engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    # Needs the lead's rule in energy_core/telemetry/validation.py (no NUL in text before storage).
    source = tmp_path / "nul.csv"
    rows = [f"{HEADER},anomaly_kind", f"{line(0)},spike", f"{line(1)},sp\x00ike", f"{line(2)},"]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_import(source)
    assert result.exit_code == 1
    assert "line 3: anomaly_kind=" in result.stderr
    assert "3 lines: 2 accepted, 1 rejected" in result.stdout
    assert stored(pg_engine) == 2


def test_stdout_holds_only_the_summary_and_rejections_go_to_stderr(database, tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    source = tmp_path / "mixed.csv"
    rows = [HEADER, line(0), "pump-1,2025-01-01T00:00:01Z,abc,10,2.1,0.9,50,40", line(2)]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_import(source, "--batch-size", "1")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["3 lines: 2 accepted, 1 rejected"]
    assert "line 3: voltage='abc'" in result.stderr


def test_progress_is_drawn_on_stderr_when_it_is_a_terminal(database, tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    terminal = io.StringIO()
    monkeypatch.setattr(cli, "err", Console(file=terminal, force_terminal=True, width=120))
    source = tmp_path / "long.csv"
    source.write_text("\n".join([HEADER, *map(line, range(30))]) + "\n", encoding="utf-8")
    result = run_import(source, "--batch-size", "7")
    assert result.exit_code == 0, result.output
    assert "long.csv" in terminal.getvalue() and "30/30" in terminal.getvalue()
    assert (result.stdout.splitlines()) == ["30 líneas: 30 aceptadas, 0 rechazadas"]


def test_cells_and_column_names_that_look_like_markup_are_printed_as_they_are(database, tmp_path):
    source = tmp_path / "brackets.csv"
    rows = [HEADER, "pump-1,2025-01-01T00:00:00Z,[/oops],10,2.1,0.9,50,40"]
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = run_import(source)
    assert result.exit_code == 1
    assert "line 2: voltage='[/oops]'" in result.stderr
    source.write_text(f"{HEADER},[/x]\n{line(0)},1\n", encoding="utf-8")
    result = run_import(source)
    assert result.exit_code == 1
    assert "unknown column(s) [/x]" in result.stderr


def test_the_database_going_away_mid_file_is_one_line_saying_what_was_stored(
    database, pg_engine, tmp_path, monkeypatch
):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    from energy_adapters.postgres import DatabaseUnavailableError
    from energy_core.usecases.monitor import Monitor

    ingest = Monitor.store_parsed
    calls = []

    def flaky(self: Monitor, readings, **options):
        calls.append(len(readings))
        if len(calls) == 2:
            raise DatabaseUnavailableError("database unavailable: 127.0.0.1:5432 does not answer")
        return ingest(self, readings, **options)

    monkeypatch.setattr(Monitor, "store_parsed", flaky)
    source = tmp_path / "away.csv"
    source.write_text("\n".join([HEADER, *map(line, range(6))]) + "\n", encoding="utf-8")
    result = run_import(source, "--batch-size", "2")
    assert result.exit_code == 1
    assert "does not answer; 2 readings of the first 2 lines of" in result.stderr
    assert stored(pg_engine) == 2


def test_the_summary_and_the_stop_are_said_in_the_language_of_the_setting(
    database, tmp_path, monkeypatch
):
    from energy_adapters.postgres import DatabaseUnavailableError
    from energy_core.usecases.monitor import Monitor

    source = tmp_path / "two.csv"
    source.write_text("\n".join([HEADER, line(0), line(1)]) + "\n", encoding="utf-8")
    said = {}
    for language in ("es", "en"):
        monkeypatch.setenv("ENERGY_LANGUAGE", language)
        said[language] = run_import(source).stdout.splitlines()
    assert said == {
        "es": ["2 líneas: 2 aceptadas, 0 rechazadas"],
        "en": ["2 lines: 2 accepted, 0 rejected"],
    }

    def away(self: Monitor, readings, **options):
        raise DatabaseUnavailableError("database unavailable: 127.0.0.1:5432 does not answer")

    monkeypatch.setattr(Monitor, "store_parsed", away)
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    result = run_import(source)
    assert result.exit_code == 1
    assert "; se guardaron 0 lecturas de las primeras 0 líneas de" in result.stderr
    assert "el resto no" in result.stderr
