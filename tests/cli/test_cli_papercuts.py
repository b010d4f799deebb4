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

from energy_ui import cli_language
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


def test_simulate_says_what_retention_deleted_and_why(monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    result = runner.invoke(app, ["simulate", "--count", "300", "--max-registros", "200"])
    assert result.exit_code == 0, result.output
    # Warned before it runs, and told after what went.
    assert "max-registros 200" in result.output
    assert "100" in result.output and "deleted" in result.output


def test_simulate_below_the_maximum_deletes_nothing_and_says_nothing_of_it(monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    result = runner.invoke(app, ["simulate", "--count", "30", "--max-registros", "200"])
    assert result.exit_code == 0, result.output
    assert "deleted" not in result.output and "retention" not in result.output


@pytest.mark.parametrize(
    ("language", "said"),
    [
        (
            "es",
            [
                "sin DATABASE_URL: en memoria, nada se conserva",
                "retención: max-registros 2.000 — se conservan las 2.000 más recientes"
                " (0 almacenadas + 3.000 nuevas)",
                "3000 lecturas generadas; 2000 almacenadas",
                "retención: 1.000 más antiguas borradas (max-registros 2.000)",
            ],
        ),
        (
            "en",
            [
                "no DATABASE_URL: in memory, nothing is kept",
                "retention: max-registros 2,000 — only the newest 2,000 will be kept"
                " (0 stored + 3,000 new)",
                "3000 readings generated; 2000 stored",
                "retention: 1,000 oldest deleted (max-registros 2,000)",
            ],
        ),
    ],
)
def test_simulate_speaks_the_language_of_the_setting(monkeypatch, language, said):
    monkeypatch.setenv("ENERGY_LANGUAGE", language)
    result = runner.invoke(
        app, ["simulate", "--count", "3000", "--max-registros", "2000", "--meters", "1"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line for line in said if line not in lines] == []


def test_lang_wins_over_the_setting(monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    english = runner.invoke(app, ["--lang", "en", "simulate", "--count", "20"])
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    spanish = runner.invoke(app, ["--lang", "es", "simulate", "--count", "20"])
    assert "20 readings generated; 20 stored" in english.output
    assert "20 lecturas generadas; 20 almacenadas" in spanish.output
    assert "lecturas" not in english.output and "readings" not in spanish.output


def test_lang_is_also_the_language_of_the_dashboard_it_serves(monkeypatch):
    import energy_ui.dashboard
    from energy_ui import cli

    served = []
    monkeypatch.setattr(cli, "_check_port_free", lambda host, port: None)
    monkeypatch.setattr(
        energy_ui.dashboard, "serve", lambda settings, **options: served.append(settings.language)
    )
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    assert runner.invoke(app, ["--lang", "en", "serve"]).exit_code == 0
    assert runner.invoke(app, ["serve"]).exit_code == 0
    assert served == ["en", "es"]


def test_an_unknown_lang_is_a_usage_error():
    result = runner.invoke(app, ["--lang", "fr", "simulate", "--count", "20"])
    assert result.exit_code == 2
    assert "--lang" in result.output


@pytest.mark.parametrize(
    ("language", "said"),
    [("es", "`seed-db` necesita una base de datos compartida"), ("en", "`seed-db` needs shared")],
)
def test_errors_the_cli_writes_are_in_the_language_of_the_setting(monkeypatch, language, said):
    monkeypatch.setenv("ENERGY_LANGUAGE", language)
    result = runner.invoke(app, ["seed-db"])
    assert result.exit_code == 1
    assert said in result.output and "DATABASE_URL" in result.output


@pytest.mark.parametrize(
    ("language", "prompt", "answer"),
    [("es", "¿Vaciar registros y metricas?", "cancelado"), ("en", "Empty registros", "cancelled")],
)
def test_the_reset_question_and_its_answer_follow_the_setting(
    monkeypatch, language, prompt, answer
):
    monkeypatch.setenv("ENERGY_LANGUAGE", language)
    result = runner.invoke(app, ["reset-db"], input="n\n")
    assert result.exit_code == 1
    assert prompt in result.output and answer in result.output


def test_the_language_holds_when_another_setting_is_bad(monkeypatch):
    monkeypatch.setenv("ENERGY_PORT", "not a port")
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    assert cli_language.language() == "en"
    monkeypatch.setenv("ENERGY_LANGUAGE", "fr")  # the command itself then names that setting
    assert cli_language.language() == "es"


def test_long_work_reports_progress_on_stderr_without_a_terminal():
    result = subprocess.run(
        [sys.executable, "-m", "energy_ui", "simulate", "--count", "25000", "--meters", "1"],
        env={**os.environ, "ENERGY_LANGUAGE": "en"},
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


def test_a_bad_setting_is_one_line_naming_it_not_a_traceback(monkeypatch):
    monkeypatch.setenv("ENERGY_PORT", "eighty")
    result = runner.invoke(app, ["simulate", "--count", "10"])
    assert result.exit_code == 1
    assert "port" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # exited, did not crash
