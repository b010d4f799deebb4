"""The state behind one open page: what it shows, kept current by live updates (no UI here)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from energy_core.alerts.store import Feedback
from energy_core.health.analysis import MetricSnapshot
from energy_core.telemetry.readings import Reading
from energy_ui.dashboard.filters import MAX_SAMPLING, Filters
from energy_ui.dashboard.live import LiveUpdate
from energy_ui.dashboard.queries import (
    HISTORY_ANALYSES,
    BandData,
    Status,
    ViewData,
    expected_meter,
)
from energy_ui.dashboard.series import (
    Envelope,
    FeedbackArea,
    Histogram,
    Point,
    PointWindow,
    ScatterPair,
    anomaly_marks,
    epoch_ms,
    feedback_areas,
    matrix_pairs,
    top_variable_counts,
)

ENVELOPE_SLACK = 2
"""Live buckets may grow an envelope to this many times the sampling limit before the oldest
ones are dropped."""


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of one variable over the view (from its envelope)."""

    minimum: float
    maximum: float
    mean: float
    count: int


class PageModel:
    """Everything a page draws, built from ``ViewData`` and updated by new readings."""

    def __init__(self, data: ViewData) -> None:
        filters = data.filters
        self.filters: Filters = filters
        self.last_id = data.last_id
        self.status: Status = data.status
        self.meters = list(data.meters)
        self.total = data.total
        self.flagged = data.flagged
        self.span = data.span
        variables = filters.variables
        limit = filters.sampling
        self.envelopes = {
            name: Envelope.from_buckets(
                name, data.buckets.get(name, []), data.width, ENVELOPE_SLACK * limit
            )
            for name in variables
        }
        self.histograms = {name: Histogram.of(name, data.sample) for name in variables}
        self.pairs = [
            ScatterPair.of(variables[column], variables[row], data.sample, limit)
            for row, column in matrix_pairs(variables)
        ]
        self.scores = PointWindow(limit)
        self.flagged_scores = PointWindow(limit)
        self._add_scores(data.sample)
        self.flagged_readings: list[Reading] = list(data.flagged_readings)
        oldest_first = list(reversed(self.flagged_readings))
        self.marks = {name: PointWindow(MAX_SAMPLING) for name in variables}
        for name, window in self.marks.items():
            window.extend(anomaly_marks(oldest_first, name))
        self.top_counts = top_variable_counts(self.flagged_readings, variables)
        self.rows: list[Reading] = list(data.rows)
        self.history: list[MetricSnapshot] = list(data.history)
        self.feedback: list[Feedback] = list(data.feedback)
        """Users' verdicts on the view's meters and span, newest first (as loaded)."""
        self.feedback_areas: list[FeedbackArea] = feedback_areas(self.feedback, data.width)
        self.expected_meter = expected_meter(filters, data.meters)
        """The one meter whose expected band the charts draw (``None``: the view mixes meters)."""

    # --- live ---------------------------------------------------------------------------
    def apply(self, update: LiveUpdate) -> list[Reading]:
        """Take a live update; the new readings that belong to this view, in id order."""
        self.status = Status(
            stored=update.stored,
            latest=update.latest,
            model=update.model,
            analysis=update.analysis,
        )
        if update.new_analysis and update.analysis is not None:
            self.add_analysis(update.analysis)
        return self.add_readings(update.readings)

    def add_readings(self, readings: Iterable[Reading]) -> list[Reading]:
        """Add the readings not seen yet that the filters accept; returns them."""
        accepted: list[Reading] = []
        for reading in readings:
            if reading.id is not None:
                if reading.id <= self.last_id:
                    continue
                self.last_id = reading.id
            if self.filters.accepts(reading):
                accepted.append(reading)
        if not accepted:
            return accepted
        for reading in accepted:
            for envelope in self.envelopes.values():
                envelope.add(reading)
            for histogram in self.histograms.values():
                histogram.add(reading)
        for pair in self.pairs:
            pair.extend(accepted)
        self._add_scores(accepted)
        self.total += len(accepted)
        flagged = [reading for reading in accepted if reading.is_flagged]
        self.flagged += len(flagged)
        if flagged:
            self.flagged_readings[:0] = reversed(flagged)
            del self.flagged_readings[MAX_SAMPLING:]
            for name, count in top_variable_counts(flagged, self.filters.variables).items():
                self.top_counts[name] += count
            for name, window in self.marks.items():
                window.extend(anomaly_marks(flagged, name))
        self.rows[:0] = reversed(accepted)
        del self.rows[self.filters.row_limit :]
        first, last = accepted[0].timestamp, max(reading.timestamp for reading in accepted)
        self.span = (self.span[0], max(self.span[1], last)) if self.span else (first, last)
        return accepted

    def add_expected(self, band: BandData, *, fresh: bool = False) -> None:
        """Readings' expected ranges into the envelopes' buckets (``fresh``: instead of the
        band drawn so far)."""
        for name, envelope in self.envelopes.items():
            if fresh:
                envelope.forget_expected()
            envelope.expect(band.get(name, ()))

    def add_analysis(self, snapshot: MetricSnapshot) -> None:
        if self.history and self.history[-1].id == snapshot.id:
            return
        self.history.append(snapshot)
        del self.history[:-HISTORY_ANALYSES]
        self.status = replace(self.status, analysis=snapshot)

    def _add_scores(self, readings: Iterable[Reading]) -> None:
        normal: list[Point] = []
        flagged: list[Point] = []
        for reading in readings:
            if reading.score is None:
                continue
            point = (epoch_ms(reading.timestamp), round(reading.score, 4))
            (flagged if reading.is_flagged else normal).append(point)
        self.scores.extend(normal)
        self.flagged_scores.extend(flagged)

    # --- summaries ----------------------------------------------------------------------
    @property
    def share(self) -> float:
        """Percentage of the view's readings that the model flagged."""
        return 100.0 * self.flagged / self.total if self.total else 0.0

    def stats(self, name: str) -> Stats | None:
        """``name`` over the view: ``None`` when no reading of it carries the variable."""
        slots = [slot for slot in self.envelopes[name].slots if slot.count]
        count = sum(slot.count for slot in slots)
        if not count:
            return None
        return Stats(
            minimum=min(slot.minimum for slot in slots),
            maximum=max(slot.maximum for slot in slots),
            mean=sum(slot.mean * slot.count for slot in slots) / count,
            count=count,
        )
