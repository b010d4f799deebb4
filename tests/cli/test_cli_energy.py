"""``smartenergy energy`` and ``smartenergy report`` on PostgreSQL, over readings imported with
``smartenergy import`` (issue 18's done-when: a meter at a constant 2 kW for 2 hours is
4.0 kWh, ±0.5 %)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from energy_ui.bootstrap import bootstrap
from energy_ui.cli import app
from energy_ui.settings import Settings
from tests.energy_support import METER, burst, csv_text, flag_burst, two_kw_for_two_hours
from tests.postgres_support import truncate_all

runner = CliRunner()
DAY = ("--start", "2025-06-02", "--end", "2025-06-03")


def invoke(*arguments: str, expect: int = 0) -> str:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == expect, result.output
    return result.output


@pytest.fixture
def database(pg_engine: Engine, pg_database_url: str, monkeypatch, tmp_path) -> Iterator[str]:
    truncate_all(pg_engine)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    for name in ("ENERGY_TIMEZONE", "ENERGY_TARIFFS"):
        monkeypatch.delenv(name, raising=False)
    yield pg_database_url


def imported(tmp_path: Path, *, with_burst: bool = False) -> None:
    """The constructed day into the database through ``smartenergy import``."""
    readings = two_kw_for_two_hours() + (burst() if with_burst else [])
    path = tmp_path / "day.csv"
    path.write_text(csv_text(readings), encoding="utf-8")
    assert f"{len(readings)} accepted" in invoke("import", str(path))


@pytest.mark.postgres
def test_a_constant_two_kilowatts_for_two_hours_says_four_kilowatt_hours(database, tmp_path):
    imported(tmp_path)
    body = json.loads(invoke("energy", *DAY, "--json"))
    assert body["import_kwh"] == pytest.approx(4.0, rel=0.005)
    [meter] = body["meters"]
    assert (meter["meter_id"], meter["import_source"]) == (METER, "power")
    assert meter["import_kwh"] == pytest.approx(4.0, rel=0.005)
    assert [period["label"] for period in body["total"]] == ["2025-06-02"]
    assert body["demand"]["peak_kw"] == pytest.approx(2.0, rel=0.005)
    assert body["cost"] is None


@pytest.mark.postgres
def test_the_table_shows_periods_meters_demand_cost_and_anomalies(database, tmp_path, monkeypatch):
    imported(tmp_path, with_burst=True)
    tariffs = tmp_path / "tariffs.toml"
    from tests.energy_support import TARIFFS

    tariffs.write_text(TARIFFS, encoding="utf-8")
    monkeypatch.setenv("ENERGY_TARIFFS", str(tariffs))
    application = bootstrap(Settings())
    try:
        flag_burst(application)  # an incident, stored in PostgreSQL's alert tables
    finally:
        application.close()
    shown = invoke("energy", *DAY, "--period", "hour")
    assert "Energy from 2025-06-02 00:00 to 2025-06-03 00:00 (UTC), by hour" in shown
    assert "2025-06-02T08:00+00:00" in shown and "2.000" in shown  # 08:00–09:00: 2 kWh
    assert "Total: 5.500 kWh used, 0.000 kWh exported" in shown
    assert "Peak demand 6.00 kW (2025-06-02 12:00)" in shown
    assert "Cost: 1.30 EUR (energy 0.70, demand 0.60)" in shown  # demand: 3 EUR/kW × 6 kW / 30
    assert "Costliest anomalies" in shown and "1.500" in shown
    body = json.loads(invoke("energy", *DAY, "--json", "--meter", METER))
    [anomaly] = body["anomalies"]
    assert (anomaly["meter_id"], anomaly["start"]) == (METER, "2025-06-02T12:00:00Z")
    assert anomaly["actual_kwh"] == pytest.approx(1.5, rel=0.01)
    assert body["cost"]["total"] == pytest.approx(1.30, abs=0.01)


@pytest.mark.postgres
def test_the_monthly_report_writes_a_page_and_a_csv(database, tmp_path, monkeypatch):
    imported(tmp_path)
    monkeypatch.setenv("ENERGY_LANGUAGE", "es")
    folder = tmp_path / "reports"
    said = invoke("report", "--month", "2025-06", "--out", str(folder))
    page = folder / "energy-report-2025-06.html"
    table = folder / "energy-report-2025-06.csv"
    assert f"informe de 2025-06: {page} y {table}" in " ".join(said.split())
    html = page.read_text(encoding="utf-8")
    assert "Informe energético 2025-06" in html and "4,00 kWh" in html
    assert html.count("<svg ") == 2 and "<script" not in html
    rows = table.read_text(encoding="utf-8").splitlines()
    assert rows[0].startswith("period,start,end,meter_id,import_kwh")
    day = next(row for row in rows if row.startswith("2025-06-02,") and f",{METER}," in row)
    assert float(day.split(",")[4]) == pytest.approx(4.0, rel=0.005)


@pytest.mark.postgres
def test_dates_are_local_days_of_the_energy_time_zone(database, tmp_path, monkeypatch):
    imported(tmp_path)
    monkeypatch.setenv("ENERGY_TIMEZONE", "America/New_York")  # 08:00 UTC is 04:00 there
    body = json.loads(
        invoke("energy", "--start", "2025-06-02", "--end", "2025-06-02T06:00", "--json")
    )
    assert body["start"] == "2025-06-02T04:00:00Z"
    assert body["import_kwh"] == pytest.approx(4.0, rel=0.005)
    early = json.loads(
        invoke("energy", "--start", "2025-06-02", "--end", "2025-06-02T05:00", "--json")
    )
    assert early["import_kwh"] == pytest.approx(2.0, rel=0.01)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (("energy", "--start", "June", "--end", "2025-06-03"), "--start"),
        (("energy", "--start", "2025-06-03", "--end", "2025-06-02"), "end"),
        (("report", "--month", "2025-13"), "month"),
    ],
)
def test_a_bad_window_is_one_line_naming_it(database, arguments, named):
    said = invoke(*arguments, expect=1)
    assert said.startswith("error:") and f"{named}: " in said
    assert "Traceback" not in said


@pytest.mark.parametrize("command", [("energy", *DAY), ("report",)])
def test_without_a_database_they_refuse(monkeypatch, tmp_path, command):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("ENERGY_LANGUAGE", "en")
    said = invoke(*command, expect=1)
    assert f"`{command[0]}` needs shared storage" in said
