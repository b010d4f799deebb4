"""The command line without a database: what works in memory, and clear refusals."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from energy_ui.cli import app

runner = CliRunner()
COMMANDS = [
    "serve",
    "seed-db",
    "reset-db",
    "simulate",
    "stream",
    "train",
    "detect",
    "auto-train",
    "import",
    "export",
    "mqtt",
    "evaluate",
    "drill",
]


@pytest.fixture(autouse=True)
def no_database(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ENERGY_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env is read from the repository


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


@pytest.mark.parametrize(
    "arguments", [["stream", "--batches", "1"], ["auto-train"], ["seed-db"], ["mqtt"]]
)
def test_shared_storage_commands_refuse_without_database_url(arguments):
    result = runner.invoke(app, arguments)
    assert result.exit_code == 1
    assert "DATABASE_URL" in result.output


def test_import_refuses_without_database_url(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("meter_id\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(source)])
    assert result.exit_code == 1 and "DATABASE_URL" in result.output


def test_simulate_in_memory_respects_the_maximum():
    result = runner.invoke(app, ["simulate", "--count", "3000", "--max-registros", "1000"])
    assert result.exit_code == 0, result.output
    assert "3000" in result.output and "1000" in result.output


def test_train_without_readings_is_a_one_line_error():
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1
    assert "need at least 10 stored readings" in result.output
    assert "Traceback" not in result.output


def test_a_bad_date_filter_is_a_usage_error():
    result = runner.invoke(app, ["export", "out.csv", "--start", "yesterday"])
    assert result.exit_code == 2
    assert "--start" in result.output


def test_reset_asks_to_confirm_and_can_be_declined():
    result = runner.invoke(app, ["reset-db"], input="n\n")
    assert result.exit_code == 1
    assert "cancel" in result.output
