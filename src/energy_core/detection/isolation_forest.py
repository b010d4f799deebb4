"""Anomaly detectors over numeric features.

Conventions (after scikit-learn): settings are keyword-only and stored as given; ``fit``
returns ``self``; learned state ends in ``_``. Scores point one way everywhere:
**higher = more anomalous**, and a reading is flagged when its score exceeds
``threshold_``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from energy_core.catalogue import VARIABLE_NAMES
from energy_core.fastforest import CompiledForest, compile_forest

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Contamination = float | Literal["auto"]

# IsolationForest accepts a contamination in (0, 0.5].
_MIN_CONTAMINATION = 0.001
_MAX_CONTAMINATION = 0.5


class NotFittedError(RuntimeError):
    """A detector was asked to score before it was fitted."""


@runtime_checkable
class Detector(Protocol):
    """What every detector offers. Scores: higher = more anomalous."""

    @property
    def features(self) -> Sequence[str]:
        """Names of the columns ``X`` carries, in order."""
        ...

    @property
    def threshold_(self) -> float:
        """Scores above this are anomalies (set by ``fit``)."""
        ...

    def fit(self, X: FloatArray, y: BoolArray | None = None) -> Self: ...

    def score(self, X: FloatArray) -> FloatArray: ...

    def predict(self, X: FloatArray) -> BoolArray: ...

    def explain(self, X: FloatArray, top: int = 3) -> list[tuple[str, ...]]: ...


def contamination_from_labels(y: BoolArray | None, fallback: Contamination) -> Contamination:
    """The observed anomaly rate of labelled training data (as the original did), clipped to
    what IsolationForest accepts; ``fallback`` when there are no labels or no anomalies."""
    if y is None or len(y) == 0:
        return fallback
    rate = float(np.mean(y))
    if rate <= 0.0:
        return fallback
    return min(max(rate, _MIN_CONTAMINATION), _MAX_CONTAMINATION)


def check_matrix(X: FloatArray | None, features: Sequence[str]) -> FloatArray:
    """``X`` as a finite float matrix with one column per feature, or a ``ValueError`` saying
    what was expected."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != len(features):
        raise ValueError(
            f"expected a matrix of {len(features)} columns ({', '.join(features)}),"
            f" got shape {X.shape}"
        )
    if not np.all(np.isfinite(X)):
        raise ValueError("features must be finite numbers (no NaN or infinity)")
    return X


def explain_by_repair(
    score: Callable[[FloatArray], FloatArray],
    X: FloatArray,
    medians: FloatArray,
    features: Sequence[str],
    top: int,
) -> list[tuple[str, ...]]:
    """Per row, up to ``top`` features whose repair to its training median lowers ``score``
    the most (only features whose repair lowers it at all)."""
    rows, width = X.shape
    if rows == 0:
        return []
    base = score(X)
    repaired = np.repeat(X, width, axis=0)
    columns = np.tile(np.arange(width), rows)
    repaired[np.arange(rows * width), columns] = medians[columns]
    drops = base[:, None] - score(repaired).reshape(rows, width)
    result: list[tuple[str, ...]] = []
    for row in drops:
        order = np.argsort(-row, kind="stable")
        result.append(tuple(features[i] for i in order[:top] if row[i] > 0.0))
    return result


class IsolationForestDetector:
    """Standardised features → IsolationForest; explanations by single-feature repair.

    ``contamination``: ``None`` takes the training labels' anomaly rate when labels are given,
    else ``fallback_contamination``; a float or ``"auto"`` is used as given.

    Scoring goes through ``compiled_``, the fitted forest compiled into flat arrays
    (``energy_core.fastforest``): the same scores as ``forest_.score_samples`` without its
    per-call overhead, so a batch of a few readings scores in well under a millisecond.

    Explanation method (``explain``): for each reading, each feature in turn is replaced by
    its training median and the reading is scored again; the features whose repair lowers
    the anomaly score the most are its top contributors. It asks the fitted model itself,
    so it stays faithful to what the forest learned, and costs one extra scoring per feature.
    """

    def __init__(
        self,
        *,
        features: Sequence[str] = VARIABLE_NAMES,
        n_estimators: int = 100,
        contamination: Contamination | None = None,
        fallback_contamination: Contamination = "auto",
        max_samples: int | Literal["auto"] = "auto",
        random_state: int | None = 0,
    ) -> None:
        self.features = tuple(features)
        self.n_estimators = n_estimators
        self.contamination = contamination
        self.fallback_contamination = fallback_contamination
        self.max_samples = max_samples
        self.random_state = random_state

    def fit(self, X: FloatArray, y: BoolArray | None = None) -> Self:
        X = self._check(X)
        if len(X) < 2:
            raise ValueError(f"need at least 2 rows to fit, got {len(X)}")
        contamination = self.contamination
        if contamination is None:
            contamination = contamination_from_labels(y, self.fallback_contamination)
        self.contamination_ = contamination
        self.scaler_ = StandardScaler().fit(X)
        self.forest_ = IsolationForest(
            n_estimators=self.n_estimators,
            contamination=contamination,
            max_samples=self.max_samples,
            random_state=self.random_state,
        ).fit(self.scaler_.transform(X))
        self.compiled_ = compile_forest(self.forest_)
        # IsolationForest flags decision_function < 0, i.e. -score_samples > -offset_.
        self.threshold_ = float(-self.forest_.offset_)
        self.medians_ = np.median(X, axis=0)
        self.n_training_rows_ = len(X)
        return self

    @property
    def is_fitted(self) -> bool:
        return hasattr(self, "forest_")

    def score(self, X: FloatArray) -> FloatArray:
        """Anomaly score per row, higher = more anomalous (the negated forest score)."""
        X = self._check(X)
        self._check_is_fitted()
        if len(X) == 0:
            return np.empty(0)
        scores: FloatArray = -self._compiled().score_samples(self.scaler_.transform(X))
        return scores

    def predict(self, X: FloatArray) -> BoolArray:
        """True where a row is anomalous at the detector's own threshold."""
        flags: BoolArray = self.score(X) > self.threshold_
        return flags

    def explain(self, X: FloatArray, top: int = 3) -> list[tuple[str, ...]]:
        """Per row, up to ``top`` features whose repair to the median lowers the score most."""
        X = self._check(X)
        self._check_is_fitted()
        return explain_by_repair(self.score, X, self.medians_, self.features, top)

    def _check(self, X: FloatArray) -> FloatArray:
        return check_matrix(X, self.features)

    def _compiled(self) -> CompiledForest:
        compiled: CompiledForest | None = getattr(self, "compiled_", None)
        if compiled is None:
            # A detector stored before compiled_ existed: compile once, on first use.
            compiled = self.compiled_ = compile_forest(self.forest_)
        return compiled

    def _check_is_fitted(self) -> None:
        if not self.is_fitted:
            raise NotFittedError("this detector is not fitted yet: call fit() first")
