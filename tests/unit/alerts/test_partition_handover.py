"""Alerts when a meter's partition moves between workers (``Alerting.adopt`` / ``release``):
the new owner takes the meter's open alert back instead of opening another, and the old
owner forgets the meter (it neither resolves it nor calls it silent)."""

from __future__ import annotations

from datetime import timedelta

from energy_adapters.memory import ManualClock
from energy_adapters.memory_alerts import MemoryAlertStore
from energy_core.alerts import AlertRules, IncidentRule, SilentMeterRule
from tests.unit.alerts.test_alerting import START, alerting, readings


def test_the_new_owner_continues_the_open_incident_and_tells_nobody_twice():
    store = MemoryAlertStore()
    old, new = alerting(store), alerting(store)
    new.observe(readings("other", [False]))  # the new owner started before the take-over
    old.observe(readings("press", [True, True, True]))
    assert [item.kind for item in store.notifications()] == ["opened"]

    assert new.adopt(lambda meter: meter == "press") == 1
    later = START + timedelta(seconds=10)
    new.observe(readings("press", [True, True, False, False], start=later))
    kinds = [item.kind for item in store.notifications()]
    assert sorted(kinds) == ["opened", "resolved"]
    [alert] = store.alerts()
    assert not alert.alert.is_open


def test_without_adopting_the_new_owner_would_open_a_second_alert():
    # The bug adopt prevents: a fresh engine sees the incident's readings as a new one.
    store = MemoryAlertStore()
    old, new = alerting(store), alerting(store)
    new.observe(readings("other", [False]))
    old.observe(readings("press", [True, True, True]))
    new.observe(readings("press", [True, True], start=START + timedelta(seconds=10)))
    assert [item.kind for item in store.notifications()] == ["opened", "opened"]


def test_a_released_meter_is_not_called_silent_by_its_former_owner():
    clock = ManualClock(START)
    rules = AlertRules(
        incidents=IncidentRule(open_after=2, close_after=2),
        silent=SilentMeterRule(multiple=None, after=timedelta(seconds=30)),
    )
    old = alerting(clock=clock, rules=rules)
    old.observe(readings("press", [False, False]) + readings("kiln", [False, False]))
    old.release(lambda meter: meter == "press")
    clock.advance(timedelta(minutes=5))
    events = old.check()
    assert [event.alert.meter_id for event in events] == ["kiln"]


def test_release_keeps_the_stored_alert_open_for_the_next_owner():
    store = MemoryAlertStore()
    old = alerting(store)
    old.observe(readings("press", [True, True]))
    old.release(lambda meter: True)
    old.observe(readings("press", [False, False, False], start=START + timedelta(seconds=5)))
    [alert] = store.alerts()
    assert alert.alert.is_open  # the released engine did not resolve what it forgot
