"""The alert engine: every rule together, with bounded state per meter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core.alerts import (
    AlertEngine,
    AlertRules,
    DetectorStatus,
    IncidentRule,
    LimitRule,
    SilentMeterRule,
)
from tests.unit.alerts.strategies import at, flag_stream, interleavings, power, scored

P9 = LimitRule("p9", "active_power", ">", 9.0, for_duration=timedelta(seconds=30))
SILENT = SilentMeterRule(multiple=None, after=timedelta(minutes=5))


def engine(**settings):
    defaults = {
        "incidents": IncidentRule(close_after=2),
        "limits": (P9,),
        "silent": SILENT,
        "detector": None,
    }
    return AlertEngine(AlertRules(**{**defaults, **settings}))


def summary(events):
    return [(e.kind, e.alert.kind.value, e.alert.meter_id, e.at) for e in events]


def flagged_power(second, kw, flagged, meter="m1"):
    return scored(second, flagged, meter=meter, values={"active_power": kw})


def test_one_batch_runs_incidents_and_limits_and_returns_events_in_time_order():
    readings = [flagged_power(s, kw, flag) for s, kw, flag in [
        (0, 10, True), (10, 10, False), (20, 10, False), (30, 10, False), (40, 5, False),
    ]]  # fmt: skip
    assert summary(engine().observe(reversed(readings))) == [
        ("opened", "incident", "m1", at(0)),
        ("resolved", "incident", "m1", at(20)),
        ("opened", "limit", "m1", at(30)),
        ("resolved", "limit", "m1", at(40)),
    ]


def test_check_finds_silent_meters_and_their_next_reading_resolves_them():
    alerts = engine()
    alerts.observe([power(0, 1.0, meter="a"), power(200, 1.0, meter="b")])
    assert summary(alerts.check(at(301))) == [("opened", "silent_meter", "a", at(301))]
    assert [a.meter_id for a in alerts.open_alerts()] == ["a"]
    assert summary(alerts.observe([power(400, 1.0, meter="a")])) == [
        ("resolved", "silent_meter", "a", at(400))
    ]


def test_check_evaluates_the_detector_when_told_its_status():
    alerts = engine(detector=AlertRules().detector)
    assert alerts.check(at(0)) == []
    events = alerts.check(at(0), DetectorStatus(trained_at=None))
    assert [e.alert.key for e in events] == ["detector:no_model"]


def test_health_analyses_open_and_resolve_the_health_alert():
    alerts = engine()
    assert [e.kind for e in alerts.observe_health(7.0, at(0))] == ["opened"]
    assert [e.kind for e in alerts.observe_health(1.0, at(60))] == ["resolved"]
    assert engine(health=None).observe_health(50.0, at(0)) == []


def test_an_idle_meter_without_open_alerts_is_forgotten_after_forget_after():
    alerts = engine(silent=None, forget_after=timedelta(hours=1))
    alerts.observe([power(0, 1.0, meter="a"), flagged_power(0, 1.0, True, meter="b")])
    alerts.check(at(3600))
    assert alerts.meters() == ["a", "b"]
    alerts.check(at(3601))
    assert alerts.meters() == ["b"]  # b keeps its open incident
    assert [a.meter_id for a in alerts.open_alerts()] == ["b"]


def test_a_silent_meter_is_kept_until_it_is_forgotten_by_name():
    rule = SilentMeterRule(multiple=3, min_intervals=2)
    alerts = engine(silent=rule, forget_after=timedelta(hours=1))
    alerts.observe([power(60 * i, 1.0) for i in range(3)])
    assert [e.kind for e in alerts.check(at(10_000))] == ["opened"]
    alerts.check(at(100_000))
    assert alerts.meters() == ["m1"]
    alerts.forget("m1")
    assert (alerts.meters(), alerts.open_alerts()) == ([], [])


def test_a_meter_whose_cadence_is_not_learnt_is_forgotten_when_idle():
    rule = SilentMeterRule(multiple=3, min_intervals=2)
    alerts = engine(silent=rule, forget_after=timedelta(hours=1))
    alerts.observe([power(0, 1.0), power(60, 1.0)])
    assert alerts.check(at(60 + 3601)) == []
    assert alerts.meters() == []


def test_past_max_meters_the_least_recently_seen_idle_meters_go_first():
    alerts = engine(max_meters=2, silent=None)
    alerts.observe([flagged_power(0, 1.0, True, meter="open")])
    alerts.observe([power(1, 1.0, meter="old"), power(2, 1.0, meter="new")])
    alerts.observe([power(3, 1.0, meter="newest")])
    assert alerts.meters() == ["open", "newest"]
    assert [a.meter_id for a in alerts.open_alerts()] == ["open"]


def test_restore_takes_back_open_alerts_and_returns_the_rest():
    first = engine()
    first.observe([flagged_power(0, 10, True), flagged_power(30, 10, True)])
    stored = first.open_alerts()
    assert sorted(a.kind.value for a in stored) == ["incident", "limit"]
    second = engine(limits=())
    refused = second.restore(stored)
    assert [a.kind.value for a in refused] == ["limit"]
    events = second.observe([flagged_power(40, 1, False), flagged_power(50, 1, False)])
    assert summary(events) == [("resolved", "incident", "m1", at(50))]


def test_forget_drops_everything_without_events():
    alerts = engine()
    alerts.observe([flagged_power(0, 10, True)])
    alerts.observe_health(20.0, at(0))
    alerts.forget()
    assert (alerts.open_alerts(), alerts.meters()) == ([], [])
    assert [e.kind for e in alerts.observe([flagged_power(1, 10, True)])] == ["opened"]


def test_forgetting_one_meter_keeps_the_others():
    alerts = engine()
    alerts.observe([flagged_power(0, 1, True, meter="a"), flagged_power(0, 1, True, meter="b")])
    alerts.forget("a")
    assert [a.meter_id for a in alerts.open_alerts()] == ["b"]


def test_bad_engine_settings_are_refused():
    with pytest.raises(ValueError, match="forget_after"):
        AlertRules(forget_after=timedelta(0))
    with pytest.raises(ValueError, match="unique"):
        AlertEngine(AlertRules(limits=(P9, P9)))


# --- properties ----------------------------------------------------------------------------------


@st.composite
def fleets(draw):
    """Streams of three meters, flags and active power at random."""
    streams = []
    for meter in ("a", "b", "c"):
        readings = draw(flag_stream(meter=meter, max_size=25))
        powers = draw(st.lists(st.sampled_from([None, 5.0, 10.0]), min_size=len(readings)))
        streams.append(
            [
                r if kw is None else r.__class__(**{**_fields(r), "values": {"active_power": kw}})
                for r, kw in zip(readings, powers, strict=False)
            ]
        )
    return streams


def _fields(reading):
    return {name: getattr(reading, name) for name in reading.__dataclass_fields__}


def per_meter(events):
    found: dict[str, list] = {}
    for event in events:
        if event.kind != "updated":
            found.setdefault(event.alert.meter_id, []).append((event.kind, event.alert))
    return found


@given(fleets(), st.data())
def test_how_meters_interleave_does_not_change_any_meters_events(streams, data):
    batches = data.draw(interleavings(streams))
    together = engine()
    mixed = [event for batch in batches for event in together.observe(batch)]
    alone = []
    for stream in streams:
        single = engine()
        alone += [event for reading in stream for event in single.observe([reading])]
    assert per_meter(mixed) == per_meter(alone)


@given(fleets(), st.data())
def test_open_alerts_are_those_opened_and_not_resolved(streams, data):
    alerts = engine()
    events = [e for batch in data.draw(interleavings(streams)) for e in alerts.observe(batch)]
    still_open: dict[str, object] = {}
    for event in events:
        if event.kind == "resolved":
            assert still_open.pop(event.alert.key, None) is not None
        else:
            assert (event.kind == "opened") == (event.alert.key not in still_open)
            still_open[event.alert.key] = event.alert
    assert sorted(still_open) == sorted(a.key for a in alerts.open_alerts())
