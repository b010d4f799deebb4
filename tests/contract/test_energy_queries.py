"""``EnergyQueries``: the per-minute energy aggregates, the same in memory (computed from the
readings) and on PostgreSQL (read from the rollups): the statistics every adapter gives
(``VariableMinutes``: means of power, power factor and reactive power; the registers'
envelope).

The suite has its own fixture (``energy``) rather than a factory in ``conftest.py``: each
adapter is paired with the writes that feed it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from energy_adapters.energy_memory import MemoryEnergyQueries
from energy_adapters.memory import MemoryReadingRepository
from energy_core import Reading
from energy_core.energy import ENERGY_VARIABLES, EnergyInsight, MeterMinutes

MORNING = datetime(2025, 6, 2, 8, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return MORNING + timedelta(seconds=seconds)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


@dataclass
class Energy:
    readings: Any  # ReadingRepository
    queries: Any  # EnergyQueries


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def energy(request: pytest.FixtureRequest) -> Iterator[Energy]:
    if request.param == "memory":
        repository = MemoryReadingRepository()
        yield Energy(repository, MemoryEnergyQueries(repository))
        return
    from energy_adapters.postgres.energy import PostgresEnergyQueries

    stores = request.getfixturevalue("pg_stores")
    yield Energy(stores.readings, PostgresEnergyQueries(stores.engine))


def by_meter(answer: list[MeterMinutes]) -> dict[str, MeterMinutes]:
    return {item.meter_id: item for item in answer}


def test_each_minute_holds_the_count_mean_and_envelope_of_each_variable(energy):
    energy.readings.add_many(
        [
            Reading(at(5), "m1", {"active_power": 2.0, "energy_import": 10.0, "voltage": 230.0}),
            Reading(at(35), "m1", {"active_power": 4.0, "energy_import": 10.5}),
            Reading(at(65), "m1", {"power_factor": 0.9, "reactive_power": 1.5}),
            Reading(at(125), "m1", {"voltage": 231.0}),  # no energy variable: no minute
        ]
    )
    [m1] = energy.queries.minutes(MORNING, MORNING + timedelta(hours=1))
    assert m1.meter_id == "m1"
    assert m1.minutes.tolist() == [epoch(MORNING), epoch(MORNING) + 60]
    assert set(m1.variables) == set(ENERGY_VARIABLES)
    power, register = m1["active_power"], m1["energy_import"]
    assert power.count.tolist() == [2, 0]
    assert power.mean.tolist() == pytest.approx([3.0, np.nan], nan_ok=True)
    assert (register.minimum[0], register.maximum[0]) == (10.0, 10.5)
    assert np.isnan([register.minimum[1], register.maximum[1]]).all()
    assert m1["power_factor"].count.tolist() == [0, 1]
    assert m1["reactive_power"].mean[1] == pytest.approx(1.5)
    assert m1["energy_export"].count.tolist() == [0, 0]


def test_batches_landing_in_one_minute_are_merged(energy):
    energy.readings.add_many([Reading(at(1), "m1", {"energy_import": 7.0, "active_power": 1.0})])
    energy.readings.add_many([Reading(at(2), "m1", {"energy_import": 5.0, "active_power": 3.0})])
    [m1] = energy.queries.minutes(MORNING, MORNING + timedelta(minutes=1))
    assert m1["active_power"].count.tolist() == [2]
    assert m1["active_power"].mean.tolist() == pytest.approx([2.0])
    assert (m1["energy_import"].minimum[0], m1["energy_import"].maximum[0]) == (5.0, 7.0)


def test_the_window_is_whole_minutes_from_start_to_end_excluded(energy):
    energy.readings.add_many(
        [Reading(at(60 * k + 10), "m1", {"active_power": float(k)}) for k in range(10)]
    )
    [m1] = energy.queries.minutes(at(120), at(300))
    assert m1.minutes.tolist() == [epoch(at(120)), epoch(at(180)), epoch(at(240))]
    assert m1["active_power"].mean.tolist() == pytest.approx([2.0, 3.0, 4.0])
    assert energy.queries.minutes(at(600), at(600)) == []
    with pytest.raises(ValueError, match="whole minute"):
        energy.queries.minutes(at(30), at(300))


def test_meters_come_in_id_order_and_can_be_chosen(energy):
    names = ["a-1", "B-1", "_x"]
    energy.readings.add_many(
        [Reading(at(10), name, {"active_power": 1.0 + i}) for i, name in enumerate(names)]
    )
    window = (MORNING, MORNING + timedelta(minutes=1))
    assert [m.meter_id for m in energy.queries.minutes(*window)] == sorted(names)
    chosen = energy.queries.minutes(*window, ["a-1", "_x", "nobody"])
    assert [m.meter_id for m in chosen] == ["_x", "a-1"]
    assert by_meter(chosen)["a-1"]["active_power"].mean.tolist() == [1.0]


def test_deleted_readings_leave_the_aggregates(energy):
    energy.readings.add_many(
        [Reading(at(30 * k), "m1", {"active_power": 1.0 + k}) for k in range(6)]
    )
    energy.readings.delete_before(at(75))  # keeps 90, 120, 150 s
    [m1] = energy.queries.minutes(MORNING, MORNING + timedelta(minutes=5))
    assert m1.minutes.tolist() == [epoch(at(60)), epoch(at(120))]
    assert m1["active_power"].count.tolist() == [1, 2]
    assert m1["active_power"].mean.tolist() == pytest.approx([4.0, 5.5])


def test_a_meter_at_2_kw_for_2_hours_used_4_kwh(energy):
    energy.readings.add_many([Reading(at(10 * k), "m1", {"active_power": 2.0}) for k in range(721)])
    day = MORNING.replace(hour=0)
    summary = EnergyInsight(energy.queries).summary(day, day + timedelta(days=1))
    assert summary.consumption.import_kwh == pytest.approx(4.0, rel=0.005)
    assert summary.total_demand.peak_kw == pytest.approx(2.0)
