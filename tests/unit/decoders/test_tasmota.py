"""Tasmota energy telemetry (tele/<device>/SENSOR) decoded into SmartEnergy readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from energy_core.telemetry.decoders import DecodeError, tasmota
from tests.unit.decoders import samples

RECEIVED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def test_a_single_phase_plug_is_one_reading_of_its_device_in_catalogue_units():
    readings = tasmota.decode(
        samples.TASMOTA_POW_R2_TOPIC, json.loads(samples.TASMOTA_POW_R2), RECEIVED
    )
    assert readings == [
        {
            "meter_id": "pow1",
            "timestamp": RECEIVED,
            "voltage": 227.0,
            "current": 11.661,
            "active_power": 2.635,
            "apparent_power": 2.65,
            "reactive_power": 0.282,
            "power_factor": 0.99,
            "energy_import": 6.294,
        }
    ]


def test_a_meter_that_reports_only_some_variables_gives_only_those():
    [reading] = tasmota.decode(
        samples.TASMOTA_TELEINFO_TOPIC, json.loads(samples.TASMOTA_TELEINFO), RECEIVED
    )
    # FullTopic %topic%/%prefix%/: the device is the level before "tele".
    assert reading == {
        "meter_id": "denky_D6C0C0",
        "timestamp": RECEIVED,
        "current": 1.0,
        "active_power": 0.17,
        "energy_import": 9098.245,
    }


def test_channel_arrays_become_one_meter_per_channel_sharing_the_common_voltage():
    readings = tasmota.decode(
        samples.TASMOTA_DUAL_TOPIC, json.loads(samples.TASMOTA_DUAL), RECEIVED
    )
    assert readings == [
        {
            "meter_id": "tasmota.L1",
            "timestamp": RECEIVED,
            "voltage": 235.0,
            "current": 0.278,
            "active_power": 0.052,
            "apparent_power": 0.066,
            "reactive_power": 0.04,
            "power_factor": 0.79,
            "energy_import": 2.813,
        },
        {
            "meter_id": "tasmota.L2",
            "timestamp": RECEIVED,
            "voltage": 235.0,
            "current": 0.044,
            "active_power": 0.005,
            "apparent_power": 0.01,
            "reactive_power": 0.009,
            "power_factor": 0.5,
            "energy_import": 0.254,
        },
    ]


def test_scalar_totals_next_to_phase_arrays_belong_to_the_device_meter():
    payload = {
        "Time": "2024-05-01T10:00:00",
        "ENERGY": {
            "Total": 120.5,
            "Power": [1000, 2000, 3000],
            "Voltage": [230, 231, 229],
            "Frequency": 50.02,
            "ExportActive": 3.25,
        },
    }
    readings = tasmota.decode("tele/pzem3/SENSOR", payload, RECEIVED)
    assert [reading["meter_id"] for reading in readings] == [
        "pzem3",
        "pzem3.L1",
        "pzem3.L2",
        "pzem3.L3",
    ]
    assert readings[0] == {
        "meter_id": "pzem3",
        "timestamp": RECEIVED,
        "frequency": 50.02,
        "energy_import": 120.5,
        "energy_export": 3.25,
    }
    assert readings[3] == {
        "meter_id": "pzem3.L3",
        "timestamp": RECEIVED,
        "voltage": 229.0,
        "active_power": 3.0,
        "frequency": 50.02,
    }


def test_by_default_the_receive_time_is_the_readings_instant_whatever_the_device_clock_says():
    payload = {"Time": "1970-01-01T00:00:12", "ENERGY": {"Power": 5}}
    [reading] = tasmota.decode("tele/plug/SENSOR", payload, RECEIVED)
    assert reading["timestamp"] == RECEIVED


def test_with_a_time_zone_the_device_time_is_read_as_local_time_of_that_zone():
    payload = json.loads(samples.TASMOTA_POW_R2)  # "Time": "2018-02-15T17:37:10", CET in winter
    [reading] = tasmota.decode(
        samples.TASMOTA_POW_R2_TOPIC, payload, RECEIVED, zone=ZoneInfo("Europe/Madrid")
    )
    assert reading["timestamp"] == datetime(2018, 2, 15, 16, 37, 10, tzinfo=UTC)
    [utc] = tasmota.decode(samples.TASMOTA_POW_R2_TOPIC, payload, RECEIVED, zone=UTC)
    assert utc["timestamp"] == datetime(2018, 2, 15, 17, 37, 10, tzinfo=UTC)


def test_a_time_carrying_its_own_offset_is_taken_as_it_is():
    # SetOption52 1 makes Tasmota print the offset.
    payload = {"Time": "2024-07-01T12:00:00+02:00", "ENERGY": {"Power": 5}}
    [reading] = tasmota.decode(
        "tele/plug/SENSOR", payload, RECEIVED, zone=ZoneInfo("America/New_York")
    )
    assert reading["timestamp"] == datetime(2024, 7, 1, 10, 0, tzinfo=UTC)


def test_with_a_time_zone_a_message_without_time_takes_the_receive_time():
    [reading] = tasmota.decode("tele/plug/SENSOR", {"ENERGY": {"Power": 5}}, RECEIVED, zone=UTC)
    assert reading["timestamp"] == RECEIVED


def test_a_time_that_is_not_a_date_is_refused_naming_the_field():
    with pytest.raises(DecodeError, match=r"^tele/plug/SENSOR: Time='yesterday': expected"):
        tasmota.decode(
            "tele/plug/SENSOR", {"Time": "yesterday", "ENERGY": {"Power": 5}}, RECEIVED, zone=UTC
        )


def test_the_device_given_by_the_channel_wins_over_the_topic_layout():
    [reading] = tasmota.decode(
        "site/a/kitchen-plug/SENSOR", {"ENERGY": {"Power": 5}}, RECEIVED, device="kitchen-plug"
    )
    assert reading["meter_id"] == "kitchen-plug"


def test_a_sensor_message_without_energy_is_refused_saying_what_was_expected():
    with pytest.raises(DecodeError) as error:
        tasmota.decode(samples.TASMOTA_DS18B20_TOPIC, json.loads(samples.TASMOTA_DS18B20), RECEIVED)
    assert str(error.value) == (
        "tele/tasmota_probe/SENSOR: expected Tasmota energy telemetry: a JSON object with an "
        '"ENERGY" object (Voltage, Current, Power, …)'
    )


@pytest.mark.parametrize("payload", [[1, 2], 230, "text", None])
def test_a_payload_that_is_not_an_object_is_refused(payload):
    with pytest.raises(DecodeError, match="expected Tasmota energy telemetry"):
        tasmota.decode("tele/plug/SENSOR", payload, RECEIVED)


def test_an_energy_object_without_any_known_measurement_is_refused():
    with pytest.raises(DecodeError, match=r"ENERGY has none of Voltage, Current, Power"):
        tasmota.decode("tele/plug/SENSOR", {"ENERGY": {"TotalStartTime": "x"}}, RECEIVED)


@pytest.mark.parametrize(
    ("energy", "where"),
    [
        ({"Power": "2635"}, "ENERGY.Power='2635'"),
        ({"Power": True}, "ENERGY.Power=True"),
        ({"Voltage": [230, "x"]}, "ENERGY.Voltage[1]='x'"),
        ({"Current": {"a": 1}}, "ENERGY.Current={…}"),
    ],
)
def test_a_value_that_is_not_a_number_is_refused_naming_where(energy, where):
    with pytest.raises(DecodeError) as error:
        tasmota.decode("tele/plug/SENSOR", {"ENERGY": energy}, RECEIVED)
    assert str(error.value) == f"tele/plug/SENSOR: {where}: expected a number"


def test_null_values_are_left_out_not_read_as_zero():
    payload = {"ENERGY": {"Power": [100, None], "Voltage": None, "Current": [None, 1.5]}}
    readings = tasmota.decode("tele/plug/SENSOR", payload, RECEIVED)
    assert readings == [
        {"meter_id": "plug.L1", "timestamp": RECEIVED, "active_power": 0.1},
        {"meter_id": "plug.L2", "timestamp": RECEIVED, "current": 1.5},
    ]


def test_out_of_range_values_are_passed_on_for_the_ingest_validation_to_refuse():
    [reading] = tasmota.decode("tele/plug/SENSOR", {"ENERGY": {"Voltage": -5}}, RECEIVED)
    assert reading["voltage"] == -5.0


def test_more_channels_than_any_device_has_are_refused():
    with pytest.raises(DecodeError, match=r"ENERGY.Power: more than 16 channels"):
        tasmota.decode("tele/plug/SENSOR", {"ENERGY": {"Power": list(range(17))}}, RECEIVED)
