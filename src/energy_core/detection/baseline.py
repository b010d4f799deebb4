"""The published SKAB IsolationForest baseline, replicated as a ``Detector``.

The SKAB authors' protocol (waico/SKAB, ``notebooks/isolation_forest.ipynb``): per file, an
``IsolationForest(random_state=0, contamination=0.0005)`` fitted on the first 400 rows of the
raw sensors (no scaling); the binary output of the scored rows is smoothed by a rolling
median of 3 that starts afresh on every scored batch (its first two rows are never flagged).
It exists to check the evaluation code against the published figures, not to be used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self

import numpy as np
from sklearn.ensemble import IsolationForest

from energy_core.detection.protocol import (
    BoolArray,
    Context,
    FloatArray,
    Groups,
    NotFittedError,
    Times,
    check_matrix,
    column_medians,
    constant_range,
    explain_by_repair,
    fill_missing,
    score_and_explain_each,
    training_range,
)
from energy_core.telemetry.catalogue import DEFAULT_FEATURES


class SkabIsolationForestDetector:
    """Raw features → IsolationForest; flags smoothed by a rolling median of ``smoothing``.

    Scores are the negated forest scores (higher = more anomalous); ``threshold_`` is the
    forest's own offset. ``context`` is accepted and ignored: the published baseline sees one
    reading at a time and restarts its smoothing on each scored batch.
    """

    threshold_: float

    def __init__(
        self,
        *,
        features: Sequence[str] = DEFAULT_FEATURES,
        contamination: float = 0.0005,
        smoothing: int = 3,
        n_estimators: int = 100,
        random_state: int | None = 0,
    ) -> None:
        self.features = tuple(features)
        self.contamination = contamination
        self.smoothing = smoothing
        self.n_estimators = n_estimators
        self.random_state = random_state

    @property
    def context_rows(self) -> int:
        return 0

    @property
    def calibration(self) -> str:
        return f"contamination {self.contamination}"

    def fit(
        self,
        X: FloatArray,
        y: BoolArray | None = None,
        *,
        groups: Groups = None,
        times: Times = None,
    ) -> Self:
        """Fit the forest on ``X`` as given (no scaling); ``y`` and ``groups`` are ignored."""
        del y, groups, times
        X = self._check(X)
        # Missing values (NaN) take the training median, as in the project's own forest.
        self.medians_ = column_medians(X)
        self.range_ = training_range(X)
        X = fill_missing(X, self.medians_)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            contamination=self.contamination,
            random_state=self.random_state,
        ).fit(X)
        self.threshold_ = float(-self.forest_.offset_)
        return self

    def score(
        self,
        X: FloatArray,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> FloatArray:
        """The negated forest score per row: higher = more anomalous."""
        del context, groups, times
        X = self._check(X)
        self._check_is_fitted()
        if len(X) == 0:
            return np.empty(0)
        scores: FloatArray = -self.forest_.score_samples(fill_missing(X, self.medians_))
        return scores

    def predict(
        self,
        X: FloatArray,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> BoolArray:
        """The forest's flags, smoothed by a trailing rolling median of ``smoothing`` rows
        (per group when ``groups`` is given); the first ``smoothing - 1`` rows stay unflagged."""
        del context, times
        raw = self.score(X) > self.threshold_
        if groups is None:
            return _majority(raw, self.smoothing)
        keys = np.asarray(groups, dtype=object)
        result = np.zeros(len(raw), dtype=bool)
        for key in dict.fromkeys(keys.tolist()):
            rows = np.flatnonzero(keys == key)
            result[rows] = _majority(raw[rows], self.smoothing)
        return result

    def explain(
        self,
        X: FloatArray,
        top: int = 3,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> list[tuple[str, ...]]:
        """Per row, up to ``top`` features whose repair to the training median lowers the
        score the most (as ``IsolationForestDetector`` does)."""
        del context, groups, times
        X = self._check(X)
        self._check_is_fitted()
        return explain_by_repair(self.score, X, self.medians_, self.features, top)

    def score_and_explain(
        self,
        X: FloatArray,
        top: int = 3,
        *,
        context: Context = None,
        groups: Groups = None,
        times: Times = None,
    ) -> tuple[FloatArray, list[tuple[str, ...]]]:
        del context, groups, times
        return score_and_explain_each(self, X, top)

    def expected_range(
        self, X: FloatArray, *, context: Context = None, groups: Groups = None, times: Times = None
    ) -> tuple[FloatArray, FloatArray]:
        """The middle 99 % of each variable's training values, for every row (a detector
        that sees one reading at a time expects the same range always)."""
        del context, groups, times
        X = self._check(X)
        self._check_is_fitted()
        return constant_range(X, getattr(self, "range_", None))

    def _check(self, X: FloatArray) -> FloatArray:
        return check_matrix(X, self.features)

    def _check_is_fitted(self) -> None:
        if not hasattr(self, "forest_"):
            raise NotFittedError("this detector is not fitted yet: call fit() first")


def _majority(flags: BoolArray, window: int) -> BoolArray:
    """A trailing rolling median of binary flags over ``window`` rows (pandas' default: no
    result, hence no flag, until the window is full)."""
    result = np.zeros(len(flags), dtype=bool)
    if window <= 1:
        return flags.copy()
    if len(flags) < window:
        return result
    counts = np.convolve(flags.astype(np.int64), np.ones(window, dtype=np.int64), mode="valid")
    # The median of ``window`` zeros and ones is 1 exactly when ones are the strict majority
    # (for an even window pandas averages the middle pair, which is then 0.5: not a flag).
    result[window - 1 :] = 2 * counts > window
    return result
