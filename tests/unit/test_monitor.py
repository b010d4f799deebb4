from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import (
    ChangeEvent,
    IngestReport,
    Monitor,
    MonitorSettings,
    NoModelError,
    ReadingFilter,
    RejectedBatchError,
    Simulator,
    StorageRules,
)
from tests.strategies import BASE


def make_monitor(**settings) -> tuple[Monitor, list]:
    events: list = []
    feed = MemoryChangeFeed()
    feed.subscribe(events.append)
    monitor = Monitor(
        readings=(store := MemoryReadingRepository()),
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=feed,
        clock=ManualClock(BASE),
        simulator=Simulator(meters=2, seed=9, anomaly_ratio=0.02),
        settings=MonitorSettings(**settings),
    )
    return monitor, events


def test_ingest_stores_announces_and_leaves_unscored_without_a_model():
    monitor, events = make_monitor()
    report = monitor.stream_tick(batch_size=5)
    assert len(report.stored) == 5 and not report.scored
    assert monitor.queries.count() == 5
    assert events[-1].topic == "readings" and events[-1].count == 5


def test_after_training_every_ingested_batch_is_scored_before_it_is_stored():
    monitor, events = make_monitor()
    monitor.generate_history(2000)
    info = monitor.train()
    assert info.version == 1 and info.rows == 2000
    before = monitor.queries.last_id()
    report = monitor.stream_tick(batch_size=5)
    assert report.scored and report.model_version == info.version == 1
    assert events[-1] == ChangeEvent("readings", count=5, last_id=report.stored[-1].id)
    stored = monitor.queries.since(before)
    assert len(stored) == 5
    assert all(reading.score is not None and reading.is_flagged is not None for reading in stored)
    assert any(event.topic == "model" for event in events)


def test_without_a_model_the_report_names_no_model_version():
    monitor, _ = make_monitor()
    report = monitor.stream_tick(batch_size=3)
    assert (report.scored, report.model_version, report.dropped_by_retention) == (False, None, 0)


def test_an_empty_batch_stores_nothing_and_announces_nothing():
    monitor, events = make_monitor()
    assert monitor.ingest([]) == IngestReport(stored=[], scored=False, dropped_by_retention=0)
    assert events == [] and monitor.queries.count() == 0


def test_the_monitor_s_own_storage_rules_are_applied_to_every_reading():
    monitor, _ = make_monitor(rules=StorageRules(max_text_length=5))
    reading = replace(monitor.simulator.next_batch(1, at=BASE)[0], anomaly_kind="sixsix")
    with pytest.raises(RejectedBatchError, match="longer than 5 characters"):
        monitor.ingest([reading])


@pytest.mark.parametrize(("invalid", "suffix"), [(5, ""), (6, " (and 1 more)")])
def test_a_rejection_shows_five_reasons_and_counts_the_rest(invalid, suffix):
    monitor, _ = make_monitor()
    batch = [
        replace(reading, values={**reading.values, "frequency": 500.0})
        for reading in monitor.simulator.next_batch(invalid, at=BASE)
    ]
    with pytest.raises(RejectedBatchError) as caught:
        monitor.ingest(batch)
    message = str(caught.value)
    assert message.startswith(f"{invalid} invalid reading(s): ")
    assert message.count("frequency") == 5  # five reasons shown
    assert message.endswith(suffix) and message.count(" more)") == (1 if suffix else 0)


def test_an_invalid_reading_rejects_the_whole_batch_and_says_where():
    monitor, _ = make_monitor()
    batch = monitor.simulator.next_batch(4, at=BASE)
    broken = replace(batch[2], values={**batch[2].values, "frequency": 500.0})
    with pytest.raises(RejectedBatchError) as caught:
        monitor.ingest([*batch[:2], broken, batch[3]])
    assert caught.value.rejections[0].index == 2
    assert caught.value.rejections[0].field == "frequency"
    assert "500.0" in str(caught.value)
    assert monitor.queries.count() == 0


@given(limit=st.integers(1, 60), batches=st.lists(st.integers(1, 25), min_size=1, max_size=8))
def test_retention_never_exceeds_the_limit_and_drops_the_oldest(limit, batches):
    monitor, _ = make_monitor(max_readings=limit)
    clock = monitor.clock
    everything = []
    for size in batches:
        clock.advance(timedelta(seconds=1))
        everything.extend(monitor.stream_tick(batch_size=size).stored)
        assert monitor.queries.count() <= limit
    kept = monitor.queries.window(ReadingFilter())
    newest = sorted(everything, key=lambda r: (r.timestamp, r.id))[-limit:]
    assert [reading.id for reading in kept] == [reading.id for reading in newest]


def test_retention_by_age_drops_readings_older_than_the_maximum():
    monitor, _ = make_monitor(max_readings=None, max_age=timedelta(hours=1))
    monitor.generate_history(600)  # one per minute per meter: five hours
    oldest, newest = monitor.queries.time_range()
    assert (oldest, newest) == (BASE - timedelta(hours=1), BASE)
    assert monitor.queries.count() == 2 * 61  # two meters, minutes 0 … 60 of the last hour


def at_ages(monitor: Monitor, *ages: timedelta) -> list:
    """One simulated reading per age, stamped that long before the monitor's clock."""
    batch = monitor.simulator.next_batch(len(ages), at=BASE)
    return [
        replace(reading, timestamp=BASE - age) for reading, age in zip(batch, ages, strict=True)
    ]


def test_retention_by_age_drops_a_reading_just_older_than_the_limit_and_keeps_the_rest():
    limit = timedelta(hours=1)
    tick = timedelta(microseconds=1)
    monitor, _ = make_monitor(max_readings=None, max_age=limit)
    too_old, just_old_enough, younger = at_ages(monitor, limit + tick, limit, limit - tick)
    report = monitor.ingest([too_old, just_old_enough, younger])
    assert report.dropped_by_retention == 1
    kept = monitor.queries.window(ReadingFilter())
    assert [reading.timestamp for reading in kept] == [BASE - limit, BASE - limit + tick]


def test_the_reading_cap_holds_when_an_age_limit_is_set_too():
    monitor, _ = make_monitor(max_readings=5, max_age=timedelta(hours=1))
    ages = [timedelta(minutes=minutes) for minutes in range(8, 0, -1)]  # all younger
    report = monitor.ingest(at_ages(monitor, *ages))
    assert report.dropped_by_retention == 3
    kept = monitor.queries.window(ReadingFilter())
    assert [reading.timestamp for reading in kept] == [BASE - age for age in ages[3:]]


def test_what_both_limits_drop_in_one_batch_is_reported_together():
    monitor, _ = make_monitor(max_readings=3, max_age=timedelta(hours=1))
    minutes = [180, 120, 50, 40, 30, 20]
    report = monitor.ingest(at_ages(monitor, *(timedelta(minutes=m) for m in minutes)))
    assert report.dropped_by_retention == 3  # two by age, then one by count
    assert monitor.queries.count() == 3


def test_the_age_limit_holds_when_under_the_reading_cap():
    monitor, _ = make_monitor(max_readings=100, max_age=timedelta(hours=1))
    ages = [timedelta(hours=3), timedelta(hours=2), timedelta(minutes=30)]
    report = monitor.ingest(at_ages(monitor, *ages))
    assert report.dropped_by_retention == 2
    assert [r.timestamp for r in monitor.queries.window(ReadingFilter())] == [BASE - ages[2]]


def test_analyse_needs_a_model_and_then_records_a_snapshot_with_ground_truth():
    monitor, events = make_monitor()
    monitor.generate_history(3000)
    with pytest.raises(NoModelError, match="train"):
        monitor.analyse()
    monitor.train()
    first = monitor.analyse()
    assert first.total_readings == 3000 and first.id == 1
    assert first.precision is not None and first.recall is not None
    assert first.percentage == pytest.approx(100 * first.anomalies_detected / 3000)
    assert first.health is monitor.settings.thresholds.state(first.percentage)
    assert monitor.queries.count(ReadingFilter(state="anomalous")) == first.anomalies_detected
    monitor.clock.advance(timedelta(minutes=1))
    monitor.stream_tick(batch_size=50)
    second = monitor.analyse()
    assert second.delta_percentage == pytest.approx(second.percentage - first.percentage)
    assert monitor.metrics.latest(2) == [second, first]
    assert events[-1].topic == "metrics"


def test_training_needs_enough_readings():
    monitor, _ = make_monitor()
    with pytest.raises(ValueError, match="at least 10"):
        monitor.train()


@pytest.mark.parametrize("repopulate", [0, 40])
def test_reset_repopulates_with_the_count_asked_for(repopulate):
    monitor, _ = make_monitor(reset_count=500, max_readings=None)
    monitor.generate_history(100)
    assert monitor.reset(repopulate) == repopulate
    assert monitor.queries.count() == repopulate


def test_history_reports_its_progress_after_each_chunk():
    monitor, _ = make_monitor(max_readings=None)
    seen: list[int] = []
    monitor.generate_history(50, chunk=20, progress=seen.append)
    assert seen == [20, 40, 50]


def test_reset_empties_everything_and_repopulates():
    monitor, events = make_monitor(reset_count=500)
    monitor.generate_history(100)
    monitor.train()
    monitor.analyse()
    assert monitor.reset() == 500
    assert monitor.queries.count() == 500
    assert monitor.metrics.latest(1) == []
    assert any(event.topic == "reset" for event in events)


def test_a_model_trained_elsewhere_is_picked_up_on_the_next_batch():
    monitor, _ = make_monitor()
    monitor.generate_history(1000)
    other = Monitor(
        readings=monitor.readings,
        queries=monitor.queries,
        metrics=monitor.metrics,
        models=monitor.models,
        feed=monitor.feed,
        clock=monitor.clock,
    )
    assert monitor.current_model() is None
    other.train()
    assert monitor.stream_tick(batch_size=3).scored


@given(count=st.integers(0, 500), chunk=st.integers(1, 120))
def test_history_in_chunks_has_the_count_and_one_reading_per_meter_per_cadence(count, chunk):
    monitor, _ = make_monitor(max_readings=None)
    assert monitor.generate_history(count, chunk=chunk) == count
    stored = monitor.queries.window(ReadingFilter())
    assert len(stored) == count
    if count:
        assert stored[-1].timestamp == BASE
        per_meter = [r.timestamp for r in stored if r.meter_id == "meter-01"]
        gaps = {b - a for a, b in itertools.pairwise(per_meter)}
        assert gaps <= {monitor.settings.history_cadence}


def test_a_stored_batch_is_reported_stored_even_if_retention_then_fails():
    """Storage went away right after committing the batch: the call still succeeds (the
    batch is stored), and a retry under the batch's key does not store it twice."""
    monitor, _ = make_monitor(max_readings=1_000)
    failures = iter([ConnectionError("the server went away")])

    def delete_oldest(keep: int) -> int:
        error = next(failures, None)
        if error is not None:
            raise error
        return 0

    monitor.readings.delete_oldest = delete_oldest
    batch = monitor.simulator.next_batch(4, at=BASE)
    report = monitor.ingest(batch, key="k")
    assert len(report.stored) == 4
    assert monitor.ingest(batch, key="k").stored == report.stored
    assert monitor.queries.count() == 4


def test_a_model_that_cannot_be_loaded_leaves_readings_unscored_not_lost(caplog):
    monitor, _ = make_monitor()
    monitor.generate_history(300)
    monitor.train()

    def refuse(version):
        raise ValueError("refusing to load model version 1: untrusted type posix.system")

    monitor._model = None
    monitor.models.load = refuse  # type: ignore[method-assign]
    before = monitor.queries.count()
    for _ in range(3):
        report = monitor.stream_tick(4)
        assert len(report.stored) == 4 and not report.scored
    assert monitor.queries.count() == before + 12
    logged = [record for record in caplog.records if "scoring with model" in record.message]
    assert len(logged) == 1  # once per model version, not once per batch


def test_a_storage_outage_while_loading_the_model_still_fails_the_batch():
    monitor, _ = make_monitor()

    def unreachable():
        raise ConnectionError("database unavailable")

    monitor.models.latest_version = unreachable  # type: ignore[method-assign]
    with pytest.raises(ConnectionError):
        monitor.stream_tick(4)
    assert monitor.queries.count() == 0
