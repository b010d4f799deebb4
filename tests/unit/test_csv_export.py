"""Exported CSV is safe to open in a spreadsheet: every text cell that a spreadsheet would run
as a formula (``= + - @``, or a leading tab or carriage return, OWASP's list) gets a quote in
front, in the shared writer and in what ``smartenergy export`` writes; Parquet keeps the data
exactly as stored."""

from __future__ import annotations

from dataclasses import replace

import polars as pl
import pytest
from typer.testing import CliRunner

import energy_ui.cli as cli
from energy_core import Reading, Simulator
from energy_ui.csv_io import (
    csv_text,
    export_readings,
    neutralise,
    readings_frame,
    safe_for_spreadsheets,
)
from energy_ui.dashboard.export import readings_csv
from tests.strategies import BASE

HOSTILE = ["=1+1", "+1", "-cmd", "@SUM(A1)", "\tcmd", "\rcmd", '=HYPERLINK("x")']
HARMLESS = ["", "meter-01", "a=b", "voltage_sag", "1+1"]


def hostile_readings() -> list[Reading]:
    """One reading per hostile cell, in the free-text field ``anomaly_kind``."""
    batch = Simulator(meters=1, seed=4).next_batch(len(HOSTILE), at=BASE)
    return [
        replace(reading, id=index + 1, is_anomaly=True, anomaly_kind=cell)
        for index, (reading, cell) in enumerate(zip(batch, HOSTILE, strict=True))
    ]


def read_back(path_or_text: object) -> pl.DataFrame:
    # Every column as text: what a spreadsheet is given, not what polars would infer.
    return pl.read_csv(path_or_text, infer_schema=False)


@pytest.mark.parametrize("cell", HOSTILE)
def test_a_cell_a_spreadsheet_would_run_gets_a_quote_in_front(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", HARMLESS)
def test_other_cells_are_left_alone(cell):
    assert neutralise(cell) == cell


def test_every_text_column_is_neutralised_and_numbers_stay_numbers():
    reading = replace(
        hostile_readings()[0],
        meter_id="@meter",
        top_variables=("-x", "voltage"),
        values={**hostile_readings()[0].values, "active_power": -1.5},
    )
    safe = safe_for_spreadsheets(readings_frame([reading]))
    row = safe.row(0, named=True)
    assert (row["meter_id"], row["anomaly_kind"], row["top_variables"]) == (
        "'@meter",
        "'=1+1",
        "'-x,voltage",
    )
    assert row["active_power"] == -1.5
    assert safe.schema == readings_frame([reading]).schema


def test_the_download_csv_neutralises_every_hostile_cell():
    frame = read_back(csv_text(hostile_readings()).encode())
    assert frame["anomaly_kind"].to_list() == ["'" + cell for cell in HOSTILE]


def test_exported_csv_neutralises_every_hostile_cell(tmp_path):
    path = tmp_path / "out.csv"
    assert export_readings(hostile_readings(), path, "csv") == len(HOSTILE)
    assert read_back(path)["anomaly_kind"].to_list() == ["'" + cell for cell in HOSTILE]


def test_exported_parquet_keeps_the_data_as_stored(tmp_path):
    path = tmp_path / "out.parquet"
    export_readings(hostile_readings(), path, "parquet")
    assert pl.read_parquet(path)["anomaly_kind"].to_list() == HOSTILE


def test_the_export_command_writes_neutralised_csv(monkeypatch, tmp_path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ENERGY_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env is read from the repository
    built = cli.bootstrap

    def with_hostile_readings(*arguments, **options):
        application = built(*arguments, **options)
        application.monitor.readings.add_many(hostile_readings())
        return application

    monkeypatch.setattr(cli, "bootstrap", with_hostile_readings)
    result = CliRunner().invoke(cli.app, ["export", "out.csv"])
    assert result.exit_code == 0, result.output
    exported = read_back(tmp_path / "out.csv")
    assert exported["anomaly_kind"].to_list() == ["'" + cell for cell in HOSTILE]
    assert exported["meter_id"].to_list() == ["meter-01"] * len(HOSTILE)


def test_both_exports_say_which_view_flagged_each_reading(tmp_path):
    batch = Simulator(meters=1, seed=4).next_batch(2, at=BASE)
    readings = [
        batch[0].scored(0.9, True, ("voltage",), "stuck"),
        batch[1].scored(0.1, False),
    ]
    export_readings(readings, tmp_path / "out.csv", "csv")
    assert read_back(tmp_path / "out.csv")["flagged_by"].to_list() == ["stuck", None]
    export_readings(readings, tmp_path / "out.parquet", "parquet")
    assert pl.read_parquet(tmp_path / "out.parquet")["flagged_by"].to_list() == ["stuck", None]
    table = read_back(readings_csv(readings).encode())
    assert table["flagged_by"].to_list() == ["stuck", None]
    assert table.columns.index("flagged_by") == table.columns.index("top_variables") + 1
