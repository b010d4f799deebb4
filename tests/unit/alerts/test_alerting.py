"""The alerting use cases over the in-memory stores: events become stored alerts and an
outbox; the dispatcher sends each notification once, retries, and gives up; people
acknowledge and silence; a restart resolves what an earlier run opened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_adapters.memory_alerts import MemoryAlertStore, MemoryFeedbackStore, MemoryMuteStore
from energy_core import Monitor, Reading
from energy_core.alerts import AlertRules, IncidentRule, Silence, SilentMeterRule
from energy_core.alerts.store import OutboxItem
from energy_core.usecases.alerting import Alerting, AlertSettings

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
RULES = AlertRules(incidents=IncidentRule(open_after=2, close_after=2), silent=None)


def readings(meter: str, flags: list[bool], start: datetime = START) -> list[Reading]:
    return [
        Reading(start + timedelta(seconds=i), meter, {"voltage": 230.0}).scored(
            0.9 if flagged else 0.1, flagged, ("voltage",) if flagged else ()
        )
        for i, flagged in enumerate(flags)
    ]


def alerting(store=None, mutes=None, clock=None, **settings) -> Alerting:
    return Alerting(
        store=store or MemoryAlertStore(),
        mutes=mutes or MemoryMuteStore(),
        feedback=MemoryFeedbackStore(),
        clock=clock or ManualClock(START),
        settings=AlertSettings(rules=settings.pop("rules", RULES), **settings),
    )


class Channel:
    """A notifier that records what it was given, failing the first ``failures`` times."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[OutboxItem] = []

    def __call__(self, item: OutboxItem) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("ntfy://127.0.0.1:9: refused")
        self.sent.append(item)


def test_an_incident_is_told_when_it_opens_and_when_it_resolves_once_each():
    alerts = alerting()
    channel = Channel()
    alerts.observe(readings("press", [False, True, True, True, False, False]))
    alerts.deliver(channel)
    assert [(item.kind, item.alert.meter_id) for item in channel.sent] == [
        ("opened", "press"),
        ("resolved", "press"),
    ]
    # Nothing is sent twice: the outbox is empty now.
    assert alerts.deliver(channel).sent == []
    [stored] = alerts.store.alerts()
    assert not stored.alert.is_open and stored.alert.readings == 3


def test_two_processes_recording_the_same_event_queue_one_notification():
    store = MemoryAlertStore()
    batch = readings("press", [True, True])
    for process in (alerting(store), alerting(store)):
        process.observe(batch)
    assert [item.kind for item in store.notifications()] == ["opened"]


def test_a_silenced_alert_is_recorded_not_sent_and_its_end_is_not_told():
    alerts = alerting()
    alerts.silence(Silence.lasting("works", START, timedelta(hours=1), meters=("press",)))
    alerts.observe(readings("press", [True, True, False, False]))
    channel = Channel()
    alerts.deliver(channel)
    assert channel.sent == []
    [item] = alerts.store.notifications()
    assert (item.state, item.reason) == ("suppressed", "suppressed: silenced by works")


def test_a_failing_channel_is_retried_with_a_doubling_wait_then_given_up():
    clock = ManualClock(START)
    alerts = alerting(clock=clock, max_attempts=3, first_retry_s=5)
    alerts.observe(readings("press", [True, True]))
    channel = Channel(failures=5)
    waits = []
    for _ in range(3):
        report = alerts.deliver(channel)
        assert len(report.failed) == 1
        [item] = alerts.store.notifications()
        if item.next_attempt_at is not None:
            waits.append(item.next_attempt_at - clock.now())
            # Not due before its time.
            assert alerts.deliver(channel).failed == []
            clock.advance(item.next_attempt_at - clock.now())
    assert waits == [timedelta(seconds=5), timedelta(seconds=10)]
    [item] = alerts.store.notifications()
    assert (item.state, item.attempts) == ("failed", 3)
    assert "refused" in (item.last_error or "")


def test_a_claimed_notification_whose_dispatcher_vanished_is_due_again_after_the_lease():
    clock = ManualClock(START)
    alerts = alerting(clock=clock, lease_s=30)
    alerts.observe(readings("press", [True, True]))
    [claimed] = alerts.store.claim_due(clock.now(), 10, 30)  # a dispatcher that then died
    assert alerts.store.claim_due(clock.now(), 10, 30) == []
    clock.advance(timedelta(seconds=31))
    [again] = alerts.store.claim_due(clock.now(), 10, 30)
    assert (again.id, again.attempts) == (claimed.id, 2)


def test_an_open_alert_repeats_until_someone_acknowledges_it():
    clock = ManualClock(START)
    alerts = alerting(clock=clock, repeat_every=timedelta(minutes=10))
    alerts.observe(readings("press", [True, True]))
    channel = Channel()
    alerts.deliver(channel)
    for _ in range(2):
        clock.advance(timedelta(minutes=10))
        alerts.check()
        alerts.check()  # a second check in the same period queues nothing more
        alerts.deliver(channel)
    assert [item.kind for item in channel.sent] == ["opened", "repeat", "repeat"]
    [stored] = alerts.store.open_alerts()
    alerts.acknowledge(stored.id, "ana", "on my way")
    clock.advance(timedelta(minutes=30))
    alerts.check()
    assert alerts.deliver(channel).sent == []
    assert alerts.store.get(stored.id).acknowledgement.by == "ana"


def test_after_a_restart_an_open_incident_resolves_instead_of_opening_again():
    store = MemoryAlertStore()
    alerting(store).observe(readings("press", [True, True]))
    restarted = alerting(store)
    restarted.observe(readings("press", [True, False, False], start=START + timedelta(seconds=2)))
    assert [item.kind for item in store.notifications()][::-1] == ["opened", "resolved"]
    assert store.open_alerts() == []


def test_a_silent_meter_opens_on_the_clock_and_resolves_when_it_speaks_again():
    clock = ManualClock(START)
    rules = AlertRules(
        incidents=None, silent=SilentMeterRule(multiple=None, after=timedelta(minutes=5))
    )
    alerts = alerting(clock=clock, rules=rules)
    alerts.observe(readings("press", [False] * 3))
    clock.advance(timedelta(minutes=6))
    [opened] = alerts.check()
    assert (opened.kind, opened.alert.meter_id) == ("opened", "press")
    alerts.observe(readings("press", [False], start=clock.now()))
    assert [item.kind for item in alerts.store.notifications()][::-1] == ["opened", "resolved"]


def test_a_reset_closes_what_is_open():
    alerts = alerting()
    alerts.observe(readings("press", [True, True]))
    alerts.forget()
    assert alerts.store.open_alerts() == []


class BrokenStore(MemoryAlertStore):
    def record(self, recorded):
        raise ConnectionError("alert storage is away")


def monitor_with(alerts: Alerting) -> Monitor:
    store = MemoryReadingRepository()
    return Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=alerts.clock,
        alerting=alerts,
    )


def test_ingest_feeds_the_rules_and_never_fails_because_of_them(caplog):
    alerts = alerting()
    monitor = monitor_with(alerts)
    monitor.ingest(readings("press", [True, True]))
    assert [item.kind for item in alerts.store.notifications()] == ["opened"]

    broken = alerting(store=BrokenStore())
    monitor = monitor_with(broken)
    for _ in range(3):
        assert len(monitor.ingest(readings("press", [True, True])).stored) == 2
    assert sum("alerting failed" in record.message for record in caplog.records) == 1


@pytest.mark.parametrize("verdict", ["maybe", ""])
def test_feedback_with_an_unknown_verdict_is_refused_naming_it(verdict):
    from energy_core.alerts.store import Feedback

    with pytest.raises(ValueError, match="verdict"):
        Feedback("press", START, START, verdict, by="ana", at=START)  # type: ignore[arg-type]


def test_a_retry_goes_only_to_the_channels_that_failed():
    from energy_core.alerts.delivery import DeliveryError

    clock = ManualClock(START)
    alerts = alerting(clock=clock)
    alerts.observe(readings("press", [True, True]))
    asked: list[tuple[str, ...]] = []

    def send(item: OutboxItem) -> None:
        asked.append(item.retry_channels)
        if len(asked) == 1:
            raise DeliveryError.of([("ntfy://ntfy.sh/plant", "refused")])

    alerts.deliver(send)
    clock.advance(timedelta(seconds=5))
    alerts.deliver(send)
    assert asked == [(), ("ntfy://ntfy.sh/plant",)]
