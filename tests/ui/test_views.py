"""Tabs, the records table and its CSV, language, zoom."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

from nicegui import ui
from nicegui.testing import User

from energy_core import Reading
from energy_ui.dashboard import Dashboard, create_app
from tests.ui.conftest import HISTORY, make_application
from tests.ui.helpers import eventually, one, set_value, text_of
from tests.ui.test_filters import open_tab


async def test_every_tab_draws_its_charts(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    gauge = one(user, "chart-gauge", ui.echart).options["series"][0]
    analysis = dashboard.application.monitor.metrics.latest(1)[0]
    assert gauge["type"] == "gauge"
    assert gauge["data"][0]["value"] == round(analysis.percentage, 2)
    assert gauge["data"][0]["name"] == analysis.health.label("es")
    assert sum(one(user, "chart-by-variable", ui.echart).options["series"][0]["data"]) > 0
    await open_tab(user, "variables")
    series = one(user, "chart-series-current", ui.echart).options
    assert series["yAxis"]["name"] == "Corriente [A]"
    # envelope low edge and width, mean, anomalies, the expected band's low edge and width
    assert [s["type"] for s in series["series"]] == [
        *("line", "line", "line", "scatter"),
        *("line", "line"),
    ]
    await open_tab(user, "comparatives")
    assert len(one(user, "chart-matrix", ui.echart).options["grid"]) == 15  # 6 variables
    await open_tab(user, "anomalies")
    flagged = one(user, "table-anomalies", ui.table).rows
    assert flagged and all(row["score"] is not None for row in flagged)
    assert any(row["top"] for row in flagged)
    threshold = dashboard.application.monitor.models.info().threshold  # type: ignore[union-attr]
    scores = one(user, "chart-scores", ui.echart).options["series"][0]
    assert scores["markLine"]["data"] == [{"yAxis": round(threshold, 4)}]


async def test_the_records_table_pages_the_rows_and_downloads_them_as_csv(
    user: User, dashboard: Dashboard
) -> None:
    monitor = dashboard.application.monitor
    await user.open("/")
    await open_tab(user, "records")
    table = one(user, "table-records", ui.table)
    assert table.pagination["rowsPerPage"] == 15
    assert len(table.rows) == 500
    assert (
        text_of(user, "records-caption")
        == f"500 filas más recientes de {HISTORY} que cumplen los filtros"
    )
    user.find(marker="records-download").click()
    response = await user.download.next()
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert len(rows) == 500
    assert int(rows[0]["id"]) == monitor.queries.last_id()
    assert [row["id"] for row in rows] == [str(row["id"]) for row in table.rows]


async def test_the_csv_neutralises_spreadsheet_formulas(user: User, dashboard: Dashboard) -> None:
    monitor = dashboard.application.monitor
    await user.open("/")
    await open_tab(user, "records")
    batch = monitor.simulator.next_batch(1, at=monitor.clock.now())
    monitor.ingest([replace(batch[0], meter_id='=HYPERLINK("http://x","y")')])
    await eventually(lambda: one(user, "table-records", ui.table).rows[0]["meter"].startswith("="))
    user.find(marker="records-download").click()
    response = await user.download.next()
    first = next(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert first["meter_id"] == '\'=HYPERLINK("http://x","y")'


async def test_a_meter_that_sends_some_variables_shows_gaps_and_blank_cells(
    user: User, dashboard: Dashboard
) -> None:
    monitor = dashboard.application.monitor
    await user.open("/")
    # Minutes after the history's last reading: a bucket of its own (buckets are ~72 s).
    at = monitor.clock.now() + timedelta(minutes=5)
    monitor.ingest([Reading(at, "plug-9", {"voltage": 231.0, "current": 1.5})])
    await open_tab(user, "records")
    await eventually(lambda: one(user, "table-records", ui.table).rows[0]["meter"] == "plug-9")
    row = one(user, "table-records", ui.table).rows[0]
    assert (row["voltage"], row["current"], row["motor_temperature"]) == (231.0, 1.5, None)
    user.find(marker="records-download").click()
    response = await user.download.next()
    first = next(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    assert (first["voltage"], first["motor_temperature"]) == ("231.0", "")
    await open_tab(user, "variables")
    mean = one(user, "chart-series-motor_temperature", ui.echart).options["series"][2]["data"]
    assert list(mean[-1])[1] is None  # a gap, not 0
    voltage = one(user, "chart-series-voltage", ui.echart).options["series"][2]["data"]
    assert list(voltage[-1])[1] == 231.0


async def test_the_language_switches_at_runtime(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    await user.should_see("Lecturas almacenadas")
    set_value(user, "language", "en")
    await user.should_see("Readings stored")
    await user.should_not_see("Lecturas almacenadas")
    await user.should_see("Train model")
    assert text_of(user, "status-readings") == "600"
    await open_tab(user, "variables")
    assert one(user, "chart-series-current", ui.echart).options["yAxis"]["name"] == "Current [A]"
    set_value(user, "language", "es")
    await user.should_see("Variables energéticas")


async def test_zooming_in_requeries_at_finer_resolution(user: User) -> None:
    create_app(make_application(history=3_000), demo=False)
    await user.open("/")
    set_value(user, "filter-sampling", 250)
    await open_tab(user, "variables")
    await eventually(
        lambda: (
            len(one(user, "chart-series-voltage", ui.echart).options["series"][2]["data"]) <= 250
        )
    )
    chart = one(user, "chart-series-voltage", ui.echart)
    before = [point[0] for point in chart.options["series"][2]["data"]]
    low = before[0] + (before[-1] - before[0]) * 0.4
    high = before[0] + (before[-1] - before[0]) * 0.5
    coarse = sum(1 for at in before if low <= at <= high)

    def points_in_window() -> int:
        return sum(1 for point in chart.options["series"][2]["data"] if low <= point[0] <= high)

    user.find(marker="chart-series-voltage").trigger(
        "chart:datazoom", {"batch": [{"start": 40, "end": 50}]}
    )
    await eventually(lambda: points_in_window() > 4 * coarse)
    assert one(user, "chart-series-voltage", ui.echart) is chart  # updated, not rebuilt


async def test_the_records_and_anomalies_tables_say_why_a_reading_was_flagged(
    user: User, dashboard: Dashboard
) -> None:
    monitor = dashboard.application.monitor
    newest = monitor.queries.latest(1)[0]
    later = newest.timestamp + timedelta(seconds=1)
    [stuck] = monitor.readings.add_many(
        [
            Reading(later, "meter-01", {"voltage": 230.0, "current": 5.0}).scored(
                0.99, True, ("voltage", "current"), "stuck"
            )
        ]
    )
    said = "valor congelado: Voltaje, Corriente"
    await user.open("/")
    await open_tab(user, "records")
    records = one(user, "table-records", ui.table)
    assert [col["label"] for col in records.columns][-1] == "Motivo"
    assert {row["id"]: row["top"] for row in records.rows}[stuck.id] == said
    await open_tab(user, "anomalies")
    anomalies = one(user, "table-anomalies", ui.table).rows
    assert {row["id"]: row["top"] for row in anomalies}[stuck.id] == said
