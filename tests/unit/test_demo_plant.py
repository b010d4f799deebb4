"""The in-memory demo runs its simulator as a plant: healthy, with incidents now and then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from energy_adapters.memory import ManualClock
from energy_core.alerts.incidents import IncidentTracker
from energy_core.health.analysis import HealthState
from energy_core.ports import ReadingFilter
from energy_core.telemetry.simulator import AnomalyKind, Episode, IncidentSchedule, Simulator
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.dashboard.demo import (
    FIRST_INCIDENT_AFTER,
    PLANT_INCIDENT_GAP,
    DemoDriver,
    pin_first_incident,
)
from energy_ui.dashboard.jobs import JobRunner
from energy_ui.settings import Settings

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def demo_application(**overrides: object) -> tuple[Application, Settings, ManualClock]:
    settings = Settings(_env_file=None, seed=5, **overrides)  # type: ignore[arg-type]
    clock = ManualClock(T0)
    return bootstrap(settings, clock=clock), settings, clock


async def prepared(**overrides: object) -> tuple[Application, Settings, ManualClock]:
    application, settings, clock = demo_application(**overrides)
    await DemoDriver(application.monitor, settings, JobRunner()).prepare()
    return application, settings, clock


async def test_the_demo_runs_its_simulator_as_a_plant_with_a_first_incident_soon():
    application, _, _ = await prepared(demo_history=600, meters=2)
    simulator = application.monitor.simulator
    assert simulator.anomaly_ratio == 0.0
    assert simulator.incidents is not None
    assert simulator.incidents.mean_gap == PLANT_INCIDENT_GAP
    (first,) = simulator.incidents.pinned
    assert first.kind is AnomalyKind.VOLTAGE_SAG
    assert T0 + FIRST_INCIDENT_AFTER <= first.start <= T0 + FIRST_INCIDENT_AFTER + 5 * 60 * SECOND
    # The seeded history is the plant's too: labelled exactly inside its episodes.
    history = application.monitor.queries.window(ReadingFilter(), limit=1000)
    episodes = simulator.episodes(history[0].timestamp, T0 + SECOND)
    assert [reading.is_anomaly for reading in history] == [
        any(e.meter_id == r.meter_id and e.covers(r.timestamp) for e in episodes) for r in history
    ]


@pytest.mark.parametrize("through_environment", [False, True])
async def test_an_anomaly_ratio_set_on_purpose_keeps_per_reading_faults_in_the_demo(
    monkeypatch: pytest.MonkeyPatch, through_environment: bool
):
    if through_environment:
        monkeypatch.setenv("ENERGY_ANOMALY_RATIO", "0.05")
        application, _, _ = await prepared(demo_history=300, meters=2)
    else:
        application, _, _ = await prepared(demo_history=300, meters=2, anomaly_ratio=0.05)
    simulator = application.monitor.simulator
    assert simulator.anomaly_ratio == 0.05
    assert simulator.incidents is not None


def test_the_first_incident_waits_for_a_meter_that_is_free():
    busy = Episode("meter-01", AnomalyKind.OVERHEATING, T0, 200 * SECOND, "motor_temperature")
    other = Episode("meter-02", AnomalyKind.STUCK_SENSOR, T0, 100 * SECOND, "current")
    simulator = Simulator(
        meters=2, seed=1, incidents=IncidentSchedule(mean_gap=3600 * SECOND, pinned=(busy, other))
    )
    first = pin_first_incident(simulator, T0 + 20 * SECOND)
    assert first is not None
    assert (first.meter_id, first.start) == ("meter-02", other.end)
    assert Simulator(meters=1, seed=1).incidents is None
    assert pin_first_incident(Simulator(meters=1, seed=1), T0) is None


async def test_a_visitor_sees_normal_then_the_first_incident_then_recovery():
    """The demo as it runs (defaults: three meters, 10,000 readings of history, five
    readings a second): Normal at start, the pinned sag opens an incident as it starts and
    resolves it seconds after it ends, and nothing else raises one in that minute but the
    plant's own episodes."""
    application, settings, clock = await prepared()
    monitor = application.monitor
    assert monitor.analyses(1)[0].health is HealthState.NORMAL
    simulator = monitor.simulator
    (first,) = simulator.incidents.pinned  # type: ignore[union-attr]
    tracker = IncidentTracker()
    events = []
    for _ in range(60):
        clock.advance(SECOND)
        report = monitor.stream_tick(settings.stream_batch_size, SECOND)
        events += tracker.observe(report.stored)
    own = [event for event in events if event.alert.meter_id == first.meter_id]
    assert [event.kind for event in own][:1] == ["opened"]
    assert first.start <= own[0].at <= first.start + 2 * SECOND
    resolved = [event for event in own if event.kind == "resolved"]
    assert resolved and resolved[0].at <= first.end + 15 * SECOND
    episodes = simulator.episodes(T0 - timedelta(minutes=10), clock.now())
    for event in events:
        if event.kind == "opened":
            alert = event.alert
            assert any(
                e.meter_id == alert.meter_id and e.start <= alert.started_at < e.end + 60 * SECOND
                for e in episodes
            ), alert
    assert monitor.analyse().health is HealthState.NORMAL
