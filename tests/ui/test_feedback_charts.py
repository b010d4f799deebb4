"""Users' feedback on the charts of the variables tab (shaded spans naming the verdict and
who gave it) and in the records download (the labels columns)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from nicegui import ui
from nicegui.testing import User

from energy_core import ReadingFilter
from energy_core.alerts.store import Feedback
from energy_ui.bootstrap import Application
from energy_ui.dashboard import Dashboard
from energy_ui.dashboard.charts import CONFIRMED_AREA, FALSE_ALARM_AREA
from energy_ui.dashboard.series import epoch_ms
from tests.ui.conftest import START
from tests.ui.helpers import one
from tests.ui.test_filters import open_tab


def give(
    application: Application, meter: str, verdict: str, by: str, minutes: tuple[int, int]
) -> Feedback:
    """A verdict on ``meter`` between ``minutes`` before the end of the history."""
    start, end = (START - timedelta(minutes=m) for m in minutes)
    return application.monitor.give_feedback(
        Feedback(
            meter_id=meter,
            start=start,
            end=end,
            verdict=verdict,  # type: ignore[arg-type]
            by=by,
            at=START,
            fault_kind="voltage_sag" if verdict == "confirmed" else None,
        )
    )


def areas(user: User, name: str = "voltage") -> list[list[dict[str, object]]]:
    options = one(user, f"chart-series-{name}", ui.echart).options
    data: list[list[dict[str, object]]] = options["series"][0]["markArea"]["data"]
    return data


async def test_a_meters_charts_shade_what_users_said_of_it(
    user: User, dashboard: Dashboard
) -> None:
    application = dashboard.application
    said = give(application, "meter-01", "false_alarm", "Ana", (120, 100))
    give(application, "meter-01", "confirmed", "Luis", (40, 30))
    give(application, "meter-02", "confirmed", "Eva", (60, 50))
    await user.open("/?meter=meter-01")
    await open_tab(user, "variables")
    false_alarm, confirmed = areas(user)  # oldest first; meter-02's verdict is not here
    assert (false_alarm[0]["xAxis"], false_alarm[1]["xAxis"]) == (
        epoch_ms(said.start),
        epoch_ms(said.end),
    )
    assert false_alarm[0]["name"] == "Falsa alarma"
    assert false_alarm[0]["itemStyle"] == {"color": FALSE_ALARM_AREA}
    assert confirmed[0]["name"] == "Fallo confirmado (voltage_sag)"
    assert confirmed[0]["itemStyle"] == {"color": CONFIRMED_AREA}
    assert len(areas(user, "current")) == 2  # on every chart of the meter
    tooltip = one(user, "chart-series-voltage", ui.echart).options["tooltip"][":formatter"]
    assert "Falsa alarma en meter-01, según Ana" in tooltip
    assert "Fallo confirmado (voltage_sag) en meter-01, según Luis" in tooltip
    assert "Eva" not in tooltip


async def test_without_a_meter_filter_every_meters_verdict_is_shown_and_named(
    user: User, dashboard: Dashboard
) -> None:
    give(dashboard.application, "meter-01", "false_alarm", "Ana", (120, 100))
    give(dashboard.application, "meter-02", "confirmed", "Eva", (60, 50))
    await user.open("/")
    await open_tab(user, "variables")
    assert [area[0]["name"] for area in areas(user)] == [
        "Falsa alarma",
        "Fallo confirmado (voltage_sag)",
    ]
    tooltip = one(user, "chart-series-voltage", ui.echart).options["tooltip"][":formatter"]
    assert "en meter-02, según Eva" in tooltip


async def test_a_verdict_outside_the_view_and_no_feedback_shade_nothing(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    await open_tab(user, "variables")
    assert areas(user) == []
    give(dashboard.application, "meter-01", "false_alarm", "Ana", (60 * 24 * 30, 60 * 24 * 29))
    await user.open("/")
    await open_tab(user, "variables")
    assert areas(user) == []


async def test_the_records_download_carries_the_labels_once_users_said_something(
    user: User, dashboard: Dashboard
) -> None:
    application = dashboard.application
    await user.open("/?meter=meter-01")
    await open_tab(user, "records")
    user.find(marker="records-download").click()
    plain = (await user.download.next()).content.decode("utf-8")
    assert "label" not in plain.splitlines()[0].split(",")

    give(application, "meter-01", "confirmed", "Luis", (40, 30))
    await user.open("/?meter=meter-01")
    await open_tab(user, "records")
    user.find(marker="records-download").click()
    rows = list(csv.DictReader(io.StringIO((await user.download.next()).content.decode("utf-8"))))
    inside = {
        str(reading.id)
        for reading in application.monitor.queries.window(
            ReadingFilter(
                meter_ids=("meter-01",),
                start=START - timedelta(minutes=40),
                end=START - timedelta(minutes=30) + timedelta(microseconds=1),
            ),
            limit=None,
        )
    }
    assert inside
    assert {row["id"] for row in rows if row["label"] == "1"} == inside
    assert {(row["feedback"], row["fault_kind"]) for row in rows if row["id"] in inside} == {
        ("confirmed", "voltage_sag")
    }
    assert {row["feedback"] for row in rows if row["id"] not in inside} == {""}
