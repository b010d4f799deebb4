from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core import Simulator
from energy_core.buffer import RetryBuffer
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
    assert buffer.flush(stored.extend, (AwayError,)) == len(stored)
    assert stored == offered[len(offered) - len(stored) :]
    assert buffer.dropped == len(offered) - len(stored)
    assert buffer.pending == 0


def test_a_failing_store_keeps_everything_queued_in_order():
    buffer = RetryBuffer(1000)
    buffer.add(READINGS[:5])
    buffer.add(READINGS[5:8])
    calls = []

    def away(batch):
        calls.append(len(batch))
        raise AwayError

    assert buffer.flush(away, (AwayError,)) == 0
    assert buffer.pending == 8 and calls == [5]
    stored: list = []
    assert buffer.flush(stored.extend, (AwayError,)) == 8
    assert stored == READINGS[:8]


def test_other_errors_are_not_swallowed():
    buffer = RetryBuffer(10)
    buffer.add(READINGS[:2])

    def broken(batch):
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        buffer.flush(broken, (AwayError,))
    assert buffer.pending == 2
