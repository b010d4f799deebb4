"""The mapping file: any other device's JSON mapped to readings by a TOML file of the user's, and
every mistake in that file named by file, key and what is wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from energy_core.telemetry.decoders import DecodeError
from energy_core.telemetry.decoders.emon import EmonKey
from energy_core.telemetry.decoders.mapping import MappingFileError, parse_mapping

RECEIVED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)

EXAMPLE = """
# A meter nobody coded: its topic, where its numbers are and in which units.
[[device]]
name = "acme-meter"
topic = "acme/+/telemetry"
timestamp = "ts"
timestamp_format = "epoch_ms"

[device.variables]
voltage = "data.v"
active_power = { path = "data.p", scale = 0.001 }
current = "data.phases[0].i"

[[device]]
name = "plant-gateway"
topic = "plant/+/+/state"
meter = "{1}-{2}"
timestamp = "when"
timestamp_format = "%d/%m/%Y %H:%M:%S"
time_zone = "Europe/Madrid"

[device.variables]
frequency = "f"

[emon.keys]
T1 = { variable = "motor_temperature", meter = "{node}" }
"1" = { variable = "active_power", scale = 0.001, meter = "{node}.1" }
"""


def acme():
    return parse_mapping(EXAMPLE, "devices.toml").devices[0]


def test_a_device_of_its_own_is_read_from_its_paths_scaled_at_its_own_instant():
    readings = acme().decode(
        "acme/m-7/telemetry",
        {"ts": 1735732800123, "data": {"v": 230.1, "p": 1500, "phases": [{"i": 6.5}]}},
        RECEIVED,
    )
    assert readings == [
        {
            "meter_id": "m-7",
            "timestamp": datetime(2025, 1, 1, 12, 0, 0, 123000, tzinfo=UTC),
            "voltage": 230.1,
            "active_power": pytest.approx(1.5),
            "current": 6.5,
        }
    ]


def test_a_meter_template_of_several_levels_and_a_local_time_format():
    gateway = parse_mapping(EXAMPLE, "devices.toml").devices[1]
    [reading] = gateway.decode(
        "plant/north/pump-2/state", {"when": "15/01/2025 10:30:00", "f": 50.01}, RECEIVED
    )
    assert reading == {
        "meter_id": "north-pump-2",
        "timestamp": datetime(2025, 1, 15, 9, 30, tzinfo=UTC),
        "frequency": 50.01,
    }


def test_a_field_the_message_lacks_is_left_out_not_zero():
    [reading] = acme().decode("acme/m-7/telemetry", {"ts": 0, "data": {"v": 231}}, RECEIVED)
    assert set(reading) == {"meter_id", "timestamp", "voltage"}


def test_a_message_with_none_of_the_mapped_fields_is_refused_naming_them():
    with pytest.raises(DecodeError) as error:
        acme().decode("acme/m-7/telemetry", {"ts": 0, "other": 1}, RECEIVED)
    assert str(error.value) == (
        "acme/m-7/telemetry: acme-meter: none of the mapped fields is in the message "
        "(data.v, data.p, data.phases[0].i)"
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"ts": 0, "data": {"v": "230"}}, "acme-meter: data.v='230': expected a number"),
        ({"data": {"v": 230}}, "acme-meter: ts: missing (the timestamp field)"),
        ({"ts": "soon", "data": {"v": 1}}, "acme-meter: ts='soon': expected epoch_ms"),
        ([1, 2], "acme-meter: expected a JSON object"),
    ],
)
def test_a_message_not_in_the_mapped_shape_is_refused_saying_why(payload, message):
    with pytest.raises(DecodeError) as error:
        acme().decode("acme/m-7/telemetry", payload, RECEIVED)
    assert str(error.value) == f"acme/m-7/telemetry: {message}"


def test_without_a_timestamp_field_the_receive_time_is_used():
    spec = parse_mapping('[[device]]\ntopic = "x/+"\n[device.variables]\nvoltage = "v"\n', "m.toml")
    [reading] = spec.devices[0].decode("x/a", {"v": 230}, RECEIVED)
    assert reading["timestamp"] == RECEIVED


def test_iso_timestamps_without_a_zone_are_read_in_the_files_time_zone():
    spec = parse_mapping(
        '[[device]]\ntopic = "x/+"\ntimestamp = "t"\ntime_zone = "Europe/Madrid"\n'
        '[device.variables]\nvoltage = "v"\n',
        "m.toml",
    )
    [reading] = spec.devices[0].decode("x/a", {"t": "2025-07-01T12:00:00", "v": 1}, RECEIVED)
    assert reading["timestamp"] == datetime(2025, 7, 1, 10, 0, tzinfo=UTC)
    [zoned] = spec.devices[0].decode("x/a", {"t": "2025-07-01T12:00:00Z", "v": 1}, RECEIVED)
    assert zoned["timestamp"] == datetime(2025, 7, 1, 12, 0, tzinfo=UTC)


def test_top_level_arrays_and_indexes_in_paths():
    spec = parse_mapping(
        '[[device]]\ntopic = "x/+"\n[device.variables]\nvoltage = "[1].v"\n', "m.toml"
    )
    [reading] = spec.devices[0].decode("x/a", [{"v": 1}, {"v": 2}], RECEIVED)
    assert reading["voltage"] == 2.0


def test_the_emon_keys_of_the_file_extend_the_defaults():
    spec = parse_mapping(EXAMPLE, "devices.toml")
    assert spec.emon_keys is not None
    assert spec.emon_keys["T1"] == EmonKey("motor_temperature", 1.0, "{node}")
    assert spec.emon_keys["1"] == EmonKey("active_power", 0.001, "{node}.1")
    assert spec.emon_keys["vrms"] == EmonKey("voltage", 1.0, "{node}")


def test_the_topics_of_the_file_are_listed_for_the_subscriber():
    assert parse_mapping(EXAMPLE, "devices.toml").topics == (
        "acme/+/telemetry",
        "plant/+/+/state",
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[device]\n", "devices.toml: not valid TOML: "),
        ("devices = 1\n", "devices.toml: unknown key 'devices'; known: device, emon"),
        ("device = 1\n", "devices.toml: device: must be a list of tables ([[device]])"),
        (
            '[[device]]\nname = "acme"\n[device.variables]\nvoltage = "v"\n',
            'devices.toml: device[0] ("acme"): topic: missing',
        ),
        (
            '[[device]]\ntopic = "a/#/b"\n[device.variables]\nvoltage = "v"\n',
            "devices.toml: device[0]: topic 'a/#/b': '#' may only be the last level",
        ),
        (
            '[[device]]\ntopic = "a/b+/c"\n[device.variables]\nvoltage = "v"\n',
            "devices.toml: device[0]: topic 'a/b+/c': '+' must be a whole level",
        ),
        (
            '[[device]]\ntopic = "a/b"\n[device.variables]\nvoltage = "v"\n',
            "devices.toml: device[0]: meter: missing: the topic has no '+' level to name the meter",
        ),
        (
            '[[device]]\ntopic = "a/+"\nmeter = "{3}"\n[device.variables]\nvoltage = "v"\n',
            "devices.toml: device[0]: meter '{3}': the topic has 1 '+' level(s), {1} to {1}",
        ),
        (
            '[[device]]\ntopic = "a/+"\nmeter = "m-{name}"\n[device.variables]\nvoltage = "v"\n',
            "devices.toml: device[0]: meter 'm-{name}': only {1}, {2}, … name topic levels",
        ),
        (
            '[[device]]\ntopic = "a/+"\n',
            "devices.toml: device[0]: variables: missing; map at least one variable",
        ),
        (
            '[[device]]\ntopic = "a/+"\n[device.variables]\nvolts = "v"\n',
            "devices.toml: device[0]: variables.volts: unknown variable; known: voltage, current",
        ),
        (
            '[[device]]\ntopic = "a/+"\n[device.variables]\nvoltage = "data..v"\n',
            "devices.toml: device[0]: variables.voltage: path 'data..v': expected names and "
            "[indexes] joined by dots, e.g. data.phases[0].v",
        ),
        (
            '[[device]]\ntopic = "a/+"\n[device.variables]\n'
            'voltage = { path = "v", scale = "x" }\n',
            "devices.toml: device[0]: variables.voltage.scale: must be a number, got 'x'",
        ),
        (
            '[[device]]\ntopic = "a/+"\n[device.variables]\nvoltage = { path = "v", unit = "V" }\n',
            "devices.toml: device[0]: variables.voltage: unknown key 'unit'; known: path, scale",
        ),
        (
            '[[device]]\ntopic = "a/+"\ntime_zone = "Mars/Base"\n'
            '[device.variables]\nvoltage = "v"\n',
            "devices.toml: device[0]: time_zone 'Mars/Base': unknown time zone",
        ),
        (
            '[[device]]\ntopic = "a/+"\ntimestamp = "t"\ntimestamp_format = "unix"\n'
            '[device.variables]\nvoltage = "v"\n',
            "devices.toml: device[0]: timestamp_format 'unix': expected iso8601, epoch_s, "
            "epoch_ms or a strftime pattern such as %Y-%m-%d %H:%M:%S",
        ),
        (
            '[[device]]\ntopic = "a/+"\ntopics = ["b"]\n[device.variables]\nvoltage = "v"\n',
            "devices.toml: device[0]: unknown key 'topics'; known: name, topic, meter, "
            "timestamp, timestamp_format, time_zone, variables",
        ),
        (
            "[emon.keys]\nT1 = { scale = 2 }\n",
            "devices.toml: emon.keys.T1: variable: missing",
        ),
        (
            '[emon.keys]\nT1 = { variable = "heat" }\n',
            "devices.toml: emon.keys.T1.variable: unknown variable 'heat'; known: voltage",
        ),
        ("[emon]\nnodes = 1\n", "devices.toml: emon: unknown key 'nodes'; known: keys"),
    ],
)
def test_every_mistake_in_the_file_is_named_by_file_key_and_what_is_wrong(text, message):
    with pytest.raises(MappingFileError) as error:
        parse_mapping(text, "devices.toml")
    assert str(error.value).startswith(message)


def test_a_toml_syntax_error_says_where():
    with pytest.raises(MappingFileError, match=r"line 2, column"):
        parse_mapping('[[device]]\ntopic = "a/+\n', "devices.toml")
