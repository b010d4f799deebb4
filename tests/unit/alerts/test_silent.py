"""Silent meters: no reading for longer than a multiple of the learnt cadence or a set time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core.alerts import SilentMeterRule, SilentMeterTracker
from tests.unit.alerts.strategies import at, power


def every(seconds, count, *, meter="m1", start=0):
    return [power(start + seconds * i, 1.0, meter=meter) for i in range(count)]


def test_a_meter_is_silent_after_multiple_times_its_learnt_cadence():
    tracker = SilentMeterTracker(SilentMeterRule(multiple=5, min_intervals=3))
    tracker.observe(every(60, 4))  # last reading at 180 s, cadence 60 s
    assert tracker.cadence("m1") == timedelta(seconds=60)
    assert tracker.check(at(480)) == []
    events = tracker.check(at(481))
    assert [(e.kind, e.at) for e in events] == [("opened", at(481))]
    alert = events[0].alert
    assert (alert.key, alert.started_at) == ("silent_meter:m1", at(180))
    assert alert.details["threshold_s"] == 300.0


def test_a_meter_whose_cadence_is_not_learnt_yet_is_not_watched_without_after():
    tracker = SilentMeterTracker(SilentMeterRule(multiple=5, min_intervals=3))
    tracker.observe(every(60, 3))  # two intervals
    assert tracker.check(at(100_000)) == []


def test_a_fixed_after_watches_meters_from_their_first_reading():
    tracker = SilentMeterTracker(SilentMeterRule(multiple=None, after=timedelta(minutes=10)))
    tracker.observe([power(0, 1.0)])
    assert tracker.check(at(600)) == []
    assert len(tracker.check(at(601))) == 1


def test_the_shorter_of_the_learnt_and_fixed_thresholds_wins():
    rule = SilentMeterRule(multiple=5, after=timedelta(minutes=10), min_intervals=2)
    fast = SilentMeterTracker(rule)
    fast.observe(every(10, 3))  # learnt 50 s, fixed 600 s
    assert len(fast.check(at(20 + 51))) == 1
    slow = SilentMeterTracker(rule)
    slow.observe(every(300, 3))  # learnt 1500 s, fixed 600 s
    assert slow.check(at(600 + 600)) == []
    assert len(slow.check(at(600 + 601))) == 1


def test_the_learnt_threshold_is_never_below_min_silence():
    rule = SilentMeterRule(multiple=5, min_intervals=2, min_silence=timedelta(seconds=30))
    tracker = SilentMeterTracker(rule)
    tracker.observe(every(1, 5))
    assert tracker.check(at(4 + 30)) == []
    assert len(tracker.check(at(4 + 31))) == 1


def test_a_silent_meter_resolves_at_its_next_reading_and_opens_once():
    tracker = SilentMeterTracker(SilentMeterRule(multiple=None, after=timedelta(seconds=60)))
    tracker.observe([power(0, 1.0)])
    assert len(tracker.check(at(61))) == 1
    assert tracker.check(at(200)) == []
    events = tracker.observe([power(300, 1.0), power(301, 1.0)])
    assert [(e.kind, e.at) for e in events] == [("resolved", at(300))]
    assert events[0].alert.ended_at == at(300)
    assert events[0].alert.details["silent_s"] == 300.0


def test_the_gap_of_a_silence_is_not_learnt_as_cadence():
    tracker = SilentMeterTracker(SilentMeterRule(multiple=5, min_intervals=2, window=2))
    tracker.observe(every(60, 3))
    tracker.check(at(10_000))
    tracker.observe([power(10_000, 1.0)])
    assert tracker.cadence("m1") == timedelta(seconds=60)


def test_only_the_rules_meters_are_watched():
    tracker = SilentMeterTracker(
        SilentMeterRule(multiple=None, after=timedelta(seconds=1), meters=("plant-*",))
    )
    tracker.observe([power(0, 1.0, meter="plant-1"), power(0, 1.0, meter="lab-1")])
    assert [e.alert.meter_id for e in tracker.check(at(10))] == ["plant-1"]


def test_a_restored_silence_resolves_when_data_comes_back():
    rule = SilentMeterRule(multiple=None, after=timedelta(seconds=60))
    first = SilentMeterTracker(rule)
    first.observe([power(0, 1.0)])
    opened = first.check(at(100))[0].alert
    second = SilentMeterTracker(rule)
    assert second.restore(opened)
    assert second.check(at(500)) == []
    assert [e.kind for e in second.observe([power(600, 1.0)])] == ["resolved"]


@pytest.mark.parametrize(
    "settings",
    [
        {"multiple": None, "after": None},
        {"multiple": 1.0},
        {"after": timedelta(0)},
        {"min_intervals": 0},
        {"window": 2, "min_intervals": 3},
    ],
)
def test_a_bad_silence_rule_is_refused(settings):
    with pytest.raises(ValueError):
        SilentMeterRule(**settings)


@given(
    st.integers(1, 120),
    st.floats(1.5, 10),
    st.lists(st.integers(0, 3), min_size=5, max_size=30),
)
def test_a_meter_keeping_its_cadence_is_never_silent(cadence, multiple, checks_per_interval):
    """Readings every ``cadence`` seconds, checks in between: no alert."""
    rule = SilentMeterRule(multiple=multiple, min_intervals=2, min_silence=timedelta(0))
    tracker = SilentMeterTracker(rule)
    events = []
    for index, checks in enumerate(checks_per_interval):
        events += tracker.observe([power(index * cadence, 1.0)])
        for step in range(checks):
            events += tracker.check(at(index * cadence + cadence * step / max(checks, 1)))
    assert events == []
