"""`smartenergy meters`: the fleet from the command line, as a table or JSON alone on stdout."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from energy_core import Reading
from energy_ui.cli import app
from tests.postgres_support import truncate_all

runner = CliRunner()
VALUES = {"voltage": 230.0, "current": 10.0, "active_power": 2.0}


@pytest.fixture
def no_database(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ENERGY_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env is read from the repository


def test_meters_refuses_without_a_shared_database(no_database):
    result = runner.invoke(app, ["meters"])
    assert result.exit_code == 1
    assert "DATABASE_URL" in result.output


@pytest.mark.parametrize(
    ("arguments", "option"),
    [
        (["--sort", "colour"], "--sort"),
        (["--limit", "0"], "--limit"),
        (["--limit", "501"], "--limit"),
        (["--page", "0"], "--page"),
        (["--health", "sick"], "--health"),
    ],
)
def test_an_option_out_of_its_rules_is_a_usage_error_naming_it(no_database, arguments, option):
    result = runner.invoke(app, ["meters", *arguments])
    assert result.exit_code == 2
    assert option in result.output


@pytest.fixture
def fleet(
    pg_engine: Engine, pg_stores, pg_database_url: str, monkeypatch, tmp_path
) -> Iterator[None]:
    """Three meters stored a minute apart up to now: m-critical flags 3 of 4 readings,
    m-normal none, m-silent sent its last two hours ago."""
    truncate_all(pg_engine)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    now = datetime.now(UTC)
    readings = []
    for meter, end, flagged in (
        ("m-critical", now, 3),
        ("m-normal", now, 0),
        ("m-silent", now - timedelta(hours=2), 0),
    ):
        for k in range(4):
            plain = Reading(timestamp=end - timedelta(minutes=k), meter_id=meter, values=VALUES)
            readings.append(plain.scored(0.5, k < flagged))
    pg_stores.readings.add_many(sorted(readings, key=lambda reading: reading.timestamp))
    yield


@pytest.mark.postgres
def test_meters_json_is_alone_on_stdout_and_answers_like_the_api(fleet):
    result = runner.invoke(app, ["meters", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["total"] == 3
    rows = {row["meter_id"]: row for row in body["items"]}
    assert list(rows) == ["m-critical", "m-normal", "m-silent"]
    assert rows["m-critical"]["health"] == "critical"
    assert rows["m-critical"]["flagged_last_hour"] == 3
    assert rows["m-critical"]["variables"] == ["voltage", "current", "active_power"]
    assert rows["m-critical"]["cadence_s"] == 60.0
    assert rows["m-silent"]["health"] == "silent"


@pytest.mark.postgres
def test_meters_sorts_filters_and_limits_on_the_server(fleet):
    worst = json.loads(
        runner.invoke(
            app, ["meters", "--json", "--sort", "health", "--desc", "--limit", "1"]
        ).stdout
    )
    assert [row["meter_id"] for row in worst["items"]] == ["m-critical"]
    assert worst["total"] == 3 and worst["page_size"] == 1
    second = json.loads(
        runner.invoke(app, ["meters", "--json", "--limit", "1", "--page", "2"]).stdout
    )
    assert [row["meter_id"] for row in second["items"]] == ["m-normal"]
    silent = json.loads(runner.invoke(app, ["meters", "--json", "--health", "silent"]).stdout)
    assert [row["meter_id"] for row in silent["items"]] == ["m-silent"]
    found = json.loads(runner.invoke(app, ["meters", "--json", "--contains", "NORM"]).stdout)
    assert [row["meter_id"] for row in found["items"]] == ["m-normal"]


@pytest.mark.postgres
def test_meters_prints_a_table_of_the_page_and_the_total(fleet, monkeypatch):
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    result = runner.invoke(app, ["meters", "--sort", "last_seen", "--desc"])
    assert result.exit_code == 0, result.output
    assert "m-critical" in result.stdout and "m-silent" in result.stdout
    assert result.stdout.index("m-silent") > result.stdout.index("m-normal")
    assert "Critical" in result.stdout and "Silent" in result.stdout
    assert "3 meters" in result.stdout
