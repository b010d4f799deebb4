"""What ``load_view`` reads: the flagged readings, read on a thread of their own beside the
rest of the page, come back as they would one after the other, and a page that fails to
load leaves no read of its own running."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, ReadingFilter, Simulator
from energy_ui.dashboard.filters import MAX_SAMPLING, Filters
from energy_ui.dashboard.queries import load_view

END = datetime(2025, 3, 1, tzinfo=UTC)


def monitor_over(store: Any, readings: int, *, flag_every: int) -> Monitor:
    history = Simulator(meters=2, seed=3).history(readings, end=END, cadence=timedelta(seconds=5))
    MemoryReadingRepository.add_many(
        store.inner if isinstance(store, Failing) else store,
        [reading.scored(0.5, index % flag_every == 0) for index, reading in enumerate(history)],
    )
    return Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(END),
    )


def test_the_flagged_readings_and_their_count_as_read_one_after_the_other():
    store = MemoryReadingRepository()
    m = monitor_over(store, 600, flag_every=4)
    for filters in (Filters(), Filters(meters=("meter-02",)), Filters(state="anomalous")):
        view = load_view(m, filters)
        expected = store.latest(MAX_SAMPLING, m.readable(filters.anomalous_filter()))
        assert [r.id for r in view.flagged_readings] == [r.id for r in expected]
        assert view.flagged == len(expected) == store.count(filters.anomalous_filter())
        assert view.total == store.count(filters.reading_filter())
    normal = load_view(m, Filters(state="normal"))
    assert normal.flagged_readings == [] and normal.flagged == 0


def test_past_the_flagged_list_s_cap_the_count_is_counted():
    store = MemoryReadingRepository()
    m = monitor_over(store, MAX_SAMPLING + 400, flag_every=1)
    view = load_view(m, Filters())
    assert len(view.flagged_readings) == MAX_SAMPLING
    assert view.flagged == MAX_SAMPLING + 400


class Failing:
    """A memory store whose sample fails at once while its latest takes a while."""

    def __init__(self) -> None:
        self.inner = MemoryReadingRepository()
        self.latest_running = threading.Event()
        self.latest_done = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def latest(self, n: int, where: ReadingFilter | None = None) -> list[Any]:
        self.latest_running.set()
        time.sleep(0.3)
        try:
            return self.inner.latest(n, where)
        finally:
            self.latest_done.set()

    def sample(self, where: ReadingFilter, limit: int) -> list[Any]:
        self.latest_running.wait(5)
        raise ConnectionError("storage went away")


def test_a_page_that_fails_leaves_no_read_running():
    store = Failing()
    m = monitor_over(store, 100, flag_every=4)
    with pytest.raises(ConnectionError, match="went away"):
        load_view(m, Filters())
    assert store.latest_done.is_set()
