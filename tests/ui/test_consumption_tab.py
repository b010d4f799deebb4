"""The Consumption tab: kWh by period and meter, the demand curve with its peak, baseload,
load factor, cost and the costliest anomalies, over the side panel's days and meters; new
readings reach it live."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from nicegui import ui
from nicegui.testing import User

from energy_adapters.memory import ManualClock
from energy_core import Reading, Simulator
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.dashboard import Dashboard, create_app
from energy_ui.dashboard.tabs.consumption import ConsumptionTab
from energy_ui.settings import Settings
from tests.energy_support import (
    BURST_AT,
    BURST_END,
    METER,
    burst,
    flag_burst,
    two_kw_for_two_hours,
    write_tariffs,
)
from tests.ui.helpers import eventually, one, set_value, text_of


@pytest.fixture(autouse=True)
def quick_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ConsumptionTab, "min_interval", 0.05)


def constructed(*, with_burst: bool = True, tariffs: Path | None = None) -> Application:
    """The constructed day in memory, the clock at the burst's end (its incident open)."""
    settings = Settings(
        _env_file=None, meters=1, seed=3, demo_history=0, language="es", tariffs=tariffs
    )
    application = bootstrap(
        settings, clock=ManualClock(BURST_END), simulator=Simulator(meters=1, seed=3)
    )
    application.monitor.readings.add_many(two_kw_for_two_hours() + (burst() if with_burst else []))
    if with_burst:
        flag_burst(application)
    return application


async def served(application: Application) -> Dashboard:
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    return dashboard


async def open_tab(user: User) -> None:
    await user.open("/")
    user.find(marker="tab-consumption").click()
    await user.should_see(marker="energy-import")


def chart(user: User, marker: str) -> dict:
    return one(user, marker, ui.echart).options


async def test_a_constant_two_kilowatts_for_two_hours_shows_four_kilowatt_hours(user: User):
    await served(constructed(with_burst=False))
    await open_tab(user)
    await eventually(lambda: text_of(user, "energy-import") == "4,00 kWh")
    assert text_of(user, "energy-peak") == "2,00 kW"
    assert text_of(user, "energy-load-factor") == "1,00"  # flat while it runs
    assert text_of(user, "energy-caption") == (
        "Del 2025-06-02 al 2025-06-02 (UTC) · todos los medidores"
    )
    bars = chart(user, "chart-consumption")
    assert len(bars["xAxis"]["data"]) == 24  # a day: by hour
    [series] = bars["series"]
    assert series["name"] == METER
    assert sum(series["data"]) == pytest.approx(4.0, rel=0.005)
    assert series["data"][8:10] == pytest.approx([2.0, 2.0], rel=0.005)
    rows = one(user, "energy-meters", ui.table).rows
    assert [(row["meter"], row["import"], row["source"]) for row in rows] == [
        (METER, "4,000", "potencia")
    ]
    assert text_of(user, "energy-cost") == "—"  # no ENERGY_TARIFFS


async def test_the_demand_curve_marks_its_peak_and_the_costliest_anomaly_is_listed(user: User):
    await served(constructed())
    await open_tab(user)
    await eventually(lambda: text_of(user, "energy-import") == "5,50 kWh")
    assert text_of(user, "energy-peak") == "6,00 kW"
    assert text_of(user, "energy-peak-at") == "2025-06-02 12:00"
    curve = chart(user, "chart-demand")
    [series] = curve["series"]
    assert len(series["data"]) == 96  # the day's quarter hours
    [peak] = series["markPoint"]["data"]
    assert peak["coord"] == [48, 6.0]  # 12:00, the 49th quarter hour
    assert curve["xAxis"]["data"][48] == "12:00"
    assert series["data"][0] is None  # no data at midnight: a gap, not zero
    [anomaly] = one(user, "energy-anomalies", ui.table).rows
    assert (anomaly["meter"], anomaly["start"], anomaly["duration"]) == (
        METER,
        BURST_AT.strftime("%Y-%m-%d %H:%M"),
        "15m",
    )
    assert anomaly["actual"] == "1,500"


async def test_the_cost_follows_the_tariffs(user: User, tmp_path: Path):
    await served(constructed(tariffs=write_tariffs(tmp_path)))
    await open_tab(user)
    await eventually(lambda: text_of(user, "energy-cost") == "1,30 EUR")
    assert one(user, "energy-meters", ui.table).rows[0]["cost"] == "1,30 EUR"


async def test_the_period_can_be_chosen(user: User):
    await served(constructed())
    await open_tab(user)
    await eventually(lambda: len(chart(user, "chart-consumption")["xAxis"]["data"]) == 24)
    set_value(user, "energy-period", "day")
    await eventually(lambda: chart(user, "chart-consumption")["xAxis"]["data"] == ["2025-06-02"])
    assert chart(user, "chart-consumption")["series"][0]["data"] == pytest.approx([5.5], rel=0.005)


async def test_the_side_panels_days_and_meters_apply(user: User):
    application = constructed()
    application.monitor.readings.add_many(
        [Reading(r.timestamp, "oven-2", {"active_power": 1.0}) for r in two_kw_for_two_hours()]
    )
    await served(application)
    await open_tab(user)
    await eventually(lambda: text_of(user, "energy-import") == "7,50 kWh")
    assert len(chart(user, "chart-consumption")["series"]) == 2
    set_value(user, "filter-meters", ["oven-2"])
    await eventually(lambda: text_of(user, "energy-import") == "2,00 kWh")
    assert "oven-2" in text_of(user, "energy-caption")
    assert one(user, "energy-anomalies", ui.table).rows == []  # the incident is press-1's
    set_value(user, "filter-dates", "2025-06-03 - 2025-06-05")
    await eventually(lambda: text_of(user, "energy-import") == "0,00 kWh")
    assert text_of(user, "energy-caption").startswith("Del 2025-06-03 al 2025-06-05 (UTC)")
    assert chart(user, "chart-consumption")["xAxis"]["data"] == [
        "2025-06-03",
        "2025-06-04",
        "2025-06-05",
    ]  # three days: by day


async def test_new_readings_reach_the_tab_live(user: User):
    dashboard = await served(constructed())
    await open_tab(user)
    await eventually(lambda: text_of(user, "energy-import") == "5,50 kWh")
    monitor = dashboard.application.monitor
    monitor.clock.advance(timedelta(minutes=45))  # type: ignore[attr-defined]
    start = BURST_END + timedelta(minutes=20)  # after a gap: nothing integrated across it
    monitor.ingest(
        [
            Reading(start + timedelta(seconds=10 * k), METER, {"active_power": 4.0})
            for k in range(90)
        ]
    )  # 4 kW for 15 minutes: 1 kWh more
    await eventually(lambda: text_of(user, "energy-import") == "6,50 kWh")
