"""COPY ingest with retention at every batch, rescoring and age retention: the counts and
per-minute rollups the repository maintains stay equal to a fresh count of the raw rows."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from energy_core import ReadingFilter, Simulator
from energy_core.ports import BatchRefusedError
from tests.postgres_support import bookkeeping_errors
from tests.strategies import BASE

pytestmark = pytest.mark.postgres


def test_50k_readings_in_batches_with_retention_keep_counts_and_rollups_true(pg_stores):
    repository = pg_stores.readings
    # A 7-second cadence, so retention's cut falls inside minutes, not on their edges.
    history = Simulator(meters=5, seed=11, anomaly_ratio=0.03).history(
        50_000, end=BASE, cadence=timedelta(seconds=7)
    )
    readings = [
        reading.scored(0.5, index % 13 == 0, ("voltage",) if index % 13 == 0 else ())
        for index, reading in enumerate(history)
    ]
    keep = 12_000
    dropped = 0
    for start in range(0, len(readings), 5_000):
        stored = repository.add_many(readings[start : start + 5_000])
        assert len(stored) == 5_000
        dropped += repository.delete_oldest(keep)

    assert dropped == 50_000 - keep
    assert pg_stores.queries.count() == keep
    kept = pg_stores.queries.window(ReadingFilter())
    assert [(r.timestamp, r.meter_id) for r in kept] == [
        (r.timestamp, r.meter_id) for r in readings[-keep:]
    ]
    assert bookkeeping_errors(pg_stores.engine) == []
    flagged = sum(1 for reading in readings[-keep:] if reading.is_flagged)
    assert pg_stores.queries.count(ReadingFilter(state="anomalous")) == flagged

    # Rescoring flips flags both ways; the flagged counts follow.
    rescored = [reading.scored(0.9, not reading.is_flagged, ("current",)) for reading in kept[::7]]
    repository.update_scores(rescored)
    assert bookkeeping_errors(pg_stores.engine) == []
    flipped = sum(1 for reading in rescored if reading.is_flagged) - sum(
        1 for reading in kept[::7] if reading.is_flagged
    )
    assert pg_stores.queries.count(ReadingFilter(state="anomalous")) == flagged + flipped

    # Retention by age cuts inside a minute too.
    cutoff = kept[5_000].timestamp + timedelta(seconds=3)
    expected = sum(1 for reading in kept if reading.timestamp < cutoff)
    assert repository.delete_before(cutoff) == expected
    assert pg_stores.queries.count() == keep - expected
    assert pg_stores.queries.time_range()[0] >= cutoff
    assert bookkeeping_errors(pg_stores.engine) == []


def test_deleting_everything_leaves_no_meters_and_no_rollups(pg_stores):
    repository = pg_stores.readings
    repository.add_many(Simulator(meters=2, seed=3).history(500, end=BASE))
    assert repository.delete_oldest(0) == 500
    assert pg_stores.queries.count() == 0
    assert pg_stores.queries.meters() == []
    assert pg_stores.queries.downsample("current", ReadingFilter(), 10) == []
    assert bookkeeping_errors(pg_stores.engine) == []


@pytest.mark.parametrize("over", [-1, 0, 1, 2])
def test_delete_oldest_keeps_exactly_the_limit_even_one_reading_over_it(pg_stores, over):
    """The fast path that answers "nothing to delete" from the counters must not let the
    store sit one reading over its hard limit."""
    repository = pg_stores.readings
    keep = 40
    stored = repository.add_many(Simulator(meters=2, seed=8).history(keep + over, end=BASE))
    assert repository.delete_oldest(keep) == max(over, 0)
    assert pg_stores.queries.count() == min(keep, keep + over)
    kept = pg_stores.queries.window(ReadingFilter())
    assert [reading.id for reading in kept] == [reading.id for reading in stored[max(over, 0) :]]
    assert bookkeeping_errors(pg_stores.engine) == []


def test_ids_keep_increasing_after_clear_so_live_readers_miss_nothing(pg_stores):
    repository = pg_stores.readings
    first = repository.add_many(Simulator(seed=1).history(10, end=BASE))
    repository.clear()
    assert pg_stores.queries.since(0) == []
    second = repository.add_many(Simulator(seed=2).history(10, end=BASE))
    assert second[0].id > first[-1].id
    assert pg_stores.queries.since(first[-1].id) == second


def test_counts_and_wide_downsampling_read_the_maintained_tables_not_raw_rows(pg_stores):
    repository = pg_stores.readings
    repository.add_many(Simulator(meters=2, seed=4).history(2_000, end=BASE))
    honest = pg_stores.queries.downsample("voltage", ReadingFilter(), 50)
    # Tamper with the maintained tables only: answers that change were read from them.
    with pg_stores.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE registros_por_minuto SET voltage_max = 999.5")
        connection.exec_driver_sql("UPDATE registros_contadores SET readings = readings + 1")
    tampered = pg_stores.queries.downsample("voltage", ReadingFilter(), 50)
    assert [bucket.maximum for bucket in tampered] == [999.5] * len(honest)
    assert pg_stores.queries.count() == 2_002
    # A state filter cannot be answered from rollups: raw rows, untouched by the tampering.
    normal = pg_stores.queries.downsample("voltage", ReadingFilter(state="normal"), 50)
    assert max(bucket.maximum for bucket in normal) == max(b.maximum for b in honest)


def test_a_batch_the_database_refuses_stores_nothing_and_leaves_the_books_true(pg_stores):
    repository = pg_stores.readings
    good = Simulator(meters=2, seed=6).history(200, end=BASE)
    repository.add_many(good[:100])
    # PostgreSQL text cannot hold NUL: the COPY fails at the last row of the batch.
    broken = [*good[100:], replace(good[-1], meter_id="meter\x00-01")]
    with pytest.raises(BatchRefusedError, match=r"reading 100, field meter_id"):
        repository.add_many(broken)
    assert pg_stores.queries.count() == 100
    assert bookkeeping_errors(pg_stores.engine) == []
    assert len(repository.add_many(good[100:])) == 100
    assert pg_stores.queries.count() == 200


def test_readings_with_different_variables_keep_the_per_variable_rollups_true(pg_stores):
    """Meters that send different subsets (motor meters, plugs, a reading now and then
    without its voltage), in batches that share minutes, retention cutting inside minutes
    and rescoring: every variable's min, max, sum and count per minute equal a fresh
    aggregate of the raw rows (NULLs left out)."""
    repository = pg_stores.readings
    history = Simulator(meters=2, plugs=2, seed=12, anomaly_ratio=0.03).history(
        6_000, end=BASE, cadence=timedelta(seconds=7)
    )
    readings = [
        replace(r, values={k: v for k, v in r.values.items() if k != "voltage"})
        if index % 5 == 0
        else r
        for index, r in enumerate(history)
    ]
    for start in range(0, len(readings), 700):  # batch edges inside minutes
        repository.add_many(readings[start : start + 700])
        repository.delete_oldest(4_000)
    assert bookkeeping_errors(pg_stores.engine) == []
    kept = pg_stores.queries.window(ReadingFilter())
    assert [dict(r.values) for r in kept] == [dict(r.values) for r in readings[-4_000:]]
    repository.update_scores([r.scored(0.9, True, ("current",)) for r in kept[::3]])
    repository.delete_before(kept[1_000].timestamp + timedelta(seconds=3))
    assert bookkeeping_errors(pg_stores.engine) == []
