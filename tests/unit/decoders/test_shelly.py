"""Shelly Gen2+ component statuses (<device>/status/<component>) and NotifyStatus events
(<device>/events/rpc) decoded into SmartEnergy readings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from energy_core.telemetry.decoders import DecodeError, shelly
from tests.unit.decoders import samples

RECEIVED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def by_meter(readings: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    """Each reading's variables (no meter or instant) by its meter id, values approximate."""
    found = {}
    for reading in readings:
        values = {k: v for k, v in reading.items() if k not in ("meter_id", "timestamp")}
        found[reading["meter_id"]] = pytest.approx(values)
    return found


def decode(topic: str, payload: bytes) -> list[dict[str, object]]:
    return shelly.decode(topic, json.loads(payload), RECEIVED)


def test_a_metered_switch_status_is_a_reading_of_the_device_at_the_receive_time():
    readings = decode(samples.SHELLY_PLUS1PM_TOPIC, samples.SHELLY_PLUS1PM)
    assert [r["timestamp"] for r in readings] == [RECEIVED]
    # W → kW, Wh → kWh; the device's own temperature is not a motor's.
    assert by_meter(readings) == {
        "shellyplus1pm-441793d69718": {
            "active_power": 0.0,
            "voltage": 232.9,
            "current": 0.0,
            "energy_import": 0.066,
        }
    }


def test_a_power_meter_status_gives_frequency_and_returned_energy():
    readings = decode(samples.SHELLY_PM_MINI_TOPIC, samples.SHELLY_PM_MINI)
    assert by_meter(readings) == {
        "shellypmminig3-84fce63957f4": {
            "voltage": 234.5,
            "current": 0.043,
            "active_power": 0.0044,
            "frequency": 50.1,
            "energy_import": 73.112963,
            "energy_export": 0.0,
        }
    }


def test_a_three_phase_meter_gives_the_device_totals_and_one_meter_per_phase():
    readings = decode(samples.SHELLY_PRO3EM_TOPIC, samples.SHELLY_PRO3EM)
    device = "shellypro3em-a0dd6ca0c27c"
    # Unwired phases report 0 Hz: no frequency was measured there, so none is given.
    assert by_meter(readings) == {
        device: {"current": 0.123, "active_power": 0.00678, "apparent_power": 0.015881},
        f"{device}.L1": {
            "current": 0.028,
            "voltage": 0.0,
            "active_power": 0.0,
            "apparent_power": 0.0,
            "power_factor": 0.0,
        },
        f"{device}.L2": {
            "current": 0.027,
            "voltage": 0.0,
            "active_power": 0.0,
            "apparent_power": 0.0,
            "power_factor": 0.0,
        },
        f"{device}.L3": {
            "current": 0.068,
            "voltage": 232.7,
            "active_power": 0.0068,
            "apparent_power": 0.0159,
            "power_factor": 0.42,
            "frequency": 50.0,
        },
    }


def test_a_three_phase_meters_energy_counters_go_to_the_same_meters():
    readings = decode(samples.SHELLY_PRO3EM_DATA_TOPIC, samples.SHELLY_PRO3EM_DATA)
    device = "shellypro3em-a0dd6ca0c27c"
    assert by_meter(readings) == {
        device: {"energy_import": 45.23697, "energy_export": 0.0},
        f"{device}.L1": {"energy_import": 0.00001, "energy_export": 0.0},
        f"{device}.L2": {"energy_import": 0.00001, "energy_export": 0.0},
        f"{device}.L3": {"energy_import": 45.23695, "energy_export": 0.0},
    }


def test_a_second_channel_is_a_meter_of_its_own_and_the_first_is_the_device():
    channel = decode(samples.SHELLY_PRO_EM_CH1_TOPIC, samples.SHELLY_PRO_EM_CH1)
    assert by_meter(channel) == {
        "shellyproem50-a0dd6ca09158.1": {
            "voltage": 233.0,
            "current": 0.0,
            "active_power": 0.0,
            "apparent_power": 0.0047,
            "power_factor": 0.0,
            "frequency": 50.0,
        }
    }
    counters = decode(samples.SHELLY_PRO_EM_DATA_TOPIC, samples.SHELLY_PRO_EM_DATA)
    assert by_meter(counters) == {
        "shellyproem50-a0dd6ca09158": {"energy_import": 8797.80913, "energy_export": 0.0}
    }


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (samples.SHELLY_PRO_EM_SWITCH_TOPIC, samples.SHELLY_PRO_EM_SWITCH),
        (samples.SHELLY_WIFI_TOPIC, samples.SHELLY_WIFI),
        (samples.SHELLY_INPUT_TOPIC, samples.SHELLY_INPUT),
        (samples.SHELLY_NOTIFY_OUTPUT_TOPIC, samples.SHELLY_NOTIFY_OUTPUT),
        (samples.SHELLY_NOTIFY_OUTPUT_TOPIC, samples.SHELLY_NOTIFY_CLOUD),
        (samples.SHELLY_NOTIFY_OUTPUT_TOPIC, samples.SHELLY_NOTIFY_EVENT),
    ],
)
def test_statuses_and_events_without_a_measurement_give_nothing_and_are_not_an_error(
    topic, payload
):
    assert decode(topic, payload) == []


def test_a_notify_status_is_read_at_the_devices_own_instant():
    readings = decode(samples.SHELLY_NOTIFY_POWER_TOPIC, samples.SHELLY_NOTIFY_POWER)
    assert [r["timestamp"] for r in readings] == [datetime.fromtimestamp(1631186545.04, tz=UTC)]
    assert by_meter(readings) == {
        "shellypro4pm-f008d1d8b8b8.2": {
            "active_power": 1.2505,
            "voltage": 237.571,
            "current": 5.3,
            "energy_import": 0.014093,
        }
    }


def test_a_full_status_notification_gives_every_metered_component():
    payload = {
        "src": "shellyplus2pm-aa",
        "method": "NotifyFullStatus",
        "params": {
            "ts": 1700000000.5,
            "switch:0": {"id": 0, "apower": 10.0},
            "switch:1": {"id": 1, "apower": 20.0},
            "wifi": {"rssi": -50},
        },
    }
    readings = shelly.decode("shellyplus2pm-aa/events/rpc", payload, RECEIVED)
    assert by_meter(readings) == {
        "shellyplus2pm-aa": {"active_power": 0.01},
        "shellyplus2pm-aa.1": {"active_power": 0.02},
    }


def test_a_null_in_a_notification_means_the_key_disappeared_not_zero():
    payload = {
        "method": "NotifyStatus",
        "params": {"ts": 1700000000, "switch:0": {"apower": None, "voltage": 230}},
    }
    readings = shelly.decode("plug/events/rpc", payload, RECEIVED)
    assert by_meter(readings) == {"plug": {"voltage": 230.0}}


def test_a_notification_without_a_time_takes_the_receive_time():
    payload = {"method": "NotifyStatus", "params": {"switch:0": {"apower": 5}}}
    [reading] = shelly.decode("plug/events/rpc", payload, RECEIVED)
    assert reading["timestamp"] == RECEIVED


def test_the_device_given_by_the_channel_wins_over_the_topic_layout():
    [reading] = shelly.decode(
        "home/kitchen/status/switch:0", {"apower": 5}, RECEIVED, device="kitchen"
    )
    assert reading["meter_id"] == "kitchen"
    [nested] = shelly.decode("home/kitchen/status/switch:0", {"apower": 5}, RECEIVED)
    assert nested["meter_id"] == "kitchen"


@pytest.mark.parametrize(
    ("topic", "payload", "message"),
    [
        (
            "plug/status/switch:0",
            [1, 2],
            "plug/status/switch:0: expected a Shelly component status: a JSON object",
        ),
        (
            "plug/events/rpc",
            {"id": 1, "result": {}},
            "plug/events/rpc: expected a Shelly RPC notification: a JSON object with "
            '"method" (NotifyStatus, NotifyFullStatus or NotifyEvent) and "params"',
        ),
        (
            "plug/events/rpc",
            {"method": "NotifyStatus", "params": [1]},
            "plug/events/rpc: params=[…]: expected a JSON object",
        ),
        (
            "plug/events/rpc",
            {"method": "NotifyStatus", "params": {"ts": "now", "switch:0": {}}},
            "plug/events/rpc: params.ts='now': expected a Unix time in seconds",
        ),
        (
            "plug/status/switch:0",
            {"apower": "12"},
            "plug/status/switch:0: switch:0.apower='12': expected a number",
        ),
        (
            "plug/status/em:0",
            {"a_voltage": True},
            "plug/status/em:0: em:0.a_voltage=True: expected a number",
        ),
        (
            "plug/status/switch:0",
            {"aenergy": 5},
            "plug/status/switch:0: switch:0.aenergy=5: expected a JSON object",
        ),
        (
            "plug/telemetry",
            {"apower": 5},
            "plug/telemetry: expected a Shelly Gen2 topic: <device>/status/<component> "
            "or <device>/events/rpc",
        ),
    ],
)
def test_a_message_in_no_shelly_shape_is_refused_saying_what_was_expected(topic, payload, message):
    with pytest.raises(DecodeError) as error:
        shelly.decode(topic, payload, RECEIVED)
    assert str(error.value) == message


def test_a_unix_time_past_the_calendar_is_refused_not_an_overflow():
    payload = {"method": "NotifyStatus", "params": {"ts": 1e20, "switch:0": {"apower": 5}}}
    with pytest.raises(DecodeError, match=r"params.ts=1e\+20: expected a Unix time"):
        shelly.decode("plug/events/rpc", payload, RECEIVED)
