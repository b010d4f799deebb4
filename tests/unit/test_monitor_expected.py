"""Monitor.expected_ranges: the band the current model compares each reading against, with
each meter's stored readings before the window as context (memory adapters, fast)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, MonitorSettings, ReadingFilter, Simulator
from energy_core.telemetry.readings import Reading
from tests.strategies import BASE

METER = "meter-01"


def make_monitor(detector: str = "temporal") -> Monitor:
    store = MemoryReadingRepository()
    return Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(BASE),
        simulator=Simulator(meters=2, seed=5),
        settings=MonitorSettings(detector=detector),
    )


def trained(detector: str = "temporal") -> Monitor:
    monitor = make_monitor(detector)
    monitor.generate_history(1_200)
    monitor.train()
    monitor.analyse()  # every stored reading carries the model's verdict
    return monitor


def meter_window(monitor: Monitor, limit: int) -> list[Reading]:
    return monitor.queries.window(ReadingFilter(meter_ids=(METER,)), limit=limit)


def test_without_a_model_there_is_no_band():
    monitor = make_monitor()
    monitor.generate_history(100)
    assert monitor.expected_ranges(meter_window(monitor, 50)) == {}


def test_each_learnt_variable_gets_a_low_and_a_high_per_reading():
    monitor = trained()
    window = meter_window(monitor, 80)
    ranges = monitor.expected_ranges(window)
    detector, _ = monitor.current_model() or pytest.fail("no model")
    assert set(ranges) == set(detector.features)
    for low, high in ranges.values():
        assert low.shape == high.shape == (80,)
        assert np.all(low < high)  # the meter's history is in storage: no row lacks a band
    values = np.array([reading.values["voltage"] for reading in window])
    low, high = ranges["voltage"]
    assert np.mean((values >= low) & (values <= high)) > 0.9


def test_the_window_is_read_after_the_meter_s_readings_before_it():
    """The band of a short window is the band those readings have inside a longer one: the
    readings before the window come from storage, so its first rows have their history."""
    monitor = trained()
    long = meter_window(monitor, 300)
    short = long[-40:]
    whole = monitor.expected_ranges(long)
    tail = monitor.expected_ranges(short)
    for name, (low, high) in tail.items():
        np.testing.assert_allclose(low, whole[name][0][-40:])
        np.testing.assert_allclose(high, whole[name][1][-40:])


def test_a_spike_is_outside_the_band_its_neighbours_set():
    monitor = trained()
    window = meter_window(monitor, 60)
    normal = window[30]
    spike = replace(normal, values={**normal.values, "voltage": normal.values["voltage"] * 1.3})
    window[30] = spike
    low, high = monitor.expected_ranges(window)["voltage"]
    assert not low[30] <= spike.values["voltage"] <= high[30]
    # The band is the neighbours' level, not the spike's.
    assert low[30] < normal.values["voltage"] < high[30]


def test_readings_the_model_never_scored_have_no_band():
    monitor = trained()
    stored = monitor.ingest(
        monitor.simulator.next_batch(
            4, at=BASE + timedelta(minutes=1), interval=timedelta(seconds=1)
        )
    ).stored
    unscored = [replace(reading, score=None, is_flagged=None) for reading in stored]
    mixed = [stored[0], *unscored[1:]]
    ranges = monitor.expected_ranges(mixed)
    for low, high in ranges.values():
        assert not np.isnan(low[0]) and not np.isnan(high[0])
        assert np.isnan(low[1:]).all() and np.isnan(high[1:]).all()


def test_a_detector_that_scores_readings_alone_gives_its_training_range():
    monitor = trained("isolation_forest")
    ranges = monitor.expected_ranges(meter_window(monitor, 20))
    low, high = ranges["voltage"]
    assert np.all(low == low[0]) and np.all(high == high[0]) and low[0] < high[0]


def test_a_model_that_cannot_give_a_range_leaves_the_band_out(monkeypatch, caplog):
    monitor = trained()
    detector, _ = monitor.current_model() or pytest.fail("no model")

    def broken(*args: object, **kwargs: object) -> None:
        raise AttributeError("jump_limits_")

    monkeypatch.setattr(detector, "expected_range", broken)
    assert monitor.expected_ranges(meter_window(monitor, 10)) == {}
    assert "gives no expected range" in caplog.text


def test_an_empty_window_has_no_band():
    assert trained().expected_ranges([]) == {}
