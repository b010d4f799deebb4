from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core.health.analysis import HealthState, HealthThresholds, analyse, detection_quality

NOW = datetime(2025, 1, 1, tzinfo=UTC)
flag_lists = st.lists(st.tuples(st.booleans(), st.booleans()), max_size=200)


@given(
    low=st.floats(0, 100),
    high=st.floats(0, 100),
    caution=st.floats(0, 50),
    width=st.floats(0, 50),
)
def test_health_state_is_monotone_in_the_percentage(low, high, caution, width):
    thresholds = HealthThresholds(caution=caution, critical=caution + width)
    low, high = sorted((low, high))
    assert thresholds.state(low).severity <= thresholds.state(high).severity


def test_default_thresholds_name_the_three_states():
    thresholds = HealthThresholds()
    assert thresholds.state(0.0) is HealthState.NORMAL
    assert thresholds.state(4.99) is HealthState.NORMAL
    assert thresholds.state(5.0) is HealthState.CAUTION
    assert thresholds.state(15.0) is HealthState.CRITICAL
    assert HealthState.CAUTION.label("en") == "Caution"
    assert HealthState.CRITICAL.label("es") == "Crítico"


def test_inconsistent_thresholds_are_refused():
    with pytest.raises(ValueError, match="caution"):
        HealthThresholds(caution=20, critical=10)


@given(pairs=flag_lists)
def test_metrics_are_consistent(pairs):
    flagged = np.array([pair[0] for pair in pairs], dtype=bool)
    truth = np.array([pair[1] for pair in pairs], dtype=bool)
    snapshot = analyse(flagged, computed_at=NOW, truth=truth)
    assert 0 <= snapshot.anomalies_detected <= snapshot.total_readings == len(pairs)
    assert 0.0 <= snapshot.percentage <= 100.0
    if pairs:
        for figure in (snapshot.precision, snapshot.recall, snapshot.f1):
            assert figure is not None and 0.0 <= figure <= 1.0


def test_quality_counts_true_and_false_positives():
    flagged = np.array([True, True, False, False])
    truth = np.array([True, False, True, False])
    quality = detection_quality(flagged, truth)
    assert (quality.precision, quality.recall, quality.f1) == (0.5, 0.5, 0.5)


def test_delta_is_against_the_previous_analysis():
    first = analyse(np.array([True, False, False, False]), computed_at=NOW)
    second = analyse(np.array([True, True, False, False]), computed_at=NOW, previous=first)
    assert first.delta_percentage is None
    assert second.delta_percentage == pytest.approx(25.0)
    assert second.precision is None  # no ground truth given
