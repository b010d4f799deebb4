"""Downsampling and counting in PostgreSQL (from rollups, or raw rows when they cannot
answer) give exactly the buckets a raw-row computation gives: the memory adapter's; with
meters that send different subsets of the variables (a bucket none of whose readings carries
a variable: count 0, NaN values)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_adapters.memory import MemoryReadingRepository
from energy_adapters.postgres import (
    PostgresReadingQueries,
    PostgresReadingRepository,
    open_engine,
    upgrade,
)
from energy_core import ReadingFilter, Simulator
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.sampling import sample_ranks
from tests.postgres_support import scratch_database
from tests.strategies import BASE

pytestmark = pytest.mark.postgres

SPAN = timedelta(hours=6)


@pytest.fixture(scope="module")
def both(pg_server_url) -> Iterator[tuple[PostgresReadingQueries, MemoryReadingRepository]]:
    """The same readings in PostgreSQL and in memory (a database of this module's own): three
    motor meters and a plug, and every seventh reading without its voltage."""
    history = Simulator(meters=3, plugs=1, seed=8, anomaly_ratio=0.04).history(
        4 * 2_160, end=BASE, cadence=timedelta(seconds=10)
    )
    readings = [
        reading.scored(0.3, index % 9 == 0, ("frequency",) if index % 9 == 0 else ())
        for index, reading in enumerate(history)
    ]
    readings = [
        replace(r, values={k: v for k, v in r.values.items() if k != "voltage"})
        if index % 7 == 0
        else r
        for index, r in enumerate(readings)
    ]
    with scratch_database(pg_server_url, prefix="smartenergy_downsample") as url:
        upgrade(url)
        engine = open_engine(url)
        PostgresReadingRepository(engine).add_many(readings)
        postgres = PostgresReadingQueries(engine)
        memory = MemoryReadingRepository()
        memory.add_many(readings)
        yield postgres, memory
        engine.dispose()


def comparable(buckets):
    def value(number: float) -> float | None:
        return None if math.isnan(number) else number  # NaN never equals NaN

    return [(b.start, b.count, value(b.minimum), value(b.maximum), b.flagged) for b in buckets]


offsets = st.integers(min_value=-600, max_value=int(SPAN.total_seconds()) + 600)
filters = st.builds(
    lambda start, length, meters, state, open_start, open_end: ReadingFilter(
        start=None if open_start else BASE - SPAN + timedelta(seconds=start),
        end=None if open_end else BASE - SPAN + timedelta(seconds=start + length),
        meter_ids=meters,
        state=state,
    ),
    start=offsets,
    length=st.integers(min_value=1, max_value=int(SPAN.total_seconds())),
    meters=st.sampled_from([(), ("meter-02",), ("meter-01", "meter-03"), ("plug-01",)]),
    state=st.sampled_from([None, None, "anomalous", "normal"]),
    open_start=st.booleans(),
    open_end=st.booleans(),
)


@given(
    where=filters,
    buckets=st.integers(min_value=2, max_value=2_000),
    name=st.sampled_from(VARIABLE_NAMES),
)
def test_downsample_matches_a_raw_row_computation(both, where, buckets, name):
    postgres, memory = both
    found = postgres.downsample(name, where, buckets)
    expected = memory.downsample(name, where, buckets)
    assert comparable(found) == comparable(expected)
    for got, want in zip(found, expected, strict=True):
        assert got.mean == pytest.approx(want.mean, rel=1e-12, nan_ok=True)


@given(where=filters)
def test_count_matches_a_raw_row_count(both, where):
    postgres, memory = both
    assert postgres.count(where) == memory.count(where)


def test_a_wide_window_is_answered_by_the_rollups_with_ragged_edges_from_raw_rows(both):
    postgres, memory = both
    # Bounds inside minutes: whole minutes come from rollups, the edges from raw rows.
    where = ReadingFilter(
        start=BASE - timedelta(hours=5, seconds=25), end=BASE - timedelta(seconds=35)
    )
    found = postgres.downsample("active_power", where, 100)
    assert len(found) > 50
    assert comparable(found) == comparable(memory.downsample("active_power", where, 100))
    assert postgres.count(where) == memory.count(where)


@given(where=filters, limit=st.integers(min_value=1, max_value=3_000))
def test_sample_picks_evenly_spaced_ranks_in_time_order(both, where, limit):
    postgres, memory = both
    matching = memory.window(where)
    rank = {(reading.timestamp, reading.meter_id): index for index, reading in enumerate(matching)}
    picked = [
        rank[(reading.timestamp, reading.meter_id)] for reading in postgres.sample(where, limit)
    ]
    assert len(picked) == min(limit, len(matching))
    assert picked == sorted(set(picked))
    if len(picked) >= 2:
        assert (picked[0], picked[-1]) == (0, len(matching) - 1)
        gaps = [later - earlier for earlier, later in pairwise(picked)]
        assert max(gaps) - min(gaps) <= 1
    # Exactly the ranks the memory adapter picks, whichever way PostgreSQL found them (the
    # rollups' per-minute counts, or every row ranked for a short window).
    assert picked == sample_ranks(len(matching), limit)
