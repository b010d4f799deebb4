"""The detector protocol every detector meets, and what detectors share.

Conventions (after scikit-learn): settings are keyword-only and stored as given; ``fit``
returns ``self``; learned state ends in ``_``. Scores point one way everywhere:
**higher = more anomalous**, and a reading is flagged when its score exceeds
``threshold_``. In a feature matrix, NaN is a variable the reading does not carry (its meter
did not send it): detectors score such rows without it and never name it in an explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from energy_core.telemetry.catalogue import DETECTION_VARIABLES
from energy_core.telemetry.readings import Reading, present_variables

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class NotFittedError(RuntimeError):
    """A detector was asked to score before it was fitted."""


Groups = Sequence[Hashable] | npt.NDArray[np.generic] | None
"""Each row's meter (or series): rows of one group are in time order."""
Context = FloatArray | Mapping[Hashable, FloatArray] | None
"""Rows just before ``X`` (per group when a mapping), for detectors that look back."""
Times = FloatArray | None
"""Each row's time in seconds since the epoch (UTC), for detectors that know the calendar."""


@runtime_checkable
class Detector(Protocol):
    """What every detector offers, whether it looks at a reading alone or at its past.

    ``context_rows`` says how many previous rows per meter a detector uses: 0 for one that
    scores each reading alone (it accepts ``context`` and ``groups`` and ignores them).
    Scores: higher = more anomalous; above ``threshold_`` is an anomaly.
    """

    @property
    def features(self) -> Sequence[str]:
        """Names of the columns ``X`` carries, in order."""
        ...

    @property
    def threshold_(self) -> float:
        """Scores above this are anomalies (set by ``fit``)."""
        ...

    @property
    def context_rows(self) -> int:
        """How many previous rows per meter are enough context (0: none is used)."""
        ...

    @property
    def calibration(self) -> str:
        """What ``threshold_`` was calibrated to, in a few words (stored with the model)."""
        ...

    def fit(
        self,
        X: FloatArray,
        y: BoolArray | None = None,
        *,
        groups: Groups = None,
        times: Times = None,
    ) -> Self: ...

    def score(
        self, X: FloatArray, *, context: Context = None, groups: Groups = None, times: Times = None
    ) -> FloatArray: ...

    def predict(
        self, X: FloatArray, *, context: Context = None, groups: Groups = None, times: Times = None
    ) -> BoolArray: ...

    def explain(
        self,
        X: FloatArray,
        top: int = 3,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> list[tuple[str, ...]]: ...

    def score_and_explain(
        self,
        X: FloatArray,
        top: int = 3,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> tuple[FloatArray, list[tuple[str, ...]]]:
        """``score`` of every row and ``explain`` of the rows scored above ``threshold_``,
        in row order."""
        ...

    def expected_range(
        self, X: FloatArray, *, context: Context = None, groups: Groups = None, times: Times = None
    ) -> tuple[FloatArray, FloatArray]:
        """Per row and variable, the range ``(low, high)`` the detector expected the value
        in: what it compared the reading against (a value outside is what it would call
        unusual on that variable alone). Both arrays are shaped like ``X``; NaN where the
        detector has no expectation (not enough history, a variable it never learnt)."""
        ...


@runtime_checkable
class NamesViews(Protocol):
    """A detector that scores through several views (e.g. a jump, a stuck value, a drift)
    and says which one made each alarm: ``score_and_explain`` plus, for each row scored above
    ``threshold_``, the view's name."""

    def score_explain_views(
        self,
        X: FloatArray,
        top: int = 3,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> tuple[FloatArray, list[tuple[str, ...]], list[str]]: ...


def score_and_explain_each(
    detector: Detector, X: FloatArray, top: int = 3
) -> tuple[FloatArray, list[tuple[str, ...]]]:
    """``score_and_explain`` of a detector that scores each row alone: the flagged rows are
    explained on their own."""
    scores = detector.score(X)
    flagged = scores > detector.threshold_
    return scores, detector.explain(X[flagged], top) if flagged.any() else []


TRAINING_RANGE_QUANTILES = (0.005, 0.995)
"""The band a detector that sees one reading at a time expects: the middle 99 % of training."""


def training_range(X: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Per column, the ``TRAINING_RANGE_QUANTILES`` of the values present (NaN for a column
    with none): the expected range of a detector that scores each reading alone."""
    low = np.full(X.shape[1], np.nan)
    high = np.full(X.shape[1], np.nan)
    for column in range(X.shape[1]):
        present = X[:, column][~np.isnan(X[:, column])]
        if len(present):
            low[column], high[column] = np.quantile(present, TRAINING_RANGE_QUANTILES)
    return low, high


def constant_range(
    X: FloatArray, fitted: tuple[FloatArray, FloatArray] | None
) -> tuple[FloatArray, FloatArray]:
    """``fitted`` (per column low and high) repeated for every row of ``X``; NaN when the
    detector was stored before it learnt a range."""
    if fitted is None:
        empty = np.full(X.shape, np.nan)
        return empty, empty.copy()
    low, high = fitted
    return np.broadcast_to(low, X.shape).copy(), np.broadcast_to(high, X.shape).copy()


MIN_FEATURE_READINGS = 10
"""A variable is learnt when at least this many training readings carry it…"""
MIN_FEATURE_SHARE = 0.01
"""…and at least this share of them (a variable of one meter among a hundred still counts)."""


def choose_features(
    readings: Iterable[Reading], candidates: Sequence[str] = DETECTION_VARIABLES
) -> tuple[str, ...]:
    """The ``candidates`` (by default every variable but the energy counters) that enough
    training readings carry, in catalogue order: ``MIN_FEATURE_READINGS`` of them and
    ``MIN_FEATURE_SHARE`` of all. ``ValueError`` naming what each variable has when none do."""
    readings = list(readings)
    counts = present_variables(readings)
    needed = max(min(MIN_FEATURE_READINGS, len(readings)), MIN_FEATURE_SHARE * len(readings), 1)
    chosen = tuple(name for name in candidates if counts.get(name, 0) >= needed)
    if not chosen:
        found = ", ".join(f"{name}: {count}" for name, count in counts.items()) or "none"
        raise ValueError(
            f"no variable a detector can learn has enough data in {len(readings)} readings"
            f" (each needs {needed:g}; counters such as energy_import are not learnt);"
            f" readings per variable: {found}"
        )
    return chosen


def check_matrix(X: FloatArray | None, features: Sequence[str]) -> FloatArray:
    """``X`` as a float matrix with one column per feature, NaN where a reading lacks one, or
    a ``ValueError`` saying what was expected."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(features):
        raise ValueError(
            f"expected a matrix of {len(features)} columns ({', '.join(features)}),"
            f" got shape {X.shape}"
        )
    if np.isinf(X).any():
        raise ValueError("features must be finite numbers, or NaN where a reading lacks one")
    return X


def fill_missing(X: FloatArray, values: FloatArray) -> FloatArray:
    """``X`` with each NaN replaced by its column's entry of ``values`` (``X`` itself when it
    has none)."""
    holes = np.isnan(X)
    if not holes.any():
        return X
    filled: FloatArray = np.where(holes, values[None, :], X)
    return filled


def column_medians(X: FloatArray) -> FloatArray:
    """Each column's median over the values present; 0 for a column with none."""
    if not np.isnan(X).any():
        return np.asarray(np.median(X, axis=0), dtype=np.float64)
    medians = np.zeros(X.shape[1])
    for column in range(X.shape[1]):
        present = X[:, column][~np.isnan(X[:, column])]
        if len(present):
            medians[column] = float(np.median(present))
    return medians


def explain_by_repair(
    score: Callable[[FloatArray], FloatArray],
    X: FloatArray,
    medians: FloatArray,
    features: Sequence[str],
    top: int,
) -> list[tuple[str, ...]]:
    """Per row, up to ``top`` features whose repair to its training median lowers ``score``
    the most (only features whose repair lowers it at all, never one the row lacks: NaN)."""
    rows, width = X.shape
    if rows == 0:
        return []
    missing = np.isnan(X)
    X = fill_missing(X, medians)
    base = score(X)
    repaired = np.repeat(X, width, axis=0)
    columns = np.tile(np.arange(width), rows)
    repaired[np.arange(rows * width), columns] = medians[columns]
    drops = base[:, None] - score(repaired).reshape(rows, width)
    drops[missing] = 0.0
    result: list[tuple[str, ...]] = []
    for row in drops:
        order = np.argsort(-row, kind="stable")
        result.append(tuple(features[i] for i in order[:top] if row[i] > 0.0))
    return result
