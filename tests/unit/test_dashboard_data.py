"""The dashboard's data side: filters, chart models, CSV, the live producer."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Bucket, HealthThresholds, Monitor, Reading, ReadingFilter, Simulator
from energy_core.health.alarm import HealthAlarm
from energy_ui.dashboard.export import neutralise, readings_csv
from energy_ui.dashboard.filters import Filters, parse_date_range
from energy_ui.dashboard.live import LiveProducer
from energy_ui.dashboard.model import PageModel
from energy_ui.dashboard.queries import load_view
from energy_ui.dashboard.series import Envelope, Histogram, PointWindow, anomaly_marks

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def reading(seconds: float, voltage: float, *, flagged: bool = False, rid: int = 1) -> Reading:
    values = {
        "voltage": voltage,
        "current": 10.0,
        "active_power": 2.0,
        "power_factor": 0.9,
        "frequency": 50.0,
        "motor_temperature": 40.0,
    }
    return Reading(
        T0 + timedelta(seconds=seconds),
        "meter-01",
        values,
        score=0.6 if flagged else 0.4,
        is_flagged=flagged,
        top_variables=("voltage",) if flagged else (),
        id=rid,
    )


# --- filters ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-01 - 2025-03-04", (date(2025, 3, 1), date(2025, 3, 4))),
        ({"from": "2025/03/04", "to": "2025/03/01"}, (date(2025, 3, 1), date(2025, 3, 4))),
        ("2025-03-02", (date(2025, 3, 2), date(2025, 3, 2))),
        ("", (None, None)),
        (None, (None, None)),
        ("not a date", (None, None)),
    ],
)
def test_date_picker_values_become_an_inclusive_day_range(value, expected):
    assert parse_date_range(value) == expected


def test_filters_become_a_repository_filter_with_an_exclusive_end():
    filters = Filters(date_from=date(2025, 3, 1), date_to=date(2025, 3, 1), meters=("m",))
    where = filters.reading_filter()
    assert (where.start, where.end) == (T0, T0 + timedelta(days=1))
    assert where.meter_ids == ("m",) and where.state is None
    assert filters.anomalous_filter().state == "anomalous"


def test_filters_refuse_more_than_five_thousand_sampled_rows():
    with pytest.raises(ValueError, match="sampling"):
        Filters(sampling=5_001)


# --- chart models -------------------------------------------------------------------------
def test_an_envelope_merges_live_readings_into_its_last_bucket_and_opens_new_ones():
    bucket = Bucket(start=T0, count=1, minimum=229.0, maximum=229.0, mean=229.0, flagged=0)
    envelope = Envelope.from_buckets("voltage", [bucket], timedelta(seconds=60), limit=2)
    envelope.add(reading(30, 231.0, flagged=True))
    assert [(s.count, s.minimum, s.maximum, s.mean, s.flagged) for s in envelope.slots] == [
        (2, 229.0, 231.0, 230.0, 1)
    ]
    envelope.add(reading(75, 100.0))
    envelope.add(reading(130, 230.0))
    assert [s.start for s in envelope.slots] == [
        T0 + timedelta(seconds=60),
        T0 + timedelta(seconds=120),
    ]
    low, band, mean = envelope.points()
    assert low[0][1] == 100.0 and band[0][1:3] == (0.0, 100.0) and mean[1][1] == 230.0


def test_zooming_splices_finer_buckets_into_the_envelope():
    coarse = [Bucket(T0 + timedelta(minutes=10 * i), 10, 220.0, 240.0, 230.0, 0) for i in range(6)]
    envelope = Envelope.from_buckets("voltage", coarse, timedelta(minutes=10), limit=6)
    fine = [Bucket(T0 + timedelta(minutes=20 + i), 1, 230.0, 230.0, 230.0, 0) for i in range(20)]
    envelope.splice(
        fine, timedelta(minutes=1), T0 + timedelta(minutes=20), T0 + timedelta(minutes=40)
    )
    starts = [slot.start for slot in envelope.slots]
    assert starts == sorted(starts) and len(starts) == 2 + 20 + 2
    envelope.add(reading(60 * 60 + 1, 230.0))
    # the window stays bounded (the oldest coarse bucket gives way), the zoom detail stays
    assert len(envelope.slots) == 24
    assert sum(1 for slot in envelope.slots if slot.end - slot.start == timedelta(minutes=1)) == 20


def test_a_histogram_bins_the_bulk_and_piles_outliers_in_the_edge_bins():
    readings = [reading(i, 229.0 + (i % 10) / 10) for i in range(100)]
    readings.append(reading(200, 600.0, flagged=True))
    histogram = Histogram.of("voltage", readings, bins=10)
    assert sum(histogram.normal) == 100 and histogram.flagged[-1] == 1
    assert histogram.labels(1)[-1].startswith("≥") and histogram.labels(1)[0].startswith("≤")
    histogram.add(reading(300, 0.0, flagged=True))
    assert histogram.flagged[0] == 1


def test_a_point_window_keeps_the_most_recent_points():
    window = PointWindow(limit=3)
    window.extend([(1,), (2,)])
    window.extend([(3,), (4,)])
    assert window.points == [(2,), (3,), (4,)]


def test_anomaly_marks_sit_on_the_variable_that_explains_them_best():
    flagged = reading(1, 300.0, flagged=True)
    other = replace(reading(2, 229.0, flagged=True), top_variables=("current", "voltage"))
    assert anomaly_marks([flagged, other, reading(3, 229.0)], "voltage") == [
        (int(flagged.timestamp.timestamp() * 1000), 300.0, 0.6)
    ]


# --- CSV ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd", "'+cmd"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("-12.5", "-12.5"),
        ("+1e3", "+1e3"),
        ("meter-01", "meter-01"),
        ("", ""),
    ],
)
def test_cells_that_a_spreadsheet_would_run_get_a_quote(cell, safe):
    assert neutralise(cell) == safe


def test_the_csv_has_a_header_and_one_line_per_reading():
    rows = readings_csv([reading(0, 229.5, rid=7), replace(reading(1, 1.0, rid=8), meter_id="=x")])
    lines = rows.strip().split("\n")
    assert lines[0].startswith("id,timestamp,meter_id,voltage,")
    assert lines[1].startswith("7,2025-03-01T00:00:00+00:00,meter-01,229.5,")
    assert lines[2].split(",")[2] == "'=x"


# --- page model and producer ----------------------------------------------------------------
def monitor() -> Monitor:
    m = Monitor(
        readings=(store := MemoryReadingRepository()),
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(T0),
        simulator=Simulator(meters=2, seed=1),
    )
    m.generate_history(200)
    m.train()
    m.analyse()
    return m


def test_a_page_model_takes_only_new_readings_its_filters_accept():
    m = monitor()
    model = PageModel(load_view(m, Filters(meters=("meter-01",), row_limit=10)))
    total = model.total
    batch = m.ingest(m.simulator.next_batch(4, at=T0 + timedelta(minutes=1))).stored
    accepted = model.add_readings(batch)
    assert [r.meter_id for r in accepted] == ["meter-01", "meter-01"]
    assert model.add_readings(batch) == []  # already seen
    assert model.total == total + 2
    assert model.rows[0].id == accepted[-1].id and len(model.rows) == 10


async def test_the_producer_reads_what_is_new_once_and_emits_it():
    m = monitor()
    producer = LiveProducer(m, HealthAlarm(HealthThresholds()))
    received = []
    producer.updates.subscribe(received.append)
    await producer.start()
    try:
        assert await producer.pump() is None  # nothing new yet
        stored = m.ingest(m.simulator.next_batch(3, at=T0 + timedelta(minutes=1))).stored
        update = await producer.pump()
        assert update is not None and [r.id for r in update.readings] == [r.id for r in stored]
        assert update.stored == 203 and update.latest == stored[-1] and not update.refresh
        m.generate_history(50)
        assert (await producer.pump()).readings  # type: ignore[union-attr]
        m.reset(0)
        reset = await producer.pump()
        assert reset is not None and reset.refresh and reset.stored == 0
        await asyncio.sleep(0)
        assert received[-1] is reset
    finally:
        await producer.stop()


async def test_the_producer_asks_pages_to_requery_after_a_bulk_load():
    m = monitor()
    producer = LiveProducer(m, HealthAlarm(HealthThresholds()), bulk=100)
    await producer.start()
    try:
        m.generate_history(150)
        update = await producer.pump()
        assert update is not None and update.refresh and update.readings == ()
        assert m.queries.count(ReadingFilter()) == update.stored
    finally:
        await producer.stop()


async def test_the_demo_seeds_a_history_trains_and_analyses_when_storage_is_empty():
    from energy_ui.bootstrap import bootstrap
    from energy_ui.dashboard.demo import DemoDriver
    from energy_ui.dashboard.jobs import JobRunner
    from energy_ui.settings import Settings

    settings = Settings(_env_file=None, demo_history=120, meters=2, seed=5)
    application = bootstrap(settings, clock=ManualClock(T0))
    await DemoDriver(application.monitor, settings, JobRunner()).prepare()
    monitor = application.monitor
    assert monitor.queries.count() == 120
    assert monitor.models.latest_version() == 1
    assert len(monitor.metrics.latest(5)) == 1
