"""The registry: which device format handles a topic, and the topics a channel subscribes to."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from energy_core.telemetry.decoders import (
    DecodeError,
    default_registry,
    parse_mapping,
    topic_matches,
)
from tests.unit.decoders import samples

RECEIVED = datetime(2026, 3, 1, 12, 0, 5, tzinfo=UTC)


def test_tasmota_and_shelly_are_on_by_default_and_emonhub_is_opt_in():
    registry = default_registry()
    assert registry.topics == ("tele/+/SENSOR", "+/status/+", "+/events/rpc")
    assert [fmt.name for fmt in registry.formats] == ["tasmota", "shelly", "shelly"]
    with_emon = default_registry(emonhub=True)
    assert with_emon.topics[-2:] == ("emon/+", "emon/+/+")


def test_each_family_can_be_turned_off_or_given_another_prefix():
    registry = default_registry(
        tasmota=False, shelly_prefix="shellies", emonhub=True, emonhub_prefix="home/emon"
    )
    assert registry.topics == (
        "shellies/+/status/+",
        "shellies/+/events/rpc",
        "home/emon/+",
        "home/emon/+/+",
    )
    assert default_registry(tasmota_prefix="house/tele").topics[0] == "house/tele/+/SENSOR"


@pytest.mark.parametrize(
    ("topic", "name", "device"),
    [
        ("tele/pow1/SENSOR", "tasmota", "pow1"),
        ("shellyplus1pm-aa/status/switch:0", "shelly", "shellyplus1pm-aa"),
        ("shellyplus1pm-aa/events/rpc", "shelly", "shellyplus1pm-aa"),
    ],
)
def test_the_registry_says_which_format_handles_a_topic_and_which_device_it_names(
    topic, name, device
):
    found = default_registry().find(topic)
    assert found is not None
    assert (found.format.name, found.device) == (name, device)


@pytest.mark.parametrize(
    "topic", ["smartenergy/pump-1/readings", "tele/pow1/STATE", "a/b/c/d", "emon/tx/power1"]
)
def test_a_topic_no_format_handles_is_not_claimed(topic):
    assert default_registry().find(topic) is None


def test_a_found_format_decodes_its_message():
    found = default_registry().find(samples.TASMOTA_POW_R2_TOPIC)
    assert found is not None
    [reading] = found.decode(json.loads(samples.TASMOTA_POW_R2), RECEIVED)
    assert reading["meter_id"] == "pow1"


def test_the_emonhub_single_values_are_parsed_for_assembly_not_decoded():
    found = default_registry(emonhub=True).find("emon/emontx/power1")
    assert found is not None
    assert found.format.name == "emonhub"
    assert found.format.assembles
    assert found.value(100) == ("emontx", "power1", 100.0)
    whole = default_registry(emonhub=True).find("emon/emontx")
    assert whole is not None
    assert not whole.format.assembles


def test_mapping_file_devices_come_before_the_built_in_families():
    spec = parse_mapping(
        '[[device]]\nname = "mine"\ntopic = "tele/+/SENSOR"\n[device.variables]\nvoltage = "V"\n',
        "m.toml",
    )
    registry = default_registry(mapping=spec)
    found = registry.find("tele/x/SENSOR")
    assert found is not None
    assert found.format.name == "mine"
    assert registry.topics[0] == "tele/+/SENSOR"
    assert registry.topics.count("tele/+/SENSOR") == 1


def test_mapping_entries_on_one_topic_all_decode_the_message():
    spec = parse_mapping(
        '[[device]]\ntopic = "m/+"\nmeter = "{1}.L1"\n[device.variables]\nvoltage = "a"\n'
        '[[device]]\ntopic = "m/+"\nmeter = "{1}.L2"\n[device.variables]\nvoltage = "b"\n',
        "m.toml",
    )
    found = default_registry(mapping=spec, tasmota=False, shelly=False).find("m/x")
    assert found is not None
    readings = found.decode({"a": 230, "b": 231}, RECEIVED)
    assert [(r["meter_id"], r["voltage"]) for r in readings] == [("x.L1", 230.0), ("x.L2", 231.0)]


def test_mapping_entries_on_one_topic_fail_only_when_every_one_fails():
    spec = parse_mapping(
        '[[device]]\ntopic = "m/+"\nmeter = "{1}.L1"\n[device.variables]\nvoltage = "a"\n'
        '[[device]]\ntopic = "m/+"\nmeter = "{1}.L2"\n[device.variables]\nvoltage = "b"\n',
        "m.toml",
    )
    found = default_registry(mapping=spec, tasmota=False, shelly=False).find("m/x")
    assert found is not None
    assert [r["meter_id"] for r in found.decode({"a": 230}, RECEIVED)] == ["x.L1"]
    with pytest.raises(DecodeError, match="none of the mapped fields"):
        found.decode({"c": 1}, RECEIVED)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/+/c", "a/b/c", True),
        ("a/+/c", "a/b/d", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("+/+", "a/b", True),
        ("+/+", "a/b/c", False),
        ("+", "/a", False),
        ("+/a", "/a", True),
        ("#", "$SYS/x", False),
        ("a/b", "a/b", True),
    ],
)
def test_topic_filters_match_as_mqtt_matches_them(topic_filter, topic, expected):
    assert topic_matches(topic_filter, topic) is expected
