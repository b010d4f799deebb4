"""Users' feedback exported as labels (`smartenergy export --labels`) and read back by
`smartenergy evaluate --label-column label`: the detector's precision and recall on the
user's own data.

In memory the commands share one application the test prepared (as a shared database would
be); on PostgreSQL each command is a separate application on the test database.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from energy_adapters.memory import ManualClock
from energy_core import Reading, ReadingFilter, Simulator
from energy_core.alerts.store import Feedback
from energy_ui import cli
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.cli import app
from energy_ui.settings import Settings
from tests.postgres_support import truncate_all
from tests.strategies import BASE

runner = CliRunner()
FEATURES = "voltage,current,active_power,power_factor,frequency"
"""Variables every simulated meter sends (evaluate refuses an empty cell)."""


@pytest.fixture(autouse=True)
def no_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ENERGY_DATABASE_URL", raising=False)
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    monkeypatch.chdir(tmp_path)  # no .env is read from the repository


def invoke(*arguments: str, expect: int = 0) -> tuple[str, str]:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == expect, (result.stdout, result.stderr)
    return result.stdout, result.stderr


def stored(application: Application) -> list[Reading]:
    return application.monitor.queries.window(ReadingFilter(), limit=None)


def confirm_the_simulated_faults(application: Application) -> int:
    """Mark every fault the simulator injected as a confirmed fault of its kind, as a user
    who went to look would (one verdict per run of faulty readings of a meter and kind)."""
    marks = 0
    for meter in ("meter-01", "meter-02"):
        readings = [r for r in stored(application) if r.meter_id == meter]
        run: list[Reading] = []
        for reading in [*readings, None]:
            same_fault = not run or (
                reading is not None and run[-1].anomaly_kind == reading.anomaly_kind
            )
            if reading is not None and reading.is_anomaly and same_fault:
                run.append(reading)
                continue
            if run:
                application.monitor.give_feedback(
                    Feedback(
                        meter_id=meter,
                        start=run[0].timestamp,
                        end=run[-1].timestamp,
                        verdict="confirmed",
                        by="Ana",
                        at=BASE,
                        fault_kind=run[0].anomaly_kind,
                    )
                )
                marks += 1
                run = [reading] if reading is not None and reading.is_anomaly else []
    return marks


@pytest.fixture
def application(monkeypatch: pytest.MonkeyPatch) -> Application:
    """Two simulated meters' history with its faults confirmed by a user; every command of
    the test runs on this one application."""
    made = bootstrap(
        Settings(_env_file=None, meters=2, seed=3, max_readings=None),
        clock=ManualClock(BASE),
        simulator=Simulator(meters=2, anomaly_ratio=0.03, seed=3),
    )
    made.monitor.generate_history(1_200)
    assert confirm_the_simulated_faults(made) > 5
    monkeypatch.setattr(cli, "bootstrap", lambda settings: made)
    monkeypatch.setattr(made, "close", lambda: None)  # the next command uses it again
    return made


def test_labels_are_one_inside_a_confirmed_fault_with_its_kind(
    application: Application, tmp_path: Path
) -> None:
    invoke("export", str(tmp_path / "labels.csv"), "--labels")
    frame = pl.read_csv(tmp_path / "labels.csv", infer_schema_length=None)
    assert frame.columns[-3:] == ["feedback", "label", "fault_kind"]
    truth = frame["is_anomaly"].cast(pl.Int64)
    assert frame["label"].sum() > 0
    assert frame["label"].to_list() == truth.to_list()
    confirmed = frame.filter(pl.col("label") == 1)
    assert set(confirmed["feedback"]) == {"confirmed"}
    assert confirmed["fault_kind"].to_list() == confirmed["anomaly_kind"].to_list()
    normal = frame.filter(pl.col("label") == 0)
    assert normal["feedback"].null_count() == normal.height  # nobody said anything there


def test_a_later_false_alarm_replaces_a_verdict_and_labels_zero(
    application: Application, tmp_path: Path
) -> None:
    faulty = next(r for r in stored(application) if r.is_anomaly and r.meter_id == "meter-02")
    application.monitor.give_feedback(
        Feedback(
            meter_id="meter-02",
            start=faulty.timestamp,
            end=faulty.timestamp,
            verdict="false_alarm",
            by="Luis",
            at=BASE + timedelta(hours=1),
        )
    )
    invoke("export", str(tmp_path / "labels.csv"), "--labels", "--meter", "meter-02")
    rows = list(csv.DictReader((tmp_path / "labels.csv").open(encoding="utf-8")))
    assert {row["meter_id"] for row in rows} == {"meter-02"}
    [row] = [row for row in rows if row["id"] == str(faulty.id)]
    assert (row["feedback"], row["label"], row["fault_kind"]) == ("false_alarm", "0", "")


def test_a_fault_kind_that_looks_like_a_formula_is_made_inert(
    application: Application, tmp_path: Path
) -> None:
    reading = next(r for r in stored(application) if not r.is_anomaly)
    application.monitor.give_feedback(
        Feedback(
            meter_id=reading.meter_id,
            start=reading.timestamp,
            end=reading.timestamp,
            verdict="confirmed",
            by="Eve",
            at=BASE + timedelta(hours=2),
            fault_kind='=HYPERLINK("http://evil.example","x")',
        )
    )
    invoke("export", str(tmp_path / "labels.csv"), "--labels")
    rows = list(csv.DictReader((tmp_path / "labels.csv").open(encoding="utf-8")))
    [row] = [row for row in rows if row["id"] == str(reading.id)]
    assert row["fault_kind"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["label"] == "1"


def test_parquet_keeps_the_labels_typed(application: Application, tmp_path: Path) -> None:
    invoke("export", str(tmp_path / "labels.parquet"), "--labels")
    frame = pl.read_parquet(tmp_path / "labels.parquet")
    assert frame.schema["label"] == pl.Int8
    assert frame["label"].to_list() == frame["is_anomaly"].cast(pl.Int8).to_list()


def test_without_labels_the_export_is_as_before(application: Application, tmp_path: Path) -> None:
    invoke("export", str(tmp_path / "plain.csv"))
    columns = pl.read_csv(tmp_path / "plain.csv", infer_schema_length=None).columns
    assert not {"feedback", "label", "fault_kind"} & set(columns)


def expected_positives(frame: pl.DataFrame, train_fraction: float = 0.15) -> dict[str, int]:
    """Per meter, the confirmed readings evaluate scores (after each group's fit part)."""
    expected = {}
    for (meter,), group in frame.sort("timestamp", maintain_order=True).group_by(
        "meter_id", maintain_order=True
    ):
        scored = group[math.floor(group.height * train_fraction) :]
        expected[str(meter)] = int(scored["label"].sum())
    return expected


def evaluate_labels(path: Path) -> dict[str, Any]:
    stdout, _ = invoke(
        "evaluate",
        str(path),
        "--label-column",
        "label",
        "--group-column",
        "meter_id",
        "--features",
        FEATURES,
        "--json",
    )
    report: dict[str, Any] = json.loads(stdout)
    return report


def test_evaluate_reads_the_exported_labels_precision_and_recall(
    application: Application, tmp_path: Path
) -> None:
    path = tmp_path / "labels.csv"
    invoke("export", str(path), "--labels")
    report = evaluate_labels(path)
    frame = pl.read_csv(path, infer_schema_length=None)
    by_meter = {
        name.rsplit("[", 1)[1].rstrip("]"): figures["anomalous_rows"]
        for name, figures in report["groups"].items()
    }
    assert by_meter == expected_positives(frame)  # the labels are the users' verdicts
    assert report["anomalous_rows"] > 0
    assert report["precision"] > 0.5 and report["recall"] > 0.3


def test_labels_need_alerts_said_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ENERGY_ALERTS", "false")
    _, stderr = invoke("export", str(tmp_path / "labels.csv"), "--labels", expect=1)
    assert "--labels reads users' feedback, which needs alerts (ENERGY_ALERTS=true)" in stderr
    assert not (tmp_path / "labels.csv").exists()


# --- PostgreSQL: each command its own application, the feedback kept in the database -------
@pytest.fixture
def database(
    pg_engine: Engine, pg_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    truncate_all(pg_engine)
    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    monkeypatch.setenv("ENERGY_METERS", "2")
    monkeypatch.setenv("ENERGY_SEED", "3")
    yield pg_database_url


@pytest.mark.postgres
def test_feedback_given_on_the_database_is_exported_and_evaluated(
    database: str, tmp_path: Path
) -> None:
    invoke("simulate", "--count", "1200")
    given = bootstrap(Settings())  # the dashboard or the API, another process
    try:
        assert confirm_the_simulated_faults(given) > 5
    finally:
        given.close()
    path = tmp_path / "labels.csv"
    invoke("export", str(path), "--labels")
    frame = pl.read_csv(path, infer_schema_length=None)
    assert frame.height == 1_200
    assert frame["label"].to_list() == frame["is_anomaly"].cast(pl.Int64).to_list()
    report = evaluate_labels(path)
    assert report["anomalous_rows"] == sum(expected_positives(frame).values()) > 0
    assert report["precision"] > 0.5 and report["recall"] > 0.3
