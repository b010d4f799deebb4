"""What one browser tab of the dashboard is looking at: the filters, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from energy_adapters.memory import matches
from energy_core.ports import ReadingFilter, ReadingState
from energy_core.telemetry.catalogue import DEFAULT_FEATURES, VARIABLE_NAMES
from energy_core.telemetry.readings import Reading

MAX_SAMPLING = 5_000
"""Charts never draw more than this many rows (or buckets) per series."""
MAX_ROW_LIMIT = 10_000
DEFAULT_VARIABLES = DEFAULT_FEATURES
"""The variables a page shows until the user picks others: the six of the demo's meters
(reactive and apparent power and the energy registers are one choice away)."""


@dataclass(frozen=True, slots=True)
class Filters:
    """The filters every tab applies. Dates are UTC calendar days, both inclusive."""

    date_from: date | None = None
    date_to: date | None = None
    variables: tuple[str, ...] = DEFAULT_VARIABLES
    state: ReadingState | None = None
    meters: tuple[str, ...] = ()
    sampling: int = 1_000
    row_limit: int = 500

    def __post_init__(self) -> None:
        unknown = [name for name in self.variables if name not in VARIABLE_NAMES]
        if unknown:
            raise ValueError(f"unknown variables {unknown}; known: {', '.join(VARIABLE_NAMES)}")
        if not 1 <= self.sampling <= MAX_SAMPLING:
            raise ValueError(f"sampling must be within [1, {MAX_SAMPLING}], got {self.sampling}")
        if not 1 <= self.row_limit <= MAX_ROW_LIMIT:
            raise ValueError(f"row_limit must be within [1, {MAX_ROW_LIMIT}], got {self.row_limit}")

    @property
    def start(self) -> datetime | None:
        """First instant included (UTC midnight of ``date_from``)."""
        return datetime.combine(self.date_from, time(), UTC) if self.date_from else None

    @property
    def end(self) -> datetime | None:
        """First instant excluded (UTC midnight after ``date_to``)."""
        if self.date_to is None:
            return None
        return datetime.combine(self.date_to, time(), UTC) + timedelta(days=1)

    def reading_filter(self) -> ReadingFilter:
        """The repository filter these filters stand for (variables and limits aside)."""
        return ReadingFilter(
            start=self.start, end=self.end, meter_ids=self.meters, state=self.state
        )

    def anomalous_filter(self) -> ReadingFilter:
        """Like ``reading_filter`` but only flagged readings (none if the state asks normal)."""
        return replace(self.reading_filter(), state="anomalous")

    def accepts(self, reading: Reading) -> bool:
        """Whether a reading that arrives live belongs to this view."""
        return matches(reading, self.reading_filter())

    def with_dates(self, value: str | dict[str, str] | None) -> Filters:
        """These filters with the date range of a date picker's value.

        The picker gives ``"YYYY-MM-DD - YYYY-MM-DD"``, ``{"from": …, "to": …}``, a single
        ``"YYYY-MM-DD"`` or nothing (no restriction).
        """
        first, last = parse_date_range(value)
        return replace(self, date_from=first, date_to=last)


def parse_date_range(value: str | dict[str, str] | None) -> tuple[date | None, date | None]:
    """``(from, to)`` of a date picker's value; ``(None, None)`` when empty or unreadable."""
    if not value:
        return None, None
    if isinstance(value, dict):
        parts = [value.get("from", ""), value.get("to", "")]
    elif " - " in value:
        parts = value.split(" - ", 1)
    else:
        parts = [value, value]
    try:
        first, last = (date.fromisoformat(part.strip().replace("/", "-")) for part in parts)
    except ValueError:
        return None, None
    return (first, last) if first <= last else (last, first)
