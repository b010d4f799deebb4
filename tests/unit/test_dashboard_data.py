"""The dashboard's data side: filters, chart models, CSV, the live producer."""

from __future__ import annotations

import asyncio
import math
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
from energy_ui.dashboard.charts import envelope_options, set_envelope
from energy_ui.dashboard.export import neutralise, readings_csv
from energy_ui.dashboard.filters import Filters, parse_date_range
from energy_ui.dashboard.live import LiveProducer
from energy_ui.dashboard.model import PageModel
from energy_ui.dashboard.queries import load_view
from energy_ui.dashboard.series import (
    Envelope,
    Histogram,
    PointWindow,
    anomaly_marks,
    epoch_ms,
    padded_range,
)

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


def test_a_flagged_reading_is_marked_on_the_chart_of_every_variable_it_carries():
    # A plug that sends three variables; its explanation names them in the model's order.
    plug = Reading(
        T0,
        "plug-1",
        {"voltage": 229.5, "current": 3.2, "active_power": 0.7},
        score=0.71234,
        is_flagged=True,
        top_variables=("current", "active_power", "voltage"),
    )
    unexplained = replace(reading(2, 300.0, flagged=True), top_variables=())
    at = epoch_ms(T0)
    readings = [plug, unexplained, reading(3, 229.0)]
    assert anomaly_marks(readings, "voltage") == [(at, 229.5, 0.7123), (at + 2000, 300.0, 0.6)]
    assert anomaly_marks(readings, "current") == [(at, 3.2, 0.7123), (at + 2000, 10.0, 0.6)]
    assert anomaly_marks(readings, "active_power") == [(at, 0.7, 0.7123), (at + 2000, 2.0, 0.6)]
    assert anomaly_marks([plug], "frequency") == []  # not carried: nothing to mark


def test_a_page_marks_a_flagged_reading_on_each_of_its_variables_at_load_and_live():
    m = monitor()
    at = m.clock.now() + timedelta(minutes=5)
    odd = {"voltage": 300.0, "current": 40.0, "active_power": 0.5}
    first = m.ingest([Reading(at, "plug-1", odd)]).stored[0]
    assert first.is_flagged and len(first.top_variables) == 3  # the premise
    filters = Filters(meters=("plug-1",))
    model = PageModel(load_view(m, filters))
    second = m.ingest([Reading(at + timedelta(minutes=1), "plug-1", odd)]).stored[0]
    assert second.is_flagged
    model.add_readings([second])
    for name in ("voltage", "current", "active_power"):
        marked = [(point[0], point[1]) for point in model.marks[name].points]
        assert marked == [(epoch_ms(at), odd[name]), (epoch_ms(at) + 60_000, odd[name])], name
    assert model.marks["frequency"].points == []


def one_bucket(name: str, value: float | None, *, at: datetime = T0) -> Envelope:
    """An envelope of a meter that sent one reading (one one-second bucket)."""
    count, level = (0, math.nan) if value is None else (1, value)
    bucket = Bucket(start=at, count=count, minimum=level, maximum=level, mean=level, flagged=0)
    return Envelope.from_buckets(name, [bucket], timedelta(seconds=1), limit=10)


def isolated(options: dict) -> list[int]:
    """Indices of the mean line's points drawn with a symbol of their own."""
    return [index for index, point in enumerate(options["series"][2]["data"]) if point[2:] == (1,)]


def test_a_point_of_the_mean_line_between_gaps_is_drawn_with_a_symbol():
    level = [229.5, None, 230.0, 231.0, None, 232.0]
    buckets = [
        Bucket(T0 + timedelta(minutes=i), 0, math.nan, math.nan, math.nan, 0)
        if value is None
        else Bucket(T0 + timedelta(minutes=i), 1, value, value, value, 0)
        for i, value in enumerate(level)
    ]
    envelope = Envelope.from_buckets("voltage", buckets, timedelta(minutes=1), limit=10)
    options = envelope_options("voltage", envelope.points(), [], "en")
    mean = options["series"][2]
    # A line of one point is invisible: points whose neighbours are gaps get a symbol,
    # the points of a drawn line none (their values stay where they were).
    assert isolated(options) == [0, 5]
    assert [point[1] for point in mean["data"]] == level
    assert "none" in mean[":symbol"] and "circle" in mean[":symbol"]
    envelope.add(reading(6 * 60 + 10, 233.0))
    set_envelope(options, envelope.points(), [])
    assert isolated(options) == [0]  # the last one has a neighbour now
    assert isolated(envelope_options("voltage", one_bucket("voltage", 1.0).points(), [], "en")) == [
        0
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (229.5, (210.0, 250.0)),
        (3.2, (3.0, 3.4)),
        (0.7, (0.66, 0.74)),
        (0.0044, (0.0041, 0.0047)),
        (-1.5, (-1.58, -1.42)),
        (0.0, (-1.0, 1.0)),
    ],
)
def test_one_value_is_padded_by_five_percent_to_round_bounds(value, expected):
    assert padded_range(value) == pytest.approx(expected)


def test_one_reading_gets_the_same_axes_on_every_variable_mark_or_not():
    at = T0 + timedelta(seconds=30)
    mark = [(epoch_ms(at) + 500, 3.2, 0.7)]  # marks sit at the reading's instant
    voltage = envelope_options("voltage", one_bucket("voltage", 229.5, at=at).points(), [], "en")
    current = envelope_options("current", one_bucket("current", 3.2, at=at).points(), mark, "en")
    missing = envelope_options("frequency", one_bucket("frequency", None, at=at).points(), [], "en")
    window = (epoch_ms(T0 - timedelta(minutes=5)), epoch_ms(T0 + timedelta(minutes=6)))
    for options in (voltage, current, missing):
        # At least five minutes either side, in whole minutes (not ECharts' two days).
        assert (options["xAxis"]["min"], options["xAxis"]["max"]) == window
    assert (voltage["yAxis"]["min"], voltage["yAxis"]["max"]) == (210.0, 250.0)  # not 100–350
    assert (current["yAxis"]["min"], current["yAxis"]["max"]) == pytest.approx((3.0, 3.4))
    assert (missing["yAxis"]["min"], missing["yAxis"]["max"]) == (None, None)


def test_axes_are_left_to_echarts_once_the_data_spreads_and_padded_while_flat():
    envelope = one_bucket("voltage", 229.5)
    options = envelope_options("voltage", envelope.points(), [], "en")
    envelope.add(reading(120, 229.5))
    set_envelope(options, envelope.points(), [])
    assert (options["xAxis"]["min"], options["xAxis"]["max"]) == (None, None)
    assert (options["yAxis"]["min"], options["yAxis"]["max"]) == (210.0, 250.0)  # still flat
    envelope.add(reading(180, 231.0))
    set_envelope(options, envelope.points(), [(epoch_ms(T0), 229.5, 0.6)])
    assert (options["yAxis"]["min"], options["yAxis"]["max"]) == (None, None)
    assert options["series"][3]["data"] == [(epoch_ms(T0), 229.5, 0.6)]
    assert [point[1] for point in options["series"][2]["data"]] == [229.5, 229.5, 231.0]


def test_a_histogram_of_one_value_is_padded_like_the_time_series():
    histogram = Histogram.of("voltage", [reading(0, 229.5)], bins=10)
    assert (histogram.edges[0], histogram.edges[-1]) == pytest.approx((210.0, 250.0))
    assert sum(histogram.normal) == 1


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
