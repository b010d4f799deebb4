"""What a newcomer meets first: a busy port, retention that deletes, defaults in --help,
progress of long work when nobody watches a terminal."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import typer.main
from typer.testing import CliRunner

from energy_ui.cli import app

runner = CliRunner()


def _outside_pytest() -> dict[str, str]:
    """This environment without pytest's marker, which NiceGUI takes for its own tests."""
    return {key: value for key, value in os.environ.items() if key != "PYTEST_CURRENT_TEST"}


@pytest.fixture(autouse=True)
def no_database(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)


def test_serve_on_a_busy_port_says_so_before_starting_and_exits_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "energy_ui", "serve", "--port", str(port)],
            env=_outside_pytest(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr  # says what to do
    assert "ready to go" not in (result.stdout + result.stderr).lower()
    assert "Traceback" not in result.stderr


def test_simulate_says_what_retention_deleted_and_why():
    result = runner.invoke(app, ["simulate", "--count", "300", "--max-registros", "200"])
    assert result.exit_code == 0, result.output
    # Warned before it runs, and told after what went.
    assert "max-registros 200" in result.output
    assert "100" in result.output and "deleted" in result.output


def test_simulate_below_the_maximum_deletes_nothing_and_says_nothing_of_it():
    result = runner.invoke(app, ["simulate", "--count", "30", "--max-registros", "200"])
    assert result.exit_code == 0, result.output
    assert "deleted" not in result.output


def test_long_work_reports_progress_on_stderr_without_a_terminal():
    result = subprocess.run(
        [sys.executable, "-m", "energy_ui", "simulate", "--count", "25000", "--meters", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if "simulate" in line and "/" in line]
    assert len(lines) >= 2  # more than the final line
    assert lines[-1].replace(",", "").endswith("25000 / 25000 (100 %)")
    assert "simulate:" not in result.stdout


def _commands(group, prefix: str = ""):
    found = []
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            found += _commands(command, f"{prefix}{name} ")
        else:
            found.append((prefix + name, command))
    return found


def test_help_shows_every_default():
    command_group = typer.main.get_command(app)
    missing = []
    for name, command in _commands(command_group):
        for parameter in command.params:
            if parameter.param_type_name != "option" or parameter.name == "help":
                continue
            if parameter.is_flag or parameter.required or parameter.multiple:
                continue
            context = type(command.context_class(command))(command)
            record = parameter.get_help_record(context)
            if record is None or "default" not in record[1].lower():
                missing.append(f"{name} --{parameter.name}")
    assert missing == []


def test_an_error_that_looks_like_markup_is_printed_as_it_is(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/[/x]db")
    result = runner.invoke(app, ["seed-db"])
    assert result.exit_code == 1
    assert "[/x]db" in result.output
