"""Readings and streams for the alert rules' tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from energy_core.telemetry.readings import Reading

BASE = datetime(2025, 6, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    """``BASE`` plus ``seconds``."""
    return BASE + timedelta(seconds=seconds)


def scored(
    second: float,
    flagged: bool | None,
    *,
    meter: str = "m1",
    score: float | None = None,
    top: Sequence[str] = (),
    values: dict[str, float] | None = None,
    by: str | None = None,
) -> Reading:
    """A reading of ``meter`` at ``BASE + second``; ``flagged=None``: not scored; ``by``:
    the detector's view that flagged it."""
    if flagged is None:
        score = None
    elif score is None:
        score = 0.9 if flagged else 0.1
    return Reading(
        timestamp=at(second),
        meter_id=meter,
        values=values if values is not None else {"voltage": 230.0},
        score=score,
        is_flagged=flagged,
        top_variables=tuple(top),
        flagged_by=by,
    )


def power(second: float, kw: float | None, *, meter: str = "m1") -> Reading:
    """A reading carrying ``active_power`` = ``kw`` (``None``: only a voltage)."""
    values = {"voltage": 230.0} if kw is None else {"active_power": kw}
    return Reading(timestamp=at(second), meter_id=meter, values=values)


gaps = st.integers(min_value=1, max_value=120)
"""Seconds between a meter's consecutive readings."""

verdicts = st.sampled_from([True, True, False, False, False, None])
"""A reading's flag: flagged, not flagged, or not scored (``None``)."""

top_names = st.lists(
    st.sampled_from(["voltage", "current", "active_power", "frequency"]), max_size=3, unique=True
)


@st.composite
def flag_stream(draw: st.DrawFn, meter: str = "m1", max_size: int = 40) -> list[Reading]:
    """One meter's readings in time order, flagged, unflagged or unscored at random."""
    second = draw(st.integers(0, 100))
    readings = []
    for _ in range(draw(st.integers(0, max_size))):
        second += draw(gaps)
        flagged = draw(verdicts)
        score = draw(st.floats(0.5, 1.0)) if flagged else draw(st.floats(0.0, 0.5))
        readings.append(scored(second, flagged, meter=meter, score=score, top=draw(top_names)))
    return readings


@st.composite
def power_stream(draw: st.DrawFn, meter: str = "m1", max_size: int = 40) -> list[Reading]:
    """One meter's readings in time order, with ``active_power`` in 0–20 kW or absent."""
    second = draw(st.integers(0, 100))
    readings = []
    for _ in range(draw(st.integers(0, max_size))):
        second += draw(gaps)
        kw = draw(st.one_of(st.none(), st.floats(0.0, 20.0).map(lambda x: round(x, 1))))
        readings.append(power(second, kw, meter=meter))
    return readings


@st.composite
def interleavings(draw: st.DrawFn, streams: Sequence[Sequence[Reading]]) -> list[list[Reading]]:
    """The streams merged in a random order that keeps each stream's own order, cut into
    batches at random."""
    queues = [list(stream) for stream in streams if stream]
    merged: list[Reading] = []
    while queues:
        index = draw(st.integers(0, len(queues) - 1))
        merged.append(queues[index].pop(0))
        if not queues[index]:
            queues.pop(index)
    batches: list[list[Reading]] = []
    while merged:
        size = draw(st.integers(1, max(1, len(merged))))
        batches.append(merged[:size])
        merged = merged[size:]
    return batches
