from __future__ import annotations

import itertools
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom

from energy_core.telemetry.catalogue import variable
from energy_core.telemetry.readings import validate
from energy_core.telemetry.simulator import (
    KINDS_BY_VARIABLE,
    MOTOR_METER_VARIABLES,
    PLUG_VARIABLES,
    AnomalyKind,
    Simulator,
)
from tests.strategies import BASE, seeds


@given(seed=seeds, meters=st.integers(1, 4), count=st.integers(0, 200))
def test_same_seed_gives_the_same_history_and_stream(seed, meters, count):
    first = Simulator(meters=meters, seed=seed, anomaly_ratio=0.05)
    second = Simulator(meters=meters, seed=seed, anomaly_ratio=0.05)
    assert first.history(count, end=BASE) == second.history(count, end=BASE)
    assert first.next_batch(7, at=BASE) == second.next_batch(7, at=BASE)


@given(seed=seeds, meters=st.integers(1, 5), count=st.integers(1, 300))
def test_history_has_the_requested_count_in_time_order_ending_at_end(seed, meters, count):
    readings = Simulator(meters=meters, seed=seed).history(count, end=BASE)
    assert len(readings) == count
    times = [reading.timestamp for reading in readings]
    assert times == sorted(times)
    assert times[-1] == BASE


@given(seed=seeds, meters=st.integers(1, 4), ratio=st.floats(0.0, 0.5))
def test_every_simulated_reading_is_within_physical_bounds(seed, meters, ratio):
    for reading in Simulator(meters=meters, seed=seed, anomaly_ratio=ratio).history(300, end=BASE):
        validate(reading)


@given(seed=seeds, meters=st.integers(1, 4))
def test_normal_readings_obey_the_physics(seed, meters):
    simulator = Simulator(meters=meters, seed=seed, anomaly_ratio=0.0)
    profiles = {profile.meter_id: profile for profile in simulator.profiles}
    for reading in simulator.history(500, end=BASE):
        profile = profiles[reading.meter_id]
        apparent = reading["voltage"] * reading["current"] * reading["power_factor"] / 1000.0
        assert reading["active_power"] == pytest.approx(apparent, rel=0.03)
        assert abs(reading["voltage"] / profile.nominal_voltage - 1.0) <= 0.1
        assert abs(reading["frequency"] - profile.nominal_frequency) <= 0.2
        assert 0.5 <= reading["power_factor"] <= 1.0
        low = profile.ambient_temperature - 2.0
        high = profile.ambient_temperature + 1.25 * profile.thermal_rise + 2.0
        assert low <= reading["motor_temperature"] <= high
        assert reading.is_anomaly is False and reading.anomaly_kind is None


def test_temperature_lags_the_load():
    simulator = Simulator(meters=1, seed=3, anomaly_ratio=0.0)
    profile = simulator.profiles[0]
    readings = simulator.history(24 * 60, end=BASE, cadence=timedelta(minutes=1))
    power = np.array([reading["active_power"] for reading in readings])
    temperature = np.array([reading["motor_temperature"] for reading in readings])
    peak_power, peak_temperature = int(np.argmax(power)), int(np.argmax(temperature))
    lag_minutes = (peak_temperature - peak_power) % len(readings)
    # The thermal lag delays the temperature peak behind the load peak, by minutes not hours.
    assert 1 <= lag_minutes <= 4 * profile.thermal_time_constant_s / 60


@given(seed=seeds, ratio=st.sampled_from([0.01, 0.05, 0.12, 0.3]))
def test_per_variable_anomaly_rate_converges_to_the_ratio(seed, ratio):
    readings = Simulator(meters=2, seed=seed, anomaly_ratio=ratio).history(4000, end=BASE)
    hits = sum(
        len(reading.anomaly_kind.split("+")) if reading.anomaly_kind else 0 for reading in readings
    )
    # Kinds of one reading are distinct, but two variables may share a sensor-fault kind,
    # so count per-reading anomaly instead: P(anomalous) = 1 - (1 - ratio)^k.
    expected_reading_rate = 1.0 - (1.0 - ratio) ** len(MOTOR_METER_VARIABLES)
    observed_reading_rate = np.mean([bool(reading.is_anomaly) for reading in readings])
    standard_error = np.sqrt(expected_reading_rate * (1 - expected_reading_rate) / len(readings))
    assert abs(observed_reading_rate - expected_reading_rate) <= 5 * standard_error + 1e-9
    assert hits >= int(observed_reading_rate * len(readings))


READINGS = 6000
# Two-sided binomial bounds: a correct simulator falls outside them once in a million.
BINOMIAL_CONFIDENCE = 1 - 1e-6


def hits_per_variable(seed: int, ratio: float, kinds=None):
    """How often each variable was hit (against a twin simulator without anomalies), which
    readings a fault changed, and which are labelled anomalous.

    The twin draws the same random numbers (injection draws for every variable whatever the
    ratio), so a value differs from the twin's exactly where a fault changed it.
    """
    faulty = Simulator(meters=3, seed=seed, anomaly_ratio=ratio, kinds=kinds)
    clean = Simulator(meters=3, seed=seed, anomaly_ratio=0.0, kinds=kinds)
    faulty, clean = faulty.history(READINGS, end=BASE), clean.history(READINGS, end=BASE)
    hits = {
        name: sum(a[name] != b[name] for a, b in zip(faulty, clean, strict=True))
        for name in MOTOR_METER_VARIABLES
    }
    changed = [
        any(a[n] != b[n] for n in MOTOR_METER_VARIABLES) for a, b in zip(faulty, clean, strict=True)
    ]
    return hits, changed, [bool(reading.is_anomaly) for reading in faulty]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("ratio", [0.01, 0.05, 0.2])
def test_each_variable_is_hit_at_the_anomaly_ratio(seed, ratio):
    # Sensor spikes apply to every variable and change only the channel they hit.
    hits, changed, labelled = hits_per_variable(seed, ratio, kinds=[AnomalyKind.SENSOR_SPIKE])
    assert changed == labelled
    low, high = binom.interval(BINOMIAL_CONFIDENCE, READINGS, ratio)
    assert {name: low <= n <= high for name, n in hits.items()} == dict.fromkeys(
        MOTOR_METER_VARIABLES, True
    ), (hits, (low, high))


@pytest.mark.parametrize("seed", [4, 5])
@pytest.mark.parametrize("ratio", [0.02, 0.1])
def test_with_every_kind_each_measured_channel_is_hit_at_the_ratio(seed, ratio):
    hits, _, _ = hits_per_variable(seed, ratio)
    low, high = binom.interval(BINOMIAL_CONFIDENCE, READINGS, ratio)
    # Active power is also recomputed from V, I and PF after a physical fault: more often.
    measured = {name: n for name, n in hits.items() if name != "active_power"}
    assert all(low <= n <= high for n in measured.values()), (hits, (low, high))
    assert hits["active_power"] >= low


def test_labels_name_the_injected_kinds_and_only_applicable_ones():
    readings = Simulator(meters=2, seed=11, anomaly_ratio=0.1).history(5000, end=BASE)
    seen = Counter(
        kind
        for reading in readings
        if reading.anomaly_kind
        for kind in reading.anomaly_kind.split("+")
    )
    assert set(seen) == {kind.value for kind in AnomalyKind}
    assert all(reading.is_anomaly == (reading.anomaly_kind is not None) for reading in readings)


def test_restricting_kinds_injects_only_those():
    simulator = Simulator(seed=5, anomaly_ratio=0.2, kinds=[AnomalyKind.VOLTAGE_SAG])
    readings = simulator.history(2000, end=BASE)
    kinds = {reading.anomaly_kind for reading in readings if reading.is_anomaly}
    assert kinds == {"voltage_sag"}
    nominal = simulator.profiles[0].nominal_voltage
    for reading in readings:
        if reading.is_anomaly:
            assert reading["voltage"] < 0.9 * nominal


def test_every_kind_applies_to_at_least_one_variable():
    applicable = {kind for kinds in KINDS_BY_VARIABLE.values() for kind in kinds}
    assert applicable == set(AnomalyKind)
    assert set(KINDS_BY_VARIABLE) == set(MOTOR_METER_VARIABLES)


def test_stream_batches_rotate_over_the_meters_and_stay_in_the_interval():
    simulator = Simulator(meters=3, seed=1)
    batch = simulator.next_batch(6, at=BASE, interval=timedelta(seconds=1))
    assert Counter(reading.meter_id for reading in batch) == Counter(
        {meter: 2 for meter in simulator.meter_ids}
    )
    assert all(BASE - timedelta(seconds=1) < r.timestamp <= BASE for r in batch)


def test_stuck_sensor_repeats_the_previous_value():
    simulator = Simulator(seed=2, anomaly_ratio=0.2, kinds=[AnomalyKind.STUCK_SENSOR])
    readings = simulator.history(500, end=BASE)
    repeats = 0
    for previous, current in itertools.pairwise(readings):
        if current.is_anomaly:
            repeats += any(current[name] == previous[name] for name in MOTOR_METER_VARIABLES)
    assert repeats == sum(1 for reading in readings[1:] if reading.is_anomaly)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [({"meters": 0}, "meters"), ({"anomaly_ratio": 1.5}, "anomaly_ratio")],
)
def test_invalid_settings_are_refused_with_their_name(arguments, message):
    with pytest.raises(ValueError, match=message):
        Simulator(**arguments)


def test_frequency_is_fifty_or_sixty_hertz_per_meter():
    simulator = Simulator(meters=20, seed=4)
    assert {profile.nominal_frequency for profile in simulator.profiles} == {50.0, 60.0}
    assert variable("frequency").within_bounds(60.0)


def test_a_meter_has_the_same_profile_in_every_simulator_whatever_the_seed():
    first = Simulator(meters=3, seed=1)
    second = Simulator(meters=5, seed=99)
    assert first.profiles == second.profiles[:3]


def test_demo_meters_send_the_six_variables_of_a_motor_meter():
    readings = Simulator(meters=2, seed=1).history(20, end=BASE)
    assert {tuple(reading.values) for reading in readings} == {MOTOR_METER_VARIABLES}


def test_plugs_send_only_what_a_shelly_like_plug_measures():
    simulator = Simulator(meters=2, plugs=1, seed=1, anomaly_ratio=0.1)
    assert simulator.meter_ids == ("meter-01", "meter-02", "plug-01")
    readings = simulator.history(600, end=BASE)
    sent = {reading.meter_id: tuple(reading.values) for reading in readings}
    assert sent == {
        "meter-01": MOTOR_METER_VARIABLES,
        "meter-02": MOTOR_METER_VARIABLES,
        "plug-01": PLUG_VARIABLES,
    }
    assert PLUG_VARIABLES == (
        "voltage",
        "current",
        "active_power",
        "power_factor",
        "frequency",
        "energy_import",
    )
    for reading in readings:
        validate(reading)


def test_a_plug_is_never_labelled_with_a_fault_of_a_variable_it_does_not_send():
    readings = Simulator(meters=1, plugs=2, seed=7, anomaly_ratio=0.2).history(3000, end=BASE)
    plug_kinds = {
        kind
        for reading in readings
        if reading.meter_id.startswith("plug") and reading.anomaly_kind
        for kind in reading.anomaly_kind.split("+")
    }
    assert "overheating" not in plug_kinds
    assert "voltage_sag" in plug_kinds


def test_a_plug_s_energy_register_grows_by_its_power_over_time():
    simulator = Simulator(meters=0, plugs=1, seed=3, anomaly_ratio=0.0)
    readings = simulator.history(120, end=BASE, cadence=timedelta(minutes=1))
    energy = np.array([reading["energy_import"] for reading in readings])
    power = np.array([reading["active_power"] for reading in readings])
    assert np.all(np.diff(energy) >= 0.0)
    # kWh added per minute ≈ the power (kW) over that minute, within metering noise.
    assert np.diff(energy) == pytest.approx(power[1:] / 60.0, rel=0.05)
    later = simulator.history(10, end=BASE + timedelta(minutes=10))
    assert later[0]["energy_import"] > energy[-1]


def test_plugs_do_not_change_what_the_other_meters_send():
    alone = Simulator(meters=2, seed=9, anomaly_ratio=0.05).history(300, end=BASE)
    beside = Simulator(meters=2, plugs=1, seed=9, anomaly_ratio=0.05)
    assert [r for r in beside.history(450, end=BASE) if r.meter_id != "plug-01"] == alone
