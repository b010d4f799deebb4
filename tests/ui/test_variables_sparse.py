"""The variables tab of a meter that has just started reporting (one reading, a few variables):
its point is drawn, its axes fit it alike on every variable, and a flagged reading is marked
on the chart of each variable it carries."""

from __future__ import annotations

from datetime import timedelta

from nicegui import ui
from nicegui.testing import User

from energy_core import Reading
from energy_ui.dashboard import Dashboard
from energy_ui.dashboard.filters import DEFAULT_VARIABLES
from energy_ui.dashboard.series import epoch_ms
from tests.ui.helpers import eventually, one, set_value, text_of
from tests.ui.test_filters import open_tab

ODD = {"voltage": 300.0, "current": 40.0, "active_power": 0.5}
"""Far from the history the model learnt: flagged, explained by the three."""
PADDED = {"voltage": (280.0, 320.0), "current": (38.0, 42.0), "active_power": (0.47, 0.53)}
"""Each value ±5 %, to round bounds."""


def series_options(user: User) -> dict[str, dict]:
    return {
        name: one(user, f"chart-series-{name}", ui.echart).options for name in DEFAULT_VARIABLES
    }


async def test_one_flagged_reading_is_drawn_marked_and_framed_alike_on_each_variable(
    user: User, dashboard: Dashboard
) -> None:
    monitor = dashboard.application.monitor
    at = monitor.clock.now() + timedelta(minutes=5)
    stored = monitor.ingest([Reading(at, "plug-1", dict(ODD))]).stored[0]
    assert stored.is_flagged and set(stored.top_variables) == set(ODD)  # the premise
    await user.open("/")
    set_value(user, "filter-meters", ["plug-1"])
    await eventually(lambda: text_of(user, "kpi-readings") == "1")
    await open_tab(user, "variables")
    charts = series_options(user)
    for name, value in ODD.items():
        mean, marks = (charts[name]["series"][index]["data"] for index in (2, 3))
        # The one point has a symbol (a line of one point is invisible) ...
        assert [(point[1], point[2:]) for point in mean] == [(value, (1,))], name
        # ... and the red mark, whichever variable the explanation names first.
        assert [point[:2] for point in marks] == [(epoch_ms(at), value)], name
        assert (charts[name]["yAxis"]["min"], charts[name]["yAxis"]["max"]) == PADDED[name]
    for name in set(DEFAULT_VARIABLES) - set(ODD):
        assert charts[name]["series"][3]["data"] == [], name
    # The same time window on every chart, minutes around the reading, not days.
    windows = {(options["xAxis"]["min"], options["xAxis"]["max"]) for options in charts.values()}
    assert len(windows) == 1
    start, end = windows.pop()
    assert start <= epoch_ms(at) - 5 * 60_000 and end >= epoch_ms(at) + 5 * 60_000
    assert end - start <= 12 * 60_000

    # A second reading a minute later: a line, and the axes are ECharts' own again.
    monitor.ingest([Reading(at + timedelta(minutes=1), "plug-1", {"voltage": 231.0})])
    voltage = one(user, "chart-series-voltage", ui.echart).options
    await eventually(lambda: len(voltage["series"][2]["data"]) == 2)
    assert [point[1:] for point in voltage["series"][2]["data"]] == [(300.0,), (231.0,)]
    assert (voltage["xAxis"]["min"], voltage["yAxis"]["min"]) == (None, None)
    current = one(user, "chart-series-current", ui.echart).options
    assert (current["xAxis"]["min"], current["xAxis"]["max"]) == (None, None)
    assert (current["yAxis"]["min"], current["yAxis"]["max"]) == PADDED["current"]
