"""What the charts draw, as plain data that live readings update in place.

Every model is bounded (a fixed number of buckets, bins or points) so a page that stays open
for days sends and draws the same amount of data as one opened a minute ago. Chart points
are tuples, so NiceGUI's observable options do not wrap each point.

A variable a reading does not carry is never drawn as a value: a bucket none of whose
readings carries it is a ``None`` (ECharts' null, a gap in the line), histograms and
scatter plots leave such readings out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from energy_core.alerts.store import Feedback, FeedbackVerdict
from energy_core.ports import Bucket
from energy_core.telemetry.buckets import bucket_start
from energy_core.telemetry.readings import Reading

Point = tuple[float | None, ...]
"""A chart point; ``None`` is a gap (no value)."""
Expected = tuple[datetime, float, float]
"""A reading's expected range of one variable: its instant, low and high."""


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, as ECharts' time axis wants them."""
    return int(moment.timestamp() * 1000)


VALUE_PADDING = 0.05
"""Share of a lone value (one reading, or a flat series) left either side of it on an axis."""


def padded_range(value: float) -> tuple[float, float]:
    """Axis bounds around a lone ``value``: 5 % of it either side (1 around 0), rounded
    outward to the padding's decimal order, so 229.5 gives 210–250 and 3.2 gives 3.0–3.4."""
    padding = abs(value) * VALUE_PADDING or 1.0
    exponent = math.floor(math.log10(padding))
    step = 10.0**exponent
    digits = max(0, -exponent)
    low = math.floor(round((value - padding) / step, 9)) * step
    high = math.ceil(round((value + padding) / step, 9)) * step
    return round(low, digits), round(high, digits)


@dataclass(slots=True)
class _Slot:
    """A bucket of an envelope; ``count`` readings carried the variable (``minimum``,
    ``maximum`` and ``mean`` are NaN while none did)."""

    start: datetime
    end: datetime
    count: int
    minimum: float
    maximum: float
    mean: float
    flagged: int
    expected_low: float = math.nan
    """The lowest of the expected ranges of the bucket's readings (NaN: none known)."""
    expected_high: float = math.nan
    """The highest of them."""

    def expect(self, low: float, high: float) -> None:
        """One more reading's expected range: the bucket's band widens to hold it (merging
        the same reading twice changes nothing)."""
        if math.isnan(self.expected_low) or low < self.expected_low:
            self.expected_low = low
        if math.isnan(self.expected_high) or high > self.expected_high:
            self.expected_high = high

    def add(self, value: float | None, flagged: bool) -> None:
        """One more reading: ``value`` of the variable, ``None`` when it lacks it."""
        self.flagged += int(flagged)
        if value is None:
            return
        if not self.count:
            self.minimum = self.maximum = self.mean = value
            self.count = 1
            return
        self.count += 1
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        self.mean += (value - self.mean) / self.count


@dataclass(slots=True)
class Envelope:
    """One variable over time: per bucket its min/max envelope, mean and flagged count.

    Starts from ``ReadingRepository.downsample``; live readings merge into the bucket that
    holds them (new buckets of ``width`` open at the end); at most ``limit`` buckets are kept.
    """

    variable: str
    width: timedelta
    limit: int
    slots: list[_Slot] = field(default_factory=list)

    @classmethod
    def from_buckets(
        cls, variable: str, buckets: Sequence[Bucket], width: timedelta, limit: int
    ) -> Envelope:
        envelope = cls(variable=variable, width=width, limit=limit)
        envelope.slots = [_slot(bucket, width) for bucket in buckets]
        envelope._trim()
        return envelope

    def __len__(self) -> int:
        return len(self.slots)

    @property
    def first(self) -> datetime | None:
        return self.slots[0].start if self.slots else None

    @property
    def last(self) -> datetime | None:
        return self.slots[-1].end if self.slots else None

    def add(self, reading: Reading) -> None:
        """Merge one reading's value of this variable (readings before the window are ignored)."""
        moment = reading.timestamp
        carried = reading.values.get(self.variable)
        value = None if carried is None else float(carried)
        flagged = bool(reading.is_flagged)
        if self.slots and moment >= self.slots[-1].start:
            last = self.slots[-1]
            if moment < last.end:
                last.add(value, flagged)
                return
        elif self.slots:
            index = bisect.bisect_right([slot.start for slot in self.slots], moment) - 1
            if index >= 0 and moment < self.slots[index].end:
                self.slots[index].add(value, flagged)
            return
        start = bucket_start(moment, self.width)
        if self.slots and start < self.slots[-1].end:
            start = self.slots[-1].end
        slot = _Slot(start, start + self.width, 0, math.nan, math.nan, math.nan, 0)
        slot.add(value, flagged)
        self.slots.append(slot)
        self._trim()

    def splice(
        self, buckets: Sequence[Bucket], width: timedelta, start: datetime, end: datetime
    ) -> None:
        """Replace the buckets within [start, end) by the finer ``buckets`` of that span (zoom).

        Coarse buckets that straddle an edge give way to the fine ones.
        """
        if not buckets:
            return
        fine = [_slot(bucket, width) for bucket in buckets]
        before = [slot for slot in self.slots if slot.end <= max(start, fine[0].start)]
        after = [slot for slot in self.slots if slot.start >= min(end, fine[-1].end)]
        self.slots = before + fine + after
        self.limit = max(self.limit, len(self.slots))  # zooming in must not push history out

    def points(self) -> tuple[list[Point], list[Point], list[Point]]:
        """The envelope's chart series: low edge, band (max − min, then max and the bucket's
        flagged count) and mean; ``None`` values (gaps) where no reading of a bucket carried
        the variable."""
        low: list[Point] = []
        band: list[Point] = []
        mean: list[Point] = []
        for slot in self.slots:
            at = epoch_ms(slot.start)
            if not slot.count:
                low.append((at, None))
                band.append((at, None, None, slot.flagged))
                mean.append((at, None))
                continue
            low.append((at, slot.minimum))
            band.append((at, slot.maximum - slot.minimum, slot.maximum, slot.flagged))
            mean.append((at, slot.mean))
        return low, band, mean

    def expect(self, ranges: Iterable[Expected]) -> None:
        """Readings' expected ranges ``(instant, low, high)`` merged into the buckets holding
        them (the lowest low and highest high of each: a bucket of many readings shows the
        band of all of them); an instant outside every bucket is left out."""
        starts = [slot.start for slot in self.slots]
        for moment, low, high in ranges:
            index = bisect.bisect_right(starts, moment) - 1
            if index >= 0 and moment < self.slots[index].end:
                self.slots[index].expect(low, high)

    def forget_expected(self) -> None:
        """Drop every bucket's band (another model's, say)."""
        for slot in self.slots:
            slot.expected_low = slot.expected_high = math.nan

    def expected_points(self) -> tuple[list[Point], list[Point]]:
        """The expected band's chart series: its low edge, and its width (then high and low,
        for the tooltip); ``None`` (a gap) where no reading of a bucket has a range."""
        low: list[Point] = []
        band: list[Point] = []
        for slot in self.slots:
            at = epoch_ms(slot.start)
            if math.isnan(slot.expected_low) or math.isnan(slot.expected_high):
                low.append((at, None))
                band.append((at, None, None, None))
                continue
            low.append((at, slot.expected_low))
            width = slot.expected_high - slot.expected_low
            band.append((at, width, slot.expected_high, slot.expected_low))
        return low, band

    @property
    def has_expected(self) -> bool:
        """Whether some bucket has a band."""
        return any(not math.isnan(slot.expected_low) for slot in self.slots)

    def _trim(self) -> None:
        excess = len(self.slots) - self.limit
        if excess > 0:
            del self.slots[:excess]


def _slot(bucket: Bucket, width: timedelta) -> _Slot:
    return _Slot(
        bucket.start,
        bucket.start + width,
        bucket.count,
        bucket.minimum,
        bucket.maximum,
        bucket.mean,
        bucket.flagged,
    )


@dataclass(slots=True)
class Histogram:
    """Counts of one variable's values in fixed bins, normal and flagged apart."""

    variable: str
    edges: list[float]
    normal: list[int]
    flagged: list[int]

    @classmethod
    def of(cls, variable: str, readings: Sequence[Reading], bins: int = 30) -> Histogram:
        """Bins spanning the bulk of the normal readings (1st to 99th percentile, plus a
        margin); rarer values, typically the anomalies, pile up in the two edge bins.
        Readings that lack the variable are left out."""
        carrying = [reading for reading in readings if variable in reading.values]
        values = np.array([reading.values[variable] for reading in carrying], dtype=float)
        if len(values) == 0:
            return cls(variable, [0.0, 1.0], [0], [0])
        flags = np.array([bool(reading.is_flagged) for reading in carrying])
        bulk = values[~flags] if (~flags).sum() >= 10 else values
        low, high = (float(q) for q in np.percentile(bulk, [1.0, 99.0]))
        margin = 0.1 * (high - low)
        low, high = low - margin, high + margin
        if high <= low:  # one value: padded as the time series' axis is
            low, high = padded_range(low)
        edges = np.linspace(low, high, bins + 1)
        clipped = np.clip(values, edges[0], edges[-1])
        normal, _ = np.histogram(clipped[~flags], bins=edges)
        flagged, _ = np.histogram(clipped[flags], bins=edges)
        return cls(variable, edges.tolist(), normal.tolist(), flagged.tolist())

    def add(self, reading: Reading) -> None:
        """Count one more reading; values beyond the edges count in the edge bins; a reading
        that lacks the variable is not counted."""
        if self.variable not in reading.values:
            return
        value = float(reading.values[self.variable])
        index = bisect.bisect_right(self.edges, value) - 1
        index = min(max(index, 0), len(self.normal) - 1)
        if reading.is_flagged:
            self.flagged[index] += 1
        else:
            self.normal[index] += 1

    def labels(self, decimals: int) -> list[str]:
        """Each bin named by its centre; the edge bins, which also hold every value beyond
        them, by their inner edge with ≤ or ≥."""
        names = [
            f"{(low + high) / 2:.{decimals}f}"
            for low, high in zip(self.edges, self.edges[1:], strict=False)
        ]
        if len(names) > 1:
            names[0] = f"≤{self.edges[1]:.{decimals}f}"
            names[-1] = f"≥{self.edges[-2]:.{decimals}f}"
        return names


@dataclass(slots=True)
class PointWindow:
    """The most recent ``limit`` points of a scatter series, oldest dropped first."""

    limit: int
    points: list[Point] = field(default_factory=list)

    def extend(self, points: Iterable[Point]) -> None:
        self.points.extend(points)
        excess = len(self.points) - self.limit
        if excess > 0:
            del self.points[:excess]


@dataclass(slots=True)
class ScatterPair:
    """Two variables against each other, normal and flagged readings apart."""

    x: str
    y: str
    normal: PointWindow
    flagged: PointWindow

    @classmethod
    def of(cls, x: str, y: str, readings: Sequence[Reading], limit: int) -> ScatterPair:
        pair = cls(x, y, PointWindow(limit), PointWindow(limit))
        pair.extend(readings)
        return pair

    def extend(self, readings: Iterable[Reading]) -> None:
        normal: list[Point] = []
        flagged: list[Point] = []
        for reading in readings:
            values = reading.values
            if self.x not in values or self.y not in values:
                continue  # a point needs both
            point = (values[self.x], values[self.y])
            (flagged if reading.is_flagged else normal).append(point)
        self.normal.extend(normal)
        self.flagged.extend(flagged)


def matrix_pairs(variables: Sequence[str]) -> list[tuple[int, int]]:
    """(row, column) of the lower triangle of a scatter matrix of ``variables``."""
    return [(row, column) for row in range(len(variables)) for column in range(row)]


def anomaly_marks(readings: Iterable[Reading], name: str) -> list[Point]:
    """Flagged readings that carry ``name``, as (time, value, score) points.

    A flagged reading is marked on the chart of every variable it carries, as the histograms
    and the scatter matrix show it in red on each of them (a reading is flagged as a whole;
    its top variables only rank what explains it). Marks sit at the real time and value, so
    spikes keep their red dot at any zoom level.
    """
    return [
        (epoch_ms(reading.timestamp), reading.values[name], round(reading.score or 0.0, 4))
        for reading in readings
        if reading.is_flagged and name in reading.values
    ]


def top_variable_counts(readings: Iterable[Reading], variables: Sequence[str]) -> dict[str, int]:
    """How many flagged readings each variable helps explain (a reading counts for each of its
    top variables)."""
    counts = dict.fromkeys(variables, 0)
    for reading in readings:
        if not reading.is_flagged:
            continue
        for name in reading.top_variables:
            if name in counts:
                counts[name] += 1
    return counts


@dataclass(frozen=True, slots=True)
class FeedbackArea:
    """A span users gave a verdict on, as a chart shades it (epoch milliseconds)."""

    start: int
    end: int
    verdict: FeedbackVerdict
    meter_id: str
    by: str
    fault_kind: str | None = None


def feedback_areas(feedback: Iterable[Feedback], minimum: timedelta) -> list[FeedbackArea]:
    """Users' verdicts as areas, oldest first (a newer one is drawn over an older one), each
    at least ``minimum`` wide around its middle so a verdict on one reading still shows."""
    areas: list[FeedbackArea] = []
    for item in sorted(feedback, key=lambda item: (item.at, item.id or 0)):
        start, end = item.start, item.end
        if end - start < minimum:
            middle = start + (end - start) / 2
            start, end = middle - minimum / 2, middle + minimum / 2
        kind = item.fault_kind if item.verdict == "confirmed" else None
        areas.append(
            FeedbackArea(epoch_ms(start), epoch_ms(end), item.verdict, item.meter_id, item.by, kind)
        )
    return areas
