"""One rule of what can be stored, applied to raw input (JSON, text) and to readings built in
code alike: storable text, instants in a sane range, numbers that are numbers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, MonitorSettings, RejectedBatchError, Simulator, StorageRules
from energy_core.telemetry.rules import DEFAULT_RULES
from energy_core.telemetry.validation import parse_readings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
GOOD = {
    "meter_id": "m-1",
    "timestamp": "2026-06-01T11:59:00Z",
    "voltage": 230.0,
    "current": 5.0,
    "active_power": 1.0,
    "power_factor": 0.9,
    "frequency": 50.0,
    "motor_temperature": 40.0,
}


def refused(change: dict[str, object], **options: object) -> dict[str, str]:
    """The fields refused, with their reasons, once ``change`` is applied to a good reading."""
    accepted, rejected = parse_readings([(7, {**GOOD, **change})], now=NOW, **options)
    assert all(rejection.index == 7 for rejection in rejected)
    assert bool(accepted) != bool(rejected)
    return {rejection.field: rejection.reason for rejection in rejected}


def test_a_good_reading_passes():
    assert refused({}) == {}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("stuck\x00sensor", "NUL"),
        ("bell\x07", "U+0007"),
        ("x" * 201, "at most 200 characters"),
    ],
)
def test_text_the_database_cannot_store_is_refused_by_field(text, words):
    assert words in refused({"anomaly_kind": text})["anomaly_kind"]


def test_a_lone_surrogate_is_refused_and_echoed_printable():
    _, rejected = parse_readings([(0, {**GOOD, "anomaly_kind": "a\ud800b"})], now=NOW)
    assert [rejection.field for rejection in rejected] == ["anomaly_kind"]
    # The echoed value can be encoded (a JSON answer, a log line) without failing.
    str(rejected[0].value).encode("utf-8")
    assert "\\ud800" in str(rejected[0].value)


def test_printable_text_with_tabs_and_accents_is_kept():
    assert refused({"anomaly_kind": "caída de tensión\tfase 2"}) == {}


@pytest.mark.parametrize(
    ("timestamp", "words"),
    [
        ("0001-01-01T00:00:00Z", "before 2000-01-01"),
        ("1999-12-31T23:59:59Z", "before 2000-01-01"),
        ("0001-01-01T00:00:00+05:00", "outside the calendar"),
        ("9999-12-31T23:59:59-05:00", "outside the calendar"),
        ("2026-06-01T12:10:01Z", "in the future"),
    ],
)
def test_instants_at_the_edges_are_refused(timestamp, words):
    assert words in refused({"timestamp": timestamp})["timestamp"]


@pytest.mark.parametrize("timestamp", ["2000-01-01T00:00:00Z", "2026-06-01T12:10:00Z"])
def test_instants_on_the_bounds_are_accepted(timestamp):
    assert refused({"timestamp": timestamp}) == {}


def test_the_range_is_settable():
    rules = StorageRules(earliest=datetime(1990, 1, 1, tzinfo=UTC), future_tolerance=timedelta(0))
    assert refused({"timestamp": "1995-01-01T00:00:00Z"}, rules=rules) == {}
    assert "future" in refused({"timestamp": "2026-06-01T12:00:01Z"}, rules=rules)["timestamp"]


@pytest.mark.parametrize("value", [True, False, "230", "230.0", [230.0], {"v": 1}])
def test_numbers_from_json_must_be_numbers(value):
    assert refused({"voltage": value})["voltage"] == "Input should be a valid number"


def test_null_is_a_variable_not_sent_not_a_number_to_refuse():
    assert refused({"voltage": None}) == {}


def test_an_integer_is_a_number():
    assert refused({"voltage": 230}) == {}


def test_ground_truth_from_json_must_be_a_boolean():
    assert "boolean" in refused({"is_anomaly": "yes"})["is_anomaly"]
    assert "boolean" in refused({"is_anomaly": 1})["is_anomaly"]


def test_from_text_numbers_and_booleans_come_as_text():
    text = {key: str(value) for key, value in GOOD.items()}
    assert refused({**text, "is_anomaly": "true"}, from_text=True) == {}
    assert refused({**text, "voltage": "two hundred"}, from_text=True)["voltage"]


def test_a_missing_field_is_named_missing_with_no_value():
    reading = dict(GOOD)
    del reading["timestamp"]
    _, rejected = parse_readings([(3, reading)], now=NOW)
    assert [(r.field, r.value, r.reason) for r in rejected] == [("timestamp", None, "missing")]


def test_a_huge_or_nested_refused_value_is_echoed_short():
    _, rejected = parse_readings([(0, {**GOOD, "anomaly_kind": "é" * 10_000})], now=NOW)
    assert len(str(rejected[0].value)) < 100
    _, rejected = parse_readings([(0, {**GOOD, "voltage": [[[[1.0]]]]})], now=NOW)
    assert rejected[0].value == "[…]"


def test_the_library_path_applies_the_same_rule():
    """A reading built in code and handed to ``Monitor.ingest`` meets the same rule."""
    monitor = Monitor(
        readings=(store := MemoryReadingRepository()),
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(NOW),
        settings=MonitorSettings(),
    )
    good = Simulator(meters=1, seed=3).next_batch(3, at=NOW)
    for bad in (
        dataclasses.replace(good[1], anomaly_kind="bad\x00"),
        dataclasses.replace(good[1], timestamp=datetime(1, 1, 1, tzinfo=UTC)),
        dataclasses.replace(good[1], timestamp=NOW + timedelta(hours=1)),
    ):
        with pytest.raises(RejectedBatchError) as raised:
            monitor.ingest([good[0], bad, good[2]])
        assert [rejection.index for rejection in raised.value.rejections] == [1]
    assert monitor.queries.count() == 0


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(), children),
    max_leaves=8,
)


@given(
    field=st.sampled_from([*sorted(GOOD), "is_anomaly", "anomaly_kind", "other"]),
    value=json_values,
)
def test_whatever_a_field_holds_a_reading_is_refused_or_storable(field, value):
    accepted, rejected = parse_readings([(0, {**GOOD, field: value})], now=NOW)
    for reading in accepted:
        assert DEFAULT_RULES.text_problem(reading.meter_id) is None
        assert reading.anomaly_kind is None or (
            DEFAULT_RULES.text_problem(reading.anomaly_kind) is None
        )
        assert DEFAULT_RULES.timestamp_problem(reading.timestamp, NOW) is None
        assert all(type(number) is float for number in reading.values.values())
    for rejection in rejected:
        f"{rejection.field} {rejection.value!r} {rejection.reason}".encode()
