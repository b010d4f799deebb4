"""Tariffs: what imported energy and peak demand cost, from a TOML file.

A schedule is one supply point: one time zone, one currency, and the tariffs in force one
after the other (each from its ``valid_from``). A tariff prices each kWh by the wall clock —
flat (one ``price``) or time of use (``period`` entries by weekday and hours, crossing
midnight when they end before they start, ``price`` for the rest of the week) — and may
charge ``demand_charge`` per kW of each calendar month's peak demand. Local times follow
the zone's daylight saving rules (zoneinfo): a 22:00–06:00 period lasts 7 or 9 hours on the
nights the clocks change.

Example file::

    timezone = "Europe/Madrid"
    currency = "EUR"

    [[tariff]]
    name = "2025"
    valid_from = 2025-01-01          # local midnight; or a date-time
    price = 0.10                     # every hour no period covers
    demand_charge = 3.2              # per kW of each month's peak

    [[tariff.period]]
    name = "peak"
    price = 0.22
    days = ["mon", "tue", "wed", "thu", "fri"]   # or "mon-fri", "daily"
    hours = "10:00-14:00"

    [[tariff.period]]
    name = "night"
    price = 0.06
    days = "daily"
    hours = "22:00-06:00"            # crosses midnight
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from energy_core.energy.calendar import (
    WEEK_S,
    calendar_periods,
    check_zone,
    instant,
    minute_of_week,
    seconds,
)
from energy_core.energy.ports import FloatArray, IntArray

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekdays as tariffs name them: 0 = Monday … 6 = Sunday."""
BASE_PERIOD = "base"
"""The name of a tariff's own ``price``: flat, or wherever no period applies."""
WEEK_MINUTES = WEEK_S // 60
SINCE_EVER = datetime(2000, 1, 1, tzinfo=UTC)
"""``valid_from`` of a tariff that does not give one (no reading is older)."""


class TariffError(ValueError):
    """A tariff file or definition that cannot be used; the message names the field."""


def _clock(minute: int) -> str:
    day, rest = divmod(minute % WEEK_MINUTES, 1440)
    return f"{DAY_NAMES[day]} {rest // 60:02d}:{rest % 60:02d}"


@dataclass(frozen=True, slots=True)
class TariffPeriod:
    """A time-of-use period: ``price`` per kWh on ``days`` (0 = Monday) from ``start``
    (inclusive) to ``end`` (exclusive), local wall clock. ``end`` ≤ ``start`` crosses
    midnight into the next day (``end == start``: 24 hours); a day is where it starts."""

    name: str
    price: float
    days: frozenset[int]
    start: time
    end: time

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise TariffError("name: must not be empty")
        if self.name == BASE_PERIOD:
            raise TariffError(f"name {self.name!r}: reserved for the tariff's own price")
        _check_number("price", self.price)
        days = frozenset(self.days)
        if not days or not days <= frozenset(range(7)):
            raise TariffError(f"days {sorted(days)}: one or more of 0 (Monday) to 6 (Sunday)")
        for name, moment in (("start", self.start), ("end", self.end)):
            if moment.tzinfo is not None or moment.second or moment.microsecond:
                raise TariffError(f"{name} {moment}: a local time in whole minutes")
        object.__setattr__(self, "days", days)

    def week_minutes(self) -> IntArray:
        """The minutes of the week (0 = Monday 00:00) the period covers."""
        first = self.start.hour * 60 + self.start.minute
        last = self.end.hour * 60 + self.end.minute
        length = (last - first) % 1440 or 1440
        starts = np.array(sorted(day * 1440 + first for day in self.days), dtype=np.int64)
        return ((starts[:, None] + np.arange(length)) % WEEK_MINUTES).ravel()


def _check_number(name: str, value: object, *, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TariffError(f"{name} {value!r}: must be a finite number")
    if minimum is not None and value < minimum:
        raise TariffError(f"{name} {value!r}: must be {minimum} or more")
    return float(value)


@dataclass(frozen=True, slots=True, eq=False)
class Tariff:
    """Prices in force from ``valid_from`` (an aware instant, on a whole minute) until the
    next tariff of the schedule. ``price``: per kWh wherever no period applies (``None``:
    the periods must cover the whole week). ``periods`` must not overlap.
    ``demand_charge``: per kW of each calendar month's peak demand."""

    name: str
    valid_from: datetime = SINCE_EVER
    price: float | None = None
    periods: tuple[TariffPeriod, ...] = ()
    demand_charge: float = 0.0
    _week: IntArray = field(init=False, repr=False)
    """The period index of each minute of the week (-1: the tariff's own price)."""

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise TariffError("name: must not be empty")
        if self.valid_from.tzinfo is None:
            raise TariffError(f"valid_from {self.valid_from}: must carry a time zone")
        valid_from = self.valid_from.astimezone(UTC)
        if valid_from.second or valid_from.microsecond:
            raise TariffError(f"valid_from {valid_from.isoformat()}: must be on a whole minute")
        object.__setattr__(self, "valid_from", valid_from)
        if self.price is not None:
            _check_number("price", self.price)
        _check_number("demand_charge", self.demand_charge, minimum=0.0)
        periods = tuple(self.periods)
        object.__setattr__(self, "periods", periods)
        week = np.full(WEEK_MINUTES, -1, dtype=np.int64)
        for index, period in enumerate(periods):
            minutes = period.week_minutes()
            taken = week[minutes]
            if (taken >= 0).any():
                clash = int(minutes[np.argmax(taken >= 0)])
                other = periods[int(week[clash])]
                raise TariffError(
                    f"period[{index}] {period.name!r} overlaps period[{int(week[clash])}]"
                    f" {other.name!r} on {_clock(clash)}"
                )
            week[minutes] = index
        if self.price is None and (week < 0).any():
            hole = int(np.argmax(week < 0))
            raise TariffError(
                f"no price on {_clock(hole)}: no period covers it; give the tariff a"
                " `price` for the hours no period covers"
            )
        object.__setattr__(self, "_week", week)

    def period_at_minutes(self, week_minutes: IntArray) -> IntArray:
        """The period index (-1: the tariff's own price) at each minute of the week."""
        return self._week[week_minutes]

    def prices(self) -> FloatArray:
        """Price by period index, the tariff's own price (NaN if none) last (index -1)."""
        own = math.nan if self.price is None else self.price
        return np.array([period.price for period in self.periods] + [own])

    def period_name(self, index: int) -> str:
        return BASE_PERIOD if index < 0 else self.periods[index].name


@dataclass(frozen=True, slots=True, eq=False)
class PriceIntervals:
    """A window cut where the price changes: ``edges`` (epoch seconds) and, per interval,
    the index of the tariff in force (-1: none), its period index (-1: the tariff's own
    price) and the price per kWh (NaN: no tariff in force)."""

    edges: FloatArray
    tariff: IntArray
    period: IntArray
    price: FloatArray


@dataclass(frozen=True, slots=True, eq=False)
class TariffSchedule:
    """The tariffs of one supply point in ``timezone`` and ``currency``, in force one after
    the other from their ``valid_from`` (sorted here; no two on the same instant)."""

    timezone: str
    currency: str
    tariffs: tuple[Tariff, ...]

    def __post_init__(self) -> None:
        check_zone(self.timezone)
        if not self.currency.strip():
            raise TariffError("currency: must not be empty (e.g. 'EUR')")
        if not self.tariffs:
            raise TariffError("tariff: at least one tariff is needed")
        ordered = tuple(sorted(self.tariffs, key=lambda tariff: tariff.valid_from))
        for before, after in pairwise(ordered):
            if before.valid_from == after.valid_from:
                raise TariffError(
                    f"tariffs {before.name!r} and {after.name!r} are both valid from"
                    f" {after.valid_from.isoformat()}"
                )
        object.__setattr__(self, "tariffs", ordered)

    def in_force(self, at: datetime) -> Tariff | None:
        """The tariff in force at ``at`` (``None`` before the first)."""
        index = int(self._tariff_index(np.array([seconds(at, "at")]))[0])
        return self.tariffs[index] if index >= 0 else None

    def _tariff_index(self, times: FloatArray) -> IntArray:
        starts = np.array([seconds(tariff.valid_from) for tariff in self.tariffs])
        return np.searchsorted(starts, times, side="right").astype(np.int64) - 1

    def classify(self, times: FloatArray) -> tuple[IntArray, IntArray, FloatArray]:
        """At each instant (epoch seconds): the tariff index (-1: none), the period index
        (-1: the tariff's own price) and the price per kWh (NaN: no tariff)."""
        times = np.asarray(times, dtype=np.float64)
        tariff_index = self._tariff_index(times)
        week = minute_of_week(times, check_zone(self.timezone))
        period = np.full(len(times), -1, dtype=np.int64)
        price = np.full(len(times), np.nan)
        for index, tariff in enumerate(self.tariffs):
            here = tariff_index == index
            if here.any():
                period[here] = tariff.period_at_minutes(week[here])
                price[here] = tariff.prices()[period[here]]
        return tariff_index, period, price

    def price_at(self, at: datetime) -> tuple[str, str, float] | None:
        """The tariff's name, the period's name and the price per kWh at ``at``; ``None``
        before the first tariff."""
        tariff_index, period, price = self.classify(np.array([seconds(at, "at")]))
        if tariff_index[0] < 0:
            return None
        tariff = self.tariffs[int(tariff_index[0])]
        return tariff.name, tariff.period_name(int(period[0])), float(price[0])

    def price_intervals(self, start: datetime, end: datetime) -> PriceIntervals:
        """[``start``, ``end``) cut where the price changes (prices change on whole
        minutes: periods and ``valid_from`` are in whole minutes, offsets in quarter
        hours)."""
        low, high = seconds(start, "start"), seconds(end, "end")
        if high <= low:
            empty = np.zeros(0, dtype=np.int64)
            return PriceIntervals(np.array([low]), empty, empty, np.zeros(0))
        minutes = np.arange(math.ceil(low / 60) * 60, high, 60.0)
        cuts = np.unique(np.concatenate(([low], minutes[minutes > low])))
        tariff_index, period, price = self.classify(cuts)
        changed = np.ones(len(cuts), dtype=bool)
        changed[1:] = (tariff_index[1:] != tariff_index[:-1]) | (period[1:] != period[:-1])
        edges = np.append(cuts[changed], high)
        return PriceIntervals(edges, tariff_index[changed], period[changed], price[changed])

    # --- demand charges -----------------------------------------------------------------
    def demand_charges(
        self, interval_starts: FloatArray, kw: FloatArray, start: datetime, end: datetime
    ) -> tuple[DemandCharge, ...]:
        """The demand charge of each calendar month [``start``, ``end``) touches: the rate
        of the tariff in force when the month's peak interval began, times that peak,
        times the share of the month inside the window (a whole month: the whole charge)."""
        charges = []
        zone = check_zone(self.timezone)
        for month in calendar_periods(start, end, "month", self.timezone):
            low, high = seconds(month.start), seconds(month.end)
            inside = (interval_starts >= low) & (interval_starts < high) & ~np.isnan(kw)
            first_local = month.start.astimezone(zone).replace(
                day=1, hour=0, minute=0, second=0, microsecond=0, fold=0
            )
            following = (first_local + timedelta(days=32)).replace(day=1)
            whole = (following.astimezone(UTC) - first_local.astimezone(UTC)).total_seconds()
            share = (high - low) / whole
            if not inside.any():
                charges.append(DemandCharge(month.label, math.nan, None, 0.0, share, 0.0))
                continue
            peak_index = int(np.argmax(np.where(inside, kw, -np.inf)))
            peak, peak_at = float(kw[peak_index]), instant(interval_starts[peak_index])
            tariff = self.in_force(peak_at)
            rate = tariff.demand_charge if tariff is not None else math.nan
            charges.append(
                DemandCharge(month.label, peak, peak_at, rate, share, rate * peak * share)
            )
        return tuple(charges)


@dataclass(frozen=True, slots=True)
class DemandCharge:
    """One calendar month's demand charge: ``peak_kw`` (NaN: no covered interval) that
    began ``peak_at``, the ``rate`` per kW, the ``share`` of the month in the window, and
    ``amount`` = rate × peak × share."""

    month: str
    peak_kw: float
    peak_at: datetime | None
    rate: float
    share: float
    amount: float


# --- loading --------------------------------------------------------------------------
def load_tariffs(path: str | Path) -> TariffSchedule:
    """The schedule in the TOML file at ``path``; ``TariffError`` naming the file and the
    field when it cannot be used."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as error:
        raise TariffError(f"{source}: cannot be read: {error.strerror or error}") from None
    return parse_tariffs(text, source=str(source))


def parse_tariffs(text: str, *, source: str = "tariffs") -> TariffSchedule:
    """The schedule in TOML ``text`` (see the module's example); ``TariffError`` naming
    ``source`` and the field when it cannot be used."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise TariffError(f"{source}: not valid TOML: {error}") from None
    return tariffs_from_mapping(data, source=source)


def _unknown_keys(where: str, data: Mapping[str, Any], known: Sequence[str]) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise TariffError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )


def _text(where: str, data: Mapping[str, Any], key: str) -> str:
    if key not in data:
        raise TariffError(f"{where}{key}: missing")
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise TariffError(f"{where}{key} {value!r}: must be a non-empty text")
    return value


def _days(where: str, value: object) -> frozenset[int]:
    words: list[object]
    if isinstance(value, str):
        if value.strip().lower() in ("daily", "*"):
            return frozenset(range(7))
        words = [part for part in value.lower().replace(" ", "").split(",") if part]
    elif isinstance(value, list):
        words = list(value)
    else:
        raise TariffError(f"{where}days {value!r}: a list of days or a text like 'mon-fri'")
    days: set[int] = set()
    for word in words:
        ends = str(word).strip().lower().split("-") if isinstance(word, str) else []
        if not ends or len(ends) > 2 or not all(end in DAY_NAMES for end in ends):
            raise TariffError(
                f"{where}days: {word!r}: use {', '.join(DAY_NAMES)}, ranges (mon-fri) or daily"
            )
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    if not days:
        raise TariffError(f"{where}days: at least one day is needed")
    return frozenset(days)


_HH_MM = re.compile(r"\d{2}:\d{2}")


def _hours(where: str, value: object) -> tuple[time, time]:
    parts = value.split("-") if isinstance(value, str) else []
    try:
        if len(parts) != 2:
            raise ValueError
        start, end = (part.strip() for part in parts)
        if not all(_HH_MM.fullmatch(part) for part in (start, end)):
            raise ValueError
        end_time = time(0) if end == "24:00" else time.fromisoformat(end)
        start_time = time.fromisoformat(start)
    except ValueError:
        raise TariffError(
            f"{where}hours {value!r}: need HH:MM-HH:MM (e.g. '22:00-06:00', '00:00-24:00')"
        ) from None
    return start_time, end_time


def _valid_from(where: str, value: object, zone_name: str) -> datetime:
    zone = check_zone(zone_name)
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=zone)
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0), tzinfo=zone)
    else:
        raise TariffError(
            f"{where}valid_from {value!r}: a TOML date (2025-01-01) or date-time"
            " (2025-01-01T00:00:00+01:00)"
        )
    return moment.astimezone(UTC)


def tariffs_from_mapping(data: Mapping[str, Any], *, source: str = "tariffs") -> TariffSchedule:
    """The schedule described by ``data`` (a parsed TOML document)."""
    _unknown_keys(source, data, ("timezone", "currency", "tariff"))
    timezone = _text(f"{source}: ", data, "timezone")
    try:
        check_zone(timezone)
    except ValueError as error:
        raise TariffError(f"{source}: {error}") from None
    currency = _text(f"{source}: ", data, "currency")
    entries = data.get("tariff")
    if not isinstance(entries, list) or not entries:
        raise TariffError(f"{source}: tariff: at least one [[tariff]] table is needed")
    tariffs = []
    for index, entry in enumerate(entries):
        where = f"{source}: tariff[{index}]."
        if not isinstance(entry, dict):
            raise TariffError(f"{where[:-1]}: must be a table")
        _unknown_keys(where[:-1], entry, ("name", "valid_from", "price", "demand_charge", "period"))
        periods = []
        for number, item in enumerate(entry.get("period", [])):
            at = f"{where}period[{number}]."
            if not isinstance(item, dict):
                raise TariffError(f"{at[:-1]}: must be a table")
            _unknown_keys(at[:-1], item, ("name", "price", "days", "hours"))
            if "price" not in item:
                raise TariffError(f"{at}price: missing")
            if "hours" not in item:
                raise TariffError(f"{at}hours: missing")
            start, end = _hours(at, item["hours"])
            try:
                periods.append(
                    TariffPeriod(
                        name=_text(at, item, "name"),
                        price=_check_number("price", item["price"]),
                        days=_days(at, item.get("days", "daily")),
                        start=start,
                        end=end,
                    )
                )
            except TariffError as error:
                message = str(error)
                raise TariffError(
                    message if message.startswith(source) else f"{at}{message}"
                ) from None
        try:
            tariffs.append(
                Tariff(
                    name=_text(where, entry, "name"),
                    valid_from=(
                        _valid_from(where, entry["valid_from"], timezone)
                        if "valid_from" in entry
                        else SINCE_EVER
                    ),
                    price=(_check_number("price", entry["price"]) if "price" in entry else None),
                    periods=tuple(periods),
                    demand_charge=_check_number(
                        "demand_charge", entry.get("demand_charge", 0.0), minimum=0.0
                    ),
                )
            )
        except TariffError as error:
            message = str(error)
            raise TariffError(
                message if message.startswith(source) else f"{where}{message}"
            ) from None
    try:
        return TariffSchedule(timezone=timezone, currency=currency, tariffs=tuple(tariffs))
    except TariffError as error:
        raise TariffError(f"{source}: {error}") from None
