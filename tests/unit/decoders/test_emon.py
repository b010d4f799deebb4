"""emonhub / Emoncms: the Emoncms input API (input/post, input/bulk) and emonhub's MQTT values,
decoded into SmartEnergy readings through the key map (default or the mapping file's)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from energy_core.telemetry.decoders import DecodeError, emon
from energy_core.telemetry.decoders.emon import EmonAssembler, EmonKey
from tests.unit.decoders import samples

RECEIVED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)
POSITIONAL = {
    "1": EmonKey("active_power", 0.001, "{node}.1"),
    "2": EmonKey("active_power", 0.001, "{node}.2"),
}


def by_meter(readings: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    found = {}
    for reading in readings:
        values = {k: v for k, v in reading.items() if k not in ("meter_id", "timestamp")}
        found[reading["meter_id"]] = pytest.approx(values)
    return found


def instants(readings: list[dict[str, object]]) -> dict[object, object]:
    return {reading["meter_id"]: reading["timestamp"] for reading in readings}


def test_the_default_key_map_names_what_emon_hardware_sends():
    keys = emon.DEFAULT_KEYS
    assert keys["vrms"] == EmonKey("voltage", 1.0, "{node}")
    assert keys["Vrms"] == EmonKey("voltage", 1.0, "{node}")
    assert keys["V1"] == EmonKey("voltage", 1.0, "{node}")
    assert keys["power1"] == EmonKey("active_power", 0.001, "{node}.1")
    assert keys["P12"] == EmonKey("active_power", 0.001, "{node}.12")
    assert keys["E3"] == EmonKey("energy_import", 0.001, "{node}.3")
    # Temperatures are of rooms and pipes, not motors: not mapped unless the mapping file says.
    assert "temp1" not in keys and "T1" not in keys


def test_input_post_fulljson_gives_one_meter_per_channel_at_the_receive_time():
    readings = emon.decode_input_post(samples.EMONCMS_POST_FULLJSON, RECEIVED)
    assert by_meter(readings) == {
        "emontx.1": {"active_power": 0.1},
        "emontx.2": {"active_power": 0.2},
        "emontx.3": {"active_power": 0.3},
    }
    assert set(instants(readings).values()) == {RECEIVED}


def test_input_post_with_a_time_uses_it():
    params = {**samples.EMONCMS_POST_FULLJSON, "time": "1735732800"}
    readings = emon.decode_input_post(params, RECEIVED)
    assert set(instants(readings).values()) == {datetime(2025, 1, 1, 12, 0, tzinfo=UTC)}


def test_input_post_reads_emoncms_loose_json_too():
    readings = emon.decode_input_post(samples.EMONCMS_POST_JSON, RECEIVED)
    assert by_meter(readings) == {
        "10.1": {"active_power": 0.1},
        "10.2": {"active_power": 0.2},
        "10.3": {"active_power": 0.3},
    }


def test_csv_values_are_named_by_position_and_mapped_only_when_the_map_says_so():
    assert emon.decode_input_post(samples.EMONCMS_POST_CSV, RECEIVED) == []
    readings = emon.decode_input_post(samples.EMONCMS_POST_CSV, RECEIVED, keys=POSITIONAL)
    assert by_meter(readings) == {"10.1": {"active_power": 0.1}, "10.2": {"active_power": 0.2}}


def test_unmapped_and_non_electrical_keys_are_left_out():
    params = {"node": "emonth", "fulljson": '{"temperature": 21.4, "humidity": 44, "rssi": -60}'}
    assert emon.decode_input_post(params, RECEIVED) == []


def test_bulk_in_time_mode_places_each_frame_relative_to_the_given_time():
    params = {"data": samples.EMONCMS_BULK_DATA, "time": samples.EMONCMS_BULK_TIME}
    readings = emon.decode_input_bulk(params, RECEIVED, keys=POSITIONAL)
    base = datetime.fromtimestamp(1387730127, tz=UTC)
    assert instants(readings) == {
        "16.1": base - timedelta(seconds=10),
        "17.1": base - timedelta(seconds=8),
        "17.2": base - timedelta(seconds=8),
        "19.1": base - timedelta(seconds=6),
        "19.2": base - timedelta(seconds=6),
    }
    assert by_meter(readings)["17.2"] == {"active_power": 3.164}


def test_bulk_as_emonhub_sends_it_names_values_and_corrects_the_senders_clock():
    # sentat: the sender's clock when it sent; the receiver's now minus it is the clock offset.
    params = {"data": samples.EMONHUB_BULK_NAMED, "sentat": str(1735732800 + 10)}
    readings = emon.decode_input_bulk(params, RECEIVED)
    assert set(instants(readings).values()) == {RECEIVED - timedelta(seconds=10)}
    assert by_meter(readings) == {
        "emontx4": {"voltage": 241.35},
        "emontx4.1": {"active_power": 1.25, "energy_import": 125.345},
        "emontx4.2": {"active_power": -0.32, "energy_import": 56.001},
        "emontx4.3": {"active_power": 0.0, "energy_import": 0.0},
        "emontx4.4": {"active_power": 0.0, "energy_import": 0.0},
    }


def test_bulk_in_offset_and_legacy_modes():
    data = "[[-10,5,100],[-4,5,200]]"
    offset = emon.decode_input_bulk({"data": data, "offset": "-10"}, RECEIVED, keys=POSITIONAL)
    assert sorted(r["timestamp"] for r in offset) == [RECEIVED, RECEIVED + timedelta(seconds=6)]
    legacy = emon.decode_input_bulk({"data": "[[0,5,100],[4,5,200]]"}, RECEIVED, keys=POSITIONAL)
    assert sorted(r["timestamp"] for r in legacy) == [
        RECEIVED - timedelta(seconds=4),
        RECEIVED,
    ]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "input/post: expected node and fulljson, json, csv or data"),
        ({"node": "a", "fulljson": "[1]"}, "input/post: fulljson: expected a JSON object"),
        ({"node": "a", "fulljson": "{"}, "input/post: fulljson: not JSON"),
        ({"node": "a", "json": "{p:x}"}, "input/post: json: p='x': expected a number"),
        ({"node": "a", "csv": "1,x"}, "input/post: csv: 'x': expected a number"),
        (
            {"node": "a", "fulljson": '{"power1": "9"}'},
            "input/post: a.power1='9': expected a number",
        ),
        (
            {"node": "a", "fulljson": "{}", "time": "noon"},
            "input/post: time='noon': expected a Unix time in seconds",
        ),
    ],
)
def test_input_post_in_no_emoncms_shape_is_refused_saying_what_was_expected(params, message):
    with pytest.raises(DecodeError) as error:
        emon.decode_input_post(params, RECEIVED)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "input/bulk: data: missing; expected [[time, node, values…], …]"),
        ({"data": "{}"}, "input/bulk: data: expected [[time, node, values…], …]"),
        ({"data": "[[0,{},1]]"}, "input/bulk: data[0]: the node must be a name or a number"),
        ({"data": '[["x",1,1]]'}, "input/bulk: data[0]: the time must be a number"),
        (
            {"data": "[[0,1,1]]", "sentat": "x"},
            "input/bulk: sentat='x': expected a Unix time in seconds",
        ),
    ],
)
def test_bulk_in_no_emoncms_shape_is_refused_saying_what_was_expected(params, message):
    with pytest.raises(DecodeError) as error:
        emon.decode_input_bulk(params, RECEIVED)
    assert str(error.value) == message


def test_an_emonhub_json_message_carries_its_own_time():
    readings = emon.decode_message(
        samples.EMONHUB_MQTT_JSON_TOPIC, json.loads(samples.EMONHUB_MQTT_JSON), RECEIVED
    )
    assert set(instants(readings).values()) == {datetime(2025, 1, 1, 12, 0, tzinfo=UTC)}
    assert by_meter(readings) == {
        "emontx": {"voltage": 239.8},
        "emontx.1": {"active_power": 0.1},
        "emontx.2": {"active_power": 0.2},
    }


def test_a_single_value_message_names_its_node_and_key():
    assert emon.parse_value("emon/emontx/power1", 100) == ("emontx", "power1", 100.0)
    assert emon.parse_value("home/emon/emontx/vrms", 240.5, device="emontx") == (
        "emontx",
        "vrms",
        240.5,
    )
    with pytest.raises(DecodeError, match=r"^emon/emontx/power1: expected one number"):
        emon.parse_value("emon/emontx/power1", {"v": 1})


def test_the_assembler_joins_a_nodes_values_into_one_reading_per_meter():
    assembler: EmonAssembler[int] = EmonAssembler(window=timedelta(seconds=1))
    for number, (topic, payload) in enumerate(samples.EMONHUB_MQTT_VALUES):
        node, key, value = emon.parse_value(topic, json.loads(payload))
        at = RECEIVED + timedelta(milliseconds=10 * number)
        assert assembler.add(node, key, value, at, tag=number) == []
    assert assembler.due(RECEIVED + timedelta(milliseconds=999)) == []
    [group] = assembler.due(RECEIVED + timedelta(seconds=1))
    assert group.node == "emontx"
    assert group.tags == [0, 1, 2, 3, 4]
    assert set(instants(group.readings).values()) == {RECEIVED}
    assert by_meter(group.readings) == {
        "emontx": {"voltage": 240.12},
        "emontx.1": {"active_power": 0.1},
        "emontx.2": {"active_power": -0.0255},
    }
    assert assembler.pending == 0


def test_a_repeated_key_closes_the_nodes_reading_at_once():
    assembler: EmonAssembler[str] = EmonAssembler(window=timedelta(seconds=10))
    assert assembler.add("tx", "power1", 100, RECEIVED, tag="a") == []
    assert assembler.add("other", "power1", 5, RECEIVED, tag="b") == []
    [closed] = assembler.add("tx", "power1", 200, RECEIVED + timedelta(seconds=5), tag="c")
    assert closed.tags == ["a"]
    assert by_meter(closed.readings) == {"tx.1": {"active_power": 0.1}}
    flushed = assembler.flush()
    assert sorted(tuple(group.tags) for group in flushed) == [("b",), ("c",)]
    assert assembler.pending == 0


def test_a_group_of_only_unmapped_keys_closes_with_no_reading_but_keeps_its_tags():
    assembler: EmonAssembler[int] = EmonAssembler()
    assembler.add("emonth", "temperature", 21.0, RECEIVED, tag=7)
    [group] = assembler.flush()
    assert group.readings == []
    assert group.tags == [7]


def test_the_mapping_file_keys_replace_the_defaults():
    keys = {**emon.DEFAULT_KEYS, "T1": EmonKey("motor_temperature", 1.0, "{node}")}
    params = {"node": "pump", "fulljson": '{"T1": 61.5, "vrms": 230}'}
    readings = emon.decode_input_post(params, RECEIVED, keys=keys)
    assert by_meter(readings) == {"pump": {"motor_temperature": 61.5, "voltage": 230.0}}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"data": "[[NaN,1,1]]"}, "input/bulk: data[0]: the time nan is not a number of seconds"),
        ({"data": "[[1e300,1,1]]"}, "input/bulk: data[0]: the time 1e+300 is out of range"),
        ({"data": "[[0,1,1],[Infinity,1,2]]"}, "input/bulk: data[1]: the time inf is not a"),
        (
            {"data": "[[1,1,1]]", "sentat": "99999999999"},
            "input/bulk: sentat='99999999999' is out of range",
        ),
        ({"data": "[[1,1,1]]", "offset": "-1e20"}, "input/bulk: offset='-1e20': expected a Unix"),
    ],
)
def test_bulk_times_beyond_the_calendar_are_refused_not_an_overflow(params, message):
    with pytest.raises(DecodeError) as error:
        emon.decode_input_bulk(params, RECEIVED)
    assert str(error.value).startswith(message)
