"""Demand: the billed peak over clock-aligned intervals, baseload, load factor, low power
factor, on constructed meters."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from energy_core.energy import EnergySettings, demand, demand_edges
from energy_core.energy.calendar import instant
from tests.unit.energy.helpers import DAY, counter_readings, power_readings, raw, through_minutes

MORNING = DAY + timedelta(hours=8)


def minute_of_day(t: float) -> float:
    return t / 60.0


def profile(high: tuple[int, int], low: float = 2.0, peak: float = 6.0):
    """``peak`` kW at the samples of minutes ``high[0]``…``high[1]`` (inclusive) of the day,
    ``low`` kW at every other minute."""
    return lambda t: peak if high[0] <= minute_of_day(t) <= high[1] else low


def day_demand(readings, series=raw, **settings):
    return demand(
        series(readings), DAY, DAY + timedelta(days=1), settings=EnergySettings(**settings)
    )


def test_the_peak_is_the_highest_15_minute_mean_and_when_it_began():
    readings = power_readings(DAY, 86_400, 60, profile((600, 615)))
    [meter], total = day_demand(readings)
    assert meter.peak_kw == pytest.approx(6.0, abs=1e-12)
    assert meter.peak_at == DAY + timedelta(hours=10)
    assert len(meter.kw) == 96 and meter.intervals == 96
    assert (total.peak_kw, total.peak_at) == (meter.peak_kw, meter.peak_at)


def test_a_burst_across_two_intervals_is_averaged_over_each_and_the_interval_is_settable():
    # 6 kW from 10:08 to 10:22: each 15-minute interval holds half of it.
    readings = power_readings(DAY, 86_400, 60, profile((608, 622)))
    [fifteen], _ = day_demand(readings)
    [five], _ = day_demand(readings, demand_interval=timedelta(minutes=5))
    assert fifteen.peak_kw == pytest.approx(4.0, abs=1e-12)
    assert five.peak_kw == pytest.approx(6.0, abs=1e-12)
    assert five.peak_at == DAY + timedelta(hours=10, minutes=10)
    assert len(five.kw) == 288


def test_the_peak_from_minute_aggregates_matches_the_readings():
    readings = power_readings(DAY, 86_400, 10, profile((600, 615)))
    [exact], _ = day_demand(readings)
    [rolled], _ = day_demand(readings, series=through_minutes)
    assert rolled.peak_kw == pytest.approx(exact.peak_kw, rel=0.001)
    assert rolled.peak_at == exact.peak_at


def test_baseload_is_the_5th_percentile_and_load_factor_the_mean_over_the_peak():
    # 0.5 kW at night (00:00–06:00), 2 kW after: 24 of 96 intervals at 0.5 kW.
    readings = power_readings(DAY, 86_400, 60, profile((0, 360), low=2.0, peak=0.5))
    [meter], _ = day_demand(readings)
    ramp = (1.25 + 14 * 2.0) / 15  # 06:00–06:15 starts with the minute 0.5 → 2 kW
    mean = (24 * 0.5 + ramp + 71 * 2.0) / 96
    assert meter.baseload_kw == pytest.approx(0.5, abs=1e-12)
    assert meter.peak_kw == pytest.approx(2.0)
    assert meter.mean_kw == pytest.approx(mean)
    assert meter.load_factor == pytest.approx(mean / 2.0)
    [tenth], _ = day_demand(readings, baseload_percentile=50.0)
    assert tenth.baseload_kw == pytest.approx(2.0)


def test_an_interval_covered_too_little_has_no_mean():
    readings = power_readings(MORNING, 7 * 60, 60, 3.0)  # 7 of 15 minutes
    [meter], total = day_demand(readings)
    assert meter.intervals == 0
    assert math.isnan(meter.peak_kw) and meter.peak_at is None
    assert math.isnan(meter.load_factor) and math.isnan(total.peak_kw)
    [lenient], _ = day_demand(readings, min_coverage=0.4)
    assert lenient.peak_kw == pytest.approx(3.0)  # over the time covered


def test_register_energy_read_after_a_gap_sets_no_peak():
    values = [(60.0 * k, 10.0 + 0.05 * k) for k in range(61)]
    values += [(7200 + 60.0 * k, 21.0 + 0.05 * k) for k in range(61)]  # +8 kWh unseen
    [meter], _ = day_demand(counter_readings(MORNING, values))
    assert meter.peak_kw == pytest.approx(3.0)


def test_low_power_factor_shares_of_time_and_energy():
    # 2 kW at PF 0.8 for an hour, then 6 kW at PF 0.95 for an hour.
    def extra(t: float) -> dict[str, float]:
        return {"power_factor": 0.8 if t < 3600 else 0.95}

    readings = power_readings(MORNING, 7200, 60, lambda t: 2.0 if t < 3600 else 6.0, extra=extra)
    [meter], total = day_demand(readings)
    low_kwh = (59 * 2.0 + 4.0) / 60  # the last minute ramps 2 → 6 kW from a PF-0.8 sample
    assert meter.low_power_factor_time_share == pytest.approx(0.5)
    assert meter.low_power_factor_energy_share == pytest.approx(low_kwh / (low_kwh + 6.0))
    assert total.low_power_factor_time_share == pytest.approx(0.5)
    [relaxed], _ = day_demand(readings, power_factor_limit=0.75)
    assert relaxed.low_power_factor_time_share == 0.0


def test_the_power_factor_comes_from_reactive_power_when_not_sent():
    readings = power_readings(MORNING, 3600, 60, 3.0, extra=lambda t: {"reactive_power": 4.0})
    [meter], _ = day_demand(readings)  # 3 / √(3² + 4²) = 0.6
    assert meter.low_power_factor_time_share == pytest.approx(1.0)
    [unknown], _ = day_demand(power_readings(MORNING, 3600, 60, 3.0))
    assert unknown.low_power_factor_time_share is None


def test_the_total_adds_the_meters_and_skips_intervals_a_meter_misses():
    readings = power_readings(MORNING, 3600, 60, 2.0, meter="a")
    readings += power_readings(MORNING, 1800, 60, 3.0, meter="b")
    meters, total = day_demand(readings)
    at_eight = int((MORNING - DAY) / timedelta(minutes=15))
    assert [m.meter_id for m in meters] == ["a", "b"]
    assert total.kw[at_eight : at_eight + 4].tolist() == pytest.approx(
        [5.0, 5.0, np.nan, np.nan], nan_ok=True
    )
    assert total.peak_kw == pytest.approx(5.0)


def test_intervals_align_to_the_local_clock():
    start = datetime(2025, 6, 1, 18, 10, tzinfo=UTC)  # 23:40 in Kolkata
    settings = EnergySettings(timezone="Asia/Kolkata", demand_interval=timedelta(hours=1))
    edges = demand_edges(start, start + timedelta(hours=3), settings)
    assert [instant(edge).strftime("%H:%M") for edge in edges] == ["18:30", "19:30", "20:30"]
    quarter = demand_edges(start, start + timedelta(hours=1), EnergySettings())
    assert [instant(edge).strftime("%H:%M") for edge in quarter] == [
        "18:15",
        "18:30",
        "18:45",
        "19:00",
    ]


def test_the_curve_pairs_interval_starts_with_means():
    readings = power_readings(MORNING, 1800, 60, 2.0)
    [meter], _ = demand(
        raw(readings), MORNING, MORNING + timedelta(minutes=30), settings=EnergySettings()
    )
    assert meter.curve() == [
        (MORNING, pytest.approx(2.0)),
        (MORNING + timedelta(minutes=15), pytest.approx(2.0)),
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("demand_interval", timedelta(minutes=7), "demand_interval"),
        ("demand_interval", timedelta(hours=2), "demand_interval"),
        ("gap_limit", timedelta(0), "gap_limit"),
        ("min_coverage", 0.0, "min_coverage"),
        ("baseload_percentile", 101.0, "baseload_percentile"),
        ("power_factor_limit", 1.5, "power_factor_limit"),
        ("baseline_weeks", 0, "baseline_weeks"),
    ],
)
def test_settings_out_of_range_are_refused_naming_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):
        EnergySettings(**{field: value})
