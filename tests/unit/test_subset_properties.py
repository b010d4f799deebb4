"""Properties over readings with random subsets of the catalogue's variables: what goes in
comes back with the same variables; scoring never raises and never names a variable a
reading lacks; the dashboard's data functions never raise and never hand a chart NaN."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, MonitorSettings, ReadingFilter, Simulator
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_ui.csv_io import readings_frame
from energy_ui.dashboard import charts
from energy_ui.dashboard.export import readings_csv
from energy_ui.dashboard.filters import Filters
from energy_ui.dashboard.model import PageModel
from energy_ui.dashboard.queries import load_view
from tests.strategies import BASE, subset_readings

# Every strategy timestamp lies within 30 days after BASE: the clock is past them all.
NOW = BASE + timedelta(days=31)
batches = st.lists(subset_readings(), min_size=1, max_size=25).map(
    lambda batch: sorted(batch, key=lambda reading: reading.timestamp)
)


def new_monitor(detector: str = "temporal") -> Monitor:
    return Monitor(
        readings=(store := MemoryReadingRepository()),
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(NOW),
        simulator=Simulator(meters=2, plugs=1, seed=4, anomaly_ratio=0.03),
        settings=MonitorSettings(detector=detector, max_readings=None),
    )


@pytest.fixture(scope="module", params=["temporal", "isolation_forest"])
def trained(request) -> Monitor:
    """A monitor whose model learnt a mixed fleet (two motor meters, a plug)."""
    monitor = new_monitor(request.param)
    monitor.generate_history(1500)
    monitor.train()
    return monitor


@given(batch=batches)
def test_what_is_stored_comes_back_with_the_same_variables(batch):
    monitor = new_monitor()
    stored = monitor.ingest(batch).stored
    back = monitor.queries.window(ReadingFilter())
    assert {reading.id: dict(reading.values) for reading in back} == {
        reading.id: dict(original.values) for reading, original in zip(stored, batch, strict=True)
    }
    assert [dict(reading.values) for reading in monitor.queries.since(0)] == [
        dict(reading.values) for reading in stored
    ]


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(batch=batches)
def test_scoring_never_raises_and_never_names_a_variable_a_reading_lacks(trained, batch):
    report = trained.ingest(batch)
    for reading in report.stored:
        assert set(reading.top_variables) <= set(reading.values)
        if reading.is_scored:
            assert reading.score == reading.score  # not NaN
        features = set(trained.models.info().features)
        assert reading.is_scored == bool(features & set(reading.values))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    stored=batches,
    live=batches,
    variables=st.lists(st.sampled_from(VARIABLE_NAMES), unique=True),
    sampling=st.integers(1, 50),
)
def test_the_dashboard_data_never_raises_and_never_draws_nan(
    trained, stored, live, variables, sampling
):
    trained.ingest(stored)
    order = tuple(name for name in VARIABLE_NAMES if name in variables)
    filters = Filters(variables=order, sampling=sampling, row_limit=20)
    model = PageModel(load_view(trained, filters))
    model.add_readings(trained.ingest(live).stored)
    scores = model.scores.points, model.flagged_scores.points
    options = [charts.scores_options(*scores, trained.models.info().threshold, "en")]
    for name in order:
        model.stats(name)
        marks = model.marks[name].points
        options.append(charts.envelope_options(name, model.envelopes[name].points(), marks, "es"))
        options.append(charts.histogram_options(model.histograms[name], "en"))
    if len(order) >= 2:
        options.append(charts.matrix_options(order, model.pairs, "en"))
    for option in options:
        json.dumps(option, allow_nan=False, default=str)
    readings_csv(model.rows, order)
    readings_frame(model.rows)
