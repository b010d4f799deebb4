"""The MQTT subscriber's routing of devices' own topics to their decoders, in memory (no
broker): which topics it takes, what a device message becomes, and what a message in no known
shape is answered."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from energy_adapters.memory import ManualClock
from energy_core import ReadingFilter, Simulator
from energy_core.telemetry.decoders import MappingFileError
from energy_ui.bootstrap import bootstrap
from energy_ui.devices import disabled_topics
from energy_ui.mqtt import ERRORS_TOPIC, MqttIngestor
from energy_ui.settings import Settings
from tests.strategies import BASE
from tests.unit.decoders import samples


def ingestor(**options: Any) -> MqttIngestor:
    settings = Settings(_env_file=None, max_readings=None, meters=1, **options)
    application = bootstrap(settings, clock=ManualClock(BASE), simulator=Simulator(seed=1))
    return MqttIngestor(application.monitor, settings)


def test_by_default_the_native_tasmota_and_shelly_topics_are_taken_and_emonhub_is_not():
    assert ingestor().topics == (
        "smartenergy/+/readings",
        "tele/+/SENSOR",
        "+/status/+",
        "+/events/rpc",
    )


def test_settings_turn_each_family_off_or_move_it_under_a_prefix():
    subscriber = ingestor(mqtt_tasmota=False, mqtt_shelly_prefix="shellies", mqtt_emonhub=True)
    assert subscriber.topics == (
        "smartenergy/+/readings",
        "shellies/+/status/+",
        "shellies/+/events/rpc",
        "emon/+",
        "emon/+/+",
    )
    # What was turned off is dropped from a persistent session that still holds it.
    assert disabled_topics(subscriber.settings) == ("tele/+/SENSOR",)


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("tasmota_time_zone", "Mars/Base", "expected receive or a time zone name"),
        ("mqtt_tasmota_prefix", "tele/+", "a topic prefix has no wildcards"),
        ("mqtt_shelly_prefix", "#", "a topic prefix has no wildcards"),
    ],
)
def test_device_settings_refuse_what_cannot_work(name, value, problem):
    with pytest.raises(ValidationError, match=problem):
        Settings(_env_file=None, **{name: value})


def test_a_tasmota_message_becomes_readings_of_the_device_its_topic_names():
    incoming = ingestor().receive(samples.TASMOTA_POW_R2_TOPIC, samples.TASMOTA_POW_R2)
    assert incoming.rejections == []
    assert incoming.meter == "pow1"
    [(index, entry)] = incoming.entries
    assert index == 0
    assert entry["meter_id"] == "pow1"
    assert entry["timestamp"] == BASE  # the monitor's clock: the receive time
    assert entry["active_power"] == 2.635


def test_the_tasmota_time_zone_setting_reads_the_devices_time():
    subscriber = ingestor(tasmota_time_zone="Europe/Madrid")
    incoming = subscriber.receive(samples.TASMOTA_POW_R2_TOPIC, samples.TASMOTA_POW_R2)
    assert incoming.entries[0][1]["timestamp"] == datetime(2018, 2, 15, 16, 37, 10, tzinfo=UTC)


def test_a_shelly_three_phase_status_becomes_the_device_and_its_phases():
    incoming = ingestor().receive(samples.SHELLY_PRO3EM_TOPIC, samples.SHELLY_PRO3EM)
    assert incoming.meter == "shellypro3em-a0dd6ca0c27c"
    assert [entry["meter_id"] for _, entry in incoming.entries] == [
        "shellypro3em-a0dd6ca0c27c",
        "shellypro3em-a0dd6ca0c27c.L1",
        "shellypro3em-a0dd6ca0c27c.L2",
        "shellypro3em-a0dd6ca0c27c.L3",
    ]


def test_a_shelly_status_without_measurements_is_neither_stored_nor_answered():
    subscriber = ingestor()
    verdict = subscriber.handle(samples.SHELLY_WIFI_TOPIC, samples.SHELLY_WIFI)
    assert (verdict.accepted, verdict.rejections) == (0, [])
    assert subscriber.counters.rejected_messages == 0


def test_a_message_in_no_known_shape_is_rejected_with_the_topic_and_what_was_expected():
    subscriber = ingestor()
    verdict = subscriber.handle(samples.TASMOTA_DS18B20_TOPIC, samples.TASMOTA_DS18B20)
    [rejection] = verdict.rejections
    assert rejection.field == "payload"
    assert rejection.reason == (
        "tele/tasmota_probe/SENSOR: expected Tasmota energy telemetry: a JSON object with an "
        '"ENERGY" object (Voltage, Current, Power, …)'
    )
    # Answered on the device's errors topic, as SmartEnergy's own messages are.
    assert ERRORS_TOPIC.format(meter=verdict.meter) == "smartenergy/tasmota_probe/errors"
    assert json.loads(verdict.error_payload())["rejected"][0]["reason"] == rejection.reason
    assert subscriber.counters.rejected_messages == 1


def test_a_device_payload_that_is_not_json_says_what_was_expected_there():
    verdict = ingestor().handle("shellyplus1pm-aa/status/switch:0", b"{not json")
    [rejection] = verdict.rejections
    assert rejection.reason.startswith("invalid JSON at line 1, column 2")
    assert rejection.reason.endswith(
        "expected a Shelly Gen2 topic: <device>/status/<component> or <device>/events/rpc"
    )


def test_smartenergys_own_topic_is_read_as_before():
    incoming = ingestor().receive("smartenergy/pump-1/readings", b'{"voltage": 230}')
    assert incoming.entries == [(0, {"voltage": 230, "meter_id": "pump-1"})]


def test_emonhub_values_are_held_then_joined_into_one_message_per_node():
    subscriber = ingestor(mqtt_emonhub=True)
    held = [
        subscriber.receive(topic, payload, mid=number, qos=1)
        for number, (topic, payload) in enumerate(samples.EMONHUB_MQTT_VALUES, start=1)
    ]
    assert all(incoming.held and not incoming.entries for incoming in held)
    assert subscriber.take_assembled() == []
    # The node's next frame starts: the previous one is complete.
    follow = subscriber.receive("emon/emontx/power1", b"110", mid=9, qos=1)
    [joined] = subscriber.take_assembled()
    assert joined.joined == held
    assert joined.meter == "emontx"
    assert joined.topic == "emon/emontx"
    assert sorted(entry["meter_id"] for _, entry in joined.entries) == [
        "emontx",
        "emontx.1",
        "emontx.2",
    ]
    # The window closes the next one without a repetition.
    later = BASE + timedelta(seconds=2)
    [timed] = subscriber.take_assembled(later)
    assert timed.joined == [follow]


def test_an_emonhub_json_message_is_decoded_at_once():
    subscriber = ingestor(mqtt_emonhub=True)
    incoming = subscriber.receive(samples.EMONHUB_MQTT_JSON_TOPIC, samples.EMONHUB_MQTT_JSON)
    assert not incoming.held
    assert len(incoming.entries) == 3


def test_the_mapping_file_adds_its_topics_and_decodes_them(tmp_path: Path):
    path = tmp_path / "devices.toml"
    path.write_text(
        '[[device]]\nname = "acme"\ntopic = "acme/+/telemetry"\n'
        '[device.variables]\nvoltage = "v"\n',
        encoding="utf-8",
    )
    subscriber = ingestor(device_mappings=path)
    assert subscriber.topics[1] == "acme/+/telemetry"
    incoming = subscriber.receive("acme/m-7/telemetry", b'{"v": 231.5}')
    assert incoming.entries == [(0, {"meter_id": "m-7", "timestamp": BASE, "voltage": 231.5})]


def test_a_broken_mapping_file_stops_the_subscriber_naming_the_file_and_key(tmp_path: Path):
    path = tmp_path / "devices.toml"
    path.write_text('[[device]]\ntopic = "a/+"\n[device.variables]\nvolts = "v"\n')
    with pytest.raises(MappingFileError, match=rf"^{path}: device\[0\]: variables.volts"):
        ingestor(device_mappings=path)
    with pytest.raises(MappingFileError, match="cannot read"):
        ingestor(device_mappings=tmp_path / "missing.toml")


def test_a_tasmota_message_is_stored_with_only_the_variables_it_sent():
    subscriber = ingestor()
    verdict = subscriber.handle(samples.TASMOTA_POW_R2_TOPIC, samples.TASMOTA_POW_R2)
    assert verdict.rejections == []
    [stored] = subscriber.monitor.queries.window(ReadingFilter(meter_ids=("pow1",)))
    assert stored["active_power"] == 2.635
    assert "motor_temperature" not in stored.values
