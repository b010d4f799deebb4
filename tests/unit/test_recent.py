"""The in-memory context of each meter (``energy_core.detection.context``) stays true to storage."""

from __future__ import annotations

import random
from datetime import timedelta

import numpy as np
import pytest

from energy_adapters.memory import MemoryReadingRepository
from energy_core import Reading, ReadingFilter, Simulator, feature_matrix
from energy_core.detection.context import RecentReadings
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from tests.strategies import BASE

ROWS = 12
FEATURES = ("voltage", "current", "frequency")


def from_storage(repository, batch: list[Reading], rows: int = ROWS) -> dict[str, np.ndarray]:
    """What the context is without the cache: each meter's newest stored readings before
    its first one in the batch."""
    first: dict[str, object] = {}
    for reading in batch:
        first[reading.meter_id] = min(
            first.get(reading.meter_id, reading.timestamp), reading.timestamp
        )
    return {
        meter: feature_matrix(
            reversed(repository.latest(rows, ReadingFilter(end=moment, meter_ids=(meter,)))),
            FEATURES,
        )
        for meter, moment in first.items()
    }


def assert_same_context(got: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> None:
    assert got.keys() == expected.keys()
    for meter in expected:
        np.testing.assert_array_equal(got[meter], expected[meter].reshape(-1, len(FEATURES)))


@pytest.mark.parametrize("seed", range(6))
def test_the_context_equals_storages_with_other_writers_and_late_readings(seed):
    """Two writers share storage (another process: not told about each other's readings);
    some readings arrive late (older than what a meter already has). Each batch's context
    from the cache is exactly what storage answers."""
    rng = random.Random(seed)
    repository = MemoryReadingRepository()
    mine, theirs = RecentReadings(repository), RecentReadings(repository)
    simulator = Simulator(meters=6, seed=seed)
    moment = BASE
    for step in range(60):
        moment += timedelta(seconds=rng.choice([1, 2, 5]))
        batch = simulator.next_batch(rng.randint(1, 9), at=moment, interval=timedelta(seconds=4))
        if rng.random() < 0.15:  # late: readings from a minute ago
            batch = [
                Reading(reading.timestamp - timedelta(minutes=1), reading.meter_id, reading.values)
                for reading in batch
            ]
        writer = mine if step % 3 else theirs
        assert_same_context(writer.context(batch, ROWS, FEATURES), from_storage(repository, batch))
        writer.stored(repository.add_many(batch))


def test_alone_it_reads_storage_once_per_meter_and_then_only_asks_for_the_last_id():
    repository = MemoryReadingRepository()
    repository.add_many(Simulator(meters=3, seed=1).history(300, end=BASE))
    recent = RecentReadings(repository)
    simulator = Simulator(meters=3, seed=2)
    moment = BASE + timedelta(days=1)
    for step in range(30):
        batch = simulator.next_batch(6, at=moment + timedelta(seconds=step))
        expected = from_storage(repository, batch)
        assert_same_context(recent.context(batch, ROWS, FEATURES), expected)
        recent.stored(repository.add_many(batch))
    assert recent.reads == 3  # one per meter, the first time it was seen


def test_batches_stored_out_of_order_by_several_threads_are_all_kept():
    repository = MemoryReadingRepository()
    recent = RecentReadings(repository)
    simulator = Simulator(meters=2, seed=3)
    first = simulator.next_batch(4, at=BASE)
    recent.context(first, ROWS, FEATURES)  # both meters known from now on
    stored = [
        repository.add_many(simulator.next_batch(4, at=BASE + timedelta(seconds=step)))
        for step in range(1, 5)
    ]
    for batch in reversed(stored):  # the threads report in another order than they wrote
        recent.stored(batch)
    reads = recent.reads
    batch = simulator.next_batch(4, at=BASE + timedelta(seconds=10))
    assert_same_context(recent.context(batch, ROWS, FEATURES), from_storage(repository, batch))
    assert recent.reads == reads


def test_emptied_storage_is_noticed_and_the_context_starts_again():
    repository = MemoryReadingRepository()
    recent = RecentReadings(repository)
    simulator = Simulator(meters=2, seed=4)
    for step in range(5):
        batch = simulator.next_batch(4, at=BASE + timedelta(seconds=step))
        recent.context(batch, ROWS, FEATURES)
        recent.stored(repository.add_many(batch))
    repository.clear()  # by another process: nobody told this cache
    batch = simulator.next_batch(4, at=BASE + timedelta(seconds=9))
    context = recent.context(batch, ROWS, FEATURES)
    assert all(len(rows) == 0 for rows in context.values())


def test_a_meter_with_a_long_history_keeps_only_its_newest_readings():
    repository = MemoryReadingRepository()
    repository.add_many(Simulator(meters=1, seed=5).history(500, end=BASE))
    recent = RecentReadings(repository, slack=4)
    simulator = Simulator(meters=1, seed=6)
    for step in range(40):
        batch = simulator.next_batch(3, at=BASE + timedelta(days=1, seconds=step))
        assert_same_context(recent.context(batch, ROWS, FEATURES), from_storage(repository, batch))
        recent.stored(repository.add_many(batch))
    # A batch older than what is kept is answered by storage, as without the cache.
    old = [Reading(BASE - timedelta(hours=2), "meter-1", dict.fromkeys(VARIABLE_NAMES, 1.0))]
    assert_same_context(recent.context(old, ROWS, FEATURES), from_storage(repository, old))
