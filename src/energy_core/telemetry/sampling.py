"""Which ranks an even sample of ``total`` ordered readings picks: every store's ``sample``.

With ``limit`` picks out of ``total`` (ranks ``0 … total - 1``), pick ``i`` is the rank
``i * (total - 1) / (limit - 1)`` rounded half up, for ``i = 0 … limit - 1``: the first and
the last rank are always picked, and neighbouring picks are ``⌊g⌋`` or ``⌈g⌉`` apart, ``g``
being ``(total - 1) / (limit - 1)``. All in integers, so that a database computing the same
formula in SQL picks exactly the same ranks. When ``total <= limit`` every rank is picked;
``limit == 1`` picks the first.
"""

from __future__ import annotations


def picked_rank(pick: int, total: int, limit: int) -> int:
    """The rank of pick number ``pick`` (``0 <= pick < limit``) when ``total > limit >= 2``."""
    steps = limit - 1
    return (2 * pick * (total - 1) + steps) // (2 * steps)


def first_pick_from(rank: int, total: int, limit: int) -> int:
    """The first pick whose rank is ``rank`` or later (``limit`` when there is none), when
    ``total > limit >= 2``: the inverse of ``picked_rank``, so that a range of ranks
    ``[low, high)`` holds exactly picks ``first_pick_from(low) … first_pick_from(high) - 1``.

    ``picked_rank(i) >= rank`` ⇔ ``2 i (total - 1) + steps >= 2 steps rank`` ⇔ ``i >=
    (2 steps rank - steps) / (2 (total - 1))``: the ceiling of that (never negative, since
    ``steps < total - 1``).
    """
    steps = limit - 1
    gaps = 2 * (total - 1)
    return min((2 * steps * rank - steps + gaps - 1) // gaps, limit)


def sample_ranks(total: int, limit: int) -> list[int]:
    """The ranks an even sample of at most ``limit`` out of ``total`` picks, ascending."""
    if limit <= 0 or total <= 0:
        return []
    if total <= limit:
        return list(range(total))
    if limit == 1:
        return [0]
    return [picked_rank(pick, total, limit) for pick in range(limit)]
