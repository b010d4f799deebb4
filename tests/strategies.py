"""Hypothesis strategies shared by the test suites."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

from energy_core.telemetry.catalogue import VARIABLES
from energy_core.telemetry.readings import Reading

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


@st.composite
def subset_values(draw: st.DrawFn) -> dict[str, float]:
    """Values of a non-empty subset of the catalogue's variables, each within its bounds:
    what a meter that sends some variables sends."""
    chosen = draw(st.lists(st.sampled_from(VARIABLES), min_size=1, unique=True))
    return {
        spec.name: draw(
            st.floats(spec.minimum, spec.maximum, allow_nan=False, allow_infinity=False)
        )
        for spec in sorted(chosen, key=VARIABLES.index)
    }


@st.composite
def subset_readings(draw: st.DrawFn) -> Reading:
    """A reading with any non-empty subset of the variables (no verdict)."""
    return Reading(
        timestamp=draw(timestamps),
        meter_id=draw(meter_ids),
        values=draw(subset_values()),
        is_anomaly=draw(st.one_of(st.none(), st.booleans())),
    )


seeds = st.integers(min_value=0, max_value=2**32 - 1)


# --- isolation forests (energy_core.detection.fastforest) ----------------------------------------
@st.composite
def forest_problems(
    draw: st.DrawFn, *, allow_nan: bool = False
) -> tuple[np.ndarray, np.ndarray, dict[str, object]]:
    """Training data, data to score and ``IsolationForest`` settings covering sub-sampled
    rows and columns, bootstrap, ties and wide-ranged values (float32 rounding)."""
    width = draw(st.integers(1, 4))
    rows = draw(st.integers(2, 80))
    values = st.one_of(
        st.floats(-1e6, 1e6),
        st.integers(-3, 3).map(float),  # ties: leaves holding several samples
        *([st.just(float("nan"))] if allow_nan else []),
    )
    train = draw(npst.arrays(np.float64, (rows, width), elements=values))
    query = draw(npst.arrays(np.float64, (draw(st.integers(1, 30)), width), elements=values))
    settings = {
        "n_estimators": draw(st.integers(1, 25)),
        "max_samples": draw(st.one_of(st.just("auto"), st.integers(1, rows), st.floats(0.5, 1.0))),
        "max_features": draw(st.one_of(st.integers(1, width), st.floats(0.1, 1.0))),
        "bootstrap": draw(st.booleans()),
        "random_state": draw(st.integers(0, 2**31 - 1)),
    }
    return train, query, settings
