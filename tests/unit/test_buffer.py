from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_adapters.memory import MemoryReadingRepository
from energy_core import Simulator
from energy_core.usecases.retry_buffer import RetryBuffer
from tests.strategies import BASE

READINGS = Simulator(seed=1).history(400, end=BASE)


class AwayError(Exception):
    pass


@given(
    limit=st.integers(1, 60),
    sizes=st.lists(st.integers(0, 25), max_size=12),
)
def test_the_buffer_keeps_at_most_its_limit_and_drops_the_oldest(limit, sizes):
    buffer = RetryBuffer(limit)
    offered = []
    position = 0
    for size in sizes:
        batch = READINGS[position : position + size]
        position += size
        offered.extend(batch)
        buffer.add(batch)
        assert buffer.pending <= limit
    stored: list = []
    assert buffer.flush(lambda batch, key: stored.extend(batch), (AwayError,)) == len(stored)
    assert stored == offered[len(offered) - len(stored) :]
    assert buffer.dropped == len(offered) - len(stored)
    assert buffer.pending == 0


def test_a_failing_store_keeps_everything_queued_in_order():
    buffer = RetryBuffer(1000)
    buffer.add(READINGS[:5])
    buffer.add(READINGS[5:8])
    calls = []

    def away(batch, key):
        calls.append(len(batch))
        raise AwayError

    assert buffer.flush(away, (AwayError,)) == 0
    assert buffer.pending == 8 and calls == [5]
    stored: list = []
    assert buffer.flush(lambda batch, key: stored.extend(batch), (AwayError,)) == 8
    assert stored == READINGS[:8]


def test_other_errors_are_not_swallowed():
    buffer = RetryBuffer(10)
    buffer.add(READINGS[:2])

    def broken(batch, key):
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        buffer.flush(broken, (AwayError,))
    assert buffer.pending == 2


def test_each_batch_keeps_its_key_from_attempt_to_attempt():
    buffer = RetryBuffer(100)
    buffer.add(READINGS[:3])
    buffer.add(READINGS[3:5])
    attempts: list[tuple[int, str]] = []

    def away(batch, key):
        attempts.append((len(batch), key))
        raise AwayError

    buffer.flush(away, (AwayError,))
    buffer.flush(away, (AwayError,))
    written: list[tuple[int, str]] = []
    buffer.flush(lambda batch, key: written.append((len(batch), key)), (AwayError,))
    assert attempts[0] == attempts[1] == written[0]
    assert written[0][1] != written[1][1]


def test_a_batch_committed_but_not_acknowledged_is_stored_once():
    """The store committed the batch and then failed (the answer was lost): the retry
    under the same key is recognised by the repository."""
    repository = MemoryReadingRepository()
    buffer = RetryBuffer(100)
    buffer.add(READINGS[:4])
    calls = 0

    def store_then_fail_once(batch, key):
        nonlocal calls
        calls += 1
        repository.add_many(batch, key=key)
        if calls == 1:
            raise AwayError

    assert buffer.flush(store_then_fail_once, (AwayError,)) == 0
    assert buffer.flush(store_then_fail_once, (AwayError,)) == 4
    assert repository.count() == 4 and buffer.pending == 0


def test_two_flushes_at_once_write_each_batch_once():
    buffer = RetryBuffer(1000)
    for start in range(0, 40, 4):
        buffer.add(READINGS[start : start + 4])
    written: list[str] = []
    lock = threading.Lock()

    def slow(batch, key):
        time.sleep(0.001)
        with lock:
            written.append(key)

    threads = [threading.Thread(target=buffer.flush, args=(slow, (AwayError,))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(written) == len(set(written)) == 10
