"""The detector protocol every detector meets, and what detectors share.

Conventions (after scikit-learn): settings are keyword-only and stored as given; ``fit``
returns ``self``; learned state ends in ``_``. Scores point one way everywhere:
**higher = more anomalous**, and a reading is flagged when its score exceeds
``threshold_``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


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
