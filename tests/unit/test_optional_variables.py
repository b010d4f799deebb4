"""Readings carry the variables a meter has: any non-empty subset of the catalogue. What a
meter did not send stays absent (never invented, never zero); only what is present and
wrong is refused, and a reading with no known variable at all."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest

from energy_core.telemetry.catalogue import DEFAULT_FEATURES
from energy_core.telemetry.readings import (
    InvalidReadingError,
    Reading,
    batch_fingerprint,
    feature_matrix,
    present_variables,
    validate,
)
from energy_core.telemetry.validation import parse_readings

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
AT = datetime(2026, 6, 1, 11, 59, tzinfo=UTC)


def test_a_reading_built_in_code_may_carry_a_subset():
    plug = Reading(AT, "plug-1", {"voltage": 230.0, "energy_import": 1.5})
    assert validate(plug, now=NOW) is plug


def test_a_reading_built_in_code_with_no_variable_is_refused_saying_so():
    with pytest.raises(InvalidReadingError) as refused:
        validate(Reading(AT, "m-1", {}), now=NOW)
    assert refused.value.field == "values"
    assert refused.value.reason.startswith("no known variable: a reading needs at least one of")


def test_a_reading_built_in_code_with_an_unknown_variable_is_refused_naming_it():
    with pytest.raises(InvalidReadingError) as refused:
        validate(Reading(AT, "m-1", {"voltage": 230.0, "pressure": 2.0}), now=NOW)
    assert (refused.value.field, refused.value.value) == ("pressure", 2.0)
    assert refused.value.reason.startswith("unknown variable; known: voltage, current")


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"voltage": float("nan")}, "voltage"),
        ({"voltage": True}, "voltage"),
        ({"current": 1.0, "energy_export": -0.5}, "energy_export"),
    ],
)
def test_only_present_values_are_checked_and_the_strict_number_rule_holds(values, field):
    with pytest.raises(InvalidReadingError) as refused:
        validate(Reading(AT, "m-1", values), now=NOW)
    assert refused.value.field == field


@pytest.mark.parametrize("meter", ["pro3em", "pro3em.L1", "pro3em.L2", "pro3em.L3"])
def test_three_phase_meters_name_each_phase_as_its_own_meter(meter):
    """The convention of docs/ingest.md: totals under ``<device>``, phases ``<device>.L1``…"""
    raw = {"meter_id": meter, "timestamp": "2026-06-01T11:59:00Z", "voltage": 230.1}
    accepted, refused = parse_readings([(0, raw)], now=NOW)
    assert refused == []
    assert accepted[0].meter_id == meter


def test_the_feature_matrix_holds_nan_where_a_variable_was_not_sent():
    readings = [
        Reading(AT, "m-1", {"voltage": 230.0, "current": 2.0}),
        Reading(AT, "plug", {"current": 1.0}),
    ]
    X = feature_matrix(readings, ("voltage", "current"))
    assert X[0].tolist() == [230.0, 2.0]
    assert math.isnan(X[1, 0]) and X[1, 1] == 1.0


def test_present_variables_counts_each_variable_once_per_reading_in_catalogue_order():
    readings = [
        Reading(AT, "m-1", {"current": 2.0, "voltage": 230.0}),
        Reading(AT, "plug", {"current": 1.0, "energy_import": 3.0}),
    ]
    assert present_variables(readings) == {"voltage": 1, "current": 2, "energy_import": 1}
    assert list(present_variables(readings)) == ["voltage", "current", "energy_import"]


def test_a_batch_fingerprint_tells_an_absent_variable_from_a_zero():
    absent = Reading(AT, "m-1", {"voltage": 230.0})
    zero = Reading(AT, "m-1", {"voltage": 230.0, "current": 0.0})
    assert batch_fingerprint([absent]) != batch_fingerprint([zero])


def test_the_default_matrix_has_the_default_features_nan_where_not_sent():
    X = feature_matrix([Reading(AT, "m-1", {"voltage": 230.0, "energy_import": 2.0})])
    assert X.shape == (1, len(DEFAULT_FEATURES)) == (1, 6)
    assert X[0, 0] == 230.0
    assert np.isnan(X[0, 1:]).all()
