"""``EnergyInsight`` over the in-memory ``EnergyQueries``, and the per-minute aggregates it
reads."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from energy_adapters.energy_memory import MemoryEnergyQueries
from energy_adapters.memory import MemoryReadingRepository
from energy_core import Reading
from energy_core.energy import (
    ENERGY_VARIABLES,
    EnergyInsight,
    EnergySettings,
    Incident,
    Tariff,
    TariffSchedule,
    aggregate_minutes,
    consumption,
    series_from_minutes,
)
from tests.unit.energy.helpers import DAY, at, power_readings, raw

MORNING = DAY + timedelta(hours=8)
FLAT = TariffSchedule("UTC", "EUR", (Tariff("flat", price=0.15, demand_charge=2.0),))


def stored(readings) -> MemoryEnergyQueries:
    repository = MemoryReadingRepository()
    repository.add_many(readings)
    return MemoryEnergyQueries(repository)


def test_a_constructed_day_says_4_kwh_its_peak_and_its_cost():
    queries = stored(power_readings(MORNING, 7200, 60, 2.0))
    summary = EnergyInsight(queries, tariffs=FLAT).summary(DAY, DAY + timedelta(days=1))
    assert summary.consumption.import_kwh == pytest.approx(4.0, rel=0.005)
    assert [p.label for p in summary.consumption.total] == ["2025-06-02"]
    assert summary.total_demand.peak_kw == pytest.approx(2.0)
    assert summary.total_cost is not None
    assert summary.total_cost.energy_amount == pytest.approx(0.6, rel=0.005)
    assert summary.total_cost.demand[0].share == pytest.approx(1 / 30)
    assert [c.meter_id for c in summary.costs] == ["m1"]
    assert summary.anomalies == ()


def test_data_just_outside_the_window_completes_the_intervals_crossing_its_edges():
    # 2 kW from 07:50 to 08:10 (the last reading at 08:09:50): 10 minutes in the window.
    queries = stored(power_readings(MORNING - timedelta(minutes=10), 1190, 10, 2.0))
    used = EnergyInsight(queries).consumption(MORNING, MORNING + timedelta(hours=1))
    assert used.import_kwh == pytest.approx(2.0 * 10 / 60, rel=1e-4)


def test_meters_can_be_chosen():
    readings = power_readings(MORNING, 3600, 60, 1.0, meter="a")
    readings += power_readings(MORNING, 3600, 60, 3.0, meter="b")
    insight = EnergyInsight(stored(readings))
    used = insight.consumption(DAY, DAY + timedelta(days=1), period="hour", meter_ids=["b"])
    assert [m.meter_id for m in used.meters] == ["b"]
    assert used.import_kwh == pytest.approx(3.0, rel=0.01)
    meters, total = insight.demand(DAY, DAY + timedelta(days=1))
    assert [m.meter_id for m in meters] == ["a", "b"]
    assert total.peak_kw == pytest.approx(4.0)


def test_costs_need_a_tariff_schedule():
    insight = EnergyInsight(stored(power_readings(MORNING, 3600, 60, 1.0)))
    with pytest.raises(ValueError, match="tariff"):
        insight.costs(DAY, DAY + timedelta(days=1))
    assert insight.summary(DAY, DAY + timedelta(days=1)).total_cost is None
    with pytest.raises(ValueError, match=r"start .*time zone"):
        insight.consumption(datetime(2025, 6, 2), DAY + timedelta(days=1))


def test_the_summary_ranks_the_incidents_of_the_meters_asked_for():
    start = DAY + timedelta(days=29)
    high_from = (start + timedelta(hours=10) - DAY).total_seconds()
    readings = power_readings(
        DAY, 30 * 86_400, 300, lambda t: 3.0 if high_from <= t <= high_from + 3600 else 1.0
    )
    readings += power_readings(DAY, 30 * 86_400, 300, 1.0, meter="other")
    incidents = [
        Incident("m1", start + timedelta(hours=10), start + timedelta(hours=11), "big"),
        Incident("m1", start + timedelta(hours=2), start + timedelta(hours=3), "none"),
        Incident("other", start + timedelta(hours=10), start + timedelta(hours=11), "other"),
        Incident("m1", start - timedelta(hours=3), start - timedelta(hours=2), "before"),
    ]
    insight = EnergyInsight(stored(readings), tariffs=FLAT)
    summary = insight.summary(
        start, start + timedelta(days=1), incidents=incidents, meter_ids=["m1"]
    )
    assert [a.incident.key for a in summary.anomalies] == ["big", "none"]
    assert summary.anomalies[0].excess_kwh == pytest.approx(2.0, rel=0.01)
    assert summary.anomalies[0].cost == pytest.approx(0.3, rel=0.01)
    first = insight.summary(start, start + timedelta(days=1), incidents=incidents, top=1)
    assert [a.incident.key for a in first.anomalies] == ["big"]


def test_each_meter_is_read_once_for_all_its_incidents():
    calls: list[tuple[str, ...]] = []
    inner = stored(power_readings(MORNING, 3600, 60, 1.0))

    class Counting:
        def minutes(self, start, end, meter_ids=()):
            calls.append(tuple(meter_ids))
            return inner.minutes(start, end, meter_ids)

    incidents = [
        Incident("m1", MORNING, MORNING + timedelta(minutes=5)),
        Incident("m1", MORNING + timedelta(minutes=30), MORNING + timedelta(minutes=40)),
        Incident("ghost", MORNING, MORNING),
    ]
    found = EnergyInsight(Counting()).anomaly_costs(incidents)
    assert sorted(calls) == [("ghost",), ("m1",)]
    assert len(found) == 3
    ghost = next(f for f in found if f.incident.meter_id == "ghost")
    assert math.isnan(ghost.actual_kwh) and math.isnan(ghost.excess_kwh)


def test_the_minute_path_agrees_with_the_readings_on_a_simulated_plug():
    # A load varying every 10 s: the rollups' figures are the readings' to a fraction.
    readings = power_readings(MORNING, 4 * 3600, 10, lambda t: 1.0 + 0.8 * math.sin(t / 500.0) ** 2)
    by_rollups = EnergyInsight(stored(readings)).consumption(
        DAY, DAY + timedelta(days=1), period="hour"
    )
    exact = consumption(raw(readings), DAY, DAY + timedelta(days=1), period="hour")
    for one, other in zip(by_rollups.total, exact.total, strict=True):
        assert one.import_kwh == pytest.approx(other.import_kwh, abs=0.01)


# --- the per-minute aggregates -------------------------------------------------------------
def test_readings_are_aggregated_per_meter_and_minute_like_the_rollups():
    readings = [
        Reading(at(MORNING, 5), "b", {"active_power": 2.0, "energy_import": 10.0}),
        Reading(at(MORNING, 35), "b", {"active_power": 4.0, "energy_import": 10.5}),
        Reading(at(MORNING, 65), "b", {"power_factor": 0.9}),
        Reading(at(MORNING, 70), "b", {"voltage": 230.0}),  # no energy variable
        Reading(at(MORNING, 200), "b", {"voltage": 230.0}),
        Reading(at(MORNING, 0), "a", {"energy_export": 3.0}),
    ]
    a, b = aggregate_minutes(readings)
    assert (a.meter_id, b.meter_id) == ("a", "b")
    assert b.minutes.tolist() == [int(at(MORNING, 0).timestamp()), int(at(MORNING, 60).timestamp())]
    power = b["active_power"]
    assert power.count.tolist() == [2, 0]
    assert power.mean[0] == 3.0 and (power.minimum[0], power.maximum[0]) == (2.0, 4.0)
    assert np.isnan(power.mean[1]) and np.isnan(power.maximum[1])
    assert b["energy_import"].maximum.tolist()[0] == 10.5
    assert b["power_factor"].count.tolist() == [0, 1]
    assert set(b.variables) == set(ENERGY_VARIABLES)
    assert a["energy_export"].count.tolist() == [1] and a["active_power"].count.tolist() == [0]


def test_a_minute_series_holds_each_busy_minute_and_places_a_lone_reading_mid_minute():
    readings = [
        Reading(at(MORNING, 0), "m", {"active_power": 1.0}),
        Reading(at(MORNING, 30), "m", {"active_power": 3.0}),
        Reading(at(MORNING, 125), "m", {"active_power": 5.0}),
    ]
    [minutes] = aggregate_minutes(readings)
    series = series_from_minutes(minutes)
    start = MORNING.timestamp()
    assert series.power.times.tolist() == pytest.approx([start, start + 60, start + 150], abs=0.01)
    assert series.power.values.tolist() == [2.0, 2.0, 5.0]
    # The time between readings: within the minute 30 s; from its last (~45 s) to ~150 s.
    assert series.spacing().tolist() == pytest.approx([30.0, 105.0])


def test_the_settings_travel_with_the_summary():
    settings = EnergySettings(timezone="Europe/Madrid", demand_interval=timedelta(minutes=30))
    summary = EnergyInsight(
        stored(power_readings(MORNING, 3600, 60, 1.0)), settings=settings
    ).summary(DAY, DAY + timedelta(days=1), period="hour")
    assert summary.settings is settings
    assert summary.consumption.timezone == "Europe/Madrid"
    assert summary.total_demand.interval == timedelta(minutes=30)
    assert summary.consumption.total[0].label == "2025-06-02T02:00+02:00"
    assert summary.start == DAY and summary.end == DAY + timedelta(days=1)


def test_windows_must_be_whole_minutes_at_the_port():
    queries = stored([])
    with pytest.raises(ValueError, match="whole minute"):
        queries.minutes(MORNING + timedelta(seconds=1), MORNING + timedelta(hours=1))
    with pytest.raises(ValueError, match=r"end .*before start"):
        queries.minutes(MORNING, MORNING - timedelta(minutes=1))
    assert queries.minutes(MORNING, MORNING + timedelta(hours=1)) == []
