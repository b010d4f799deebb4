"""What a sender is told about each refused reading: index, field, value and reason, exactly
(the words reach API answers, MQTT rejections and CSV reports)."""

from __future__ import annotations

from datetime import UTC, datetime

from energy_core.telemetry.validation import Rejection, parse_readings
from tests.unit.test_storage_rules import GOOD, NOW


def rejected(*items: tuple[int, object]) -> list[Rejection]:
    return parse_readings(items, now=NOW)[1]


def test_items_that_are_not_objects_are_refused_and_the_rest_still_parsed():
    accepted, refused = parse_readings([(3, "text"), (4, [1, 2]), (5, GOOD), (6, 7)], now=NOW)
    assert [reading.meter_id for reading in accepted] == ["m-1"]
    assert refused == [
        Rejection(3, "reading", "text", "must be a JSON object"),
        Rejection(4, "reading", "[…]", "must be a JSON object"),
        Rejection(6, "reading", 7, "must be a JSON object"),
    ]


def test_an_unknown_field_is_named_with_its_value():
    assert rejected((2, {**GOOD, "colour": "red"})) == [
        Rejection(2, "colour", "red", "unknown field")
    ]


def test_a_missing_field_is_named_without_a_value():
    missing = {name: value for name, value in GOOD.items() if name != "meter_id"}
    assert rejected((0, missing)) == [Rejection(0, "meter_id", None, "missing")]


def test_a_reading_may_carry_any_subset_of_the_variables():
    plug = {"meter_id": "plug-1", "timestamp": "2026-06-01T11:59:00Z", "voltage": 231.0}
    accepted, refused = parse_readings([(0, plug), (1, {**plug, "energy_import": 12.5})], now=NOW)
    assert refused == []
    assert [dict(reading.values) for reading in accepted] == [
        {"voltage": 231.0},
        {"voltage": 231.0, "energy_import": 12.5},
    ]


def test_a_variable_sent_as_null_is_not_sent():
    (reading,), refused = parse_readings([(0, {**GOOD, "frequency": None})], now=NOW)
    assert refused == []
    assert "frequency" not in reading.values
    assert len(reading.values) == 5


def test_a_reading_with_no_known_variable_is_refused_saying_so():
    bare = {"meter_id": "m-1", "timestamp": "2026-06-01T11:59:00Z"}
    [refusal] = rejected((4, bare))
    assert (refusal.index, refusal.field, refusal.value) == (4, "reading", None)
    assert refusal.reason.startswith("no known variable: a reading needs at least one of voltage,")
    assert refusal.reason.endswith("energy_export")
    nothing = rejected((5, {**bare, "voltage": None}))
    assert [r.reason for r in nothing] == [refusal.reason]


def test_a_misspelt_variable_is_named_as_an_unknown_field():
    bare = {"meter_id": "m-1", "timestamp": "2026-06-01T11:59:00Z", "volts": 230}
    assert rejected((0, bare)) == [Rejection(0, "volts", 230, "unknown field")]


def test_only_what_is_present_and_wrong_is_refused():
    plug = {"meter_id": "plug-1", "timestamp": "2026-06-01T11:59:00Z", "voltage": 231.0}
    assert [(r.field, r.value) for r in rejected((0, {**plug, "energy_import": -1.0}))] == [
        ("energy_import", -1.0)
    ]
    assert [(r.field, r.value) for r in rejected((0, {**plug, "apparent_power": "2"}))] == [
        ("apparent_power", "2")
    ]


def test_a_rule_s_reason_is_given_without_pydantic_s_prefix():
    assert rejected((1, {**GOOD, "anomaly_kind": "a\x00"})) == [
        Rejection(1, "anomaly_kind", "a\x00", "contains a control character (NUL) at position 1")
    ]


def test_every_problem_of_a_reading_is_reported_with_the_reading_s_index():
    refusal = rejected((9, {**GOOD, "voltage": "230", "frequency": 500.0}))
    assert [(r.index, r.field, r.value) for r in refusal] == [
        (9, "voltage", "230"),
        (9, "frequency", 500.0),
    ]
    assert refusal[1].reason == "Input should be less than or equal to 70"


def test_accepted_readings_carry_what_was_sent():
    (reading,), refused = parse_readings([(0, {**GOOD, "is_anomaly": True})], now=NOW)
    assert refused == []
    assert reading.timestamp == datetime(2026, 6, 1, 11, 59, tzinfo=UTC)
    assert (reading.meter_id, reading["voltage"], reading.is_anomaly) == ("m-1", 230.0, True)
