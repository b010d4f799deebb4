"""The Meters tab: the fleet, paged, sorted and filtered by the server; a click on a meter
restricts every other tab to it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from energy_core import Reading
from energy_core.ports import FleetQuery
from energy_ui.dashboard import Dashboard
from energy_ui.dashboard.tabs.meters import MetersTab
from tests.ui.conftest import HISTORY, START
from tests.ui.helpers import eventually, one, set_value, text_of

VALUES = {
    "voltage": 230.0,
    "current": 10.0,
    "active_power": 2.0,
    "power_factor": 0.9,
    "frequency": 50.0,
    "motor_temperature": 40.0,
}


@pytest.fixture(autouse=True)
def quick_live_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(MetersTab, "min_interval", 0.05)


def table(user: User) -> ui.table:
    return one(user, "table-meters", ui.table)


def meter_ids(user: User) -> list[str]:
    return [row["meter_id"] for row in table(user).rows]


async def open_meters(user: User) -> ui.table:
    user.find(marker="tab-meters").click()
    await user.should_see(marker="table-meters")
    await eventually(lambda: table(user).pagination.get("rowsNumber", 0) > 0)
    return table(user)


def add_meters(dashboard: Dashboard, count: int) -> None:
    """``count`` more meters, fleet-00 … , one reading each a minute ago."""
    readings = [
        Reading(timestamp=START - timedelta(minutes=1), meter_id=f"fleet-{n:02d}", values=VALUES)
        for n in range(count)
    ]
    dashboard.application.monitor.readings.add_many(readings)


def request(user: User, **pagination: Any) -> None:
    """What Quasar sends when the user pages or sorts a server-paginated table."""
    current = dict(table(user).pagination)
    user.find(marker="table-meters").trigger("request", {"pagination": {**current, **pagination}})


async def test_the_tab_shows_one_row_per_meter_as_the_fleet_query_answers(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    meters = await open_meters(user)
    expected = dashboard.application.meters_overview(FleetQuery()).rows
    assert meter_ids(user) == ["meter-01", "meter-02"] == [row.meter_id for row in expected]
    first = meters.rows[0]
    assert first["last_seen"] == expected[0].last_seen.strftime("%Y-%m-%d %H:%M:%S")
    assert first["cadence"] == "4 min"  # the test history: one reading per meter every 4 min
    assert first["readings_last_hour"] == expected[0].readings_last_hour > 0
    assert first["flagged_last_hour"] == expected[0].flagged_last_hour
    assert first["health"] == expected[0].health.label("es")  # type: ignore[union-attr]
    assert "Voltaje" in first["variables"]
    assert meters.pagination["rowsNumber"] == 2
    assert text_of(user, "meters-caption") == "2 medidores"


async def test_pages_and_sorting_are_asked_of_the_server(user: User, dashboard: Dashboard) -> None:
    add_meters(dashboard, 30)
    await user.open("/")
    meters = await open_meters(user)
    assert meters.pagination["rowsNumber"] == 32
    assert len(meters.rows) == meters.pagination["rowsPerPage"] == 25
    request(user, page=2)
    await eventually(
        lambda: (
            meter_ids(user)
            == ["fleet-25", *[f"fleet-{n}" for n in range(26, 30)], "meter-01", "meter-02"]
        )
    )
    assert meters.pagination["page"] == 2
    request(user, page=1, sortBy="meter_id", descending=True)
    await eventually(lambda: meter_ids(user)[:3] == ["meter-02", "meter-01", "fleet-29"])
    assert meters.pagination["descending"] is True
    request(user, page=1, sortBy="readings_last_hour", descending=True)
    await eventually(lambda: meter_ids(user)[:2] == ["meter-01", "meter-02"])
    assert meters.pagination["sortBy"] == "readings_last_hour"


async def test_the_browsers_copy_of_the_pagination_does_not_undo_the_servers_page(
    user: User, dashboard: Dashboard
) -> None:
    # Quasar sends its copy of the pagination (update:pagination) whenever the table mounts:
    # the tab first shown, a reconnect. A copy taken before the server's first page arrived
    # (rowsNumber 0, as in the browser against PostgreSQL) must not put the count back to 0:
    # the browser's label would read "1–0 / 0" beside the meters it lists.
    await user.open("/")
    meters = await open_meters(user)
    shown = dict(meters.pagination)
    stale = {**shown, "rowsNumber": 0}
    user.find(marker="table-meters").trigger("update:pagination", stale)
    await asyncio.sleep(0.1)
    assert meters.pagination == shown
    assert meters.pagination["rowsNumber"] == 2
    assert meter_ids(user) == ["meter-01", "meter-02"]
    # Paging still goes to the server, and its answer is what the table keeps.
    request(user, rowsPerPage=10, page=1, sortBy="meter_id", descending=True)
    await eventually(lambda: meter_ids(user) == ["meter-02", "meter-01"])
    assert meters.pagination == {**shown, "rowsPerPage": 10, "descending": True}


async def test_the_search_and_the_health_filter_narrow_the_fleet(
    user: User, dashboard: Dashboard
) -> None:
    add_meters(dashboard, 3)
    await user.open("/")
    await open_meters(user)
    set_value(user, "meters-search", "FLEET-0")
    await eventually(lambda: meter_ids(user) == ["fleet-00", "fleet-01", "fleet-02"])
    assert text_of(user, "meters-caption") == "3 medidores con estos filtros"
    set_value(user, "meters-search", "")
    normal = dashboard.application.meters_overview(FleetQuery(health="normal")).rows
    assert "fleet-00" in [row.meter_id for row in normal]
    set_value(user, "meters-health", "normal")
    await eventually(lambda: meter_ids(user) == [row.meter_id for row in normal])
    set_value(user, "meters-health", "silent")
    await eventually(lambda: meter_ids(user) == [])
    assert text_of(user, "meters-caption") == "0 medidores con estos filtros"


async def test_clicking_a_meter_restricts_every_other_tab_to_it(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    assert text_of(user, "kpi-readings") == str(HISTORY)
    await open_meters(user)
    user.find(marker="table-meters").trigger("rowClick", [{}, {"meter_id": "meter-02"}, 1])
    await eventually(lambda: one(user, "filter-meters", ui.select).value == ["meter-02"])
    await user.should_see(marker="kpi-readings")
    await eventually(lambda: text_of(user, "kpi-meters") == "1")
    assert text_of(user, "kpi-readings") == str(HISTORY // 2)


async def test_a_new_meter_appears_without_a_reload(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    meters = await open_meters(user)
    monitor = dashboard.application.monitor
    newcomer = Reading(timestamp=START, meter_id="newcomer", values=VALUES)
    monitor.ingest([newcomer])
    await eventually(lambda: "newcomer" in meter_ids(user))
    assert one(user, "table-meters", ui.table) is meters
    assert meters.pagination["rowsNumber"] == 3


async def test_the_tab_speaks_english(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    set_value(user, "language", "en")
    await open_meters(user)
    assert text_of(user, "meters-caption") == "2 meters"
    labels = [column["label"] for column in table(user).columns]
    assert "Meter" in labels and "Last seen (UTC)" in labels
    assert "Voltage" in table(user).rows[0]["variables"]
