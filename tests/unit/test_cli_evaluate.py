from __future__ import annotations

import json

import numpy as np
import pandas as pd
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


def test_evaluate_prints_a_table_and_ends_with_one_json_line(tmp_path):
    path = write(tmp_path)
    result = runner.invoke(
        app,
        ["evaluate", str(path), "--sep", ";", "--train-rows", "80", "--features", "a,b", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert "pooled" in result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert payload["recall"] > 0.9
    assert {"roc_auc", "average_precision", "precision", "f1", "false_alarm_rate"} <= payload.keys()


def test_evaluate_names_the_file_column_and_line_of_bad_input(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("datetime;a;anomaly\n2024-01-01 00:00:00;1;0\n2024-01-01 00:00:01;2;x\n")
    result = runner.invoke(app, ["evaluate", str(path), "--sep", ";", "--train-rows", "2"])
    assert result.exit_code == 2
    assert "bad.csv, line 3, column 'anomaly'" in result.output


def test_drill_prints_each_kind_and_json():
    result = runner.invoke(
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
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert len(payload["results"]) == 8
    assert "stuck_sensor" in result.output
