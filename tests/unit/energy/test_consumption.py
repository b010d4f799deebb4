"""Consumption: exact energy on constructed series, from active power and from registers,
by calendar period in a time zone (daylight saving included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core import Reading
from energy_core.energy import (
    EnergySettings,
    calendar_periods,
    consumption,
    energy_bins,
    series_from_readings,
)
from energy_core.energy.calendar import seconds
from tests.unit.energy.helpers import (
    DAY,
    SERIES_PATHS,
    at,
    counter_readings,
    power_readings,
    raw,
    through_minutes,
)

MORNING = DAY + timedelta(hours=8)
MADRID = ZoneInfo("Europe/Madrid")
paths = pytest.mark.parametrize("path", sorted(SERIES_PATHS))


def day_of(readings, path="raw", **settings):
    series = SERIES_PATHS[path](readings)
    return consumption(
        series, DAY, DAY + timedelta(days=1), period="day", settings=EnergySettings(**settings)
    )


def hours_of(readings, start=DAY, end=DAY + timedelta(days=1), path="raw", **settings):
    series = SERIES_PATHS[path](readings)
    result = consumption(series, start, end, period="hour", settings=EnergySettings(**settings))
    return {p.label[11:16]: p for p in result.total}


@paths
def test_a_meter_at_2_kw_for_2_hours_used_4_kwh(path):
    readings = power_readings(MORNING, 7200, 10, 2.0)
    result = day_of(readings, path)
    assert result.import_kwh == pytest.approx(4.0, rel=0.005)
    assert result.export_kwh == 0.0
    assert result.meter("m1").import_source == "power"


def test_from_readings_the_trapezoid_is_exact():
    assert day_of(power_readings(MORNING, 7200, 10, 2.0)).import_kwh == pytest.approx(
        4.0, abs=1e-12
    )
    ramp = power_readings(MORNING, 3600, 60, lambda t: 4.0 * t / 3600)
    assert day_of(ramp).import_kwh == pytest.approx(2.0, abs=1e-12)


def test_a_ramp_splits_between_periods_by_its_area():
    # 0 → 4 kW over an hour: the first half hour holds a quarter of the 2 kWh.
    series = raw(power_readings(MORNING, 3600, 600, lambda t: 4.0 * t / 3600))["m1"]
    edges = np.array([seconds(MORNING), seconds(MORNING) + 1800, seconds(MORNING) + 3600])
    bins = energy_bins(series, edges, EnergySettings())
    assert bins.import_kwh.tolist() == pytest.approx([0.5, 1.5], abs=1e-12)
    assert bins.covered_s.tolist() == [1800.0, 1800.0]


@paths
def test_a_gap_longer_than_the_limit_adds_no_energy(path):
    # 2 kW, 08:00–09:00 and 09:20–10:00: the 20-minute hole is a gap (limit 15 min).
    readings = power_readings(MORNING, 3600, 60, 2.0) + power_readings(
        MORNING + timedelta(minutes=80), 2400, 60, 2.0
    )
    hours = hours_of(readings, path=path)
    assert day_of(readings, path).import_kwh == pytest.approx(2.0 + 2.0 * 40 / 60, rel=0.005)
    assert hours["09:00"].coverage == pytest.approx(40 / 60, abs=0.01)


def test_a_hole_within_the_limit_is_integrated_across():
    readings = power_readings(MORNING, 3600, 60, 2.0) + power_readings(
        MORNING + timedelta(minutes=75), 2700, 60, 2.0
    )
    assert day_of(readings).import_kwh == pytest.approx(4.0, abs=1e-12)
    assert day_of(readings, gap_limit=timedelta(minutes=10)).import_kwh == pytest.approx(3.5)


def test_power_crossing_zero_splits_into_import_and_export():
    # +2 kW → -2 kW in a straight line over an hour: half an hour each way, 0.5 kWh each.
    readings = power_readings(MORNING, 3600, 3600, lambda t: 2.0 - 4.0 * t / 3600)
    result = day_of(readings, gap_limit=timedelta(hours=2))
    assert result.import_kwh == pytest.approx(0.5, abs=1e-12)
    assert result.export_kwh == pytest.approx(0.5, abs=1e-12)
    assert result.total[0].net_kwh == pytest.approx(0.0, abs=1e-12)


@paths
def test_a_register_counts_its_increase(path):
    readings = counter_readings(MORNING, [(60.0 * k, 1000.0 + 0.05 * k) for k in range(61)])
    result = day_of(readings, path)
    assert result.import_kwh == pytest.approx(3.0, abs=1e-9)
    assert result.meter("m1").import_source == "counter"


@paths
def test_a_register_drop_is_a_reset_counted_from_the_new_value(path):
    readings = counter_readings(
        MORNING, [(0, 100.0), (60, 101.0), (120, 102.0), (180, 5.0), (240, 6.0)]
    )
    assert day_of(readings, path).import_kwh == pytest.approx(3.0, abs=1e-9)


@paths
def test_a_register_rollover_counts_from_the_new_value(path):
    readings = counter_readings(MORNING, [(0, 999_999.0), (60, 999_999.5), (120, 0.25), (180, 1.0)])
    assert day_of(readings, path).import_kwh == pytest.approx(1.25, abs=1e-6)


def test_a_reset_inside_a_minute_is_seen_through_the_minute_aggregates():
    # 100.0 … 100.7 (0.1 per 10 s), reset at 80 s, then 0.0 … 0.9: 1.6 kWh in all.
    values = [(10.0 * k, 100.0 + 0.1 * k) for k in range(8)]
    values += [(80.0 + 10 * k, 0.1 * k) for k in range(10)]
    readings = counter_readings(MORNING, values)
    assert day_of(readings, "raw").import_kwh == pytest.approx(1.6, abs=1e-9)
    assert day_of(readings, "minutes").import_kwh == pytest.approx(1.6, abs=1e-9)


@paths
def test_a_register_gap_is_counted_where_it_ends_and_told_apart(path):
    # 3 kW for an hour, silent for an hour while the register rose 2 kWh, 3 kW again.
    values = [(60.0 * k, 10.0 + 0.05 * k) for k in range(61)]
    values += [(7200 + 60.0 * k, 15.0 + 0.05 * k) for k in range(61)]
    hours = hours_of(counter_readings(MORNING, values), path=path)
    imported = {label: p.import_kwh for label, p in hours.items() if p.import_kwh > 0.05}
    assert imported == pytest.approx({"08:00": 3.0, "10:00": 5.0}, abs=0.06)
    assert hours["10:00"].after_gap_kwh == pytest.approx(2.0, abs=1e-9)
    assert hours["09:00"].coverage < 0.02


def test_exported_energy_comes_from_its_register_when_sent():
    readings = power_readings(MORNING, 3600, 60, 1.0)
    readings += counter_readings(
        MORNING, [(0, 50.0), (1800, 50.4), (3600, 50.8)], name="energy_export"
    )
    result = day_of(readings)
    meter = result.meter("m1")
    assert (meter.import_source, meter.export_source) == ("power", "counter")
    assert (result.import_kwh, result.export_kwh) == pytest.approx((1.0, 0.8))


def test_a_meter_sending_neither_power_nor_registers_has_no_source():
    readings = [Reading(at(MORNING, k), "m1", {"power_factor": 0.9}) for k in range(3)]
    meter = day_of(readings).meter("m1")
    assert (meter.import_source, meter.export_source, meter.import_kwh) == (None, None, 0.0)


def test_meters_and_their_total_by_day():
    readings = power_readings(MORNING, 3600, 60, 1.0, meter="b") + power_readings(
        MORNING, 3600, 60, 3.0, meter="a"
    )
    result = day_of(readings)
    assert [m.meter_id for m in result.meters] == ["a", "b"]
    assert [m.import_kwh for m in result.meters] == pytest.approx([3.0, 1.0])
    assert result.import_kwh == pytest.approx(4.0)
    with pytest.raises(KeyError, match="'c'"):
        result.meter("c")


# --- calendar periods in a time zone ------------------------------------------------------
def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=MADRID)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("day", "hours"), [((2025, 3, 30), 23), ((2025, 10, 26), 25), ((2025, 6, 1), 24)]
)
def test_a_day_with_a_clock_change_holds_its_real_hours(day, hours):
    start = local(*day)
    end = start.astimezone(UTC) + timedelta(hours=hours)
    readings = power_readings(start - timedelta(hours=1), (hours + 2) * 3600, 60, 1.0)
    result = consumption(
        raw(readings), start, end, period="day", settings=EnergySettings(timezone="Europe/Madrid")
    )
    assert [p.label for p in result.total] == [f"{day[0]}-{day[1]:02d}-{day[2]:02d}"]
    assert result.import_kwh == pytest.approx(float(hours))
    assert result.total[0].coverage == pytest.approx(1.0)


def test_the_hour_the_clock_repeats_is_two_hours():
    periods = calendar_periods(local(2025, 10, 26), local(2025, 10, 27), "hour", "Europe/Madrid")
    labels = [p.label[11:] for p in periods]
    assert len(periods) == 25
    assert labels[1:4] == ["01:00+02:00", "02:00+02:00", "02:00+01:00"]


def test_the_hour_the_clock_skips_is_missing():
    periods = calendar_periods(local(2025, 3, 30), local(2025, 3, 31), "hour", "Europe/Madrid")
    assert len(periods) == 23
    assert [p.label[11:] for p in periods[1:3]] == ["01:00+01:00", "03:00+02:00"]


def test_weeks_start_on_monday_and_months_on_the_first_locally():
    weeks = calendar_periods(local(2025, 3, 20), local(2025, 4, 8), "week", "Europe/Madrid")
    assert [p.label for p in weeks] == ["2025-W12", "2025-W13", "2025-W14", "2025-W15"]
    assert weeks[1].start == local(2025, 3, 24).astimezone(UTC)
    assert weeks[2].start - weeks[1].start == timedelta(days=7, hours=-1)  # spring forward
    months = calendar_periods(local(2025, 1, 15), local(2025, 3, 2), "month", "Europe/Madrid")
    assert [(p.label, p.start) for p in months] == [
        ("2025-01", local(2025, 1, 15).astimezone(UTC)),
        ("2025-02", datetime(2025, 1, 31, 23, tzinfo=UTC)),
        ("2025-03", datetime(2025, 2, 28, 23, tzinfo=UTC)),
    ]


def test_a_half_hour_zone_has_its_hours_on_the_half_hour_of_utc():
    start = datetime(2025, 6, 1, 18, 30, tzinfo=UTC)  # midnight in Kolkata
    periods = calendar_periods(start, start + timedelta(hours=3), "hour", "Asia/Kolkata")
    assert [p.start.minute for p in periods] == [30, 30, 30]
    assert periods[0].label == "2025-06-02T00:00+05:30"


def test_periods_are_cut_to_the_window_and_an_unknown_period_refused():
    periods = calendar_periods(MORNING, MORNING + timedelta(days=1), "day", "UTC")
    assert [(p.start, p.end) for p in periods] == [
        (MORNING, DAY + timedelta(days=1)),
        (DAY + timedelta(days=1), MORNING + timedelta(days=1)),
    ]
    with pytest.raises(ValueError, match="period 'year'"):
        calendar_periods(MORNING, MORNING, "year", "UTC")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timezone 'Mars/Olympus'"):
        EnergySettings(timezone="Mars/Olympus")


# --- properties -------------------------------------------------------------------------
ZONES = st.sampled_from(["UTC", "Europe/Madrid", "America/New_York", "Asia/Kathmandu"])


@st.composite
def power_meters(draw: st.DrawFn, max_step: int = 600) -> list[Reading]:
    """A meter over up to three days: steps of 1 s to ``max_step`` s, power -5…10 kW."""
    start = DAY + timedelta(seconds=draw(st.integers(0, 86_400)))
    steps = draw(st.lists(st.integers(1, max_step), min_size=1, max_size=60))
    values = draw(
        st.lists(
            st.floats(-5, 10, allow_nan=False), min_size=len(steps) + 1, max_size=len(steps) + 1
        )
    )
    scale = draw(st.integers(1, 40))  # stretch the steps over hours and days
    times = np.cumsum([0, *steps]) * scale
    return [
        Reading(at(start, float(t)), "m1", {"active_power": v})
        for t, v in zip(times, values, strict=True)
    ]


@given(power_meters(), ZONES)
def test_the_days_of_a_window_sum_to_the_whole(readings, zone):
    series = series_from_readings(readings)
    start, end = DAY, DAY + timedelta(days=5)
    settings = EnergySettings(timezone=zone)
    by_day = consumption(series, start, end, period="day", settings=settings)
    by_hour = consumption(series, start, end, period="hour", settings=settings)
    whole = energy_bins(series["m1"], np.array([seconds(start), seconds(end)]), settings)
    assert by_day.import_kwh == pytest.approx(float(whole.import_kwh[0]), rel=1e-9, abs=1e-9)
    assert by_hour.export_kwh == pytest.approx(float(whole.export_kwh[0]), rel=1e-9, abs=1e-9)


@given(power_meters(max_step=60))
def test_a_register_kept_from_the_power_agrees_with_the_power(readings):
    """A register that integrates the meter's power exactly (trapezoid) gives the same
    energy in total and, period by period, within what one reading interval can hold."""
    times = np.array([seconds(r.timestamp) for r in readings])
    power = np.array([max(r.values["active_power"], 0.0) for r in readings])
    register = np.concatenate(
        ([500.0], 500.0 + np.cumsum(np.diff(times) * (power[1:] + power[:-1]) / 7200))
    )
    counted = [
        Reading(r.timestamp, "counted", {"energy_import": float(kwh)})
        for r, kwh in zip(readings, register, strict=True)
    ]
    powered = [
        Reading(r.timestamp, "powered", {"active_power": float(p)})
        for r, p in zip(readings, power, strict=True)
    ]
    settings = EnergySettings(gap_limit=timedelta(hours=1))  # longer than any step
    result = consumption(
        series_from_readings(counted + powered),
        DAY,
        DAY + timedelta(days=5),
        period="hour",
        settings=settings,
    )
    by_counter, by_power = result.meter("counted"), result.meter("powered")
    assert by_counter.import_kwh == pytest.approx(by_power.import_kwh, rel=1e-9, abs=1e-9)
    largest_step = float(np.max(np.diff(times), initial=0.0))
    for one, other in zip(by_counter.periods, by_power.periods, strict=True):
        assert abs(one.import_kwh - other.import_kwh) <= 10.0 * largest_step / 3600 + 1e-9


@given(st.integers(1800, 3 * 3600), st.floats(0.5, 5.0), st.floats(0, 3600))
def test_minute_aggregates_give_the_energy_of_the_readings(duration, level, phase):
    """1 Hz readings of a varying load: the rollups' answer is within a minute's energy at
    either end of the readings' own."""
    start = MORNING + timedelta(seconds=int(phase))
    readings = power_readings(start, duration, 1, lambda t: level * (1.5 + np.sin(t / 900.0)))
    exact = day_of(readings, "raw").import_kwh
    rolled = day_of(readings, "minutes").import_kwh
    assert abs(exact - rolled) <= 2 * 60 * 2.5 * level / 3600


def test_minute_aggregates_place_energy_in_its_hour_to_the_minute():
    readings = power_readings(MORNING - timedelta(hours=1), 4 * 3600, 1, lambda t: t / 3600)
    exact = hours_of(readings, path="raw")
    rolled = hours_of(readings, path="minutes")
    for label in ("08:00", "09:00"):
        assert rolled[label].import_kwh == pytest.approx(exact[label].import_kwh, rel=0.002)
    assert through_minutes(readings)["m1"].power.times[0] == pytest.approx(
        seconds(MORNING) - 3600, abs=0.01
    )
