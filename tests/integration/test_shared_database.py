"""Several processes on one database: concurrent ingest with retention, a model trained in
one process and used in another, and every change heard by a third."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import timedelta

import pytest

from energy_adapters.postgres import connect
from energy_core import ChangeEvent, Monitor, MonitorSettings, Simulator, feature_matrix
from tests.postgres_support import bookkeeping_errors
from tests.strategies import BASE

pytestmark = pytest.mark.postgres

BATCHES = 12
BATCH_SIZE = 400
KEEP = 5_000


def ingest_in_another_process(url: str, meter_prefix: str, seed: int, train: bool) -> None:
    """A whole application process: connect (migrating, as at every start), ingest with
    retention, and optionally train a model."""
    with connect(url) as stores:
        monitor = Monitor(
            readings=stores.readings,
            queries=stores.queries,
            metrics=stores.metrics,
            models=stores.models,
            feed=stores.feed,
            settings=MonitorSettings(max_readings=KEEP),
        )
        simulator = Simulator(meters=2, seed=seed, meter_prefix=meter_prefix)
        for index in range(BATCHES):
            at = BASE + timedelta(seconds=10 * index)
            monitor.ingest(simulator.next_batch(BATCH_SIZE, at=at, interval=timedelta(seconds=10)))
        if train:
            monitor.train()


def test_two_processes_ingest_into_one_database_while_a_third_listens(pg_stores, pg_database_url):
    events: list[ChangeEvent] = []
    lock = threading.Lock()

    def listen(event: ChangeEvent) -> None:
        with lock:
            events.append(event)

    pg_stores.feed.subscribe(listen)
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(target=ingest_in_another_process, args=(pg_database_url, "a", 1, True)),
        context.Process(target=ingest_in_another_process, args=(pg_database_url, "b", 2, False)),
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
    assert [writer.exitcode for writer in writers] == [0, 0]

    written = 2 * BATCHES * BATCH_SIZE
    assert pg_stores.queries.count() == KEEP < written
    assert bookkeeping_errors(pg_stores.engine) == []
    assert pg_stores.queries.meters() == ["a-01", "a-02", "b-01", "b-02"]

    assert pg_stores.feed.sync()
    with lock:
        received = list(events)
    readings_events = [event for event in received if event.topic == "readings"]
    assert len(readings_events) == 2 * BATCHES
    assert sum(event.count for event in readings_events) == written
    assert max(event.last_id or 0 for event in readings_events) == pg_stores.queries.last_id()
    assert ChangeEvent("model", count=1, last_id=1) in received

    loaded = pg_stores.models.load()
    assert loaded is not None
    detector, info = loaded
    assert info.version == 1
    # What was stored when process "a" trained: up to one batch of "b" awaiting retention.
    assert 10 <= info.rows <= KEEP + BATCH_SIZE
    assert len(detector.score(feature_matrix(pg_stores.queries.latest(5), info.features))) == 5
