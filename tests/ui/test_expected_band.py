"""The Variables tab draws the detector's expected band behind a meter's series (issue 16):
the range the current model compared each reading against, per bucket the lowest low and
highest high of its readings, kept current by live readings and a new model."""

from __future__ import annotations

import bisect
from datetime import timedelta

import numpy as np
import pytest
from nicegui import ui
from nicegui.testing import User

from energy_core import ReadingFilter
from energy_ui.bootstrap import Application
from energy_ui.dashboard import Dashboard, create_app
from energy_ui.dashboard.charts import EXPECTED_SERIES
from energy_ui.dashboard.series import epoch_ms
from tests.ui.conftest import make_application
from tests.ui.helpers import eventually, one, set_value
from tests.ui.test_filters import open_tab
from tests.ui.test_live import ingest

METER = "meter-01"


def band(user: User, name: str = "voltage") -> dict[int, tuple[float, float]]:
    """The chart's expected band: bucket start (ms) → (low, high), gaps left out."""
    series = one(user, f"chart-series-{name}", ui.echart).options["series"]
    lows, widths = (series[index]["data"] for index in EXPECTED_SERIES)
    drawn = {}
    for (at, low), (at_too, width, high, low_too) in zip(lows, widths, strict=True):
        assert at == at_too
        if low is None:
            assert width is None and high is None and low_too is None
            continue
        assert high == pytest.approx(low + width) and low_too == low
        drawn[at] = (low, high)
    return drawn


def bucket_starts(user: User, name: str = "voltage") -> list[int]:
    series = one(user, f"chart-series-{name}", ui.echart).options["series"]
    return [point[0] for point in series[0]["data"]]


def expected_per_bucket(
    application: Application, starts: list[int], name: str = "voltage"
) -> dict[int, tuple[float, float]]:
    """What the band should be, from the monitor: each reading's range, then per bucket the
    lowest low and the highest high."""
    monitor = application.monitor
    readings = monitor.queries.window(ReadingFilter(meter_ids=(METER,)))
    low, high = monitor.expected_ranges(readings)[name]
    wanted: dict[int, tuple[float, float]] = {}
    for reading, lo, hi in zip(readings, low, high, strict=True):
        if np.isnan(lo):
            continue
        at = starts[bisect.bisect_right(starts, epoch_ms(reading.timestamp)) - 1]
        seen = wanted.get(at, (lo, hi))
        wanted[at] = (min(seen[0], lo), max(seen[1], hi))
    return wanted


@pytest.mark.parametrize("sampling", [1_000, 250])
async def test_a_meter_s_series_has_its_expected_band_behind_it(
    user: User, dashboard: Dashboard, sampling: int
) -> None:
    await user.open(f"/?meter={METER}")
    set_value(user, "filter-sampling", sampling)
    await open_tab(user, "variables")
    await eventually(lambda: len(bucket_starts(user)) <= sampling and band(user))
    starts = bucket_starts(user)
    wanted = expected_per_bucket(dashboard.application, starts)
    await eventually(lambda: band(user).keys() == wanted.keys())
    drawn = band(user)
    for at, (low, high) in wanted.items():
        assert drawn[at] == pytest.approx((low, high))
    if sampling == 250:  # buckets of several readings: the band spans all of theirs
        readings = dashboard.application.monitor.queries.window(ReadingFilter(meter_ids=(METER,)))
        per_bucket = np.bincount(
            [bisect.bisect_right(starts, epoch_ms(r.timestamp)) - 1 for r in readings]
        )
        assert per_bucket.max() >= 2
    options = one(user, "chart-series-voltage", ui.echart).options
    assert "rango esperado" in options["legend"]["data"]
    assert all(options["series"][index]["z"] == 1 for index in EXPECTED_SERIES)
    await user.should_see(marker="expected-hint")
    # Most readings sit inside the band the detector set for them.
    means = {point[0]: point[1] for point in options["series"][2]["data"]}
    inside = [low <= means[at] <= high for at, (low, high) in drawn.items()]
    assert np.mean(inside) > 0.9


async def test_a_view_of_several_meters_draws_no_band(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    await open_tab(user, "variables")
    await user.should_see("Filtre un solo medidor para ver el rango esperado de cada lectura.")
    options = one(user, "chart-series-voltage", ui.echart).options
    assert band(user) == {}
    assert "rango esperado" not in options["legend"]["data"]


async def test_live_readings_get_their_band_as_they_arrive(
    user: User, dashboard: Dashboard
) -> None:
    await user.open(f"/?meter={METER}")
    await open_tab(user, "variables")
    await eventually(lambda: band(user))
    before = max(band(user))
    dashboard.application.monitor.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
    ingest(dashboard, 6)
    await eventually(lambda: max(band(user)) > before)
    starts = bucket_starts(user)
    wanted = expected_per_bucket(dashboard.application, starts)
    newest = max(wanted)
    await eventually(lambda: band(user).get(newest) == pytest.approx(wanted[newest]))


async def test_a_model_trained_while_the_page_is_open_draws_the_band(user: User) -> None:
    application = make_application(trained=False)
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    await user.open(f"/?meter={METER}")
    await open_tab(user, "variables")
    assert band(user) == {}
    application.monitor.train()
    application.monitor.analyse()  # the stored readings get the new model's verdicts
    ingest(dashboard, 2)
    await eventually(lambda: len(band(user)) > 100)
