"""The dashboard's data when meters send different subsets: a variable nobody sent in a bucket
is a gap (ECharts null), never 0; histograms, scatter plots and marks leave such readings
out; the records table and the CSV/Parquet exports leave the cell empty."""

from __future__ import annotations

import io
import json
import math
from datetime import UTC, datetime, timedelta

import polars as pl

from energy_core import Bucket, Reading
from energy_ui.csv_io import export_readings, readings_frame
from energy_ui.dashboard.charts import envelope_options
from energy_ui.dashboard.export import readings_csv
from energy_ui.dashboard.series import Envelope, Histogram, ScatterPair, anomaly_marks, epoch_ms

T0 = datetime(2025, 3, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def plug(minutes: float, **values: float) -> Reading:
    return Reading(T0 + minutes * MINUTE, "plug-1", values, score=0.2, is_flagged=False, id=1)


def test_a_bucket_without_the_variable_is_a_gap_in_every_series():
    buckets = [
        Bucket(T0, 2, 40.0, 42.0, 41.0, 0),
        Bucket(T0 + MINUTE, 0, math.nan, math.nan, math.nan, 1),
        Bucket(T0 + 2 * MINUTE, 1, 43.0, 43.0, 43.0, 0),
    ]
    low, band, mean = Envelope.from_buckets("motor_temperature", buckets, MINUTE, 10).points()
    gap = epoch_ms(T0 + MINUTE)
    assert low[1] == (gap, None) and mean[1] == (gap, None)
    assert band[1] == (gap, None, None, 1)
    assert mean[0] == (epoch_ms(T0), 41.0) and mean[2][1] == 43.0
    # The options a browser gets are valid JSON: null, never NaN.
    options = envelope_options("motor_temperature", (low, band, mean), [], "en")
    assert "NaN" not in json.dumps(options)


def test_a_live_reading_without_the_variable_opens_a_gap_a_later_one_fills():
    envelope = Envelope.from_buckets("voltage", [Bucket(T0, 1, 230.0, 230.0, 230.0, 0)], MINUTE, 5)
    envelope.add(plug(1.2, current=2.0))
    assert envelope.points()[2][-1] == (epoch_ms(T0 + MINUTE), None)
    envelope.add(plug(1.5, voltage=231.0))
    assert envelope.points()[2][-1] == (epoch_ms(T0 + MINUTE), 231.0)
    assert [slot.count for slot in envelope.slots] == [1, 1]


def test_histograms_scatter_plots_and_marks_leave_out_readings_without_the_variable():
    readings = [plug(index, voltage=230.0 + index) for index in range(12)]
    readings += [plug(20, current=3.0)]
    histogram = Histogram.of("current", readings)
    assert sum(histogram.normal) == 1
    Histogram.of("voltage", readings).add(plug(30, current=1.0))
    pair = ScatterPair.of("voltage", "current", readings, limit=100)
    assert pair.normal.points == []
    flagged = Reading(T0, "plug-1", {"current": 9.0}, is_flagged=True, top_variables=("current",))
    assert anomaly_marks([flagged], "voltage") == []


def test_the_records_csv_leaves_a_variable_not_sent_empty():
    text = readings_csv([plug(0, voltage=230.5)], ("voltage", "current"))
    header, line = text.strip().split("\n")
    cells = dict(zip(header.split(","), line.split(","), strict=True))
    assert (cells["voltage"], cells["current"]) == ("230.5", "")


def test_exports_have_empty_cells_and_parquet_nulls_for_variables_not_sent(tmp_path):
    readings = [plug(0, voltage=230.5, energy_import=12.0), plug(1, current=0.0)]
    frame = readings_frame(readings)
    assert frame["voltage"].to_list() == [230.5, None]
    assert frame["current"].to_list() == [None, 0.0]  # a zero sent stays a zero
    export_readings(readings, tmp_path / "out.csv", "csv")
    exported = pl.read_csv(tmp_path / "out.csv", infer_schema=False)
    assert exported["voltage"].to_list() == ["230.5", None]  # an empty cell
    assert exported["current"].to_list() == [None, "0.0"]
    export_readings(readings, tmp_path / "out.parquet", "parquet")
    parquet = pl.read_parquet(tmp_path / "out.parquet")
    assert parquet["energy_import"].to_list() == [12.0, None]
    assert io.StringIO((tmp_path / "out.csv").read_text()).readline().startswith("id,timestamp")


def test_energy_plugs_makes_the_demo_a_mixed_fleet(monkeypatch):
    from energy_adapters.memory import ManualClock
    from energy_ui.bootstrap import bootstrap
    from energy_ui.settings import Settings

    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("ENERGY_PLUGS", "1")
    settings = Settings(_env_file=None, meters=2, seed=2, history_cadence_s=60)
    application = bootstrap(settings, clock=ManualClock(T0))
    monitor = application.monitor
    assert monitor.simulator.meter_ids == ("meter-01", "meter-02", "plug-01")
    monitor.generate_history(600)
    assert monitor.train().features == (
        "voltage",
        "current",
        "active_power",
        "power_factor",
        "frequency",
        "motor_temperature",
    )
    report = monitor.stream_tick(batch_size=6)
    plugs = [reading for reading in report.stored if reading.meter_id == "plug-01"]
    assert plugs and all(reading.is_scored for reading in report.stored)
    assert all("motor_temperature" not in reading.values for reading in plugs)
    application.close()
