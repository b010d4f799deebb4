"""The notification policy: silences, maintenance windows, acknowledgements and repeats."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core.alerts import (
    Acknowledgement,
    Alert,
    AlertEvent,
    AlertKind,
    MaintenanceWindow,
    NotificationPolicy,
    Severity,
    Silence,
)
from tests.unit.alerts.strategies import at

SUNDAY_2_TO_4 = MaintenanceWindow("sunday", frozenset({6}), time(2), time(4), "Europe/Madrid")


def alert(meter="plant-1", rule_id="p9", *, open_=True, started=0):
    return Alert(
        key=f"limit:{rule_id}:{meter}",
        kind=AlertKind.LIMIT,
        rule_id=rule_id,
        meter_id=meter,
        severity=Severity.WARNING,
        started_at=at(started),
        updated_at=at(started),
        ended_at=None if open_ else at(started + 60),
    )


def opened(moment, **settings):
    return AlertEvent("opened", alert(**settings), moment)


def test_an_opening_is_sent_when_nothing_mutes_it():
    decision = NotificationPolicy().decide(opened(at(0)))
    assert (decision.send, str(decision)) == (True, "send")


def test_a_silence_by_meter_pattern_suppresses_while_it_lasts():
    silence = Silence.lasting("s1", at(0), timedelta(hours=1), meters=["plant-*"])
    policy = NotificationPolicy(silences=(silence,))
    assert str(policy.decide(opened(at(10)))) == "suppressed: silenced by s1"
    assert str(policy.decide(opened(at(3600)))) == "send"
    assert str(policy.decide(opened(at(10), meter="lab-1"))) == "send"


def test_a_silence_by_rule_id_leaves_other_rules_alone():
    policy = NotificationPolicy(silences=(Silence("s2", at(0), at(60), rule_ids=("p9",)),))
    assert policy.decide(opened(at(1))).reason == "silenced"
    assert policy.decide(opened(at(1), rule_id="pf")).send


def test_a_silence_by_meter_does_not_mute_an_alert_without_a_meter():
    health = Alert("health", AlertKind.HEALTH, "health", None, Severity.WARNING, at(0), at(0))
    policy = NotificationPolicy(silences=(Silence("s", at(0), at(60), meters=("*",)),))
    assert policy.decide(AlertEvent("opened", health, at(1))).send


def test_updates_are_not_due_but_escalations_are_sent():
    policy = NotificationPolicy()
    assert str(policy.decide(AlertEvent("updated", alert(), at(1)))) == "not due"
    assert policy.decide(AlertEvent("updated", alert(), at(1), escalated=True)).send


def test_the_end_of_an_alert_whose_start_was_not_sent_is_not_told():
    ended = AlertEvent("resolved", alert(open_=False), at(60))
    assert NotificationPolicy().decide(ended, start_sent=False).reason == "not_announced"
    assert NotificationPolicy().decide(ended).send


def test_maintenance_suppresses_by_the_local_clock():
    policy = NotificationPolicy(maintenance=(SUNDAY_2_TO_4,))
    sunday_3_local = datetime(2025, 6, 8, 1, 0, tzinfo=UTC)  # 03:00 CEST
    decision = policy.decide(opened(sunday_3_local))
    assert (str(decision), decision.by) == ("suppressed: maintenance", "sunday")
    assert policy.decide(opened(datetime(2025, 6, 8, 2, 0, tzinfo=UTC))).send  # 04:00 CEST


def test_a_window_crossing_midnight_covers_the_next_morning():
    window = MaintenanceWindow("night", frozenset({4}), time(22), time(2))  # Friday, UTC
    assert window.covers(datetime(2025, 6, 6, 23, 0, tzinfo=UTC))  # Friday 23:00
    assert window.covers(datetime(2025, 6, 7, 1, 59, tzinfo=UTC))  # Saturday 01:59
    assert not window.covers(datetime(2025, 6, 7, 2, 0, tzinfo=UTC))
    assert not window.covers(datetime(2025, 6, 7, 23, 0, tzinfo=UTC))  # Saturday night


def test_a_window_follows_the_clock_changes():
    # Madrid, 30 March 2025: 02:00 CET becomes 03:00 CEST; 26 October: 03:00 CEST → 02:00 CET.
    spring = [datetime(2025, 3, 30, 0, 59, tzinfo=UTC), datetime(2025, 3, 30, 1, 0, tzinfo=UTC)]
    assert [SUNDAY_2_TO_4.covers(moment) for moment in spring] == [False, True]
    assert not SUNDAY_2_TO_4.covers(datetime(2025, 3, 30, 2, 0, tzinfo=UTC))  # 04:00 CEST
    autumn_first_2am = datetime(2025, 10, 26, 0, 0, tzinfo=UTC)
    assert SUNDAY_2_TO_4.covers(autumn_first_2am)
    assert SUNDAY_2_TO_4.covers(datetime(2025, 10, 26, 2, 59, tzinfo=UTC))  # 03:59 CET
    assert not SUNDAY_2_TO_4.covers(datetime(2025, 10, 26, 3, 0, tzinfo=UTC))


def test_a_window_is_read_from_its_compact_form():
    window = MaintenanceWindow.parse("w", "sat-sun 22:30-01:00 Europe/Madrid")
    assert (window.days, window.start, window.end) == (frozenset({5, 6}), time(22, 30), time(1))
    assert MaintenanceWindow.parse("w", "daily 00:00-00:00").days == frozenset(range(7))
    for bad, names in [
        ("sun 2-4", "time '2'"),
        ("sun 02:00", "times '02:00'"),
        ("sunday 02:00-04:00", "days 'sunday'"),
        ("sun 02:00-25:00", "time '25:00'"),
        ("sun 02:00-04:00 Mars/Olympus", "timezone 'Mars/Olympus'"),
    ]:
        with pytest.raises(ValueError, match=names):
            MaintenanceWindow.parse("w", bad)


def test_open_alerts_repeat_until_acknowledged():
    policy = NotificationPolicy(repeat_every=timedelta(hours=1))
    open_alert = alert()
    assert policy.decide_repeat(open_alert, at(3599), last_sent=at(0)).reason == "repeat_not_due"
    assert policy.decide_repeat(open_alert, at(3600), last_sent=at(0)).send
    ack = Acknowledgement("ana", at(100), "on it")
    repeat = policy.decide_repeat(open_alert, at(7200), last_sent=at(0), acknowledgement=ack)
    assert (str(repeat), repeat.reason) == ("not due", "acknowledged")


def test_a_suppressed_alert_is_sent_once_nothing_mutes_it_any_longer():
    silence = Silence("s", at(0), at(600))
    policy = NotificationPolicy(silences=(silence,))
    assert policy.decide_repeat(alert(), at(300), last_sent=None).reason == "silenced"
    assert policy.decide_repeat(alert(), at(600), last_sent=None).send
    assert policy.decide_repeat(alert(), at(900), last_sent=at(600)).reason == "no_repeat"


def test_resolved_alerts_do_not_repeat():
    policy = NotificationPolicy(repeat_every=timedelta(minutes=1))
    closed = alert(open_=False)
    assert policy.decide_repeat(closed, at(10_000), last_sent=at(0)).reason == "resolved"


@pytest.mark.parametrize(
    ("make", "names"),
    [
        (lambda: Silence("s", at(10), at(10)), "ends_at"),
        (lambda: Silence("s", at(0), at(10), meters="plant-*"), "meters"),
        (lambda: MaintenanceWindow("w", frozenset({7}), time(1), time(2)), "days"),
        (lambda: MaintenanceWindow("w", frozenset({1}), time(1), time(2), "Nowhere"), "timezone"),
        (lambda: NotificationPolicy(repeat_every=timedelta(0)), "repeat_every"),
        (lambda: Acknowledgement(" ", at(0)), "by"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(make, names):
    with pytest.raises(ValueError, match=names):
        make()


# --- maintenance windows against a brute force over local minutes --------------------------------

ZONES = ["UTC", "Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


def covered_minutes(window):
    """Every (weekday, minute of the day) the window covers, walking it minute by minute."""
    start = window.start.hour * 60 + window.start.minute
    end = window.end.hour * 60 + window.end.minute
    length = (end - start) % 1440 or 1440
    return {
        ((day + (start + step) // 1440) % 7, (start + step) % 1440)
        for day in window.days
        for step in range(length)
    }


windows = st.builds(
    lambda days, start, end, zone: MaintenanceWindow(
        "w", frozenset(days), time(*divmod(start, 60)), time(*divmod(end, 60)), zone
    ),
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(0, 1439),
    st.integers(0, 1439),
    st.sampled_from(ZONES),
)
instants = st.integers(0, 3 * 366 * 86400).map(
    lambda s: datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=s)
)


@given(windows, instants)
def test_maintenance_decisions_agree_with_a_brute_force_by_local_time(window, moment):
    local = moment.astimezone(ZoneInfo(window.timezone))
    expected = (local.weekday(), local.hour * 60 + local.minute) in covered_minutes(window)
    assert window.covers(moment) == expected
    policy = NotificationPolicy(maintenance=(window,))
    assert policy.decide(opened(moment)).send == (not expected)
