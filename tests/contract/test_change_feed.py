from __future__ import annotations

import threading

from energy_core import ChangeEvent


def test_subscribers_receive_published_events_until_they_unsubscribe(stores):
    received: list[ChangeEvent] = []
    arrived = threading.Event()

    def listener(event: ChangeEvent) -> None:
        received.append(event)
        arrived.set()

    unsubscribe = stores.feed.subscribe(listener)
    stores.feed.publish(ChangeEvent("readings", count=5, last_id=42))
    stores.settle()
    assert arrived.wait(5)
    assert received == [ChangeEvent("readings", count=5, last_id=42)]
    unsubscribe()
    stores.feed.publish(ChangeEvent("metrics", count=1, last_id=1))
    stores.settle()
    assert [event.topic for event in received] == ["readings"]


def test_a_failing_listener_does_not_stop_the_others(stores):
    received: list[ChangeEvent] = []
    done = threading.Event()

    def broken(event: ChangeEvent) -> None:
        raise RuntimeError("boom")

    def working(event: ChangeEvent) -> None:
        received.append(event)
        done.set()

    stores.feed.subscribe(broken)
    stores.feed.subscribe(working)
    stores.feed.publish(ChangeEvent("model", count=1, last_id=2))
    stores.settle()
    assert done.wait(5)
    assert received[0].topic == "model"
