"""Per-meter thresholds: each meter's alarm level set by its own normal operation.

One detector is fitted on every meter's training readings pooled, so its threshold means
"unusual for the plant", not "unusual for this meter": a noisy motor then alarms all day
while a quiet building meter stays silent. After the pooled fit, each meter's training
readings are scored (each meter's rows as one sequence in time order, so a temporal
detector sees their context) and the meter gets a **threshold factor** of its own, chosen
from *its* scores only, so that in normal operation it raises at most its **false-alarm
budget**: ``per_day`` alarms per day.

- **Budget to probability.** An alarm here is a flagged reading: a meter sending every
  ``cadence`` sends ``1 day / cadence`` readings a day, so the budget is the exceedance
  probability ``p = per_day × cadence / 1 day`` per reading. An incident needs at least one
  flagged reading, so incidents per day are at most the budget too (flagged readings often
  come in runs: fewer incidents than flagged readings).
- **The level.** The factor is the ``1 − p`` quantile of the meter's training scores in
  units of the model's threshold, estimated twice, the larger kept. *In the training part*:
  the ``⌊p·n⌋``-th largest score, so that at most ``⌊p·n⌋`` of the ``n`` training readings
  would have been flagged. *Beyond it*, when ``p·n`` is smaller than the tail the training
  part shows (a budget of one a day at a 10-second cadence over a day of training: p·n =
  1), by peaks over threshold with an exponential tail (the γ = 0 case of the generalised
  Pareto distribution SPOT uses, Siffer et al., KDD 2017): over the level ``t`` that the top
  ``TAIL_FRACTION`` of the scores exceed (``N_t`` of them), the excesses have mean ``σ`` and
  the level exceeded with probability ``p`` is ``t + σ·ln(N_t / (n·p))``. An exponential
  tail is exact for exponential-like scores and errs high (fewer alarms) for lighter ones
  such as a maximum of Gaussian z-scores; a heavier tail would get more alarms than the
  budget.
- **Faults in the training part.** Scores above ``max_factor`` are left out of both
  estimates: such a reading alarms whatever the factor, and the faults an unlabelled
  training part holds mostly score there; left in, a quiet meter's few faults would set its
  level and blind it up to the cap. Faults that score between 1 and ``max_factor`` stay in
  and raise the meter's level up to them: training cannot tell them from its normal (users'
  confirmed faults are kept out of training before, ``FeedbackCalibration.training``).
- **Bounds.** The factor is never below 1: the calibration only raises a meter's threshold,
  never lowers it under the model's own (a quiet meter keeps the model's sensitivity). It is
  at most ``max_factor``: a meter whose training part is full of faults would otherwise
  learn its faults as normal and go blind; capped, anything scoring over ``max_factor``
  times the model's threshold still alarms. A meter with fewer than ``min_readings``
  training readings (after the warm-up) keeps factor 1: too little to know its tail; one
  with fewer than that many at or under the cap gets the cap.
- **Feedback.** Users' false alarms give a meter a factor of their own
  (``energy_core.detection.feedback``); a meter's threshold is the model's times the
  **larger** of the two (``combine_factors``): each says the meter's normal reaches that
  far, and multiplying them would count the same noise twice.

A meter's factor depends on its own scores only (the test that a meter's calibration does
not move when another's data changes holds that). The scores come from the pooled model,
so a retrain on other meters' changed data may still move them a little: per-meter models
would remove that too.

Scoring is split across processes with joblib when the training part is large
(``PARALLEL_MIN_ROWS``): the meters are cut into one chunk per process, each scored with
its meters as groups, so every meter's rows are still one sequence.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from energy_core.detection.protocol import Detector

FloatArray = npt.NDArray[np.float64]

DAY = timedelta(days=1)
DEFAULT_ALARMS_PER_DAY = 1.0
"""One false alarm a day per meter: a plant of 100 meters stays under about 100 a day,
inside the ~150 a day (one per 10 minutes) that alarm-management guidance (EEMUA 191,
ISA-18.2) calls manageable for one operator, and one meter alarming more than daily is the
kind people learn to ignore."""
DEFAULT_MAX_FACTOR = 3.0
"""A calibrated threshold is at most three times the model's (``feedback`` allows users' marks
two): a meter whose training part is full of faults keeps alarming on what scores more."""
MIN_READINGS = 100
"""Fewer training readings (after the warm-up) than this: the meter keeps factor 1."""
TAIL_EXCEEDANCES = 10
"""The exponential tail is fitted on at least this many of the top scores."""
TAIL_FRACTION = 0.02
"""Peaks over threshold: the tail is fitted on the top 2 % of the scores (at least
``TAIL_EXCEEDANCES`` of them), as SPOT does with its 98 % initial level."""
PARALLEL_MIN_ROWS = 200_000
"""Scoring in several processes pays from about this many training rows (bench/train.py):
below, starting the processes and sending them the model and the rows costs more than the
share of the scoring they take."""


@dataclass(frozen=True, slots=True)
class AlarmBudget:
    """How many false alarms per day a meter may raise in normal operation.

    ``per_day``: every meter's budget; ``meters``: overrides as ``(glob, per_day)`` pairs
    (``boiler-*``), the first pattern that matches a meter id wins. A budget of 0 asks for
    the highest threshold allowed (``max_factor``).
    """

    per_day: float = DEFAULT_ALARMS_PER_DAY
    meters: tuple[tuple[str, float], ...] = ()
    max_factor: float = DEFAULT_MAX_FACTOR
    min_readings: int = MIN_READINGS

    def __post_init__(self) -> None:
        for where, value in (("per_day", self.per_day), *self.meters):
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{where}: a budget is alarms per day, 0 or more, got {value}")
        if not math.isfinite(self.max_factor) or self.max_factor < 1.0:
            raise ValueError(f"max_factor must be at least 1, got {self.max_factor}")
        if self.min_readings < 1:
            raise ValueError(f"min_readings must be at least 1, got {self.min_readings}")

    def for_meter(self, meter_id: str) -> float:
        """The budget of ``meter_id``: its first matching override, else ``per_day``."""
        for pattern, per_day in self.meters:
            if fnmatch.fnmatchcase(meter_id, pattern):
                return per_day
        return self.per_day


def parse_meter_budgets(text: str) -> tuple[tuple[str, float], ...]:
    """``'plant-1=5, boiler-*=0.5'`` as ``(('plant-1', 5.0), ('boiler-*', 0.5))``; a
    ``ValueError`` names the entry that is not ``meter-or-glob=alarms-per-day``."""
    budgets: list[tuple[str, float]] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        pattern, separator, number = (piece.strip() for piece in entry.partition("="))
        try:
            per_day = float(number)
        except ValueError:
            per_day = math.nan
        if not separator or not pattern or not math.isfinite(per_day) or per_day < 0:
            raise ValueError(
                f"{entry!r}: expected meter-or-glob=alarms-per-day, e.g. plant-1=5 or boiler-*=0.5"
            )
        budgets.append((pattern, per_day))
    return tuple(budgets)


def exceedance_probability(per_day: float, cadence: timedelta) -> float:
    """The share of a meter's readings that may be flagged for ``per_day`` alarms a day at
    one reading every ``cadence`` (at most 1)."""
    return min(per_day * cadence.total_seconds() / DAY.total_seconds(), 1.0)


def budget_factor(
    scores: FloatArray,
    probability: float,
    *,
    max_factor: float = DEFAULT_MAX_FACTOR,
    min_readings: int = MIN_READINGS,
) -> float:
    """The factor on the model's threshold that one meter's ``scores`` (in units of that
    threshold, NaN ignored) exceed with ``probability`` at most, within ``[1, max_factor]``
    (1 with fewer than ``min_readings`` scores). See the module doc for the estimate."""
    present = scores[np.isfinite(scores)]
    if len(present) < min_readings:
        return 1.0
    if probability <= 0:
        return max_factor
    # Above the cap a reading alarms whatever the factor: faults the training part holds
    # mostly score there, and left in they would set the level for the meter's normal.
    kept = np.sort(present[present <= max_factor])[::-1]
    n = len(kept)
    if n < min_readings:
        return max_factor
    expected = probability * n
    # The training part keeps to the budget: at most ⌊p·n⌋ kept scores lie above the level.
    level = float(kept[min(int(expected), n - 1)])
    tail = min(max(TAIL_EXCEEDANCES, math.ceil(TAIL_FRACTION * n)), n - 1)
    if expected < tail:
        # Beyond what the training part shows: the exponential tail over its top scores.
        start = float(kept[tail])
        sigma = float(np.mean(kept[:tail] - start))
        level = max(level, start + sigma * math.log(tail / expected))
    return float(min(max(level, 1.0), max_factor))


def meter_cadence(timestamps: Sequence[datetime]) -> timedelta | None:
    """One meter's usual spacing: the median gap between its consecutive distinct
    timestamps (``None`` with fewer than two)."""
    return _cadence(np.array([moment.timestamp() for moment in timestamps], dtype=np.float64))


def _cadence(seconds: FloatArray) -> timedelta | None:
    moments = np.unique(seconds)
    if len(moments) < 2:
        return None
    return timedelta(seconds=float(np.median(np.diff(moments))))


def score_meters(
    detector: Detector,
    X: FloatArray,
    groups: Sequence[Hashable] | npt.NDArray[np.generic],
    *,
    times: FloatArray | None = None,
    jobs: int = 1,
) -> FloatArray:
    """``detector``'s score of every row of ``X``, each meter's rows (``groups``, in time
    order, at ``times``: seconds since the epoch) scored as one sequence; split across
    ``jobs`` processes (joblib) when there are at least ``PARALLEL_MIN_ROWS`` rows and as
    many meters as processes, else in this process."""
    keys = np.asarray(groups)
    meters = list(dict.fromkeys(keys.tolist()))
    if jobs <= 1 or len(meters) < jobs or len(X) < PARALLEL_MIN_ROWS:
        return _score_rows(detector, X, keys, times)
    from joblib import Parallel, delayed  # type: ignore[import-untyped]

    chunks = [set(meters[start::jobs]) for start in range(jobs)]
    rows = [np.flatnonzero(np.isin(keys, list(chunk))) for chunk in chunks]
    parts = Parallel(n_jobs=jobs, backend="loky")(
        delayed(_score_rows)(
            detector, X[index], keys[index], None if times is None else times[index]
        )
        for index in rows
        if len(index)
    )
    scores = np.full(len(X), np.nan)
    for index, part in zip((index for index in rows if len(index)), parts, strict=True):
        scores[index] = part
    return scores


def _score_rows(
    detector: Detector, X: FloatArray, groups: npt.NDArray[np.generic], times: FloatArray | None
) -> FloatArray:
    return np.asarray(detector.score(X, groups=groups, times=times), dtype=np.float64)


def calibrate_meters(
    detector: Detector,
    X: FloatArray,
    groups: Sequence[str] | npt.NDArray[np.generic],
    timestamps: Sequence[datetime],
    budget: AlarmBudget,
    *,
    jobs: int = 1,
) -> dict[str, float]:
    """Per meter of ``groups``, the factor on ``detector``'s threshold that keeps it within
    its budget on its own training rows (``X``, in time order per meter, at ``timestamps``).

    Each meter's first ``detector.context_rows`` rows are left out (scored with less history
    than live scoring has), unless that would leave less than half of them. Only factors
    above 1 are returned: an absent meter keeps the model's threshold. A detector whose
    threshold is not positive gets no factors (a factor of it would lower it).
    """
    if detector.threshold_ <= 0 or len(X) == 0:
        return {}
    keys = np.asarray(groups).astype(str)
    seconds = np.array([moment.timestamp() for moment in timestamps], dtype=np.float64)
    scores = score_meters(detector, X, keys, times=seconds, jobs=jobs) / detector.threshold_
    factors: dict[str, float] = {}
    for meter, rows in _rows_by_meter(keys).items():
        cadence = _cadence(seconds[rows])
        if cadence is None:
            continue
        warm_up = detector.context_rows if detector.context_rows <= len(rows) // 2 else 0
        factor = budget_factor(
            scores[rows[warm_up:]],
            exceedance_probability(budget.for_meter(meter), cadence),
            max_factor=budget.max_factor,
            min_readings=budget.min_readings,
        )
        if factor > 1.0:
            factors[meter] = factor
    return factors


def _rows_by_meter(keys: npt.NDArray[np.str_]) -> dict[str, npt.NDArray[np.intp]]:
    order = np.argsort(keys, kind="stable")
    meters, starts = np.unique(keys[order], return_index=True)
    return {
        str(meter): rows for meter, rows in zip(meters, np.split(order, starts[1:]), strict=True)
    }


def combine_factors(*factors: Mapping[str, float]) -> dict[str, float]:
    """Per meter, the largest of its factors (budget, feedback…); a meter absent from all
    keeps factor 1 (absent from the result)."""
    combined: dict[str, float] = {}
    for mapping in factors:
        for meter, factor in mapping.items():
            combined[meter] = max(factor, combined.get(meter, 1.0))
    return combined
