"""What the Consumption tab, ``GET /api/v1/energy``, ``smartenergy energy`` and the monthly
report share: the window asked for (local days and months of ``ENERGY_TIMEZONE``), the
incidents in it from the alert store, and one ``EnergySummary`` of it (no UI here)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from energy_core.energy import (
    PERIODS,
    Cost,
    Demand,
    EnergySummary,
    Incident,
    MeterConsumption,
    Period,
    incidents_from_alerts,
)
from energy_core.telemetry.catalogue import Language
from energy_core.telemetry.validation import QUERY_RANGE
from energy_ui.i18n import number

if TYPE_CHECKING:
    from energy_ui.bootstrap import Application

MAX_DAYS = 366
"""Longest window one summary covers (a year, leap day included)."""
MAX_INCIDENTS = 1000
"""Most recent alerts read to find the incidents of a window."""
TOP_ANOMALIES = 10
"""How many of the costliest anomalies a summary keeps by default."""
DASHBOARD_DAYS = 31
"""Without a date range, the Consumption tab covers the days of the stored data, at most
this many up to the newest reading's."""

PERIOD_TEXT: dict[Period, str] = {
    "hour": "energy.period_hour",
    "day": "energy.period_day",
    "week": "energy.period_week",
    "month": "energy.period_month",
}
"""The catalogue key of each period's name (literal keys: the catalogue's test sees them)."""
SOURCE_TEXT = {"counter": "energy.source_counter", "power": "energy.source_power"}
"""The catalogue key of where a meter's energy came from."""

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


class WindowError(ValueError):
    """A window that cannot be summarised; ``field`` names what to change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


def local_midnight(day: date, timezone: str) -> datetime:
    """The instant (UTC) local midnight of ``day`` begins in ``timezone`` (a midnight the
    clock skips: the instant of the change)."""
    zone = ZoneInfo(timezone)
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def parse_instant(text: str, timezone: str, field: str) -> datetime:
    """``text`` as an instant (UTC): an ISO 8601 date is local midnight in ``timezone``, a
    date-time without an offset local wall-clock time there, one with an offset itself.
    ``WindowError`` naming ``field`` when it is none of them or lies outside the instants a
    query may name."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            moment = local_midnight(date.fromisoformat(raw), timezone)
        else:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00").replace(" ", "T", 1))
            local = parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(timezone))
            moment = local.astimezone(UTC)
    except (ValueError, OverflowError):
        raise WindowError(
            field,
            f"{text!r} is not an ISO 8601 date (2025-06-02) or date-time (2025-06-02T08:00, "
            "2025-06-02T08:00+02:00)",
        ) from None
    low, high = QUERY_RANGE
    if not low <= moment < high:
        raise WindowError(field, f"must lie between {low.year} and {high.year}")
    return moment


def check_window(start: datetime, end: datetime) -> None:
    """``WindowError`` naming ``end`` unless ``start`` < ``end`` ≤ ``start`` + ``MAX_DAYS``."""
    if end <= start:
        raise WindowError("end", f"{end.isoformat()} must be after start {start.isoformat()}")
    if end - start > timedelta(days=MAX_DAYS):
        raise WindowError("end", f"a window of at most {MAX_DAYS} days")


def day_window(first: date, last: date, timezone: str) -> tuple[datetime, datetime]:
    """The local days ``first`` to ``last`` (both included) of ``timezone``, as UTC."""
    if last < first:
        first, last = last, first
    return local_midnight(first, timezone), local_midnight(last + timedelta(days=1), timezone)


def month_window(month: str, timezone: str) -> tuple[datetime, datetime]:
    """The local calendar month ``YYYY-MM`` of ``timezone``, as UTC; ``WindowError`` naming
    ``month`` when it is not one."""
    found = _MONTH.fullmatch(month.strip())
    year, number = (int(found[1]), int(found[2])) if found else (0, 0)
    if not (found and 1 <= number <= 12 and QUERY_RANGE[0].year <= year < QUERY_RANGE[1].year):
        raise WindowError("month", f"{month!r} is not a month as YYYY-MM (e.g. 2025-06)")
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return local_midnight(first, timezone), local_midnight(following, timezone)


def previous_month(now: datetime, timezone: str) -> str:
    """The calendar month before the one ``now`` falls in, locally, as ``YYYY-MM``."""
    local = now.astimezone(ZoneInfo(timezone)).date().replace(day=1) - timedelta(days=1)
    return f"{local.year}-{local.month:02d}"


def dashboard_window(
    first: date | None,
    last: date | None,
    span: tuple[datetime, datetime] | None,
    now: datetime,
    timezone: str,
) -> tuple[datetime, datetime]:
    """The Consumption tab's window: the side panel's days as local days of ``timezone``;
    without them the local days the stored data spans (``span``), at most ``DASHBOARD_DAYS``
    up to the newest reading's day (today without data)."""
    if first is not None and last is not None:
        return day_window(first, last, timezone)
    zone = ZoneInfo(timezone)
    newest = (span[1] if span else now).astimezone(zone).date()
    oldest = span[0].astimezone(zone).date() if span else newest
    oldest = max(oldest, newest - timedelta(days=DASHBOARD_DAYS - 1))
    return day_window(oldest, newest, timezone)


def natural_period(start: datetime, end: datetime) -> Period:
    """The period that suits a window: hours up to two days, days up to two months, weeks
    up to half a year, then months."""
    length = end - start
    if length <= timedelta(days=2):
        return "hour"
    if length <= timedelta(days=62):
        return "day"
    if length <= timedelta(days=183):
        return "week"
    return "month"


def check_period(period: str) -> Period:
    """``period`` as a ``Period``; ``WindowError`` naming it otherwise."""
    for known in PERIODS:
        if period == known:
            return known
    raise WindowError("period", f"{period!r}: one of {', '.join(PERIODS)}")


def incidents_in(
    application: Application, start: datetime, end: datetime, meters: Sequence[str] = ()
) -> list[Incident]:
    """The incidents (alerts of kind ``incident``) of ``meters`` (every meter when empty)
    overlapping [``start``, ``end``), from the ``MAX_INCIDENTS`` most recent alerts of each
    meter asked for (of all, without meters); one still open ends now."""
    alerting = application.alerting
    if alerting is None:
        return []
    stored = []
    for meter in meters or (None,):
        stored += alerting.store.alerts(meter_id=meter, limit=MAX_INCIDENTS)
    now = application.monitor.clock.now()
    wanted = set(meters)
    return [
        incident
        for incident in incidents_from_alerts([item.alert for item in stored], now)
        if incident.start < end
        and incident.end >= start
        and (not wanted or incident.meter_id in wanted)
    ]


def energy_summary(
    application: Application,
    start: datetime,
    end: datetime,
    *,
    meters: Sequence[str] = (),
    period: Period = "day",
    top: int = TOP_ANOMALIES,
) -> EnergySummary:
    """Consumption by ``period``, demand, cost (with tariffs) and the ``top`` costliest
    incidents of [``start``, ``end``) for ``meters`` (every meter when empty). Reads
    storage: call it off the event loop."""
    check_window(start, end)
    insight = application.energy
    assert insight is not None
    incidents = incidents_in(application, start, end, meters)
    return insight.summary(
        start, end, period=period, meter_ids=tuple(meters), incidents=incidents, top=top
    )


# --- reading a summary --------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class MeterLine:
    """One meter's figures side by side: consumption, demand and (with tariffs) cost."""

    consumption: MeterConsumption
    demand: Demand | None
    cost: Cost | None

    @property
    def meter_id(self) -> str:
        return self.consumption.meter_id


def meter_lines(summary: EnergySummary) -> list[MeterLine]:
    """Each meter's consumption, demand and cost, in meter-id order."""
    demand = {item.meter_id: item for item in summary.demand}
    costs = {item.meter_id: item for item in summary.costs}
    return [
        MeterLine(meter, demand.get(meter.meter_id), costs.get(meter.meter_id))
        for meter in sorted(summary.consumption.meters, key=lambda item: item.meter_id)
    ]


def finite(value: float | None) -> float | None:
    """``value``, or ``None`` when unknown (NaN): JSON and tables show no NaN."""
    return None if value is None or math.isnan(value) else float(value)


def short_label(label: str, period: Period) -> str:
    """A period's label for a chart's axis: an hour as ``06-02 08:00`` (local), the others
    as they are (``2025-06-02``, ``2025-W23``, ``2025-06``)."""
    if period == "hour" and len(label) >= 16:
        return f"{label[5:10]} {label[11:16]}"
    return label


def local_text(moment: datetime | None, timezone: str) -> str:
    """``moment`` as ``YYYY-MM-DD HH:MM`` on ``timezone``'s wall clock; empty for ``None``."""
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


PALETTE = ("#2563eb", "#16a34a", "#f59e0b", "#9333ea", "#0891b2", "#db2777", "#65a30d")
"""Colours of the meters' stacked bars, in order; ``OTHERS_COLOUR`` for the rest."""
OTHERS_COLOUR = "#94a3b8"


@dataclass(frozen=True, slots=True)
class StackedSeries:
    """One layer of a consumption chart: a meter's imported kWh period by period, or
    (``meter_id`` ``None``) the meters beyond the chart's limit together."""

    meter_id: str | None
    kwh: tuple[float, ...]
    colour: str


def stacked_meters(summary: EnergySummary, limit: int = len(PALETTE)) -> list[StackedSeries]:
    """The meters' imported energy by period for stacked bars: every meter when there are
    at most ``limit``, else the ``limit - 1`` that used most and the others together."""
    meters = sorted(summary.consumption.meters, key=lambda item: item.meter_id)
    if len(meters) > limit:
        shown = sorted(meters, key=lambda item: -item.import_kwh)[: limit - 1]
        chosen = {item.meter_id for item in shown}
        rest = [item for item in meters if item.meter_id not in chosen]
        meters = [item for item in meters if item.meter_id in chosen]
    else:
        rest = []
    layers = [
        StackedSeries(
            meter.meter_id,
            tuple(period.import_kwh for period in meter.periods),
            PALETTE[index % len(PALETTE)],
        )
        for index, meter in enumerate(meters)
    ]
    if rest:
        sums = [
            sum(meter.periods[index].import_kwh for meter in rest)
            for index in range(len(summary.consumption.total))
        ]
        layers.append(StackedSeries(None, tuple(sums), OTHERS_COLOUR))
    return layers


def figure(value: float, language: Language, decimals: int) -> str:
    """``value`` as ``language`` writes it with ``decimals`` decimals; one that rounds to
    zero is written 0 (an export of -1e-12 kWh, floating-point dust, is not '-0.00')."""
    if abs(value) < 0.5 * 10**-decimals:
        value = 0.0
    return number(value, language, decimals)
