"""Writers, retention and rescoring at once on the same minutes: no deadlock, nothing
miscounted (locks are taken in one order everywhere, see energy_adapters.postgres.rollups)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

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
            recent = repository.window(ReadingFilter(), limit=400)
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
    assert repository.count() == 1_000
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
            for reading in repository.since(last):
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
