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


class CountingQueries:
    """A repository that counts the readings ``since`` returns."""

    def __init__(self, repository: MemoryReadingRepository) -> None:
        self.repository = repository
        self.returned = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.repository, name)

    def since(self, last_id: int, limit: int = 10_000, meter_ids=None) -> list[Reading]:
        found = self.repository.since(last_id, limit, meter_ids)
        self.returned += len(found)
        return found


@pytest.mark.parametrize("filter_meters", [0, 2_000])
def test_what_another_process_stores_for_its_own_meters_is_not_read_back(filter_meters):
    # Two ingest processes, each with its own clients' meters: each reads back what the
    # other stored only for the meters it keeps (none here), and the context stays true;
    # past ``filter_meters`` tails it reads everything, as it did before.
    repository = MemoryReadingRepository()
    counted = CountingQueries(repository)
    mine, theirs = RecentReadings(counted, filter_meters=filter_meters), RecentReadings(repository)
    my_meters = Simulator(meters=4, seed=7, meter_prefix="mine")
    their_meters = Simulator(meters=4, seed=8, meter_prefix="theirs")
    for step in range(20):
        at = BASE + timedelta(seconds=step)
        ours, others = my_meters.next_batch(4, at=at), their_meters.next_batch(4, at=at)
        assert_same_context(mine.context(ours, ROWS, FEATURES), from_storage(repository, ours))
        mine.stored(repository.add_many(ours))
        theirs.context(others, ROWS, FEATURES)
        theirs.stored(repository.add_many(others))
    if filter_meters:
        assert counted.returned == 0
    else:
        assert counted.returned == 19 * 4  # every batch of theirs but the last


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
