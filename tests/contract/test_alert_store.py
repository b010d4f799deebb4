"""Alerting's stores, the same in memory and on PostgreSQL: alert occurrences and their
outbox (``AlertStore``), silences and maintenance windows (``MuteStore``), feedback
(``FeedbackStore``)."""

from __future__ import annotations

import itertools
import math
import threading
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_core.alerts import (
    Acknowledgement,
    Alert,
    AlertEvent,
    AlertKind,
    Decision,
    MaintenanceWindow,
    Severity,
    Silence,
    limit_key,
)
from energy_core.alerts.store import Feedback, OutboxItem, Recorded, StoredAlert

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
SEND = Decision("send", "notify")
UPDATE = Decision("not_due", "update")
SILENCED = Decision("suppressed", "silenced", "works")


def seconds(count: float) -> datetime:
    return START + timedelta(seconds=count)


def an_alert(
    meter: str = "press",
    *,
    started: float = 0,
    updated: float | None = None,
    ended: float | None = None,
    rule: str = "power",
    **fields,
) -> Alert:
    return Alert(
        key=fields.pop("key", limit_key(rule, meter)),
        kind=fields.pop("kind", AlertKind.LIMIT),
        rule_id=rule,
        meter_id=meter,
        severity=fields.pop("severity", Severity.WARNING),
        started_at=seconds(started),
        updated_at=seconds(started if updated is None else updated),
        ended_at=None if ended is None else seconds(ended),
        **fields,
    )


def opened(alert: Alert, decision: Decision = SEND) -> Recorded:
    return Recorded(AlertEvent("opened", alert, alert.updated_at), decision, "opened")


def updated(alert: Alert, *, escalated: bool = False) -> Recorded:
    event = AlertEvent("updated", alert, alert.updated_at, escalated=escalated)
    return Recorded(event, SEND if escalated else UPDATE, "escalated")


def resolved(alert: Alert, decision: Decision = SEND) -> Recorded:
    assert alert.ended_at is not None
    return Recorded(AlertEvent("resolved", alert, alert.ended_at), decision, "resolved")


# --- alerts and their notifications ---------------------------------------------------------
def test_an_opened_alert_is_stored_with_a_pending_notification_carrying_it(stores):
    alert = an_alert(
        peak=9.75,
        readings=4,
        top_variables=("active_power", "current"),
        details={"variable": "active_power", "value": 9.0, "for_s": 300.0, "scored": 4},
    )
    [item] = stores.alerts.record([opened(alert)])

    assert item == OutboxItem(
        id=item.id,
        alert_id=item.alert_id,
        event_id=f"opened:{alert.occurrence}",
        kind="opened",
        alert=alert,
        created_at=alert.updated_at,
        state="pending",
        reason="send",
    )
    assert [item] == stores.alerts.notifications()
    assert StoredAlert(item.alert_id, alert, announced=True) == stores.alerts.get(item.alert_id)
    assert isinstance(stores.alerts.get(item.alert_id).alert.details["scored"], int)


def test_an_event_recorded_twice_queues_one_notification(stores):
    alert = an_alert()
    [first] = stores.alerts.record([opened(alert)])
    assert stores.alerts.record([opened(alert)]) == []
    assert [first] == stores.alerts.notifications()
    assert len(stores.alerts.alerts()) == 1


def test_an_update_brings_the_occurrence_up_to_date_without_a_notification(stores):
    first = an_alert(peak=9.5, readings=1)
    [item] = stores.alerts.record([opened(first)])
    later = an_alert(updated=30, peak=11.0, readings=7, details={"last_value": 10.5})
    assert stores.alerts.record([updated(later)]) == []

    [stored] = stores.alerts.open_alerts()
    assert (item.alert_id, later) == (stored.id, stored.alert)
    assert [first] == [notification.alert for notification in stores.alerts.notifications()]


def test_an_escalation_is_told_and_the_notification_keeps_the_alert_as_it_was(stores):
    alert = an_alert()
    stores.alerts.record([opened(alert)])
    worse = an_alert(updated=60, severity=Severity.CRITICAL)
    [item] = stores.alerts.record([updated(worse, escalated=True)])
    assert (item.kind, item.alert.severity) == ("escalated", Severity.CRITICAL)
    assert item.event_id == f"updated:{alert.occurrence}:{seconds(60).isoformat()}"
    assert [notification.alert.severity for notification in stores.alerts.notifications()] == [
        Severity.CRITICAL,
        Severity.WARNING,
    ]


def test_a_suppressed_event_is_recorded_not_queued_and_the_alert_is_not_announced(stores):
    alert = an_alert()
    [item] = stores.alerts.record([opened(alert, SILENCED)])
    assert (item.state, item.reason) == ("suppressed", "suppressed: silenced by works")
    assert not stores.alerts.get(item.alert_id).announced
    assert stores.alerts.claim_due(seconds(10), 10, 60) == []


def test_a_resolved_alert_leaves_the_open_ones_and_keeps_its_history(stores):
    alert = an_alert()
    ended = an_alert(updated=90, ended=90, readings=3)
    added = stores.alerts.record([opened(alert), updated(an_alert(updated=40)), resolved(ended)])

    assert [item.kind for item in added] == ["opened", "resolved"]
    assert stores.alerts.open_alerts() == []
    [stored] = stores.alerts.alerts()
    assert ended == stored.alert and stored.alert.duration == timedelta(seconds=90)
    assert stores.alerts.alerts(open_only=True) == []
    assert [item.kind for item in stores.alerts.notifications()] == ["resolved", "opened"]


def test_a_late_event_never_takes_a_stored_occurrence_back(stores):
    # A slower process tells, later, what another process stored already.
    alert = an_alert()
    ended = an_alert(updated=90, ended=90, readings=3)
    stores.alerts.record([opened(alert), resolved(ended)])
    stores.alerts.record([opened(alert), updated(an_alert(updated=40, readings=2))])
    [stored] = stores.alerts.alerts()
    assert ended == stored.alert

    newer = an_alert("lathe", updated=50, readings=5)
    stores.alerts.record([opened(an_alert("lathe")), updated(newer)])
    stores.alerts.record([updated(an_alert("lathe", updated=20, readings=2))])
    assert newer == stores.alerts.alerts(meter_id="lathe")[0].alert


def test_an_end_is_final_whatever_its_instant(stores):
    # A silent meter opened by a check at 10 min; its buffered readings, dated 2 min, end it.
    opened_late = an_alert("gw", started=0, updated=600, kind=AlertKind.SILENT_METER)
    ended_early = an_alert("gw", started=0, updated=120, ended=120, kind=AlertKind.SILENT_METER)
    stores.alerts.record([opened(opened_late), resolved(ended_early)])
    assert stores.alerts.open_alerts() == []
    assert ended_early == stores.alerts.alerts()[0].alert
    stores.alerts.record([updated(an_alert("gw", started=0, updated=900))])
    assert ended_early == stores.alerts.alerts()[0].alert


def test_alerts_are_listed_newest_first_and_open_ones_oldest_first(stores):
    stores.alerts.record(
        [
            opened(an_alert("a", started=20)),
            opened(an_alert("b", started=10)),
            opened(an_alert("c", started=30, rule="pf")),
            resolved(an_alert("c", started=30, updated=35, ended=35, rule="pf")),
            opened(an_alert("a", started=5, rule="pf")),
        ]
    )
    alerts = stores.alerts
    assert [s.alert.meter_id for s in alerts.alerts()] == ["c", "a", "b", "a"]
    assert [s.alert.meter_id for s in alerts.alerts(limit=3)][1:] == ["a", "b"]
    assert [(s.alert.started_at - START).seconds for s in alerts.alerts(meter_id="a")][::-1] == [
        5,
        20,
    ]
    assert [s.alert.meter_id for s in alerts.open_alerts()] == ["a", "b", "a"]
    assert [(s.alert.started_at - START).seconds for s in alerts.alerts(open_only=True)] == [
        20,
        10,
        5,
    ]
    assert alerts.alerts(limit=0) == []
    assert None is alerts.get(999)


def test_occurrences_get_ids_in_the_order_they_are_told(stores):
    told = [an_alert("zeta"), an_alert("alpha"), an_alert("mu")]  # same start
    stores.alerts.record([opened(alert) for alert in told])
    listed = stores.alerts.alerts()
    assert [alert.meter_id for alert in told][::-1] == [s.alert.meter_id for s in listed]
    assert sorted(s.id for s in listed) == [s.id for s in listed][::-1]


def test_a_batch_telling_an_occurrence_out_of_order_ends_as_told_one_by_one(stores):
    # Several events of one occurrence in one call, in any order: the occurrence ends as
    # recording them one call at a time would leave it (an end is final, else the later
    # update wins), and each event's notification is queued once.
    first = an_alert("lathe", readings=1)
    later = an_alert("lathe", updated=40, readings=4)
    ended = an_alert("lathe", updated=90, ended=90, readings=6)
    batch = [resolved(ended), updated(later, escalated=True), opened(first), opened(first)]
    added = stores.alerts.record(batch)
    assert [item.kind for item in added] == ["resolved", "escalated", "opened"]
    [stored] = stores.alerts.alerts()
    assert (stored.alert, stored.id) == (ended, added[0].alert_id)
    assert {item.alert_id for item in added} == {stored.id}

    # Updates alone, the latest told first: the latest stays.
    newest = an_alert("press", updated=50, readings=5)
    stores.alerts.record([opened(an_alert("press")), updated(newest), updated(later)])
    assert newest == stores.alerts.alerts(meter_id="press")[0].alert


def test_a_burst_of_thousands_of_events_is_recorded_whole_and_once(stores):
    # 2,500 meters go silent together: one call, every occurrence stored in the order told,
    # every notification queued once; telling the burst again (another process) adds nothing,
    # and their ends, told together, close them all.
    meters = [f"m{index:05d}" for index in range(2_500)]
    silent = [an_alert(meter, kind=AlertKind.SILENT_METER, rule="silent") for meter in meters]
    added = stores.alerts.record([opened(alert) for alert in silent])
    assert [item.alert.meter_id for item in added] == meters
    assert [item.id for item in added] == sorted(item.id for item in added)
    opened_ids = [stored.id for stored in stores.alerts.open_alerts()]
    assert opened_ids == sorted(opened_ids) and len(opened_ids) == len(meters)
    assert [stored.alert.meter_id for stored in stores.alerts.open_alerts()] == meters
    assert all(stored.announced for stored in stores.alerts.open_alerts())
    assert stores.alerts.record([opened(alert) for alert in silent]) == []

    back = [replace(alert, updated_at=seconds(30), ended_at=seconds(30)) for alert in silent]
    ends = stores.alerts.record([resolved(alert) for alert in back])
    assert len(ends) == len(meters) and stores.alerts.open_alerts() == []
    assert len(stores.alerts.notifications(limit=10_000)) == 2 * len(meters)
    assert {item.alert_id for item in ends} == set(opened_ids)


def test_an_occurrence_is_its_key_and_start(stores):
    first = an_alert(started=0, updated=10, ended=10)
    second = an_alert(started=60)
    stores.alerts.record([opened(an_alert()), resolved(first), opened(second)])
    assert [second, first] == [stored.alert for stored in stores.alerts.alerts()]


def test_alerts_without_a_meter_and_with_odd_numbers_come_back_whole(stores):
    health = Alert(
        key="health",
        kind=AlertKind.HEALTH,
        rule_id="health",
        meter_id=None,
        severity=Severity.CRITICAL,
        started_at=datetime(2026, 3, 2, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        updated_at=seconds(1),
        peak=None,
        details={"state": "Crítico", "huge": 1.5e300, "big": 1e16, "tiny": 1e-7, "n": 2**40},
    )
    [item] = stores.alerts.record([opened(health)])
    [stored] = stores.alerts.alerts()
    assert health == stored.alert == item.alert
    assert health == stores.alerts.notifications()[0].alert
    assert all(isinstance(stored.alert.details[name], float) for name in ("huge", "big", "tiny"))


def test_non_finite_numbers_come_back(stores):
    alert = an_alert(peak=math.inf, details={"rate": math.nan, "low": -math.inf})
    stores.alerts.record([opened(alert)])
    for shown in (stores.alerts.alerts()[0].alert, stores.alerts.notifications()[0].alert):
        assert shown.peak == math.inf and shown.details["low"] == -math.inf
        assert math.isnan(shown.details["rate"])


_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
_details = st.dictionaries(
    _texts,
    st.one_of(_texts, st.integers(-(2**53), 2**53), st.floats(allow_nan=False)),
    max_size=6,
)


_examples = itertools.count()


# The store is shared by the examples: each records an occurrence of its own.
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(details=_details, peak=st.none() | st.floats(allow_nan=False), meter=_texts)
def test_any_details_round_trip(stores, details, peak, meter):
    key = f"limit:power:{next(_examples)}"
    alert = an_alert(meter, key=key, peak=peak, details=details, top_variables=(meter,))
    [item] = stores.alerts.record([opened(alert)])
    assert alert == stores.alerts.get(item.alert_id).alert
    assert alert == stores.alerts.notifications(alert_id=item.alert_id)[0].alert
    # Each value keeps its type (the order of the names is jsonb's own on PostgreSQL).
    stored = stores.alerts.get(item.alert_id).alert.details
    assert {name: type(value) for name, value in details.items()} == {
        name: type(value) for name, value in stored.items()
    }


def test_an_acknowledgement_is_kept_and_an_unknown_alert_cannot_be_acknowledged(stores):
    [item] = stores.alerts.record([opened(an_alert())])
    taken = Acknowledgement("ana", seconds(30), "on my way")
    assert taken == stores.alerts.acknowledge(item.alert_id, taken).acknowledgement
    again = Acknowledgement("luis", seconds(40))
    stores.alerts.acknowledge(item.alert_id, again)
    assert again == stores.alerts.get(item.alert_id).acknowledgement
    assert again == stores.alerts.open_alerts()[0].acknowledgement
    with pytest.raises(KeyError):
        stores.alerts.acknowledge(item.alert_id + 100, taken)


def test_closing_ends_open_occurrences_only(stores):
    ended = an_alert("a", updated=10, ended=10)
    stores.alerts.record([opened(an_alert("a")), resolved(ended), opened(an_alert("b"))])
    ids = [stored.id for stored in stores.alerts.alerts()]
    stores.alerts.close([*ids, 999], seconds(100))
    stores.alerts.close([], seconds(200))
    assert stores.alerts.open_alerts() == []
    by_meter = {stored.alert.meter_id: stored.alert for stored in stores.alerts.alerts()}
    assert ended == by_meter["a"]
    assert (seconds(100), seconds(100)) == (by_meter["b"].ended_at, by_meter["b"].updated_at)


def test_a_repeat_is_queued_once_with_the_alert_as_it_stands(stores):
    [item] = stores.alerts.record([opened(an_alert(), SILENCED)])
    now = an_alert(updated=50, readings=9)
    stores.alerts.record([updated(now)])
    repeat = stores.alerts.repeat(item.alert_id, "repeat:x:1", seconds(60))
    assert repeat is not None
    assert ("repeat", "pending", "send", now, seconds(60)) == (
        repeat.kind,
        repeat.state,
        repeat.reason,
        repeat.alert,
        repeat.created_at,
    )
    assert stores.alerts.get(item.alert_id).announced
    assert None is stores.alerts.repeat(item.alert_id, "repeat:x:1", seconds(61))
    assert None is stores.alerts.repeat(item.alert_id + 100, "repeat:x:2", seconds(61))
    assert [repeat, item] == stores.alerts.notifications()


def test_notifications_are_listed_newest_first_by_alert(stores):
    stores.alerts.record([opened(an_alert("a")), opened(an_alert("b"))])
    stores.alerts.record([resolved(an_alert("a", updated=9, ended=9))])
    a_id = stores.alerts.alerts(meter_id="a")[0].id
    assert [n.kind for n in stores.alerts.notifications(alert_id=a_id)] == ["resolved", "opened"]
    assert [n.alert.meter_id for n in stores.alerts.notifications(limit=2)][1:] == ["b"]
    assert stores.alerts.notifications(limit=0) == []
    assert stores.alerts.notifications(alert_id=999) == []


# --- the outbox -------------------------------------------------------------------------------
def queue(stores, count: int) -> list[OutboxItem]:
    return stores.alerts.record([opened(an_alert(f"m{index:02d}")) for index in range(count)])


def test_claims_take_the_oldest_due_first_and_mark_them_sending(stores):
    queued = queue(stores, 3)
    now = seconds(10)
    claimed = stores.alerts.claim_due(now, 2, 30)
    assert [item.id for item in queued[:2]] == [item.id for item in claimed]
    assert all(
        (item.state, item.attempts, item.next_attempt_at) == ("sending", 1, seconds(40))
        for item in claimed
    )
    assert [queued[2].id] == [item.id for item in stores.alerts.claim_due(now, 5, 30)]
    assert stores.alerts.claim_due(now, 5, 30) == []
    assert stores.alerts.claim_due(now, 0, 30) == []
    assert [item.state for item in stores.alerts.notifications()] == ["sending"] * 3


def test_an_abandoned_claim_is_due_again_after_its_lease(stores):
    [item] = queue(stores, 1)
    stores.alerts.claim_due(seconds(0), 10, 30)
    assert stores.alerts.claim_due(seconds(29), 10, 30) == []
    [again] = stores.alerts.claim_due(seconds(30), 10, 30)
    assert (item.id, 2, seconds(60)) == (again.id, again.attempts, again.next_attempt_at)


def test_a_sent_notification_is_done_and_dates_its_alert(stores):
    [item] = queue(stores, 1)
    [claimed] = stores.alerts.claim_due(seconds(1), 10, 30)
    stores.alerts.mark_sent(claimed.id, seconds(2))
    [sent] = stores.alerts.notifications()
    assert ("sent", seconds(2), None, None, 1) == (
        sent.state,
        sent.sent_at,
        sent.next_attempt_at,
        sent.last_error,
        sent.attempts,
    )
    assert seconds(2) == stores.alerts.get(item.alert_id).last_sent_at
    assert stores.alerts.claim_due(seconds(1000), 10, 30) == []
    with pytest.raises(KeyError):
        stores.alerts.mark_sent(999, seconds(3))


def test_a_failed_attempt_waits_for_its_retry_or_is_given_up(stores):
    first, second = queue(stores, 2)
    stores.alerts.claim_due(seconds(0), 10, 30)
    stores.alerts.mark_failed(first.id, "refused", seconds(5))
    stores.alerts.mark_failed(second.id, "gone for good", None)
    by_id = {item.id: item for item in stores.alerts.notifications()}
    assert ("pending", seconds(5), "refused") == (
        by_id[first.id].state,
        by_id[first.id].next_attempt_at,
        by_id[first.id].last_error,
    )
    assert (
        by_id[second.id].state,
        by_id[second.id].next_attempt_at,
        by_id[second.id].last_error,
    ) == ("failed", None, "gone for good")
    assert stores.alerts.claim_due(seconds(4), 10, 30) == []
    [retried] = stores.alerts.claim_due(seconds(5), 10, 30)
    assert (first.id, 2, "refused") == (retried.id, retried.attempts, retried.last_error)
    stores.alerts.mark_sent(retried.id, seconds(6))
    assert None is stores.alerts.notifications(alert_id=first.alert_id)[0].last_error
    with pytest.raises(KeyError):
        stores.alerts.mark_failed(999, "x", None)


def run_together(count: int, work) -> list:
    """``work(index)`` in ``count`` threads released at once; their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(index)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    return results


def test_concurrent_claimers_never_get_the_same_notification(stores):
    queued = queue(stores, 40)

    def claim_until_none_left(_: int) -> list[int]:
        # Empty means every due row was claimed or is being claimed by another.
        ids: list[int] = []
        while claimed := stores.alerts.claim_due(START, 3, 60):
            ids.extend(item.id for item in claimed)
        return ids

    claimed = run_together(4, claim_until_none_left)
    every = [notification_id for ids in claimed for notification_id in ids]
    assert sorted(every) == sorted(item.id for item in queued)


def test_processes_recording_the_same_events_at_once_queue_each_once(stores):
    alerts = [an_alert(f"m{index:02d}") for index in range(12)]
    ended = [an_alert(f"m{index:02d}", updated=9, ended=9) for index in range(12)]
    batch = [opened(alert) for alert in alerts] + [resolved(alert) for alert in ended]

    # Each "process" tells the same events, in an order of its own.
    orders = [batch, batch[::-1], batch[7:] + batch[:7], batch[::2] + batch[1::2]]
    added = run_together(4, lambda index: stores.alerts.record(orders[index]))
    assert sum(len(items) for items in added) == 24
    assert len({item.event_id for items in added for item in items}) == 24
    assert len(stores.alerts.notifications()) == 24
    assert ended == sorted(
        (stored.alert for stored in stores.alerts.alerts()), key=lambda alert: alert.meter_id
    )


# --- silences and maintenance windows ---------------------------------------------------------
def test_silences_round_trip_every_field_ordered_by_start(stores):
    late = Silence.lasting(
        "night",
        seconds(3600),
        timedelta(hours=8),
        meters=("press-*", "lathe"),
        rule_ids=("power",),
        created_by="ana",
        comment="cleaning",
    )
    early = Silence.lasting("works", START, timedelta(minutes=30))
    tie = Silence.lasting("also-works", START, timedelta(minutes=5))
    for silence in (late, early, tie):
        stores.mutes.add_silence(silence)
    assert [tie, early, late] == stores.mutes.silences()

    longer = Silence.lasting("works", START, timedelta(hours=2), comment="longer")
    stores.mutes.add_silence(longer)
    assert [tie, longer, late] == stores.mutes.silences()
    assert stores.mutes.remove_silence("works")
    assert not stores.mutes.remove_silence("works")
    assert [tie, late] == stores.mutes.silences()


def test_maintenance_windows_round_trip_every_field_ordered_by_id(stores):
    sundays = MaintenanceWindow.parse(
        "sundays",
        "sun 02:00-04:00 Europe/Madrid",
        meters=("press-*",),
        rule_ids=("incident*", "power"),
        comment="weekly service",
    )
    nights = MaintenanceWindow(
        "nights", frozenset({0, 1, 2, 3, 4}), time(22, 30, 15, 500), time(6, 0), "America/New_York"
    )
    for window in (sundays, nights):
        stores.mutes.add_window(window)
    assert [nights, sundays] == stores.mutes.windows()
    [stored_nights, stored_sundays] = stores.mutes.windows()
    assert stored_nights.crosses_midnight and stored_sundays.timezone == "Europe/Madrid"

    daily = MaintenanceWindow.parse("nights", "daily 01:00-01:00")
    stores.mutes.add_window(daily)
    assert [daily, sundays] == stores.mutes.windows()
    assert stores.mutes.remove_window("sundays")
    assert not stores.mutes.remove_window("sundays")
    assert [daily] == stores.mutes.windows()


# --- feedback ---------------------------------------------------------------------------------
def test_feedback_round_trips_newest_first_with_new_ids(stores):
    first = Feedback(
        "press",
        START,
        seconds(90),
        "confirmed",
        by="ana",
        at=seconds(100),
        alert_id=7,
        fault_kind="overheating",
        variables=("motor_temperature", "current"),
        comment="bearing",
    )
    second = Feedback("lathe", seconds(5), seconds(5), "false_alarm", by="luis", at=seconds(200))
    third = Feedback("press", seconds(300), seconds(400), "false_alarm", by="ana", at=seconds(500))
    added = [stores.feedback.add(item) for item in (first, second, third)]

    assert [first, second, third] == [replace(item, id=None) for item in added]
    assert len({item.id for item in added}) == 3
    assert added[::-1] == stores.feedback.feedback()
    assert [added[2], added[0]] == stores.feedback.feedback(meter_id="press")
    assert [added[2]] == stores.feedback.feedback(limit=1)
    assert stores.feedback.feedback(meter_id="drill") == []
