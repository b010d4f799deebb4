from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from energy_ui.cli_evaluate import drill, evaluate

app = typer.Typer()
app.command()(evaluate)
app.command()(drill)
runner = CliRunner()


def write(tmp_path):
    rng = np.random.default_rng(0)
    n = 150
    frame = pd.DataFrame(
        {
            "datetime": pd.date_range("2024-01-01", periods=n, freq="s").astype(str),
            "a": rng.normal(0, 1, n),
            "b": rng.normal(3, 1, n),
            "anomaly": [0] * 130 + [1] * 20,
        }
    )
    frame.loc[130:, "a"] += 30.0
    path = tmp_path / "run.csv"
    frame.to_csv(path, sep=";", index=False)
    return path


def evaluate_written(path, *options):
    """``evaluate`` on the file ``write`` made: trained on its first 80 rows, columns a and b."""
    return runner.invoke(
        app,
        ["evaluate", str(path), "--sep", ";", "--train-rows", "80", "--features", "a,b", *options],
    )


def small_drill():
    """``drill --json`` on one meter, 800 training and 400 drill readings: quick."""
    return runner.invoke(
        app,
        [
            "drill",
            "--meters",
            "1",
            "--training-readings",
            "800",
            "--drill-readings",
            "400",
            "--json",
        ],
    )


def test_evaluate_prints_a_table_and_ends_with_one_json_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    path = write(tmp_path)
    result = evaluate_written(path, "--json")
    assert result.exit_code == 0, result.output
    assert "pooled" in result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert payload["recall"] > 0.9
    assert {"roc_auc", "average_precision", "precision", "f1", "false_alarm_rate"} <= payload.keys()


def test_evaluate_names_the_file_column_and_line_of_bad_input(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("datetime;a;anomaly\n2024-01-01 00:00:00;1;0\n2024-01-01 00:00:01;2;x\n")
    result = runner.invoke(app, ["evaluate", str(path), "--sep", ";", "--train-rows", "2"])
    assert result.exit_code == 1  # bad data, not a usage error
    assert "bad.csv, line 3, column 'anomaly'" in result.stderr


def test_drill_prints_each_kind_and_json():
    result = small_drill()
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert len(payload["results"]) == 8
    assert "stuck_sensor" in result.output


def test_evaluate_json_alone_on_stdout_so_it_pipes_into_jq(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    path = write(tmp_path)
    result = evaluate_written(path, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["rows"] == 70
    assert "pooled" in result.stderr  # the table, for the person at the terminal


def test_evaluate_without_json_prints_the_table_on_stdout(tmp_path, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    path = write(tmp_path)
    result = evaluate_written(path)
    assert result.exit_code == 0, result.output
    assert "pooled" in result.stdout


@pytest.mark.parametrize(
    ("language", "title", "words", "other_title"),
    [
        (
            "es",
            "filas puntuadas con su propio umbral",
            ("fichero", "filas", "exhaustividad", "conjunto"),
            "scored rows at its own threshold",
        ),
        (
            "en",
            "scored rows at its own threshold",
            ("file", "rows", "recall", "pooled"),
            "filas puntuadas con su propio umbral",
        ),
    ],
)
def test_evaluate_prints_its_table_in_the_language_of_the_setting(
    tmp_path, monkeypatch, language, title, words, other_title
):
    monkeypatch.setenv("ENERGY_LANGUAGE", language)
    path = write(tmp_path)
    result = evaluate_written(path)
    assert result.exit_code == 0, result.output
    assert title in result.stdout and other_title not in result.stdout
    assert all(word in result.stdout for word in words)


def test_evaluate_json_is_the_same_in_both_languages(tmp_path, monkeypatch):
    path = write(tmp_path)
    arguments = ["evaluate", str(path), "--sep", ";", "--train-rows", "80", "--json"]
    printed = {}
    for language in ("es", "en"):
        monkeypatch.setenv("ENERGY_LANGUAGE", language)
        result = runner.invoke(app, arguments)
        assert result.exit_code == 0, result.output
        printed[language] = result.stdout
    assert printed["es"] == printed["en"]
    assert json.loads(printed["es"])["rows"] == 70


@pytest.mark.parametrize(
    ("language", "message"), [("es", "nope.csv: no existe"), ("en", "nope.csv: no such file")]
)
def test_evaluate_names_a_missing_file_in_the_language_of_the_setting(
    tmp_path, monkeypatch, language, message
):
    monkeypatch.setenv("ENERGY_LANGUAGE", language)
    result = runner.invoke(app, ["evaluate", str(tmp_path / "nope.csv")])
    assert result.exit_code == 1
    assert message in result.stderr


def test_drill_json_alone_on_stdout():
    result = small_drill()
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["results"]) == 8


@pytest.mark.parametrize(
    "options",
    [
        ["--train-rows", "1"],
        ["--train-rows", "10", "--train-fraction", "0.5"],
        ["--train-fraction", "1.5"],
        ["--probation-fraction", "0"],
        ["--detector", "no_such_detector"],
    ],
)
def test_evaluate_exits_2_on_a_usage_error(tmp_path, options):
    path = write(tmp_path)
    result = runner.invoke(app, ["evaluate", str(path), "--sep", ";", *options])
    assert result.exit_code == 2, result.output


@pytest.mark.parametrize(
    "options", [["--meters", "0"], ["--detector", "nope"], ["--anomaly-ratio", "2"]]
)
def test_drill_exits_2_on_a_usage_error(options):
    result = runner.invoke(app, ["drill", *options])
    assert result.exit_code == 2, result.output


def test_evaluate_exits_1_on_a_missing_file_or_windows_file(tmp_path):
    path = write(tmp_path)
    missing = runner.invoke(app, ["evaluate", str(tmp_path / "nope.csv")])
    assert missing.exit_code == 1
    assert "nope.csv" in missing.stderr
    no_windows = runner.invoke(
        app, ["evaluate", str(path), "--sep", ";", "--windows", str(tmp_path / "w.json")]
    )
    assert no_windows.exit_code == 1
    assert "w.json" in no_windows.stderr


def test_evaluate_reads_a_data_set_path_from_the_shared_folder_when_the_data_folder_lacks_it(
    tmp_path, monkeypatch
):
    checkout = tmp_path / "checkout"
    shared = tmp_path / "shared" / "data" / "skab" / "valve1"
    shared.mkdir(parents=True)
    checkout.mkdir()
    write(shared).rename(shared / "0.csv")
    monkeypatch.chdir(checkout)
    monkeypatch.delenv("ENERGY_DATA_DIR", raising=False)
    # As the shell passes an unmatched glob: the pattern itself.
    result = runner.invoke(
        app,
        ["evaluate", "data/skab/valve1/*.csv", "--sep", ";", "--train-rows", "80", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 70


def test_evaluate_falls_back_for_paths_in_the_data_folder_it_is_given(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    shared = tmp_path / "shared" / "data" / "skab" / "valve1"
    shared.mkdir(parents=True)
    checkout.mkdir()
    write(shared).rename(shared / "7.csv")
    monkeypatch.chdir(checkout)
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    arguments = ["evaluate", "mine/skab/valve1/7.csv", "--sep", ";", "--train-rows", "80"]
    result = runner.invoke(app, [*arguments, "--data-dir", "mine", "--json"])
    assert result.exit_code == 0, result.output
    [name] = json.loads(result.stdout)["files"]
    assert Path(name).resolve() == (shared / "7.csv").resolve()
    # Outside the data folder a missing path is just missing.
    outside = runner.invoke(app, [*arguments, "--data-dir", "data"])
    assert outside.exit_code == 1
    assert "mine/skab/valve1/7.csv: no such file" in outside.stderr


def test_evaluate_says_how_to_fetch_a_missing_data_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ENERGY_DATA_DIR", raising=False)
    result = runner.invoke(app, ["evaluate", "data/nab/machine_temperature_system_failure.csv"])
    assert result.exit_code == 1
    assert "smartenergy datasets fetch nab" in result.stderr


def test_evaluate_takes_a_holiday_calendar_and_names_an_unknown_one(tmp_path):
    path = write(tmp_path)
    assert evaluate_written(path, "--holidays", "ES", "--json").exit_code == 0
    result = evaluate_written(path, "--holidays", "XX")
    assert result.exit_code == 1
    assert "unknown holiday calendar 'XX'" in result.stderr
