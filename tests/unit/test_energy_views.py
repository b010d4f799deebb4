"""What the energy views share: windows from local days and months, instants as people type
them, the incidents of a window from the alert store, and one summary of it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from energy_adapters.memory import ManualClock
from energy_core import Reading, Simulator
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.energy_views import (
    WindowError,
    check_window,
    dashboard_window,
    energy_summary,
    incidents_in,
    month_window,
    natural_period,
    parse_instant,
    previous_month,
    short_label,
    stacked_meters,
)
from energy_ui.settings import Settings
from tests.energy_support import (
    BURST_AT,
    BURST_END,
    DAY,
    METER,
    burst,
    flag_burst,
    two_kw_for_two_hours,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.fixture
def application(monkeypatch: pytest.MonkeyPatch) -> Application:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    made = bootstrap(
        Settings(_env_file=None, max_readings=None),
        clock=ManualClock(BURST_END),
        simulator=Simulator(meters=1),
    )
    made.monitor.readings.add_many(two_kw_for_two_hours() + burst())
    flag_burst(made)
    return made


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2025-06-02", utc(2025, 6, 1, 22)),  # local midnight in summer time
        ("2025-01-15", utc(2025, 1, 14, 23)),
        ("2025-06-02T08:30", utc(2025, 6, 2, 6, 30)),  # local wall clock
        ("2025-06-02 08:30", utc(2025, 6, 2, 6, 30)),
        ("2025-06-02T08:30+00:00", utc(2025, 6, 2, 8, 30)),
        ("2025-06-02T08:30Z", utc(2025, 6, 2, 8, 30)),
    ],
)
def test_instants_are_read_as_local_unless_they_carry_an_offset(typed, expected):
    assert parse_instant(typed, "Europe/Madrid", "start") == expected


@pytest.mark.parametrize("typed", ["tomorrow", "2025-02-30", "2025-06-02T25:00", "", "1899-12-31"])
def test_an_unreadable_instant_names_its_field(typed):
    with pytest.raises(WindowError, match=r"^--end: ") as raised:
        parse_instant(typed, "UTC", "--end")
    assert raised.value.field == "--end"


def test_a_window_ends_after_it_starts_and_spans_a_year_at_most():
    check_window(utc(2025, 1, 1), utc(2026, 1, 1))
    check_window(utc(2024, 1, 1), utc(2025, 1, 1))  # a leap year
    for end in (utc(2025, 1, 1), utc(2024, 12, 31), utc(2026, 1, 3)):  # the last: 367 days
        with pytest.raises(WindowError) as raised:
            check_window(utc(2025, 1, 1), end)
        assert raised.value.field == "end"


def test_a_month_is_its_local_calendar_month():
    assert month_window("2025-03", "Europe/Madrid") == (utc(2025, 2, 28, 23), utc(2025, 3, 31, 22))
    assert month_window("2025-12", "UTC") == (utc(2025, 12, 1), utc(2026, 1, 1))
    for wrong in ("2025-13", "2025-3", "March", "0001-01"):
        with pytest.raises(WindowError, match=r"^month: "):
            month_window(wrong, "UTC")


def test_the_previous_month_is_the_local_one():
    assert previous_month(utc(2025, 3, 1, 12), "UTC") == "2025-02"
    assert previous_month(utc(2025, 1, 10), "UTC") == "2024-12"
    # 23:30 UTC on 31 March is already 1 April in Madrid.
    assert previous_month(utc(2025, 3, 31, 23, 30), "Europe/Madrid") == "2025-03"


def test_the_dashboard_shows_the_chosen_days_else_those_of_the_data():
    zone = "Europe/Madrid"
    now = utc(2025, 6, 10, 12)
    chosen = dashboard_window(date(2025, 6, 2), date(2025, 6, 3), None, now, zone)
    assert chosen == (utc(2025, 6, 1, 22), utc(2025, 6, 3, 22))
    span = (utc(2025, 6, 4, 23, 30), utc(2025, 6, 5, 1))  # one local day: 5 June
    assert dashboard_window(None, None, span, now, zone) == (
        utc(2025, 6, 4, 22),
        utc(2025, 6, 5, 22),
    )
    assert dashboard_window(None, None, None, now, zone) == (
        utc(2025, 6, 9, 22),
        utc(2025, 6, 10, 22),
    )
    long = (utc(2024, 1, 1), utc(2025, 6, 5, 12))  # more than 31 days: the last 31
    start, end = dashboard_window(None, None, long, now, zone)
    assert (end - start, end) == (timedelta(days=31), utc(2025, 6, 5, 22))


def test_the_natural_period_grows_with_the_window():
    start = utc(2025, 1, 1)
    assert [
        natural_period(start, start + timedelta(days=days)) for days in (1, 2, 3, 62, 90, 366)
    ] == ["hour", "hour", "day", "day", "week", "month"]


def test_chart_labels_of_hours_keep_the_date_and_time():
    assert short_label("2025-06-02T08:00+02:00", "hour") == "06-02 08:00"
    assert short_label("2025-06-02", "day") == "2025-06-02"


def test_the_incidents_of_a_window_come_from_the_alert_store(application):
    [incident] = incidents_in(application, DAY, DAY + timedelta(days=1))
    assert (incident.meter_id, incident.start, incident.end) == (METER, BURST_AT, BURST_END)
    assert incidents_in(application, DAY, BURST_AT) == []  # ends before it began
    assert incidents_in(application, DAY, DAY + timedelta(days=1), ["other"]) == []
    assert len(incidents_in(application, DAY, DAY + timedelta(days=1), [METER])) == 1


def test_a_summary_joins_consumption_demand_and_the_incidents(application):
    summary = energy_summary(application, DAY, DAY + timedelta(days=1), period="hour")
    assert summary.consumption.import_kwh == pytest.approx(5.5, rel=0.005)
    assert summary.total_demand.peak_at == BURST_AT
    [anomaly] = summary.anomalies
    assert anomaly.actual_kwh == pytest.approx(1.5, rel=0.01)
    [layer] = stacked_meters(summary)
    assert (layer.meter_id, len(layer.kwh)) == (METER, 24)


def test_many_meters_stack_as_the_biggest_and_the_others(application):
    for number in range(9):  # m-0 … m-8 at 1 … 9 kW for two hours
        application.monitor.readings.add_many(
            [
                Reading(reading.timestamp, f"m-{number}", {"active_power": number + 1.0})
                for reading in two_kw_for_two_hours()
            ]
        )
    summary = energy_summary(application, DAY, DAY + timedelta(days=1))
    layers = stacked_meters(summary)
    # Seven layers: the six that used most (m-3 … m-8, 8 to 18 kWh), then the other four.
    assert [layer.meter_id for layer in layers] == ["m-3", "m-4", "m-5", "m-6", "m-7", "m-8", None]
    assert layers[-1].kwh[0] == pytest.approx(2 + 4 + 6 + 5.5, rel=0.005)
    assert sum(layer.kwh[0] for layer in layers) == pytest.approx(summary.consumption.import_kwh)
