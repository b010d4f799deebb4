"""The expected band's data behind the Variables tab: which view has one, what is read for
it, and how readings' ranges become a band per bucket (no UI)."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, ReadingFilter, Simulator
from energy_core.ports import Bucket
from energy_ui.dashboard import queries
from energy_ui.dashboard.filters import Filters
from energy_ui.dashboard.queries import BandRequest, expected_meter, load_expected
from energy_ui.dashboard.series import Envelope, epoch_ms
from tests.strategies import BASE

MINUTE = timedelta(minutes=1)


def envelope(buckets: int = 3) -> Envelope:
    return Envelope.from_buckets(
        "voltage",
        [Bucket(BASE + i * MINUTE, 1, 230.0, 230.0, 230.0, 0) for i in range(buckets)],
        MINUTE,
        limit=100,
    )


def test_a_bucket_s_band_spans_the_ranges_of_all_its_readings() -> None:
    chart = envelope()
    chart.expect(
        [
            (BASE + timedelta(seconds=10), 228.0, 232.0),
            (BASE + timedelta(seconds=40), 229.0, 233.0),
            (BASE + 2 * MINUTE, 220.0, 240.0),
            (BASE + 2 * MINUTE, 220.0, 240.0),  # the same reading again changes nothing
            (BASE + 5 * MINUTE, 0.0, 1.0),  # outside every bucket: left out
            (BASE - MINUTE, 0.0, 1.0),
        ]
    )
    low, band = chart.expected_points()
    at = [epoch_ms(BASE + i * MINUTE) for i in range(3)]
    assert low == [(at[0], 228.0), (at[1], None), (at[2], 220.0)]
    assert band == [
        (at[0], 5.0, 233.0, 228.0),
        (at[1], None, None, None),
        (at[2], 20.0, 240.0, 220.0),
    ]
    assert chart.has_expected
    chart.forget_expected()
    assert not chart.has_expected
    assert all(point[1] is None for point in chart.expected_points()[0])


def test_zoomed_buckets_take_the_band_of_their_own_readings() -> None:
    chart = envelope()
    chart.expect([(BASE + MINUTE + timedelta(seconds=5), 225.0, 235.0)])
    fine = [
        Bucket(BASE + MINUTE + i * timedelta(seconds=30), 1, 230.0, 230.0, 230.0, 0)
        for i in range(2)
    ]
    chart.splice(fine, timedelta(seconds=30), BASE + MINUTE, BASE + 2 * MINUTE)
    assert [point[1] for point in chart.expected_points()[0]] == [None, None, None, None]
    chart.expect([(BASE + MINUTE + timedelta(seconds=35), 226.0, 234.0)])
    assert [point[1] for point in chart.expected_points()[0]] == [None, None, 226.0, None]


def test_only_a_view_of_one_meter_has_a_band() -> None:
    assert expected_meter(Filters(meters=("a",)), ["a", "b"]) == "a"
    assert expected_meter(Filters(), ["a"]) == "a"  # the only meter stored
    assert expected_meter(Filters(), ["a", "b"]) is None
    assert expected_meter(Filters(meters=("a", "b")), ["a", "b"]) is None


def trained_monitor() -> Monitor:
    store = MemoryReadingRepository()
    monitor = Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(BASE),
        simulator=Simulator(meters=2, seed=5, anomaly_ratio=0.05),
    )
    monitor.generate_history(1_000)
    monitor.train()
    monitor.analyse()
    return monitor


def test_the_band_covers_the_meter_s_newest_readings_at_most(monkeypatch) -> None:
    monitor = trained_monitor()
    monkeypatch.setattr(queries, "EXPECTED_READINGS", 120)
    band = load_expected(monitor, BandRequest(Filters(meters=("meter-01",)), "meter-01"))
    assert set(band) == set(Filters().variables)
    newest = monitor.queries.window(ReadingFilter(meter_ids=("meter-01",)), limit=120)
    assert [point[0] for point in band["voltage"]] == [reading.timestamp for reading in newest]
    low, high = monitor.expected_ranges(newest)["voltage"]
    np.testing.assert_allclose([point[1] for point in band["voltage"]], low)
    np.testing.assert_allclose([point[2] for point in band["voltage"]], high)


def test_a_view_of_flagged_readings_draws_their_band_read_among_all_readings() -> None:
    monitor = trained_monitor()
    flagged_view = Filters(meters=("meter-01",), state="anomalous")
    band = load_expected(monitor, BandRequest(flagged_view, "meter-01"))
    every = monitor.queries.window(ReadingFilter(meter_ids=("meter-01",)))
    flagged = [reading for reading in every if reading.is_flagged]
    assert flagged and [point[0] for point in band["voltage"]] == [r.timestamp for r in flagged]
    # Each flagged reading's range is the one it has among all the meter's readings (its
    # real neighbours), not among the flagged ones alone.
    low, _ = monitor.expected_ranges(every)["voltage"]
    wanted = [low[row] for row, reading in enumerate(every) if reading.is_flagged]
    np.testing.assert_allclose([point[1] for point in band["voltage"]], wanted)


def test_live_readings_of_other_meters_are_left_out_and_no_model_means_no_band() -> None:
    monitor = trained_monitor()
    newest = monitor.queries.latest(10)
    request = BandRequest(Filters(meters=("meter-02",)), "meter-02", readings=tuple(newest[::-1]))
    band = load_expected(monitor, request)
    assert len(band["voltage"]) == sum(1 for reading in newest if reading.meter_id == "meter-02")
    store = MemoryReadingRepository()
    untrained = Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(BASE),
    )
    assert load_expected(untrained, BandRequest(Filters(), "meter-01")) == {}
    assert not math.isnan(band["voltage"][0][1])
