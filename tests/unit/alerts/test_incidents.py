"""Anomaly incidents: flagged readings of a meter grouped into one alert with hysteresis."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core.alerts import AlertKind, IncidentRule, IncidentTracker, Severity
from tests.unit.alerts.strategies import at, flag_stream, scored


def kinds(events):
    return [(event.kind, event.at) for event in events]


def feed_one_by_one(tracker, readings):
    return [event for reading in readings for event in tracker.observe([reading])]


def test_an_incident_opens_at_the_first_flagged_reading_and_resolves_after_three_quiet_ones():
    tracker = IncidentTracker(IncidentRule(open_after=1, close_after=3))
    flags = [False, True, True, False, True, False, False, False, False]
    events = tracker.observe([scored(10 * i, flag) for i, flag in enumerate(flags)])
    assert [("opened", at(10)), ("resolved", at(70))] == kinds(events)
    resolved = events[-1].alert
    assert (at(10), at(40)) == (resolved.started_at, resolved.ended_at)
    assert resolved.readings == 3
    assert resolved.key == "incident:m1:2025-06-01T00:00:10+00:00"
    assert resolved.kind == AlertKind.INCIDENT
    assert not resolved.is_open


def test_an_incident_opens_only_after_open_after_consecutive_flags():
    tracker = IncidentTracker(IncidentRule(open_after=3, close_after=1))
    flags = [True, True, False, True, True, True, True, False]
    events = tracker.observe([scored(i, flag) for i, flag in enumerate(flags)])
    assert [("opened", at(5)), ("resolved", at(7))] == kinds(events)
    assert at(3) == events[0].alert.started_at
    assert events[-1].alert.readings == 4


def test_an_incident_opens_when_its_flags_span_open_for():
    rule = IncidentRule(open_after=None, open_for=timedelta(seconds=30), close_after=1)
    tracker = IncidentTracker(rule)
    events = tracker.observe([scored(second, True) for second in (0, 10, 20, 29, 30, 40)])
    assert [("opened", at(30))] == kinds(events)[:1]


def test_an_incident_resolves_at_a_quiet_reading_close_quiet_after_its_last_flag():
    rule = IncidentRule(close_after=None, close_quiet=timedelta(minutes=5))
    tracker = IncidentTracker(rule)
    readings = [scored(0, True), scored(60, False), scored(299, False), scored(300, False)]
    assert [("opened", at(0)), ("resolved", at(300))] == kinds(tracker.observe(readings))


def test_a_flag_during_the_quiet_spell_keeps_the_incident_open():
    tracker = IncidentTracker(IncidentRule(close_after=2))
    flags = [True, False, True, False, True, False, False]
    events = tracker.observe([scored(i, flag) for i, flag in enumerate(flags)])
    assert [("opened", at(0)), ("resolved", at(6))] == kinds(events)
    assert events[-1].alert.readings == 3
    assert events[-1].alert.details["scored"] == 5


def test_unscored_readings_neither_open_nor_close():
    tracker = IncidentTracker(IncidentRule(open_after=2, close_after=2))
    flags = [True, None, True, False, None, None, False]
    events = tracker.observe([scored(i, flag) for i, flag in enumerate(flags)])
    assert [("opened", at(2)), ("resolved", at(6))] == kinds(events)


def test_an_incident_carries_its_peak_and_its_most_frequent_variables():
    tracker = IncidentTracker(IncidentRule(close_after=1, top=2))
    readings = [
        scored(0, True, score=0.7, top=["voltage", "current"]),
        scored(1, True, score=0.95, top=["frequency", "current"]),
        scored(2, True, score=0.8, top=["current", "frequency"]),
        scored(3, False),
    ]
    resolved = tracker.observe(readings)[-1].alert
    assert resolved.peak == 0.95
    assert resolved.top_variables == ("current", "frequency")


def test_an_incident_names_the_view_that_fired_most_often():
    tracker = IncidentTracker(IncidentRule(close_after=1))
    views = ["point", "stuck", "stuck", None, "point", "stuck"]
    readings = [scored(i, True, by=view) for i, view in enumerate(views)]
    opened, *_, resolved = tracker.observe([*readings, scored(9, False)])
    assert opened.alert.details["flagged_by"] == "point"  # all it knew then
    assert resolved.alert.details["flagged_by"] == "stuck"


def test_an_incident_of_a_detector_without_views_names_none():
    tracker = IncidentTracker(IncidentRule(close_after=1))
    events = tracker.observe([scored(0, True, top=["voltage"]), scored(1, False)])
    assert "flagged_by" not in events[-1].alert.details


def test_one_call_gives_at_most_one_update_per_incident():
    tracker = IncidentTracker(IncidentRule())
    tracker.observe([scored(0, True)])
    events = tracker.observe([scored(second, True) for second in range(1, 6)])
    assert [("updated", at(5))] == kinds(events)
    assert events[0].alert.readings == 6
    assert not events[0].notifies


def test_an_incident_escalates_to_critical_once_its_peak_reaches_critical_score():
    tracker = IncidentTracker(IncidentRule(critical_score=0.9))
    opened = tracker.observe([scored(0, True, score=0.6)])
    escalation = tracker.observe([scored(1, True, score=0.92)])
    assert opened[0].alert.severity == Severity.WARNING
    assert escalation[0].alert.severity == Severity.CRITICAL
    assert escalation[0].escalated and escalation[0].notifies


def test_late_or_repeated_readings_of_a_meter_are_ignored():
    tracker = IncidentTracker(IncidentRule(close_after=1))
    tracker.observe([scored(10, True)])
    assert tracker.observe([scored(10, False), scored(5, False)]) == []
    assert len(tracker.open_alerts()) == 1


def test_meters_have_their_own_incidents():
    tracker = IncidentTracker(IncidentRule(close_after=1))
    events = tracker.observe(
        [scored(0, True, meter="a"), scored(1, False, meter="b"), scored(2, False, meter="a")]
    )
    assert [(e.kind, e.alert.meter_id) for e in events] == [("opened", "a"), ("resolved", "a")]


def test_a_restored_incident_resolves_instead_of_opening_again():
    first = IncidentTracker(IncidentRule(close_after=1))
    opened = first.observe([scored(0, True, top=["voltage"])])[0].alert
    second = IncidentTracker(IncidentRule(close_after=1))
    assert second.restore(opened)
    events = second.observe([scored(1, True), scored(2, False)])
    assert [("resolved", at(2))] == kinds(events)
    assert (opened.key, 2) == (events[0].alert.key, events[0].alert.readings)


def test_a_restored_incident_keeps_its_view_until_another_fires_more_often():
    first = IncidentTracker(IncidentRule(close_after=1))
    opened = first.observe([scored(0, True, by="stuck")])[0].alert
    second = IncidentTracker(IncidentRule(close_after=3))
    assert second.restore(opened)
    [kept] = second.observe([scored(1, True, by="profile")])
    assert kept.alert.details["flagged_by"] == "stuck"
    [changed] = second.observe([scored(2, True, by="profile")])
    assert changed.alert.details["flagged_by"] == "profile"


@pytest.mark.parametrize(
    "settings",
    [
        {"open_after": None, "open_for": None},
        {"close_after": None, "close_quiet": None},
        {"open_after": 0},
        {"close_quiet": timedelta(0)},
    ],
)
def test_a_rule_that_could_never_open_or_close_is_refused(settings):
    with pytest.raises(ValueError):
        IncidentRule(**settings)


# --- properties over random streams ----------------------------------------------------------


def flagged_runs(readings):
    """Lengths of the maximal runs of consecutive flagged readings among scored ones."""
    runs, length = [], 0
    for reading in readings:
        if reading.is_flagged is None:
            continue
        if reading.is_flagged:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    if length:
        runs.append(length)
    return runs


@given(flag_stream(), st.integers(1, 4))
def test_opened_incidents_are_the_flagged_runs_long_enough(readings, open_after):
    tracker = IncidentTracker(IncidentRule(open_after=open_after, close_after=1))
    events = feed_one_by_one(tracker, readings)
    expected = sum(1 for run in flagged_runs(readings) if run >= open_after)
    assert expected == sum(1 for event in events if event.kind == "opened")


@given(flag_stream(), st.integers(1, 3), st.integers(1, 4), st.booleans())
def test_each_incident_opens_once_and_resolves_once_in_that_order(
    readings, open_after, close_after, one_by_one
):
    tracker = IncidentTracker(IncidentRule(open_after=open_after, close_after=close_after))
    events = feed_one_by_one(tracker, readings) if one_by_one else tracker.observe(readings)
    lifecycle: dict[str, list[str]] = {}
    for event in events:
        lifecycle.setdefault(event.alert.key, []).append(event.kind)
    for kinds_of_one in lifecycle.values():
        assert kinds_of_one[0] == "opened"
        assert kinds_of_one.count("opened") == 1
        assert kinds_of_one.count("resolved") <= 1
        assert "resolved" not in kinds_of_one[:-1]
    assert len(tracker.open_alerts()) <= 1


@given(flag_stream(), st.integers(1, 3), st.integers(1, 4))
def test_a_resolved_incident_counts_the_flagged_readings_between_its_start_and_end(
    readings, open_after, close_after
):
    tracker = IncidentTracker(IncidentRule(open_after=open_after, close_after=close_after))
    for event in tracker.observe(readings):
        if event.kind != "resolved":
            continue
        alert = event.alert
        inside = [
            r
            for r in readings
            if r.is_flagged and alert.started_at <= r.timestamp <= alert.ended_at
        ]
        assert len(inside) == alert.readings
        assert max(r.score for r in inside) == alert.peak
        unflagged_after = [
            r
            for r in readings
            if r.is_flagged is False and alert.ended_at < r.timestamp <= event.at
        ]
        assert close_after == len(unflagged_after)


@given(flag_stream())
def test_a_stream_without_flags_never_opens(readings):
    quiet = [r for r in readings if not r.is_flagged]
    assert IncidentTracker(IncidentRule()).observe(quiet) == []
