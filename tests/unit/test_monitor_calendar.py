"""The live monitor gives the default detector the meters' day/week profile and calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from energy_core import Reading
from tests.unit.test_monitor import make_monitor

HOLIDAY = datetime(2024, 8, 15, tzinfo=UTC)  # a Thursday; a public holiday in Spain


def office_readings(start: datetime, hours: int, seed: int = 0) -> list[Reading]:
    """Two office meters, hourly: busy 8-18 on weekdays, quiet on Sundays and ``HOLIDAY``."""
    rng = np.random.default_rng(seed)
    readings = []
    for hour in range(hours):
        when = start + timedelta(hours=hour)
        closed = when.weekday() == 6 or when.date() == HOLIDAY.date()
        busy = 8 <= when.hour < 18 and not closed
        for meter in ("office-a", "office-b"):
            power = (100.0 if busy else 20.0) + rng.normal(0.0, 2.0)
            readings.append(Reading(when, meter, {"active_power": power}))
    return readings


def _holiday_flags(holidays: str | None) -> int:
    monitor, _ = make_monitor(holidays=holidays, max_readings=None, alarm_budget=None)
    start = datetime(2024, 6, 3, tzinfo=UTC)  # a Monday
    monitor.ingest(office_readings(start, 7 * 7 * 24))
    monitor.train()
    detector, _ = monitor.current_model()
    assert detector.seasonal_lags == (24, 168)  # hourly meters: yesterday and last week
    report = monitor.ingest(office_readings(start + timedelta(weeks=7), 28 * 24, seed=1))
    return sum(
        bool(reading.is_flagged)
        for reading in report.stored
        if reading.timestamp.date() == HOLIDAY.date()
    )


def test_a_holiday_alarms_without_the_calendar_and_not_with_it():
    assert _holiday_flags(None) >= 10  # both meters' working hours at Sunday level
    assert _holiday_flags("ES") == 0


def test_meters_that_report_every_second_get_no_day_or_week_profile():
    monitor, _ = make_monitor()
    monitor.generate_history(3000)
    monitor.train()
    detector, _ = monitor.current_model()
    assert detector.seasonal_lags == ()
