"""Limit rules: a variable past a value for long enough, with recovery hysteresis."""

from __future__ import annotations

from datetime import timedelta
from itertools import zip_longest

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core.alerts import LimitRule, LimitTracker, Severity, parse_limit
from tests.unit.alerts.strategies import at, power, power_stream


def kinds(events):
    return [(event.kind, event.at) for event in events]


def rule(**settings):
    defaults = {"id": "p9", "variable": "active_power", "comparison": ">", "value": 9.0}
    return LimitRule(**{**defaults, **settings})


def test_a_breach_opens_an_alert_once_it_has_lasted_for_duration():
    tracker = LimitTracker([rule(for_duration=timedelta(minutes=5))])
    kw = [8, 10, 11, 10, 12, 11, 10, 9]  # one reading a minute
    events = tracker.observe([power(60 * i, value) for i, value in enumerate(kw)])
    assert [("opened", at(360)), ("resolved", at(420))] == kinds(events)
    opened, resolved = events[0].alert, events[1].alert
    assert at(60) == opened.started_at
    assert opened.key == "limit:p9:m1"
    assert (resolved.peak, resolved.readings) == (12.0, 6)
    assert at(420) == resolved.ended_at


def test_a_breach_shorter_than_for_duration_opens_nothing():
    tracker = LimitTracker([rule(for_duration=timedelta(minutes=5))])
    kw = [10, 10, 10, 10, 10, 8, 10]
    assert tracker.observe([power(60 * i, value) for i, value in enumerate(kw)]) == []


def test_a_zero_duration_opens_at_the_first_breaching_reading():
    tracker = LimitTracker([rule()])
    assert [("opened", at(1))] == kinds(tracker.observe([power(0, 9.0), power(1, 9.1)]))


def test_an_open_alert_clears_only_back_past_the_margin():
    tracker = LimitTracker([rule(margin=0.5)])
    kw = [10, 9.0, 8.6, 8.5]
    events = tracker.observe([power(i, value) for i, value in enumerate(kw)])
    assert [("opened", at(0)), ("resolved", at(3))] == kinds(events)


@pytest.mark.parametrize(
    ("comparison", "values", "expected"),
    [
        (">=", [8, 9, 8.5, 8.4], [("opened", at(1)), ("resolved", at(3))]),
        ("<", [10, 8, 9.4, 9.5], [("opened", at(1)), ("resolved", at(3))]),
        ("<=", [10, 9, 9.5, 9.6], [("opened", at(1)), ("resolved", at(3))]),
    ],
)
def test_each_comparison_with_its_recovery_level(comparison, values, expected):
    tracker = LimitTracker([rule(comparison=comparison, margin=0.5)])
    events = tracker.observe([power(i, value) for i, value in enumerate(values)])
    assert expected == kinds(events)


def test_a_reading_without_the_variable_neither_starts_nor_clears():
    tracker = LimitTracker([rule(for_duration=timedelta(seconds=10))])
    readings = [power(0, 10), power(5, None), power(10, 10), power(15, None), power(20, 5)]
    assert [("opened", at(10)), ("resolved", at(20))] == kinds(tracker.observe(readings))


def test_a_rule_watches_only_its_meters():
    tracker = LimitTracker([rule(meters=("plant-*",))])
    events = tracker.observe([power(0, 10, meter="office-1"), power(0, 10, meter="plant-2")])
    assert [event.alert.meter_id for event in events] == ["plant-2"]


def test_updates_come_once_per_call_and_do_not_notify():
    tracker = LimitTracker([rule()])
    tracker.observe([power(0, 10)])
    events = tracker.observe([power(1, 11), power(2, 13), power(3, 12)])
    assert [("updated", at(2))] == kinds(events)  # as of its last new peak
    assert (events[0].alert.peak, events[0].alert.readings) == (13.0, 3)
    assert not events[0].notifies


def test_a_meter_held_over_a_limit_is_not_rewritten_at_every_reading():
    tracker = LimitTracker([rule()])
    tracker.observe([power(0, 10)])
    assert tracker.observe([power(i, 10) for i in range(1, 50)]) == []
    [resolved] = tracker.observe([power(50, 5)])
    assert resolved.alert.readings == 50


def test_a_restored_alert_resolves_and_a_gone_rule_is_refused():
    opened = LimitTracker([rule()]).observe([power(0, 10)])[0].alert
    assert not LimitTracker([rule(id="other")]).restore(opened)
    tracker = LimitTracker([rule()])
    assert tracker.restore(opened)
    assert [("resolved", at(1))] == kinds(tracker.observe([power(1, 5)]))


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"variable": "power"}, "variable"),
        ({"comparison": "=="}, "comparison"),
        ({"for_duration": timedelta(seconds=-1)}, "for_duration"),
        ({"margin": -1.0}, "margin"),
        ({"value": float("nan")}, "value"),
        ({"meters": "plant-*"}, "meters"),
        ({"id": "has space"}, "id"),
        ({"severity": "urgent"}, "severity"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(settings, field):
    with pytest.raises(ValueError, match=rf"^{field}"):
        rule(**settings)


def test_rule_ids_must_be_unique():
    with pytest.raises(ValueError, match="p9"):
        LimitTracker([rule(), rule(value=3.0)])


# --- the compact text form --------------------------------------------------------------------


def test_the_compact_form_reads_every_part():
    parsed = parse_limit(
        "power_factor < 0.85 for 15m on plant-*,line-? margin 0.02 severity critical name Low PF",
        rule_id="pf",
    )
    expected = LimitRule(
        id="pf",
        variable="power_factor",
        comparison="<",
        value=0.85,
        for_duration=timedelta(minutes=15),
        meters=("plant-*", "line-?"),
        severity=Severity.CRITICAL,
        margin=0.02,
        name="Low PF",
    )
    assert expected == parsed


def test_the_compact_form_takes_the_variables_unit_and_round_trips():
    parsed = parse_limit("active_power>9kW for 5m on plant-*")
    assert (9.0, timedelta(minutes=5)) == (parsed.value, parsed.for_duration)
    assert parsed.text == "active_power > 9 kW for 5m on plant-*"
    assert parsed == parse_limit(parsed.text, rule_id=parsed.id)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("actve_power > 9", "unknown variable 'actve_power'"),
        ("active_power => 9", "comparison '=>'"),
        ("active_power > 9 W", "unexpected 'W'"),
        ("active_power > 9 for five", "for: duration 'five'"),
        ("active_power > 9 for", "'for' needs a value"),
        ("active_power > 9 on plant/1", "on: meter pattern 'plant/1'"),
        ("active_power > 9 margin -1", "margin: '-1'"),
        ("active_power > 9 severity urgent", "severity: 'urgent'"),
        ("active_power > 9 kW kW", "unexpected 'kW'"),
        ("active_power > 9 for 1m for 2m", "'for' is given twice"),
        ("> 9", "expected '<variable> <comparison> <value>"),
    ],
)
def test_the_compact_form_names_the_wrong_part(text, names):
    with pytest.raises(ValueError, match=names.replace("(", r"\(")) as error:
        parse_limit(text)
    assert repr(text) in str(error.value)


# --- properties over random streams ----------------------------------------------------------

comparisons = st.sampled_from([">", ">=", "<", "<="])
limit_rules = st.builds(
    rule,
    comparison=comparisons,
    value=st.sampled_from([5.0, 9.0, 15.0]),
    margin=st.sampled_from([0.0, 0.5, 2.0]),
    for_duration=st.integers(0, 300).map(lambda s: timedelta(seconds=s)),
)


@given(power_stream(), limit_rules)
def test_no_alert_opens_when_no_reading_breaches(readings, limit):
    calm = [
        r
        for r in readings
        if "active_power" not in r.values or not limit.breaches(r["active_power"])
    ]
    assert LimitTracker([limit]).observe(calm) == []


@given(power_stream(), limit_rules)
def test_alerts_open_after_an_unbroken_breach_and_resolve_at_the_first_recovery(readings, limit):
    events = [e for e in LimitTracker([limit]).observe(readings) if e.kind != "updated"]
    assert [e.kind for e in events] == ["opened", "resolved"] * (len(events) // 2) + ["opened"] * (
        len(events) % 2
    )
    carrying = [r for r in readings if "active_power" in r.values]
    for opened, resolved in zip_longest(events[::2], events[1::2]):
        start = opened.alert.started_at
        breach = [r for r in carrying if start <= r.timestamp <= opened.at]
        assert all(limit.breaches(r["active_power"]) for r in breach)
        assert [opened.at] == [
            r.timestamp for r in breach if r.timestamp - start >= limit.for_duration
        ][:1]
        before = [r for r in carrying if r.timestamp < start]
        assert not before or not limit.breaches(before[-1]["active_power"])
        end = resolved.at if resolved is not None else None
        after = [
            r for r in carrying if r.timestamp > opened.at and (end is None or r.timestamp <= end)
        ]
        recoveries = [r.timestamp for r in after if limit.recovered(r["active_power"])]
        assert recoveries[:1] == ([end] if end is not None else [])
