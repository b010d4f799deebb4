"""Everything one page shows, read from the repositories in one go (no UI here).

Only bounded repository queries: ``count``, ``latest``, ``sample`` (at most the sampling
limit), ``downsample``/``downsample_many`` (at most that many buckets) — never a whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from energy_core.alerts.store import Feedback
from energy_core.health.analysis import MetricSnapshot
from energy_core.ports import Bucket, ModelInfo, ReadingFilter
from energy_core.telemetry.buckets import bucket_width
from energy_core.telemetry.readings import Reading
from energy_core.usecases.monitor import Monitor
from energy_ui.dashboard.filters import MAX_SAMPLING, Filters
from energy_ui.dashboard.series import Expected

EXPECTED_READINGS = 2_000
"""The expected band covers at most this many of the meter's newest readings of a view (or of
a zoomed span): the detector reads each of them, with the raw rows fetched for it."""
HISTORY_ANALYSES = 60
"""Analyses shown in the history chart."""
FEEDBACK_SHOWN = 200
"""Users' verdicts a page marks on its charts at most (of each meter filtered, else of all)."""


@dataclass(frozen=True, slots=True)
class Status:
    """The installation as a whole, whatever the filters."""

    stored: int
    latest: Reading | None
    model: ModelInfo | None
    analysis: MetricSnapshot | None


@dataclass(frozen=True, slots=True)
class ViewData:
    """What a page shows for its filters at one moment."""

    filters: Filters
    last_id: int
    """Readings up to this id are included; live updates add the ones after it."""
    status: Status
    meters: list[str]
    total: int
    flagged: int
    span: tuple[datetime, datetime] | None
    width: timedelta
    """Width of the time buckets of ``buckets``."""
    buckets: dict[str, list[Bucket]]
    sample: list[Reading]
    flagged_readings: list[Reading]
    """The most recent flagged readings, newest first."""
    rows: list[Reading]
    """The table's rows, newest first."""
    history: list[MetricSnapshot]
    """Analyses, oldest first."""
    feedback: list[Feedback] = field(default_factory=list)
    """What users said of the view's meters within its span, newest first."""


def empty_view(filters: Filters) -> ViewData:
    """What a page shows when storage cannot be read (the database is unavailable)."""
    return ViewData(
        filters=filters,
        last_id=0,
        status=Status(stored=0, latest=None, model=None, analysis=None),
        meters=[],
        total=0,
        flagged=0,
        span=None,
        width=timedelta(seconds=1),
        buckets={name: [] for name in filters.variables},
        sample=[],
        flagged_readings=[],
        rows=[],
        history=[],
    )


def read_status(monitor: Monitor) -> Status:
    latest = monitor.queries.latest(1, monitor.readable())
    analysis = monitor.analyses(1)
    return Status(
        stored=monitor.queries.count(),
        latest=latest[0] if latest else None,
        model=monitor.model_info(),
        analysis=analysis[0] if analysis else None,
    )


def load_view(monitor: Monitor, filters: Filters) -> ViewData:
    """Read what a page with ``filters`` shows."""
    repo = monitor.queries
    last_id = repo.last_id()
    where = filters.reading_filter()
    bounded = monitor.readable(where)
    sample = repo.sample(bounded, filters.sampling)
    span = (sample[0].timestamp, sample[-1].timestamp) if sample else None
    width, buckets = _envelopes(monitor, filters, bounded, span)
    flagged_readings = (
        []
        if filters.state == "normal"
        else repo.latest(MAX_SAMPLING, monitor.readable(filters.anomalous_filter()))
    )
    return ViewData(
        filters=filters,
        last_id=last_id,
        status=read_status(monitor),
        meters=repo.meters(),
        total=repo.count(where),
        flagged=len(flagged_readings)
        if len(flagged_readings) < MAX_SAMPLING
        else repo.count(filters.anomalous_filter()),
        span=span,
        width=width,
        buckets=buckets,
        sample=sample,
        flagged_readings=flagged_readings,
        rows=repo.latest(filters.row_limit, bounded),
        history=list(reversed(monitor.analyses(HISTORY_ANALYSES))),
        feedback=_feedback(monitor, filters, span),
    )


def _feedback(
    monitor: Monitor, filters: Filters, span: tuple[datetime, datetime] | None
) -> list[Feedback]:
    """Users' verdicts on the filtered meters (on any meter without a meter filter) that
    overlap the view: its dates, else the readings it holds."""
    if span is None:
        return []
    start = filters.start or span[0]
    end = filters.end or span[1]
    found = [
        item
        for meter in filters.meters or (None,)
        for item in monitor.feedback(meter_id=meter, limit=FEEDBACK_SHOWN)
    ]
    found.sort(key=lambda item: (item.at, item.id or 0), reverse=True)
    return [item for item in found if item.start <= end and item.end >= start]


def _envelopes(
    monitor: Monitor,
    filters: Filters,
    where: ReadingFilter,
    span: tuple[datetime, datetime] | None,
) -> tuple[timedelta, dict[str, list[Bucket]]]:
    if span is None:
        return timedelta(seconds=1), {name: [] for name in filters.variables}
    count = max(filters.sampling, 2)
    # Where the filters leave the dates open, the envelope spans the readings there are (not
    # the whole range storage accepts), as [start, end) so we know the bucket width.
    start = filters.start or span[0]
    end = filters.end or span[1] + timedelta(microseconds=1)
    spanned = replace(where, start=start, end=end)
    width = bucket_width(start, end, count)
    return width, monitor.queries.downsample_many(filters.variables, spanned, count)


@dataclass(frozen=True, slots=True)
class Zoom:
    """Finer buckets of one variable over a zoomed span."""

    variable: str
    start: datetime
    end: datetime
    width: timedelta
    buckets: list[Bucket]


def load_zoom(
    monitor: Monitor, filters: Filters, variable: str, start: datetime, end: datetime
) -> Zoom:
    """``variable`` over [start, end) (within the filters' dates) at the sampling resolution."""
    where = monitor.readable(filters.reading_filter())
    assert where.start is not None and where.end is not None
    start, end = max(start, where.start), min(end, where.end)
    if end <= start:  # a zoom outside what may be stored: an empty span, not an error
        end = start + timedelta(seconds=1)
    count = max(filters.sampling, 2)
    narrowed = replace(where, start=start, end=end)
    return Zoom(
        variable=variable,
        start=start,
        end=end,
        width=bucket_width(start, end, count),
        buckets=monitor.queries.downsample(variable, narrowed, count),
    )


# --- the expected band ------------------------------------------------------------------------
def expected_meter(filters: Filters, meters: Sequence[str]) -> str | None:
    """The meter whose expected band a view draws: the one meter it shows (filtered, or the
    only one stored); ``None`` for a view of several, whose buckets mix meters' levels."""
    if len(filters.meters) == 1:
        return filters.meters[0]
    if not filters.meters and len(meters) == 1:
        return meters[0]
    return None


@dataclass(frozen=True, slots=True)
class BandRequest:
    """Which readings' expected ranges a chart wants: the newest ``EXPECTED_READINGS`` of
    ``meter`` in the view's filters (within [start, end) when zoomed), or, live, ``readings``
    just arrived. ``fresh``: drop the band drawn so far when the answer comes (a new model)."""

    filters: Filters
    meter: str
    start: datetime | None = None
    end: datetime | None = None
    readings: tuple[Reading, ...] | None = None
    fresh: bool = False


BandData = dict[str, list[Expected]]
"""Per variable, readings' expected ranges ``(instant, low, high)``."""


def load_expected(monitor: Monitor, request: BandRequest) -> BandData:
    """The expected ranges ``request`` asks for, of the filters' variables (from
    ``Monitor.expected_ranges``: the current model, each reading after its meter's stored
    ones). A long window is downsampled on the chart, its band is not: it is computed on the
    newest raw readings, at most ``EXPECTED_READINGS``, and each bucket then shows the
    lowest low and highest high of its readings. Readings the filters' state leaves out
    are read for the context of the others, never drawn. Empty without a model."""
    filters = request.filters
    if request.readings is not None:
        mine = (r for r in request.readings if r.meter_id == request.meter)
        readings = sorted(mine, key=lambda r: (r.timestamp, r.id or 0))  # as stored
    else:
        if monitor.model_version() is None:
            return {}
        # Every reading of the meter, whatever the state filter: the detector reads them in
        # sequence (a flagged-only list would give each reading the wrong neighbours).
        where = replace(filters.reading_filter(), meter_ids=(request.meter,), state=None)
        if request.start is not None:
            where = replace(where, start=max(request.start, where.start or request.start))
        if request.end is not None:
            where = replace(where, end=min(request.end, where.end or request.end))
        readings = monitor.queries.window(monitor.readable(where), limit=EXPECTED_READINGS)
    ranges = monitor.expected_ranges(readings) if readings else {}
    shown = [row for row, reading in enumerate(readings) if filters.accepts(reading)]
    band: BandData = {}
    for name in filters.variables:
        if name not in ranges:
            continue
        low, high = ranges[name]
        band[name] = [
            (readings[row].timestamp, float(low[row]), float(high[row]))
            for row in shown
            if np.isfinite(low[row]) and np.isfinite(high[row])
        ]
    return band
