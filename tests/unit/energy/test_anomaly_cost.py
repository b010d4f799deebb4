"""What an anomaly cost: energy above the meter's same hour-of-week median over the previous
weeks, priced at the tariff; the costliest first."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from energy_core.alerts import Alert, AlertKind, Severity
from energy_core.energy import (
    AnomalyCost,
    EnergySettings,
    Incident,
    Tariff,
    TariffSchedule,
    anomaly_cost,
    costliest,
    hour_of_week,
    incidents_from_alerts,
    parse_tariffs,
)
from energy_core.energy.calendar import check_zone, minute_of_week, seconds
from tests.unit.energy.helpers import DAY, power_readings, raw, through_minutes

INCIDENT_DAY = datetime(2025, 7, 2, tzinfo=UTC)  # a Wednesday, 30 days after DAY
FLAT = TariffSchedule("UTC", "EUR", (Tariff("flat", price=0.15),))


def five_weeks(power) -> dict:
    """A meter every 5 min from DAY for 31 days, ``power(moment)`` kW."""
    return raw(power_readings(DAY, 31 * 86_400, 300, lambda t: power(DAY + timedelta(seconds=t))))


def during(moment: datetime, day: datetime, start_hour: float, hours: float = 1.0) -> bool:
    begin = day + timedelta(hours=start_hour)
    return begin <= moment <= begin + timedelta(hours=hours)


def incident(start_hour: float = 10.0, hours: float = 1.0) -> Incident:
    begin = INCIDENT_DAY + timedelta(hours=start_hour)
    return Incident("m1", begin, begin + timedelta(hours=hours), key="incident:m1")


def test_the_energy_above_the_usual_hour_and_its_cost():
    series = five_weeks(lambda m: 3.0 if during(m, INCIDENT_DAY, 10) else 1.0)
    result = anomaly_cost(incident(), series["m1"], tariffs=FLAT)
    assert (result.actual_kwh, result.expected_kwh) == pytest.approx((3.0, 1.0))
    assert result.excess_kwh == pytest.approx(2.0)
    assert result.cost == pytest.approx(0.30)
    assert (result.currency, result.baseline_weeks) == ("EUR", 4)


def test_the_baseline_is_the_same_hour_of_the_week():
    # Wednesdays 10–11 usually draw 2 kW: the incident's 3 kW is 1 kW above that.
    def power(moment: datetime) -> float:
        if during(moment, INCIDENT_DAY, 10):
            return 3.0
        midnight = moment.replace(hour=0, minute=0, second=0)
        return 2.0 if moment.weekday() == 2 and during(moment, midnight, 10) else 1.0

    result = anomaly_cost(incident(), five_weeks(power)["m1"], tariffs=FLAT)
    assert result.excess_kwh == pytest.approx(1.0)


def test_an_earlier_incident_in_the_same_hour_barely_moves_the_median():
    earlier = INCIDENT_DAY - timedelta(weeks=2)
    series = five_weeks(
        lambda m: 3.0 if during(m, INCIDENT_DAY, 10) else (10.0 if during(m, earlier, 10) else 1.0)
    )
    result = anomaly_cost(incident(), series["m1"], tariffs=FLAT)
    assert result.excess_kwh == pytest.approx(2.0)


def test_the_excess_is_priced_minute_by_minute_at_time_of_use():
    tariffs = parse_tariffs(
        'timezone = "UTC"\ncurrency = "EUR"\n[[tariff]]\nname = "t"\nprice = 0.10\n'
        '[[tariff.period]]\nname = "peak"\nprice = 0.22\ndays = "daily"\nhours = "10:00-14:00"\n'
    )
    series = five_weeks(lambda m: 3.0 if during(m, INCIDENT_DAY, 13.5) else 1.0)
    result = anomaly_cost(incident(13.5), series["m1"], tariffs=tariffs)
    assert result.excess_kwh == pytest.approx(2.0)
    assert result.cost == pytest.approx(1.0 * 0.22 + 1.0 * 0.10)


def test_the_rollups_give_the_same_cost():
    readings = power_readings(
        DAY,
        31 * 86_400,
        300,
        lambda t: 3.0 if during(DAY + timedelta(seconds=t), INCIDENT_DAY, 10) else 1.0,
    )
    result = anomaly_cost(incident(), through_minutes(readings)["m1"], tariffs=FLAT)
    assert result.excess_kwh == pytest.approx(2.0, rel=0.02)


def test_less_than_usual_is_a_negative_excess():
    series = five_weeks(lambda m: 0.5 if during(m, INCIDENT_DAY, 10) else 1.0)
    result = anomaly_cost(incident(), series["m1"], tariffs=FLAT)
    assert result.excess_kwh == pytest.approx(-0.5)
    assert result.cost == pytest.approx(-0.075)


def test_without_history_or_tariff_what_is_unknown_says_so():
    recent = raw(power_readings(INCIDENT_DAY, 86_400, 300, 1.0))["m1"]
    unknown = anomaly_cost(incident(), recent, tariffs=FLAT)
    assert unknown.actual_kwh == pytest.approx(1.0)
    assert math.isnan(unknown.expected_kwh) and math.isnan(unknown.cost)
    assert unknown.baseline_weeks == 0
    series = five_weeks(lambda m: 3.0 if during(m, INCIDENT_DAY, 10) else 1.0)
    unpriced = anomaly_cost(incident(), series["m1"])
    assert unpriced.excess_kwh == pytest.approx(2.0)
    assert math.isnan(unpriced.cost) and unpriced.currency is None


def test_fewer_baseline_weeks_are_settable():
    series = five_weeks(lambda m: 3.0 if during(m, INCIDENT_DAY, 10) else 1.0)
    result = anomaly_cost(incident(), series["m1"], settings=EnergySettings(baseline_weeks=2))
    assert result.baseline_weeks == 2 and result.excess_kwh == pytest.approx(2.0)


def test_incidents_come_from_incident_alerts_and_an_open_one_ends_now():
    start = datetime(2025, 7, 2, 10, tzinfo=UTC)
    now = start + timedelta(hours=3)

    def alert(kind: AlertKind, meter: str | None, ended: datetime | None) -> Alert:
        return Alert(f"{kind}:{meter}", kind, "rule", meter, Severity.WARNING, start, start, ended)

    alerts = [
        alert(AlertKind.INCIDENT, "m1", start + timedelta(hours=1)),
        alert(AlertKind.INCIDENT, "m2", None),
        alert(AlertKind.LIMIT, "m3", None),
        alert(AlertKind.HEALTH, None, None),
    ]
    assert incidents_from_alerts(alerts, now) == [
        Incident("m1", start, start + timedelta(hours=1), "incident:m1"),
        Incident("m2", start, now, "incident:m2"),
    ]
    with pytest.raises(ValueError, match="end"):
        Incident("m1", now, start)


def test_the_costliest_come_first_and_unknown_ones_last():
    def item(name: str, excess: float, cost: float) -> AnomalyCost:
        found = Incident(name, INCIDENT_DAY, INCIDENT_DAY)
        return AnomalyCost(found, 0.0, 0.0, excess, cost, "EUR", 4)

    items = [
        item("a", 1.0, 0.1),
        item("b", 5.0, math.nan),
        item("c", 2.0, 0.9),
        item("d", 3.0, 0.1),
    ]
    assert [i.incident.meter_id for i in costliest(items)] == ["c", "d", "a", "b"]
    assert [i.incident.meter_id for i in costliest(items, 2)] == ["c", "d"]


def test_weeks_count_from_monday_midnight_local():
    monday = datetime(2025, 6, 2, tzinfo=UTC)
    zone = check_zone("Europe/Madrid")
    moments = np.array(
        [
            seconds(monday),
            seconds(monday) - 2 * 3600,
            seconds(monday + timedelta(days=2, hours=10, minutes=30)),
        ]
    )
    assert hour_of_week(moments, "UTC").tolist() == [0, 166, 58]  # Sunday 22:00, Wednesday 10:30
    assert minute_of_week(moments[:1], zone).tolist() == [120]  # 02:00 in Madrid
