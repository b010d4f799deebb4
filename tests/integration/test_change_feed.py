"""LISTEN/NOTIFY between connections: delivery, transactional announcements, no doubles."""

from __future__ import annotations

import threading

import pytest

from energy_adapters.memory import MemoryMetricRepository, MemoryModelStore
from energy_adapters.postgres import (
    PostgresChangeFeed,
    PostgresReadingQueries,
    PostgresReadingRepository,
    open_engine,
)
from energy_core import ChangeEvent, Monitor, MonitorSettings, Simulator
from energy_core.ports import BatchRefusedError
from tests.strategies import BASE

pytestmark = pytest.mark.postgres
# A bound on waiting for something that must happen, never a speed requirement: generous,
# so that a loaded machine cannot fail a test that only checks delivery.
WAIT_S = 30.0


class Inbox:
    """Collects events from the listener thread; ``wait_for`` blocks until ``n`` arrived."""

    def __init__(self) -> None:
        self.events: list[ChangeEvent] = []
        self._changed = threading.Condition()

    def __call__(self, event: ChangeEvent) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def wait_for(self, n: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: len(self.events) >= n, timeout)


@pytest.fixture
def other_engine(pg_database_url):
    """A second engine: connections that share nothing with the first but the server."""
    engine = open_engine(pg_database_url)
    yield engine
    engine.dispose()


def test_an_event_published_on_one_connection_arrives_on_another_once(pg_stores, other_engine):
    # How fast it arrives is measured in bench/, not asserted here: only that it does.
    inbox = Inbox()
    pg_stores.feed.subscribe(inbox)
    with PostgresChangeFeed(other_engine) as publisher:
        publisher.publish(ChangeEvent("metrics", count=1, last_id=7))
        assert inbox.wait_for(1, timeout=WAIT_S)
    assert pg_stores.feed.sync(timeout=WAIT_S)
    assert inbox.events == [ChangeEvent("metrics", count=1, last_id=7)]


def test_monitor_ingest_announces_each_batch_once_after_its_commit(pg_stores, other_engine):
    inbox = Inbox()
    pg_stores.feed.subscribe(inbox)
    # The writer is another "process": its own engine, feed and repository.
    with PostgresChangeFeed(other_engine) as writer_feed:
        monitor = Monitor(
            readings=PostgresReadingRepository(other_engine),
            queries=PostgresReadingQueries(other_engine),
            metrics=MemoryMetricRepository(),
            models=MemoryModelStore(),
            feed=writer_feed,
            settings=MonitorSettings(max_readings=None),
        )
        simulator = Simulator(meters=2, seed=9)
        reports = [monitor.ingest(simulator.next_batch(25, at=BASE)) for _ in range(4)]

        # A batch storage refuses is never announced.
        def refused(readings, **options):
            raise BatchRefusedError("batch refused: planted")

        monitor.readings.add_many = refused  # type: ignore[method-assign]
        with pytest.raises(BatchRefusedError):
            monitor.ingest(simulator.next_batch(3, at=BASE))
    assert pg_stores.feed.sync(timeout=WAIT_S)
    assert inbox.events == [
        ChangeEvent("readings", count=25, last_id=report.stored[-1].id) for report in reports
    ]
    # Each event names ids that a reader in another process can already see.
    for event in inbox.events:
        assert pg_stores.queries.since((event.last_id or 0) - 1)


def test_unsubscribed_listeners_and_closed_feeds_hear_nothing_more(pg_stores, other_engine):
    kept, dropped, witness = Inbox(), Inbox(), Inbox()
    pg_stores.feed.subscribe(kept)
    unsubscribe = pg_stores.feed.subscribe(dropped)
    unsubscribe()
    with PostgresChangeFeed(other_engine) as publisher:
        publisher.publish(ChangeEvent("model", count=1, last_id=1))
        assert kept.wait_for(1, timeout=WAIT_S)
        pg_stores.feed.close()
        assert not pg_stores.feed.is_listening
        with PostgresChangeFeed(other_engine) as still_open:
            still_open.subscribe(witness)
            publisher.publish(ChangeEvent("model", count=1, last_id=2))
            # Once a feed that is still open heard it, the closed one would have too.
            assert witness.wait_for(1, timeout=WAIT_S)
    assert dropped.events == []
    assert kept.events == [ChangeEvent("model", count=1, last_id=1)]
