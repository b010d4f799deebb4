"""Hypothesis strategies shared by the test suites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st

from energy_core.catalogue import VARIABLES
from energy_core.readings import Reading

BASE = datetime(2025, 6, 1, tzinfo=UTC)

meter_ids = st.sampled_from(["meter-01", "meter-02", "meter-03"])
timestamps = st.integers(min_value=0, max_value=30 * 24 * 3600).map(
    lambda seconds: BASE + timedelta(seconds=seconds)
)


@st.composite
def valid_values(draw: st.DrawFn) -> dict[str, float]:
    return {
        spec.name: draw(
            st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False)
        )
        for spec in VARIABLES
    }


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    flagged = draw(st.one_of(st.none(), st.booleans()))
    return Reading(
        timestamp=draw(timestamps),
        meter_id=draw(meter_ids),
        values=draw(valid_values()),
        is_anomaly=draw(st.one_of(st.none(), st.booleans())),
        score=None if flagged is None else draw(st.floats(0, 1)),
        is_flagged=flagged,
    )


reading_batches = st.lists(readings(), min_size=0, max_size=40)
seeds = st.integers(min_value=0, max_value=2**32 - 1)
