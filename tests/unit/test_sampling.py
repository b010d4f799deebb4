"""The ranks of an even sample (``energy_core.telemetry.sampling``): what every store's
``sample`` picks, here checked against exact fractions."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core.telemetry.sampling import first_pick_from, picked_rank, sample_ranks


def rounded_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


@given(
    total=st.integers(min_value=0, max_value=5_000), limit=st.integers(min_value=-1, max_value=600)
)
def test_ranks_are_evenly_spaced_first_and_last_included(total, limit):
    ranks = sample_ranks(total, limit)
    assert len(ranks) == max(0, min(total, limit))
    assert ranks == sorted(set(ranks))
    if limit >= total:
        assert ranks == list(range(total))
    elif limit >= 2:
        assert (ranks[0], ranks[-1]) == (0, total - 1)
        gaps = [later - earlier for earlier, later in pairwise(ranks)]
        assert max(gaps) - min(gaps) <= 1
        exact = [rounded_half_up(Fraction(i * (total - 1), limit - 1)) for i in range(limit)]
        assert ranks == exact
    elif limit == 1:
        assert ranks == [0]


@pytest.mark.parametrize(
    ("total", "limit", "expected"),
    [
        (5, 3, [0, 2, 4]),
        (4, 3, [0, 2, 3]),  # 1.5 rounds up
        (6, 3, [0, 3, 5]),  # 2.5 rounds up (not to the even 2)
        (10, 4, [0, 3, 6, 9]),
        (3, 5, [0, 1, 2]),
        (7, 1, [0]),
    ],
)
def test_known_samples(total, limit, expected):
    assert sample_ranks(total, limit) == expected


@given(data=st.data(), total=st.integers(min_value=3, max_value=3_000))
def test_first_pick_from_a_rank_inverts_the_picks(data, total):
    """Ranks [low, high) hold exactly picks first_pick_from(low) … first_pick_from(high) - 1:
    how a store finds the picks of one minute from the ranks before and through it."""
    limit = data.draw(st.integers(min_value=2, max_value=total - 1))
    low = data.draw(st.integers(min_value=0, max_value=total))
    high = data.draw(st.integers(min_value=low, max_value=total))
    inside = [i for i in range(limit) if low <= picked_rank(i, total, limit) < high]
    first, after = first_pick_from(low, total, limit), first_pick_from(high, total, limit)
    assert inside == list(range(first, after))


def test_first_pick_from_every_rank_of_small_samples():
    """Exhaustively for small sizes, where the ties of rounding (a pick exactly half-way
    between two ranks) are many: the first pick at or after each rank."""
    for total in range(3, 70):
        for limit in range(2, total):
            ranks = [picked_rank(i, total, limit) for i in range(limit)]
            for rank in range(total + 1):
                expected = next((i for i, r in enumerate(ranks) if r >= rank), limit)
                assert first_pick_from(rank, total, limit) == expected, (total, limit, rank)
