"""Users' feedback changes detection: repeated false alarms of a meter raise its threshold,
confirmed faults stay out of training."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_adapters.memory_alerts import MemoryAlertStore, MemoryFeedbackStore, MemoryMuteStore
from energy_core import Monitor, MonitorSettings, Reading, Simulator
from energy_core.alerts.store import Feedback
from energy_core.detection.feedback import CalibrationRule, calibrate
from energy_core.usecases.alerting import Alerting

START = datetime(2026, 3, 2, 8, tzinfo=UTC)


def flagged(meter: str, second: int, score: float) -> Reading:
    at = START + timedelta(seconds=second)
    return Reading(at, meter, {"voltage": 230.0}).scored(score, True, ("voltage",))


def false_alarm(meter: str, second: int, verdict: str = "false_alarm") -> Feedback:
    at = START + timedelta(seconds=second)
    return Feedback(meter, at, at, verdict, by="ana", at=at)  # type: ignore[arg-type]


def test_repeated_false_alarms_raise_the_meters_threshold_just_above_them():
    feedback = [false_alarm("press", 0), false_alarm("press", 10)]
    marked = {"press": [flagged("press", 0, 1.8), flagged("press", 10, 2.5)]}
    calibration = calibrate(feedback, marked, 1.0, CalibrationRule(max_factor=None))
    assert calibration.factor("press") == pytest.approx(2.5 * 1.05)
    assert calibration.factor("pump") == 1.0


def test_one_false_alarm_changes_nothing_and_the_factor_is_capped():
    marked = {"press": [flagged("press", 0, 80.0), flagged("press", 10, 1.2)]}
    assert calibrate([false_alarm("press", 0)], marked, 1.0).threshold_factors == {}
    both = [false_alarm("press", 0), false_alarm("press", 10)]
    assert calibrate(both, marked, 1.0, CalibrationRule(max_factor=4.0)).factor("press") == 4.0
    assert calibrate(both, marked, 1.0).factor("press") == 2.0  # the default bound


def test_confirmed_faults_are_left_out_of_training_data():
    calibration = calibrate([false_alarm("press", 5, "confirmed")], {}, 1.0)
    kept = calibration.training([flagged("press", s, 2.0) for s in range(10)])
    assert [r.timestamp.second for r in kept] == [0, 1, 2, 3, 4, 6, 7, 8, 9]


def monitor(rule: CalibrationRule | None = None) -> Monitor:
    store = MemoryReadingRepository()
    clock = ManualClock(START + timedelta(days=1))
    return Monitor(
        readings=store,
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=clock,
        simulator=Simulator(meters=2, anomaly_ratio=0.0, seed=4),
        settings=MonitorSettings(max_readings=None, feedback=rule or CalibrationRule()),
        alerting=Alerting(
            store=MemoryAlertStore(),
            mutes=MemoryMuteStore(),
            feedback=MemoryFeedbackStore(),
            clock=clock,
        ),
    )


@pytest.mark.parametrize("bounded", [False, True])
def test_after_two_false_alarms_the_same_excursion_no_longer_alarms_on_that_meter_only(bounded):
    app = monitor(CalibrationRule(max_factor=2.0 if bounded else None))
    app.generate_history(600)
    app.train()
    meters = app.queries.meters()
    normal = app.queries.latest(1, None)[0]

    def excursion(meter: str, second: int) -> Reading:
        values = dict(normal.values) | {"voltage": normal.values["voltage"] * 1.08}
        return Reading(app.clock.now() + timedelta(seconds=second), meter, values)

    first = app.ingest([excursion(meters[0], 1), excursion(meters[0], 2)]).stored
    assert all(r.is_flagged for r in first), "the excursion alarms at first"
    for reading in first:
        app.give_feedback(
            Feedback(
                reading.meter_id,
                reading.timestamp,
                reading.timestamp,
                "false_alarm",
                by="ana",
                at=reading.timestamp,
            )
        )
    again = app.ingest([excursion(meters[0], 3), excursion(meters[1], 3)]).stored
    # Unbounded, the marked excursion is quiet now; bounded at twice the threshold, an
    # excursion scored far above it (like a real incident's) still alarms.
    assert [r.is_flagged for r in again] == [bounded, True]
    # A stronger excursion on the calibrated meter still alarms.
    values = dict(normal.values) | {"voltage": normal.values["voltage"] * 1.6}
    strong = app.ingest([Reading(app.clock.now() + timedelta(seconds=4), meters[0], values)])
    assert strong.stored[0].is_flagged


def test_training_leaves_out_what_users_confirmed_as_faults():
    app = monitor()
    app.generate_history(300)
    window = app.queries.window(app.readable())
    meter = window[0].meter_id
    start, end = window[0].timestamp, window[-1].timestamp
    app.give_feedback(Feedback(meter, start, end, "confirmed", by="ana", at=end))
    confirmed = sum(1 for r in window if r.meter_id == meter)
    assert app.train().rows == len(window) - confirmed


def test_what_the_model_flagged_stays_out_of_training_unless_users_called_it_normal():
    readings = [flagged("press", s, 2.0 if s in (3, 4) else 0.1) for s in range(10)]
    readings = [r if r.score > 1 else r.scored(0.1, False) for r in readings]
    assert len(calibrate([], {}, 1.0).training(readings)) == 8
    marked = calibrate([false_alarm("press", 3)], {}, 1.0)
    assert [r.timestamp.second for r in marked.training(readings) if r.is_flagged] == [3]
