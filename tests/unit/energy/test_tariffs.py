"""Tariffs: TOML files with errors that name the field, prices by the wall clock (periods
crossing midnight, daylight saving), tariffs over time, and what energy and demand cost."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from energy_core.energy import (
    EnergySettings,
    Tariff,
    TariffError,
    TariffPeriod,
    TariffSchedule,
    cost,
    load_tariffs,
    parse_tariffs,
)
from tests.unit.energy.helpers import power_readings, raw

MADRID = ZoneInfo("Europe/Madrid")
EXAMPLE = """
timezone = "Europe/Madrid"
currency = "EUR"

[[tariff]]
name = "2025"
valid_from = 2025-01-01
price = 0.10
demand_charge = 3.2

[[tariff.period]]
name = "peak"
price = 0.22
days = ["mon", "tue", "wed", "thu", "fri"]
hours = "10:00-14:00"

[[tariff.period]]
name = "night"
price = 0.06
days = "daily"
hours = "22:00-06:00"
"""
SETTINGS = EnergySettings(timezone="Europe/Madrid")


def local(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=MADRID)  # type: ignore[misc]


def one(name: str, price: float, **fields: object) -> str:
    extra = "".join(f"{key} = {value}\n" for key, value in fields.items())
    return f'[[tariff]]\nname = "{name}"\nprice = {price}\n{extra}'


HEAD = 'timezone = "Europe/Madrid"\ncurrency = "EUR"\n'


def test_the_example_file_is_read():
    schedule = parse_tariffs(EXAMPLE)
    [tariff] = schedule.tariffs
    assert (schedule.timezone, schedule.currency) == ("Europe/Madrid", "EUR")
    assert tariff.valid_from == datetime(2024, 12, 31, 23, tzinfo=UTC)  # local midnight
    assert [p.name for p in tariff.periods] == ["peak", "night"]
    assert tariff.periods[0].days == frozenset(range(5))
    assert (tariff.price, tariff.demand_charge) == (0.10, 3.2)


def test_load_tariffs_reads_a_file_and_names_a_missing_one(tmp_path):
    path = tmp_path / "tariffs.toml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert load_tariffs(path).currency == "EUR"
    with pytest.raises(TariffError, match=r"absent\.toml: cannot be read"):
        load_tariffs(tmp_path / "absent.toml")


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (local(2025, 6, 2, 10, 30), ("2025", "peak", 0.22)),  # Monday
        (local(2025, 6, 2, 9, 59), ("2025", "base", 0.10)),
        (local(2025, 6, 7, 11, 0), ("2025", "base", 0.10)),  # Saturday: no peak
        (local(2025, 6, 6, 23, 0), ("2025", "night", 0.06)),
        (local(2025, 6, 7, 5, 59), ("2025", "night", 0.06)),  # the night began on Friday
        (local(2025, 6, 7, 6, 0), ("2025", "base", 0.10)),
    ],
)
def test_the_price_follows_the_local_wall_clock(at, expected):
    assert parse_tariffs(EXAMPLE).price_at(at) == expected


def test_a_period_crossing_midnight_belongs_to_the_day_it_starts():
    text = (
        HEAD
        + one("t", 0.1)
        + (
            '[[tariff.period]]\nname = "weekend-night"\nprice = 0.05\ndays = ["fri"]\n'
            'hours = "22:00-06:00"\n'
        )
    )
    schedule = parse_tariffs(text)
    names = {
        hour: schedule.price_at(local(*hour))[1]  # type: ignore[index]
        for hour in [
            (2025, 6, 6, 21, 59),
            (2025, 6, 6, 22),
            (2025, 6, 7, 3),
            (2025, 6, 7, 6),
            (2025, 6, 7, 22, 30),
            (2025, 6, 5, 23),
        ]
    }
    assert list(names.values()) == [
        "base",
        "weekend-night",
        "weekend-night",
        "base",
        "base",
        "base",
    ]


@pytest.mark.parametrize(
    ("night", "hours"), [((2025, 3, 29), 7), ((2025, 10, 25), 9), ((2025, 6, 7), 8)]
)
def test_a_night_period_lasts_the_real_hours_of_a_night_the_clocks_change(night, hours):
    # 1 kW all day and night: the 22:00–06:00 period holds as many kWh as it lasts hours.
    start = local(*night, 12)
    end = local(*night, 12) + timedelta(days=1)  # noon to noon, by the wall clock
    readings = power_readings(start - timedelta(hours=1), 27 * 3600, 60, 1.0)
    [meter], _ = cost(raw(readings), start, end, tariffs=parse_tariffs(EXAMPLE), settings=SETTINGS)
    by_period = {charge.period: charge.kwh for charge in meter.energy}
    assert by_period["night"] == pytest.approx(float(hours))
    assert sum(by_period.values()) == pytest.approx(24.0 + (hours - 8))  # noon to noon


def test_energy_is_priced_by_the_tariff_in_force_when_used():
    text = (
        HEAD
        + one("old", 0.1, valid_from="2025-07-01")
        + one("older", 0.3)
        + one("new", 0.2, valid_from="2025-07-01T12:00:00+02:00")
    )
    schedule = parse_tariffs(text)
    assert [t.name for t in schedule.tariffs] == ["older", "old", "new"]
    start, end = local(2025, 6, 30, 12), local(2025, 7, 1, 18)
    readings = power_readings(start, 30 * 3600, 60, 1.0)
    [meter], _ = cost(raw(readings), start, end, tariffs=schedule, settings=SETTINGS)
    assert [(c.tariff, c.price, round(c.kwh, 9)) for c in meter.energy] == [
        ("older", 0.3, 12.0),
        ("old", 0.1, 12.0),
        ("new", 0.2, 6.0),
    ]
    assert meter.energy_amount == pytest.approx(3.6 + 1.2 + 1.2)
    assert meter.currency == "EUR" and meter.unpriced_kwh == 0.0


def test_energy_before_the_first_tariff_is_unpriced():
    schedule = parse_tariffs(HEAD + one("t", 0.1, valid_from="2025-06-02T12:00:00+02:00"))
    start = local(2025, 6, 2, 10)
    readings = power_readings(start, 4 * 3600, 60, 2.0)
    [meter], _ = cost(raw(readings), start, start + timedelta(hours=4), tariffs=schedule)
    assert meter.unpriced_kwh == pytest.approx(4.0)
    assert [(c.kwh, c.amount) for c in meter.energy] == [pytest.approx((4.0, 0.4))]
    assert schedule.in_force(start) is None and schedule.price_at(start) is None


def june_with_a_peak(meter: str = "m1", low: float = 2.0) -> list:
    """June 2025 in Madrid, readings every 5 min at ``low`` kW, 6 kW on the 10th 10:00–10:15."""
    start = local(2025, 6, 1)
    peak_from = (local(2025, 6, 10, 10) - start).total_seconds()

    def power(t: float) -> float:
        return 6.0 if peak_from <= t <= peak_from + 900 else low

    return power_readings(start, 30 * 86_400, 300, power, meter=meter)


def test_a_whole_month_pays_the_demand_charge_on_its_peak():
    schedule = parse_tariffs(HEAD + one("t", 0.1, demand_charge=4.0))
    start, end = local(2025, 6, 1), local(2025, 7, 1)
    [meter], _ = cost(raw(june_with_a_peak()), start, end, tariffs=schedule, settings=SETTINGS)
    [charge] = meter.demand
    assert (charge.month, charge.peak_kw, charge.rate, charge.share) == (
        "2025-06",
        pytest.approx(6.0),
        4.0,
        1.0,
    )
    assert charge.peak_at == local(2025, 6, 10, 10)
    assert meter.demand_amount == pytest.approx(24.0)
    assert meter.total == pytest.approx(meter.energy_amount + 24.0)


def test_part_of_a_month_pays_its_share_of_the_demand_charge():
    schedule = parse_tariffs(HEAD + one("t", 0.1, demand_charge=4.0))
    start, end = local(2025, 6, 1), local(2025, 6, 16)
    [meter], _ = cost(raw(june_with_a_peak()), start, end, tariffs=schedule, settings=SETTINGS)
    assert meter.demand[0].share == pytest.approx(0.5)
    assert meter.demand_amount == pytest.approx(4.0 * 6.0 * 0.5)


def test_the_total_pays_demand_on_the_meters_peak_together():
    schedule = parse_tariffs(HEAD + one("t", 0.1, demand_charge=1.0))
    start, end = local(2025, 6, 1), local(2025, 7, 1)
    readings = june_with_a_peak("a") + june_with_a_peak("b", low=1.0)
    meters, total = cost(raw(readings), start, end, tariffs=schedule, settings=SETTINGS)
    assert [m.demand[0].peak_kw for m in meters] == pytest.approx([6.0, 6.0])
    assert total.demand[0].peak_kw == pytest.approx(12.0)
    assert total.energy_amount == pytest.approx(sum(m.energy_amount for m in meters))
    assert total.meter_id is None


def test_a_flat_tariff_costs_the_price_times_the_energy():
    schedule = TariffSchedule("UTC", "USD", (Tariff("flat", price=0.25),))
    start = datetime(2025, 6, 2, 8, tzinfo=UTC)
    readings = power_readings(start, 7200, 60, 2.0)
    [meter], _ = cost(raw(readings), start, start + timedelta(hours=2), tariffs=schedule)
    assert meter.energy_amount == pytest.approx(1.0)
    assert [(c.period, c.kwh) for c in meter.energy] == [("base", pytest.approx(4.0))]


def test_price_intervals_cut_where_the_price_changes():
    schedule = parse_tariffs(EXAMPLE)
    intervals = schedule.price_intervals(local(2025, 6, 2, 9, 30), local(2025, 6, 2, 23))
    names = [schedule.tariffs[0].period_name(p) for p in intervals.period.tolist()]
    assert names == ["base", "peak", "base", "night"]
    assert intervals.price.tolist() == [0.10, 0.22, 0.10, 0.06]
    assert len(intervals.edges) == 5


# --- errors name the field -----------------------------------------------------------------
PERIOD = '[[tariff.period]]\nname = "{name}"\nprice = 0.2\ndays = {days}\nhours = "{hours}"\n'


def period(name: str = "p", days: str = '"daily"', hours: str = "10:00-14:00") -> str:
    return PERIOD.format(name=name, days=days, hours=hours)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('currency = "EUR"\n' + one("t", 0.1), "tariffs: timezone: missing"),
        (HEAD + "currenc = 1\n" + one("t", 0.1), "unknown field.*currenc"),
        ('timezone = "Mars/Base"\ncurrency = "EUR"\n' + one("t", 0.1), "timezone 'Mars/Base'"),
        (HEAD, "at least one \\[\\[tariff\\]\\]"),
        (HEAD + "[[tariff]]\nprice = 0.1\n", "tariff\\[0\\].name: missing"),
        (HEAD + one("t", '"cheap"'), "tariff\\[0\\].price 'cheap': must be a finite number"),
        (HEAD + one("t", 0.1, demand_charge=-1), "tariff\\[0\\].demand_charge -1"),
        (HEAD + one("t", 0.1, valid_from='"soon"'), "tariff\\[0\\].valid_from 'soon'"),
        (HEAD + one("t", 0.1, colour='"red"'), "tariff\\[0\\]: unknown field.*colour"),
        (HEAD + one("t", 0.1) + period(hours="10-14"), "tariff\\[0\\].period\\[0\\].hours '10-14'"),
        (HEAD + one("t", 0.1) + period(days='["mon", "funday"]'), "period\\[0\\].days: 'funday'"),
        (HEAD + one("t", 0.1) + period(name="base"), "period\\[0\\].name 'base': reserved"),
        (
            HEAD + one("t", 0.1) + period("a") + period("b", hours="13:00-15:00"),
            "tariff\\[0\\].period\\[1\\] 'b' overlaps period\\[0\\] 'a' on mon 13:00",
        ),
        (
            HEAD + '[[tariff]]\nname = "t"\n' + period(hours="08:00-20:00"),
            "tariff\\[0\\].no price on mon 00:00",
        ),
        (
            HEAD + one("a", 0.1, valid_from="2025-01-01") + one("b", 0.2, valid_from="2025-01-01"),
            "'a' and 'b' are both valid from",
        ),
        (HEAD + "[[tariff]\n", "not valid TOML"),
    ],
)
def test_a_tariff_file_that_cannot_be_used_is_refused_naming_the_field(text, message):
    with pytest.raises(TariffError, match=message):
        parse_tariffs(text)


def test_periods_and_schedules_check_themselves_in_code_too():
    with pytest.raises(TariffError, match="days"):
        TariffPeriod("p", 0.1, frozenset({7}), time(1), time(2))
    with pytest.raises(TariffError, match=r"valid_from .*: must carry a time zone"):
        Tariff("t", valid_from=datetime(2025, 1, 1), price=0.1)
    with pytest.raises(TariffError, match="whole minute"):
        Tariff("t", valid_from=datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC), price=0.1)
    with pytest.raises(TariffError, match="currency"):
        TariffSchedule("UTC", " ", (Tariff("t", price=0.1),))
    assert math.isnan(
        Tariff(
            "t", periods=(TariffPeriod("all", 0.1, frozenset(range(7)), time(0), time(0)),)
        ).prices()[-1]
    )
