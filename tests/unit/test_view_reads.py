"""What ``load_view`` reads of the flagged readings: the most recent ones (up to
``MAX_SAMPLING``) and how many the view holds, counted past that cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, Simulator
from energy_ui.dashboard.filters import MAX_SAMPLING, Filters
from energy_ui.dashboard.queries import load_view

END = datetime(2025, 3, 1, tzinfo=UTC)


def monitor_over(store: MemoryReadingRepository, readings: int, *, flag_every: int) -> Monitor:
    history = Simulator(meters=2, seed=3).history(readings, end=END, cadence=timedelta(seconds=5))
    store.add_many(
        [reading.scored(0.5, index % flag_every == 0) for index, reading in enumerate(history)]
    )
    return Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(END),
    )


def test_the_flagged_readings_and_their_count():
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
