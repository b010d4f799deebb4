"""Every filter changes what the tabs show."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing import User

from energy_core import ReadingFilter
from energy_ui.dashboard import Dashboard
from tests.ui.conftest import HISTORY
from tests.ui.helpers import eventually, one, set_value, text_of


def records(user: User) -> list[dict]:
    return list(one(user, "table-records", ui.table).rows)


async def open_tab(user: User, name: str) -> None:
    user.find(marker=f"tab-{name}").click()
    await user.should_see(
        marker={
            "records": "table-records",
            "variables": "chart-series-voltage",
            "comparatives": "chart-matrix",
            "anomalies": "chart-scores",
            "general": "kpi-readings",
        }[name]
    )


async def open_every_tab(user: User) -> None:
    """Open each tab in turn, waiting for what it draws: a page that fails shows here."""
    for name in ("variables", "comparatives", "anomalies", "records", "general"):
        await open_tab(user, name)


async def wait_reloaded(user: User, marker: str, before: str) -> None:
    await eventually(lambda: text_of(user, marker) != before)


async def test_the_state_filter_keeps_only_flagged_readings(
    user: User, dashboard: Dashboard
) -> None:
    repo = dashboard.application.monitor.readings
    flagged = repo.count(ReadingFilter(state="anomalous"))
    assert 0 < flagged < HISTORY
    await user.open("/")
    assert text_of(user, "kpi-readings") == str(HISTORY)
    set_value(user, "filter-state", "anomalous")
    await eventually(lambda: text_of(user, "kpi-readings") == str(flagged))
    assert text_of(user, "kpi-share") == "100,0 %"
    await open_tab(user, "records")
    assert {row["state"] for row in records(user)} == {"Anómalo"}
    set_value(user, "filter-state", "normal")
    await eventually(lambda: {row["state"] for row in records(user)} == {"Normal"})
    await open_tab(user, "general")
    assert text_of(user, "kpi-readings") == str(HISTORY - flagged)


async def test_the_meter_filter_keeps_one_meters_readings(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    assert text_of(user, "kpi-meters") == "2"
    set_value(user, "filter-meters", ["meter-02"])
    await eventually(lambda: text_of(user, "kpi-meters") == "1")
    assert text_of(user, "kpi-readings") == str(HISTORY // 2)
    await open_tab(user, "records")
    assert {row["meter"] for row in records(user)} == {"meter-02"}


async def test_the_date_range_keeps_those_utc_days(user: User, dashboard: Dashboard) -> None:
    repo = dashboard.application.monitor.readings
    on_march_first = [r for r in repo.window(ReadingFilter()) if r.timestamp.day == 1]
    await user.open("/")
    set_value(user, "filter-dates", "2025-03-01 - 2025-03-01")
    await eventually(lambda: text_of(user, "kpi-readings") == str(len(on_march_first)))
    assert text_of(user, "kpi-span").startswith("2025-03-01 00:00")
    set_value(user, "filter-dates", None)
    await eventually(lambda: text_of(user, "kpi-readings") == str(HISTORY))


async def test_the_variables_filter_decides_the_charts_and_columns(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    set_value(user, "filter-variables", ["current", "voltage"])
    await eventually(lambda: len(one(user, "table-stats", ui.table).rows) == 2)
    await open_tab(user, "variables")
    await user.should_see(marker="chart-series-current")
    await user.should_not_see(marker="chart-series-frequency")
    await open_tab(user, "comparatives")
    matrix = one(user, "chart-matrix", ui.echart)
    assert len(matrix.options["series"]) == 2  # one pair: normal and flagged
    await open_tab(user, "records")
    names = [column["name"] for column in one(user, "table-records", ui.table).columns]
    assert "voltage" in names and "current" in names and "frequency" not in names


async def test_sampling_bounds_every_chart(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    set_value(user, "filter-sampling", 250)
    await open_tab(user, "variables")
    await eventually(
        lambda: (
            sum(one(user, "chart-histogram-voltage", ui.echart).options["series"][0]["data"])
            + sum(one(user, "chart-histogram-voltage", ui.echart).options["series"][1]["data"])
            == 250
        )
    )
    series = one(user, "chart-series-voltage", ui.echart).options["series"]
    assert 0 < len(series[2]["data"]) <= 250
    await open_tab(user, "comparatives")
    pair = one(user, "chart-matrix", ui.echart).options["series"]
    assert len(pair[0]["data"]) + len(pair[1]["data"]) == 250


async def test_the_row_limit_bounds_the_table(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    await open_tab(user, "records")
    assert len(records(user)) == 500
    set_value(user, "filter-row-limit", 100)
    await eventually(lambda: len(records(user)) == 100)
    assert records(user)[0]["id"] == dashboard.application.monitor.queries.last_id()
