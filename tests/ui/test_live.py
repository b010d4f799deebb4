"""Live push: what is ingested reaches open pages without a reload; alerts; pause."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from nicegui import ui
from nicegui.testing import User

from energy_core import ChangeEvent, HealthState
from energy_ui.dashboard import Dashboard
from tests.ui.conftest import HISTORY
from tests.ui.helpers import eventually, one, set_value, text_of
from tests.ui.test_filters import open_tab


def ingest(dashboard: Dashboard, count: int = 4) -> list[int]:
    """Ingest ``count`` new readings through the Monitor, as the demo or the API would."""
    monitor = dashboard.application.monitor
    monitor.clock.advance(timedelta(seconds=count))  # type: ignore[attr-defined]
    report = monitor.stream_tick(count, timedelta(seconds=count))
    return [reading.id for reading in report.stored if reading.id is not None]


async def test_a_reading_ingested_through_the_monitor_appears_without_reload(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    client = user.client
    await open_tab(user, "records")
    table = one(user, "table-records", ui.table)
    ids = ingest(dashboard)
    await eventually(lambda: f"#{ids[-1]}" in text_of(user, "status-latest"))
    assert text_of(user, "status-readings") == str(HISTORY + len(ids))
    await eventually(lambda: table.rows[0]["id"] == ids[-1])
    assert [row["id"] for row in table.rows[: len(ids)]] == list(reversed(ids))
    assert one(user, "table-records", ui.table) is table  # rows updated in place
    assert user.client is client  # same page, never reloaded


async def test_live_readings_extend_the_charts_in_place(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    await open_tab(user, "variables")
    chart = one(user, "chart-series-voltage", ui.echart)
    series_count = len(chart.options["series"])
    last_bucket = chart.options["series"][2]["data"][-1][0]
    histogram = one(user, "chart-histogram-voltage", ui.echart)
    counted = sum(histogram.options["series"][0]["data"]) + sum(
        histogram.options["series"][1]["data"]
    )
    dashboard.application.monitor.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    ingest(dashboard, 6)
    await eventually(lambda: chart.options["series"][2]["data"][-1][0] > last_bucket)
    assert len(chart.options["series"]) == series_count
    assert one(user, "chart-series-voltage", ui.echart) is chart
    total = sum(histogram.options["series"][0]["data"]) + sum(
        histogram.options["series"][1]["data"]
    )
    assert total == counted + 6


async def test_every_open_browser_receives_the_update(
    user: User, create_user: Callable[[], User], dashboard: Dashboard
) -> None:
    other = create_user()
    await user.open("/")
    await other.open("/")
    ids = ingest(dashboard)
    for browser in (user, other):
        await eventually(lambda browser=browser: f"#{ids[-1]}" in text_of(browser, "status-latest"))


async def test_a_new_analysis_updates_status_and_gauge(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    history = one(user, "chart-history", ui.echart)
    assert len(history.options["series"][0]["data"]) == 1
    snapshot = dashboard.application.monitor.analyse()
    await eventually(lambda: len(history.options["series"][0]["data"]) == 2)
    assert "pp vs. el anterior" in text_of(user, "status-delta")
    gauge = one(user, "chart-gauge", ui.echart).options["series"][0]
    assert gauge["data"][0]["value"] == round(snapshot.percentage, 2)


async def test_pausing_live_mode_freezes_the_page_until_resumed(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    set_value(user, "live-switch", False)
    await user.should_see(marker="paused")
    before = text_of(user, "status-latest")
    ids = ingest(dashboard)
    await dashboard.producer.pump()
    assert text_of(user, "status-latest") == before
    set_value(user, "live-switch", True)
    await eventually(lambda: f"#{ids[-1]}" in text_of(user, "status-latest"))
    await user.should_not_see(marker="paused")


def publish_analysis(dashboard: Dashboard, percentage: float) -> None:
    monitor = dashboard.application.monitor
    previous = monitor.metrics.latest(1)[0]
    snapshot = replace(
        previous,
        id=None,
        computed_at=monitor.clock.now(),
        percentage=percentage,
        health=monitor.settings.thresholds.state(percentage),
        delta_percentage=percentage - previous.percentage,
    )
    stored = monitor.metrics.add(snapshot)
    monitor.feed.publish(ChangeEvent("metrics", count=1, last_id=stored.id))


async def test_health_alerts_follow_changes_with_hysteresis(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    publish_analysis(dashboard, 3.0)  # Normal, whatever the seeded analysis said
    await dashboard.producer.pump()
    user.notify.messages.clear()

    publish_analysis(dashboard, 6.0)
    await user.should_see("Estado de salud: Normal → Precaución (6,0 % anómalas)")
    publish_analysis(dashboard, 4.6)  # below 5 % but within the 1 pp band: no flapping
    await eventually(lambda: text_of(user, "status-analysis") == "4,6 %")
    assert text_of(user, "status-health") == HealthState.NORMAL.label("es")
    publish_analysis(dashboard, 5.2)
    await eventually(lambda: text_of(user, "status-analysis") == "5,2 %")
    publish_analysis(dashboard, 3.9)
    await user.should_see("Estado de salud: Precaución → Normal (3,9 % anómalas)")
    alerts = [m for m in user.notify.messages if m.startswith("Estado de salud")]
    assert alerts == [
        "Estado de salud: Normal → Precaución (6,0 % anómalas)",
        "Estado de salud: Precaución → Normal (3,9 % anómalas)",
    ]
    latest = dashboard.application.monitor.metrics.latest(1)[0]
    assert (latest.percentage, latest.health) == (3.9, HealthState.NORMAL)
