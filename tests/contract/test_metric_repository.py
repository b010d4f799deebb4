from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np

from energy_core import analyse
from tests.strategies import BASE


def snapshot(percent_flagged: int, minutes: int = 0, **extra):
    flagged = np.array([True] * percent_flagged + [False] * (100 - percent_flagged))
    truth = np.array([True] * 10 + [False] * 90)
    return analyse(
        flagged,
        computed_at=BASE + timedelta(minutes=minutes),
        truth=truth,
        window=(BASE - timedelta(hours=1), BASE),
        model_version=3,
        **extra,
    )


def test_add_assigns_ids_and_latest_is_newest_first(stores):
    first = stores.metrics.add(snapshot(4))
    second = stores.metrics.add(snapshot(20, minutes=5, previous=first))
    assert first.id is not None and second.id is not None and second.id > first.id
    assert stores.metrics.latest(2) == [second, first]
    assert stores.metrics.latest(1) == [second]


def test_every_field_survives_a_round_trip(stores):
    original = snapshot(12)
    stored = stores.metrics.add(original)
    assert replace(stored, id=None) == original


def test_snapshot_without_ground_truth_or_window(stores):
    bare = analyse(np.array([True, False]), computed_at=BASE)
    assert replace(stores.metrics.add(bare), id=None) == bare


def test_clear_and_empty(stores):
    assert stores.metrics.latest(1) == []
    stores.metrics.add(snapshot(1))
    stores.metrics.clear()
    assert stores.metrics.latest(5) == []
