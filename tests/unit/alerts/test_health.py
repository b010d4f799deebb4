"""Installation health and detector health as alerts."""

from __future__ import annotations

from datetime import timedelta

import pytest

from energy_core import HealthAlarm, HealthThresholds
from energy_core.alerts import (
    DetectorHealth,
    DetectorHealthRule,
    DetectorStatus,
    HealthAlerts,
    Severity,
)
from tests.unit.alerts.strategies import at


def health_events(percentages):
    alerts = HealthAlerts(HealthAlarm(HealthThresholds(5, 15), margin=1.0))
    found = []
    for second, percentage in enumerate(percentages):
        found += [
            (e.kind, e.alert.severity, e.notifies) for e in alerts.observe(percentage, at(second))
        ]
    return found


def test_caution_opens_a_warning_critical_escalates_and_normal_resolves():
    assert health_events([1, 6, 16, 14.5, 13.9, 3.9]) == [
        ("opened", Severity.WARNING, True),
        ("updated", Severity.CRITICAL, True),
        ("updated", Severity.WARNING, False),
        ("resolved", Severity.WARNING, True),
    ]


def test_a_percentage_hovering_at_the_threshold_opens_one_alert():
    assert health_events([4.8, 5.1, 4.9, 5.2, 4.7, 5.0, 4.6]) == [
        ("opened", Severity.WARNING, True)
    ]


def test_a_first_analysis_past_a_threshold_opens_an_alert():
    assert health_events([20]) == [("opened", Severity.CRITICAL, True)]
    assert health_events([2]) == []


def test_the_health_alert_keeps_its_start_and_worst_percentage():
    alerts = HealthAlerts(HealthAlarm(HealthThresholds(5, 15)))
    alerts.observe(1, at(0))
    alerts.observe(6, at(10))
    alerts.observe(17, at(20))
    resolved = alerts.observe(0.5, at(30))[0].alert
    assert (resolved.key, resolved.started_at, resolved.ended_at) == ("health", at(10), at(30))
    assert resolved.peak == 17


def test_a_restored_health_alert_resolves_instead_of_opening_again():
    first = HealthAlerts(HealthAlarm(HealthThresholds(5, 15)))
    opened = first.observe(8, at(0))[0].alert
    second = HealthAlerts(HealthAlarm(HealthThresholds(5, 15)))
    assert second.restore(opened)
    assert second.observe(9, at(1)) == []
    assert [e.kind for e in second.observe(1, at(2))] == ["resolved"]


# --- detector health -----------------------------------------------------------------------------

RULE = DetectorHealthRule(
    max_model_age=timedelta(days=30), factor=3, min_flagged=10, min_scored=100
)


def conditions(events):
    return [(e.kind, e.alert.details["condition"]) for e in events]


def test_no_model_opens_and_a_trained_model_resolves_it():
    health = DetectorHealth(RULE)
    assert conditions(health.check(DetectorStatus(trained_at=None), at(0))) == [
        ("opened", "no_model")
    ]
    assert conditions(health.check(DetectorStatus(trained_at=at(0)), at(1))) == [
        ("resolved", "no_model")
    ]


def test_a_model_older_than_the_set_age_opens_an_alert():
    health = DetectorHealth(RULE)
    trained = at(0)
    assert health.check(DetectorStatus(trained), at(0) + timedelta(days=30)) == []
    events = health.check(DetectorStatus(trained), at(1) + timedelta(days=30))
    assert conditions(events) == [("opened", "model_age")]
    assert events[0].alert.severity is Severity.WARNING


def test_failing_scoring_opens_a_critical_alert_until_scoring_works():
    health = DetectorHealth(RULE)
    failing = DetectorStatus(at(0), scoring_error="matrix of 3 columns expected")
    events = health.check(failing, at(1))
    assert conditions(events) == [("opened", "scoring_failed")]
    assert events[0].alert.details["error"] == "matrix of 3 columns expected"
    assert events[0].alert.severity is Severity.CRITICAL
    assert conditions(health.check(DetectorStatus(at(0)), at(2))) == [
        ("resolved", "scoring_failed")
    ]


@pytest.mark.parametrize(
    ("scored", "flagged", "expected"),
    [
        (1000, 31, [("opened", "flag_rate")]),
        (1000, 30, []),  # exactly 3 × 1 %
        (99, 99, []),  # too few scored
        (200, 9, []),  # 4.5 % but too few flags
    ],
)
def test_a_flag_rate_far_above_the_calibrated_one_opens_an_alert(scored, flagged, expected):
    health = DetectorHealth(RULE)
    status = DetectorStatus(at(0), expected_rate=0.01, scored=scored, flagged=flagged)
    assert conditions(health.check(status, at(1))) == expected


def test_a_small_window_keeps_the_flag_rate_alert_as_it_is():
    health = DetectorHealth(RULE)
    health.check(DetectorStatus(at(0), expected_rate=0.01, scored=1000, flagged=100), at(1))
    assert health.check(DetectorStatus(at(0), 0.01, scored=50, flagged=0), at(2)) == []
    assert conditions(health.check(DetectorStatus(at(0), 0.01, 500, 5), at(3))) == [
        ("resolved", "flag_rate")
    ]


def test_losing_the_model_resolves_the_conditions_about_it():
    health = DetectorHealth(RULE)
    health.check(DetectorStatus(at(0), 0.01, 1000, 100), at(0) + timedelta(days=31))
    events = health.check(DetectorStatus(None), at(0) + timedelta(days=32))
    assert sorted(conditions(events)) == [
        ("opened", "no_model"),
        ("resolved", "flag_rate"),
        ("resolved", "model_age"),
    ]


def test_impossible_counts_are_refused():
    with pytest.raises(ValueError):
        DetectorStatus(at(0), scored=5, flagged=6)
