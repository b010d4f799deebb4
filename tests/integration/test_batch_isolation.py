"""A batch can only fail itself: concurrent batches share a transaction (group commit), and
one that PostgreSQL refuses for its content must not take the others down with it."""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from energy_core import Simulator
from energy_core.ports import BatchRefusedError, IdempotencyConflictError
from tests.postgres_support import bookkeeping_errors
from tests.strategies import BASE

pytestmark = pytest.mark.postgres

_WRITERS_LOCK = "SELECT pg_advisory_lock(hashtextextended('smartenergy.registros.ids', 0))"
_WRITERS_UNLOCK = "SELECT pg_advisory_unlock(hashtextextended('smartenergy.registros.ids', 0))"


def _batches(count: int, size: int) -> list[list]:
    simulator = Simulator(meters=2, seed=11)
    return [
        simulator.next_batch(size, at=BASE + timedelta(minutes=index)) for index in range(count)
    ]


def _poisoned(batch: list) -> list:
    """``batch`` with a text PostgreSQL cannot store (NUL) in one reading: validation
    refuses it, but the repository must survive being handed one anyway."""
    return [*batch[:-1], dataclasses.replace(batch[-1], anomaly_kind="bad\x00text")]


def _run_as_one_group(repository, engine, batches, keys=None):
    """``add_many`` every batch from its own thread while writers are held back, so that
    they all queue up and are written by one group transaction; what each call returned
    or raised."""
    keys = keys or [None] * len(batches)
    outcomes: list[object] = [None] * len(batches)

    def write(position: int) -> None:
        try:
            outcomes[position] = repository.add_many(batches[position], key=keys[position])
        except Exception as error:
            outcomes[position] = error

    with engine.connect() as holder:
        holder.execute(text(_WRITERS_LOCK))
        threads = [threading.Thread(target=write, args=(i,)) for i in range(len(batches))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        # Wait until one writer is blocked on the lock and the others queue behind it.
        while time.monotonic() < deadline:
            if repository._group_commit.waiting() == len(batches) - 1:
                break
            time.sleep(0.01)
        holder.execute(text(_WRITERS_UNLOCK))
        holder.commit()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_a_batch_postgres_refuses_fails_alone_and_the_rest_of_its_group_is_stored(pg_stores):
    repository = pg_stores.readings
    good = _batches(6, 20)
    poisoned = _poisoned(_batches(1, 20)[0])
    # The first one is written alone (it takes the lock first); the rest share a group.
    outcomes = _run_as_one_group(repository, pg_stores.engine, [*good[:3], poisoned, *good[3:]])

    refused = outcomes[3]
    assert isinstance(refused, BatchRefusedError)
    assert "NUL" in str(refused) or "\\x00" in str(refused)
    assert "COPY" not in str(refused) and "psycopg2" not in str(refused)
    stored = [outcome for position, outcome in enumerate(outcomes) if position != 3]
    assert all(isinstance(outcome, list) and len(outcome) == 20 for outcome in stored)
    assert pg_stores.queries.count() == 6 * 20
    assert bookkeeping_errors(pg_stores.engine) == []


def test_a_refused_batch_alone_is_a_batch_refused_error_without_database_text(pg_stores):
    repository = pg_stores.readings
    with pytest.raises(BatchRefusedError) as raised:
        repository.add_many(_poisoned(_batches(1, 5)[0]))
    assert "registros" not in str(raised.value)
    assert pg_stores.queries.count() == 0
    # The repository works on afterwards.
    assert len(repository.add_many(_batches(1, 5)[0])) == 5


def test_a_key_reused_with_other_readings_is_refused_and_stores_nothing(pg_stores):
    repository = pg_stores.readings
    first, second = _batches(2, 10)
    stored = repository.add_many(first, key="gateway-1:batch-7")
    with pytest.raises(IdempotencyConflictError):
        repository.add_many(second, key="gateway-1:batch-7")
    assert pg_stores.queries.count() == 10
    # The same readings under the same key: the original answer.
    again = repository.add_many(first, key="gateway-1:batch-7")
    assert [reading.id for reading in again] == [reading.id for reading in stored]


def test_inside_one_group_each_key_records_its_own_batch(pg_stores):
    repository = pg_stores.readings
    batches = _batches(5, 7)
    keys = [f"k{index}" for index in range(5)]
    outcomes = _run_as_one_group(repository, pg_stores.engine, batches, keys)
    for batch, outcome in zip(batches, outcomes, strict=True):
        assert [r.timestamp for r in outcome] == [r.timestamp for r in batch]
    # A retry of each key answers with that key's own readings, never another's.
    for key, batch, outcome in zip(keys, batches, outcomes, strict=True):
        retried = repository.add_many(batch, key=key)
        assert [r.id for r in retried] == [r.id for r in outcome]
        assert [r.meter_id for r in retried] == [r.meter_id for r in batch]
    assert pg_stores.queries.count() == 5 * 7
