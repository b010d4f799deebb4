"""Writers, retention and rescoring at once on the same minutes: no deadlock, nothing
miscounted (locks are taken in one order everywhere, see energy_adapters.postgres.rollups)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from energy_adapters.postgres import DatabaseUnavailableError
from energy_core import ReadingFilter, Simulator
from tests.postgres_support import bookkeeping_errors
from tests.strategies import BASE

pytestmark = pytest.mark.postgres

ROUNDS = 25


def test_ingest_retention_and_rescoring_in_parallel_keep_the_books_true(pg_stores):
    repository = pg_stores.readings
    failures: list[BaseException] = []
    start = threading.Barrier(3)

    def guarded(work):
        def run() -> None:
            try:
                start.wait()
                work()
            except BaseException as error:
                failures.append(error)

        return threading.Thread(target=run)

    def writer(prefix: str, seed: int, keep: int | None):
        def work() -> None:
            simulator = Simulator(meters=2, seed=seed, meter_prefix=prefix)
            for index in range(ROUNDS):
                at = BASE + timedelta(seconds=5 * index)
                repository.add_many(simulator.next_batch(120, at=at, interval=timedelta(seconds=5)))
                if keep is not None:
                    repository.delete_oldest(keep)

        return work

    def rescorer() -> None:
        for index in range(ROUNDS):
            recent = pg_stores.queries.window(ReadingFilter(), limit=400)
            repository.update_scores(
                [reading.scored(0.5, (reading.id or 0) % 3 == index % 3) for reading in recent]
            )

    threads = [
        guarded(writer("a", 1, None)),
        guarded(writer("b", 2, 1_000)),
        guarded(rescorer),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    assert pg_stores.queries.count() == 1_000
    assert bookkeeping_errors(pg_stores.engine) == []


def test_a_reader_following_since_sees_every_reading_of_concurrent_writers(pg_stores):
    repository = pg_stores.readings
    done = threading.Event()
    written: list[int] = []
    seen: list[int] = []
    lock = threading.Lock()

    def writer(prefix: str, seed: int) -> None:
        simulator = Simulator(meters=2, seed=seed, meter_prefix=prefix)
        for index in range(ROUNDS):
            batch = simulator.next_batch(50, at=BASE + timedelta(seconds=index))
            stored = repository.add_many(batch)
            with lock:
                written.extend(reading.id for reading in stored)

    def reader() -> None:
        last = 0
        while True:
            finished = done.is_set()
            for reading in pg_stores.queries.since(last):
                seen.append(reading.id)
                last = reading.id
            if finished:
                return

    threads = [threading.Thread(target=writer, args=(p, s)) for p, s in (("a", 1), ("b", 2))]
    follower = threading.Thread(target=reader)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    follower.join(timeout=60)
    assert sorted(seen) == sorted(written)
    assert seen == sorted(seen)


def _hold_the_writers_lock(engine):
    """A connection holding, in its transaction, the lock every writer takes from id
    reservation to commit; closing it rolls back and releases the lock."""
    connection = engine.connect()
    connection.begin()
    connection.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended('smartenergy.registros.ids', 0))")
    )
    return connection


def _wait_until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_concurrent_batches_share_a_transaction_each_caller_gets_its_own(pg_stores, monkeypatch):
    repository = pg_stores.readings
    transactions: list[int] = []
    write = repository._group_commit._write

    def counted(group):
        transactions.append(len(group))
        return write(group)

    monkeypatch.setattr(repository._group_commit, "_write", counted)
    events = []
    pg_stores.feed.subscribe(events.append)
    batches = [
        Simulator(meters=1, seed=seed, meter_prefix=f"g{seed}").next_batch(10 + seed, at=BASE)
        for seed in range(6)
    ]
    results: dict[int, list] = {}

    def store(index: int) -> None:
        results[index] = repository.add_many(batches[index])

    holder = _hold_the_writers_lock(pg_stores.engine)
    try:
        first = threading.Thread(target=store, args=(0,))
        first.start()
        _wait_until(lambda: transactions == [1])  # the first writer waits for the lock
        others = [threading.Thread(target=store, args=(index,)) for index in range(1, 6)]
        for thread in others:
            thread.start()
        _wait_until(lambda: repository._group_commit.waiting() == 5)
    finally:
        holder.close()
    for thread in [first, *others]:
        thread.join(timeout=60)

    assert transactions == [1, 5]  # the five that queued meanwhile went in one transaction
    for index, batch in enumerate(batches):
        stored = results[index]
        assert [(r.meter_id, r.timestamp) for r in stored] == [
            (r.meter_id, r.timestamp) for r in batch
        ]
        ids = [r.id for r in stored]
        assert ids == list(range(ids[0], ids[0] + len(batch)))
    assert pg_stores.queries.count() == sum(len(batch) for batch in batches)
    assert bookkeeping_errors(pg_stores.engine) == []
    # The repository announces nothing: the use case that stored a batch does, once.
    assert pg_stores.feed.sync(timeout=15)
    assert events == []


def test_a_failed_group_fails_each_of_its_callers_and_stores_none_of_it(pg_stores, monkeypatch):
    repository = pg_stores.readings
    write = repository._group_commit._write
    calls: list[int] = []

    def failing_second(group):
        calls.append(len(group))
        if len(calls) == 2:
            raise DatabaseUnavailableError("the server went away")
        return write(group)

    monkeypatch.setattr(repository._group_commit, "_write", failing_second)
    outcomes: dict[int, object] = {}

    def store(index: int) -> None:
        batch = Simulator(meters=1, seed=index, meter_prefix=f"f{index}").next_batch(5, at=BASE)
        try:
            outcomes[index] = len(repository.add_many(batch))
        except DatabaseUnavailableError as error:
            outcomes[index] = error

    holder = _hold_the_writers_lock(pg_stores.engine)
    try:
        first = threading.Thread(target=store, args=(0,))
        first.start()
        _wait_until(lambda: calls == [1])
        others = [threading.Thread(target=store, args=(index,)) for index in range(1, 4)]
        for thread in others:
            thread.start()
        _wait_until(lambda: repository._group_commit.waiting() == 3)
    finally:
        holder.close()
    for thread in [first, *others]:
        thread.join(timeout=60)

    assert outcomes[0] == 5
    assert all(isinstance(outcomes[index], DatabaseUnavailableError) for index in (1, 2, 3))
    assert pg_stores.queries.count() == 5
    # The next call is written normally.
    later = Simulator(meters=1, seed=9, meter_prefix="later").next_batch(3, at=BASE)
    assert len(repository.add_many(later)) == 3
    assert bookkeeping_errors(pg_stores.engine) == []


def test_the_same_key_from_two_threads_at_once_is_stored_once(pg_stores):
    """Two attempts of one batch in flight at the same time (a retry racing the first
    try): one stores it, the other gets the same readings back."""
    repository = pg_stores.readings
    batch = Simulator(meters=2, seed=7, meter_prefix="twice").next_batch(6, at=BASE)
    results: list[list] = []
    start = threading.Barrier(4)

    def store() -> None:
        start.wait()
        results.append(repository.add_many(batch, key="the-same-batch"))

    threads = [threading.Thread(target=store) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 4
    assert all(result == results[0] for result in results)
    assert pg_stores.queries.count() == 6
    assert bookkeeping_errors(pg_stores.engine) == []
