from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from energy_core import ReadingFilter, Simulator
from energy_core.ports import IdempotencyConflictError
from energy_core.telemetry.sampling import sample_ranks
from tests.strategies import BASE


def history(count=300, meters=3, seed=1):
    return Simulator(meters=meters, seed=seed, anomaly_ratio=0.05).history(count, end=BASE)


VIEWS = ("point", "stuck", "profile", "collective")


def flag_every_third(readings):
    """Every third reading flagged, by each view in turn (and by none, as a forest flags)."""
    return [
        reading.scored(
            0.1 * (index % 10),
            index % 3 == 0,
            ("voltage",) if index % 3 == 0 else (),
            (*VIEWS, None)[index // 3 % 5] if index % 3 == 0 else None,
        )
        for index, reading in enumerate(readings)
    ]


def test_add_many_assigns_increasing_ids_and_keeps_every_field(stores):
    readings = flag_every_third(history(30))
    stored = stores.readings.add_many(readings)
    ids = [reading.id for reading in stored]
    assert ids == sorted(ids) and len(set(ids)) == 30
    back = stores.queries.window(ReadingFilter())
    assert [replace(reading, id=None) for reading in back] == readings
    assert stores.queries.last_id() == ids[-1]


def test_a_batch_stored_under_a_key_is_not_stored_again(stores):
    """A writer that did not hear back retries under the same key: stored once, and the
    retry gets what the first attempt stored."""
    first = stores.readings.add_many(history(20), key="batch-1")
    again = stores.readings.add_many(history(20), key="batch-1")
    other = stores.readings.add_many(history(20, seed=2), key="batch-2")
    unkeyed = stores.readings.add_many(history(5, seed=3))
    assert again == first
    assert [reading.id for reading in other] != [reading.id for reading in first]
    assert stores.queries.count() == 20 + 20 + 5
    assert len(unkeyed) == 5
    # After retention took some of it, a retry answers with what is left.
    stores.readings.delete_oldest(10)
    left = {reading.id for reading in stores.queries.window(ReadingFilter())}
    assert [r.id for r in stores.readings.add_many(history(20), key="batch-1")] == [
        r.id for r in first if r.id in left
    ]
    assert stores.queries.count() == 10
    stores.readings.clear()  # keys go with the readings
    assert len(stores.readings.add_many(history(20), key="batch-1")) == 20


def test_a_key_offered_again_with_other_readings_is_refused(stores):
    """Reusing a key for a different batch is a caller's mistake: refused, nothing stored,
    and the first batch's readings are not handed back as if they were the new ones."""
    stores.readings.add_many(history(20), key="batch-1")
    with pytest.raises(IdempotencyConflictError, match="batch-1"):
        stores.readings.add_many(history(20, seed=2), key="batch-1")
    # The same readings scored differently are still the same batch (a retry after retraining).
    rescored = [reading.scored(0.9, True) for reading in history(20)]
    assert len(stores.readings.add_many(rescored, key="batch-1")) == 20
    assert stores.queries.count() == 20


def test_count_latest_and_time_range(stores):
    readings = history(90)
    stores.readings.add_many(readings)
    assert stores.queries.count() == 90
    latest = stores.queries.latest(5)
    assert [reading.timestamp for reading in latest] == sorted(
        (reading.timestamp for reading in readings), reverse=True
    )[:5]
    assert stores.queries.time_range() == (readings[0].timestamp, readings[-1].timestamp)
    assert stores.queries.meters() == ["meter-01", "meter-02", "meter-03"]


def test_empty_store_answers_without_error(stores):
    assert stores.queries.count() == 0
    assert stores.queries.latest(3) == []
    assert stores.queries.time_range() is None
    assert stores.queries.last_id() == 0
    assert stores.queries.downsample("voltage", ReadingFilter(), 10) == []
    assert stores.queries.since(0) == []


def test_window_filters_by_time_meter_and_state(stores):
    readings = flag_every_third(history(120))
    stores.readings.add_many(readings)
    start, end = readings[30].timestamp, readings[90].timestamp
    where = ReadingFilter(start=start, end=end, meter_ids=("meter-02",), state="anomalous")
    expected = [
        r
        for r in readings
        if start <= r.timestamp < end and r.meter_id == "meter-02" and r.is_flagged
    ]
    found = stores.queries.window(where)
    assert [(r.timestamp, r.meter_id) for r in found] == [
        (r.timestamp, r.meter_id) for r in expected
    ]
    assert stores.queries.count(where) == len(expected)
    normal = stores.queries.count(ReadingFilter(state="normal"))
    assert normal == sum(1 for r in readings if not r.is_flagged)


def test_window_limit_keeps_the_most_recent(stores):
    readings = history(50)
    stores.readings.add_many(readings)
    found = stores.queries.window(ReadingFilter(), limit=10)
    assert [r.timestamp for r in found] == [r.timestamp for r in readings[-10:]]


def test_sample_is_capped_spread_and_in_time_order(stores):
    readings = history(300)
    stores.readings.add_many(readings)
    sample = stores.queries.sample(ReadingFilter(), 50)
    assert len(sample) == 50
    times = [r.timestamp for r in sample]
    assert times == sorted(times)
    assert times[0] <= readings[10].timestamp and times[-1] >= readings[-10].timestamp
    assert len(stores.queries.sample(ReadingFilter(), 1000)) == 300


def crowded(seed=4):
    """Three meters every 7 s (not whole minutes) from 25 minutes before midnight to 12 after
    (two days), all three at each instant, and every 9th instant a second reading of
    meter-02 at the same instant: ties on the timestamp, broken by id; every third flagged."""
    readings = Simulator(meters=3, seed=seed, anomaly_ratio=0.05).history(
        960, end=BASE + timedelta(minutes=12), cadence=timedelta(seconds=7)
    )
    doubled = []
    for index, reading in enumerate(readings):
        doubled.append(reading)
        if reading.meter_id == "meter-02" and index % 27 == 1:
            doubled.append(replace(reading, values={**reading.values, "voltage": 1.0}))
    return flag_every_third(doubled)


SAMPLED_WINDOWS = {
    "everything": ReadingFilter(),
    # Edges inside minutes on both sides, across midnight.
    "mid-minute": ReadingFilter(
        start=BASE - timedelta(minutes=13, seconds=43), end=BASE + timedelta(minutes=9, seconds=19)
    ),
    "from mid-minute on": ReadingFilter(start=BASE - timedelta(minutes=2, seconds=5)),
    "until mid-minute": ReadingFilter(end=BASE - timedelta(minutes=20, seconds=31)),
    "two meters": ReadingFilter(meter_ids=("meter-02", "meter-03")),
    "one meter, mid-minute": ReadingFilter(
        start=BASE - timedelta(minutes=21, seconds=1),
        end=BASE + timedelta(minutes=3, seconds=30),
        meter_ids=("meter-02",),
    ),
    "flagged": ReadingFilter(state="anomalous"),
    "normal, mid-minute": ReadingFilter(
        start=BASE - timedelta(minutes=11, seconds=59),
        end=BASE + timedelta(seconds=1),
        state="normal",
    ),
    "within one minute": ReadingFilter(
        start=BASE - timedelta(minutes=5, seconds=-3), end=BASE - timedelta(minutes=4, seconds=7)
    ),
    "nobody": ReadingFilter(meter_ids=("nobody",)),
}


@pytest.mark.parametrize("name", sorted(SAMPLED_WINDOWS))
def test_sample_picks_exactly_the_evenly_spaced_ranks(stores, name):
    """``sample`` is the readings of ``window`` (time order, ties by id) at the ranks of
    ``sample_ranks``: first and last included, gaps differing by at most one; for limits
    below, at and above the matching count."""
    stores.readings.add_many(crowded())
    where = SAMPLED_WINDOWS[name]
    matching = [reading.id for reading in stores.queries.window(where)]
    assert (len(matching) == 0) == (name == "nobody")
    for limit in (1, 2, 3, 7, 10, 33, 100, 250, len(matching) - 1, len(matching), 5_000):
        ranks = sample_ranks(len(matching), limit)
        got = [reading.id for reading in stores.queries.sample(where, limit)]
        assert got == [matching[rank] for rank in ranks], (name, limit)
    assert stores.queries.sample(where, 0) == []


def test_sample_of_readings_sharing_one_instant(stores):
    """Many readings at the same instant (several meters, and one meter twice): ranked by
    id among themselves."""
    readings = [
        reading
        for step in range(3)
        for reading in Simulator(meters=4, seed=step).history(
            8, end=BASE + timedelta(seconds=30 * step)
        )
    ]
    stores.readings.add_many(readings + readings[:4])
    ids = [reading.id for reading in stores.queries.window(ReadingFilter())]
    for limit in (2, 5, 9, 27, 28):
        got = [reading.id for reading in stores.queries.sample(ReadingFilter(), limit)]
        assert got == [ids[rank] for rank in sample_ranks(len(ids), limit)]


def test_sample_at_the_ends_of_time(stores):
    """Readings in year 1 and in the last minute of year 9999 (a bound there has no next
    minute to round up to): sampled like any others."""
    edges = [
        datetime(1, 1, 1, tzinfo=UTC),
        datetime(1, 1, 1, 0, 0, 30, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    ]
    readings = [
        replace(reading, timestamp=moment)
        for reading, moment in zip(history(len(edges), meters=1), edges, strict=True)
    ]
    stores.readings.add_many(readings)
    every = stores.queries.sample(ReadingFilter(), 3)
    assert [r.timestamp for r in every] == [edges[0], edges[2], edges[4]]
    last_minute = ReadingFilter(start=datetime(9999, 12, 31, 23, 59, 0, 5, tzinfo=UTC))
    assert [r.timestamp for r in stores.queries.sample(last_minute, 2)] == edges[3:]


def test_since_returns_what_is_new_in_id_order(stores):
    first = stores.readings.add_many(history(10))
    second = stores.readings.add_many(history(5, seed=2))
    assert [r.id for r in stores.queries.since(first[-1].id)] == [r.id for r in second]
    assert len(stores.queries.since(0, limit=3)) == 3


def test_since_for_some_meters_returns_only_theirs_and_limits_what_it_returns(stores):
    stored = stores.readings.add_many(history(30, meters=3))
    meters = sorted({reading.meter_id for reading in stored})
    chosen = [meters[0], meters[2], "nobody"]
    theirs = [r.id for r in stored if r.meter_id in chosen]
    assert [r.id for r in stores.queries.since(0, meter_ids=chosen)] == theirs
    assert [r.id for r in stores.queries.since(stored[4].id, limit=4, meter_ids=chosen)] == [
        rid for rid in theirs if rid > stored[4].id
    ][:4]
    assert stores.queries.since(0, meter_ids=[]) == []
    assert stores.queries.since(0, meter_ids=["nobody"]) == []


def test_downsample_keeps_the_envelope_and_the_flags(stores):
    readings = flag_every_third(history(600, meters=2))
    spike_at = 301
    readings[spike_at] = replace(
        readings[spike_at], values={**readings[spike_at].values, "voltage": 999.0}
    )
    stores.readings.add_many(readings)
    buckets = stores.queries.downsample("voltage", ReadingFilter(), 20)
    assert 0 < len(buckets) <= 20
    assert sum(b.count for b in buckets) == 600
    assert max(b.maximum for b in buckets) == 999.0
    assert min(b.minimum for b in buckets) == min(r["voltage"] for r in readings)
    assert sum(b.flagged for b in buckets) == sum(1 for r in readings if r.is_flagged)
    assert all(b.minimum <= b.mean <= b.maximum for b in buckets)
    starts = [b.start for b in buckets]
    assert starts == sorted(starts)


def test_downsample_of_a_window_counts_only_that_window(stores):
    readings = history(600, meters=1)
    stores.readings.add_many(readings)
    start, end = readings[100].timestamp, readings[400].timestamp
    buckets = stores.queries.downsample("current", ReadingFilter(start=start, end=end), 50)
    assert sum(b.count for b in buckets) == 300
    assert len(buckets) <= 50


def test_update_scores_writes_verdicts_by_id(stores):
    stored = stores.readings.add_many(history(20))
    verdicts = [r.scored(0.9, True, ("current", "voltage"), "stuck") for r in stored[:5]]
    stores.readings.update_scores(verdicts)
    flagged = stores.queries.window(ReadingFilter(state="anomalous"))
    assert [r.id for r in flagged] == [r.id for r in stored[:5]]
    assert flagged[0].top_variables == ("current", "voltage")
    assert flagged[0].flagged_by == "stuck"
    assert flagged[0].score == pytest.approx(0.9)


def test_rescoring_replaces_or_clears_the_view_that_fired(stores):
    stored = stores.readings.add_many(
        [r.scored(0.9, True, ("voltage",), "point") for r in history(6)]
    )
    stores.readings.update_scores(
        [stored[0].scored(0.95, True, ("current",), "profile"), stored[1].scored(0.1, False)]
    )
    back = {r.id: r for r in stores.queries.window(ReadingFilter())}
    assert back[stored[0].id].flagged_by == "profile"
    assert back[stored[1].id].flagged_by is None
    assert back[stored[2].id].flagged_by == "point"


def test_delete_oldest_keeps_the_most_recent(stores):
    readings = history(100)
    stores.readings.add_many(readings)
    assert stores.readings.delete_oldest(40) == 60
    assert stores.queries.count() == 40
    kept = stores.queries.window(ReadingFilter())
    assert [r.timestamp for r in kept] == [r.timestamp for r in readings[-40:]]
    assert stores.readings.delete_oldest(100) == 0


def test_delete_before_a_cutoff(stores):
    readings = history(100, meters=1)
    stores.readings.add_many(readings)
    cutoff = BASE - timedelta(minutes=30)
    deleted = stores.readings.delete_before(cutoff)
    assert deleted == sum(1 for r in readings if r.timestamp < cutoff)
    assert stores.queries.time_range()[0] >= cutoff


def test_clear_empties_the_store(stores):
    stores.readings.add_many(history(10))
    stores.readings.clear()
    assert stores.queries.count() == 0


# --- readings with the variables a meter has ----------------------------------------------
def mixed_fleet(count=400, seed=6):
    """Two motor meters and two plugs (no motor temperature, an energy register), with a
    few readings that carry one variable only or the four newer ones."""
    readings = Simulator(meters=2, plugs=2, seed=seed, anomaly_ratio=0.05).history(count, end=BASE)
    readings[10] = replace(readings[10], values={"current": 3.5})
    readings[11] = replace(
        readings[11],
        values={
            "reactive_power": -1.25,
            "apparent_power": 2.5,
            "energy_import": 1234.5,
            "energy_export": 0.0,
        },
    )
    return flag_every_third(readings)


def test_readings_come_back_with_exactly_the_variables_they_carried(stores):
    readings = mixed_fleet()
    stored = stores.readings.add_many(readings)
    for read in (
        stores.queries.window(ReadingFilter()),
        stores.queries.since(0),
        list(reversed(stores.queries.latest(len(readings)))),
    ):
        assert [dict(r.values) for r in read] == [dict(r.values) for r in readings]
    assert [dict(r.values) for r in stores.queries.sample(ReadingFilter(), 1000)] == [
        dict(r.values) for r in stored
    ]
    plug = stores.queries.window(ReadingFilter(meter_ids=("plug-01",)))
    assert plug and all("motor_temperature" not in r.values for r in plug)
    assert [dict(r.values) for r in plug] == [
        dict(r.values) for r in readings if r.meter_id == "plug-01"
    ]
    assert stores.queries.window(ReadingFilter())[11]["energy_export"] == 0.0  # zero is zero


def test_a_variable_nobody_sent_in_a_bucket_is_a_gap_not_a_zero(stores):
    readings = mixed_fleet()
    stores.readings.add_many(readings)
    for name in ("motor_temperature", "energy_import", "current"):
        buckets = stores.queries.downsample(name, ReadingFilter(), 40)
        carrying = [r[name] for r in readings if name in r.values]
        assert sum(b.count for b in buckets) == len(carrying)
        assert sum(b.flagged for b in buckets) == sum(1 for r in readings if r.is_flagged)
        present = [b for b in buckets if b.count]
        assert min(b.minimum for b in present) == min(carrying)
        assert max(b.maximum for b in present) == max(carrying)
        total = sum(b.mean * b.count for b in present)
        assert total == pytest.approx(sum(carrying), rel=1e-9)
    plug_only = ReadingFilter(meter_ids=("plug-01", "plug-02"))
    gaps = stores.queries.downsample("motor_temperature", plug_only, 20)
    assert gaps and all(b.count == 0 and math.isnan(b.mean) for b in gaps)
    assert all(math.isnan(b.minimum) and math.isnan(b.maximum) for b in gaps)


@pytest.mark.parametrize(
    "where",
    [
        ReadingFilter(),
        ReadingFilter(meter_ids=("plug-01", "plug-02")),  # no motor temperature at all
        ReadingFilter(state="anomalous"),  # from rows, not rollups
        ReadingFilter(start=BASE - timedelta(minutes=77, seconds=13), end=BASE),  # ragged edge
    ],
    ids=["all", "plugs", "flagged", "ragged"],
)
def test_downsample_many_is_each_variables_own_downsample(stores, where):
    """A page's envelopes in one read: the same buckets, per variable, as one read each."""
    stores.readings.add_many(mixed_fleet())
    names = ("voltage", "motor_temperature", "energy_import", "current")
    for buckets in (7, 40, 1_000):
        many = stores.queries.downsample_many(names, where, buckets)
        assert list(many) == list(names)
        for name in names:
            alone = stores.queries.downsample(name, where, buckets)
            assert alone, name
            assert [nan_free(bucket) for bucket in many[name]] == [
                nan_free(bucket) for bucket in alone
            ]
    assert stores.queries.downsample_many((), where, 10) == {}
    assert stores.queries.downsample_many(names, ReadingFilter(meter_ids=("nobody",)), 10) == {
        name: [] for name in names
    }


def nan_free(bucket):
    """A bucket comparable with ==: NaN never equals NaN."""
    fields = (bucket.start, bucket.count, bucket.minimum, bucket.maximum, bucket.mean)
    return [None if isinstance(f, float) and math.isnan(f) else f for f in fields] + [
        bucket.flagged
    ]


def test_retention_and_rescoring_keep_subsets_whole(stores):
    readings = mixed_fleet()
    stored = stores.readings.add_many(readings)
    stores.readings.update_scores([r.scored(0.9, True, ("current",)) for r in stored[:30]])
    stores.readings.delete_oldest(300)
    kept = stores.queries.window(ReadingFilter())
    assert [dict(r.values) for r in kept] == [dict(r.values) for r in readings[-300:]]
    buckets = stores.queries.downsample("energy_import", ReadingFilter(), 30)
    assert sum(b.count for b in buckets) == sum(1 for r in kept if "energy_import" in r.values)
