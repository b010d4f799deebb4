"""Detectors by name: what ``evaluate --detector NAME`` and the drill build.

``DEFAULT_DETECTOR`` (``"temporal"``) was chosen by evidence; docs/detection.md has the
tables. The other names exist for comparison and ablation:

- ``temporal``: ``TemporalDetector`` with every view (point, stuck, collective);
- ``temporal_robust`` / ``temporal_pca``: its collective view reduced to one family;
- ``isolation_forest``: the project's original ``IsolationForestDetector`` (standardised
  single readings, contamination ``"auto"``);
- ``skab_isolation_forest``: the published SKAB baseline replica.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, Protocol, Self

import numpy as np
import numpy.typing as npt

from energy_core.detection.baseline import SkabIsolationForestDetector
from energy_core.detection.isolation_forest import IsolationForestDetector
from energy_core.detection.temporal import TemporalDetector
from energy_core.telemetry.catalogue import DEFAULT_FEATURES

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Groups = Sequence[Hashable] | npt.NDArray[np.generic] | None
Context = FloatArray | Mapping[Hashable, FloatArray] | None

DEFAULT_DETECTOR = "temporal"


class ContextualDetector(Protocol):
    """A ``Detector`` that scores a batch given each meter's previous rows (``context``)."""

    @property
    def threshold_(self) -> float:
        """Scores above this are anomalies (set by ``fit``)."""
        ...

    @property
    def features(self) -> Sequence[str]: ...

    @property
    def context_rows(self) -> int:
        """How many previous rows per meter are enough context."""
        ...

    def fit(self, X: FloatArray, y: BoolArray | None = None, *, groups: Groups = None) -> Self: ...

    def score(
        self, X: FloatArray, *, context: Context = None, groups: Groups = None
    ) -> FloatArray: ...

    def predict(
        self, X: FloatArray, *, context: Context = None, groups: Groups = None
    ) -> BoolArray: ...

    def explain(
        self, X: FloatArray, top: int = 3, *, context: Context = None, groups: Groups = None
    ) -> list[tuple[str, ...]]: ...


class _PointDetector:
    """Adapts a one-reading-at-a-time ``IsolationForestDetector`` to ``ContextualDetector``."""

    def __init__(self, inner: IsolationForestDetector) -> None:
        self.inner = inner

    @property
    def features(self) -> Sequence[str]:
        return self.inner.features

    @property
    def threshold_(self) -> float:
        return self.inner.threshold_

    @property
    def context_rows(self) -> int:
        return 0

    def fit(self, X: FloatArray, y: BoolArray | None = None, *, groups: Groups = None) -> Self:
        del groups
        self.inner.fit(X, y)
        return self

    def score(self, X: FloatArray, *, context: Context = None, groups: Groups = None) -> FloatArray:
        del context, groups
        return self.inner.score(X)

    def predict(
        self, X: FloatArray, *, context: Context = None, groups: Groups = None
    ) -> BoolArray:
        del context, groups
        return self.inner.predict(X)

    def explain(
        self, X: FloatArray, top: int = 3, *, context: Context = None, groups: Groups = None
    ) -> list[tuple[str, ...]]:
        del context, groups
        return self.inner.explain(X, top)


Factory = Callable[..., ContextualDetector]


def _temporal(**views: Any) -> Factory:
    def build(features: Sequence[str], seasonal_lags: Sequence[int] = ()) -> ContextualDetector:
        return TemporalDetector(features=features, seasonal_lags=seasonal_lags, **views)

    return build


def _isolation_forest(
    features: Sequence[str], seasonal_lags: Sequence[int] = ()
) -> ContextualDetector:
    del seasonal_lags
    return _PointDetector(IsolationForestDetector(features=features, random_state=0))


def _skab(features: Sequence[str], seasonal_lags: Sequence[int] = ()) -> ContextualDetector:
    del seasonal_lags
    return SkabIsolationForestDetector(features=features)


DETECTORS: dict[str, Factory] = {
    "temporal": _temporal(),
    "temporal_robust": _temporal(views=("point", "stuck", "robust")),
    "temporal_pca": _temporal(views=("point", "stuck", "pca")),
    "isolation_forest": _isolation_forest,
    "skab_isolation_forest": _skab,
}


def make_detector(
    name: str = DEFAULT_DETECTOR,
    features: Sequence[str] = (),
    *,
    seasonal_lags: Sequence[int] = (),
) -> ContextualDetector:
    """A new, unfitted detector called ``name`` over ``features``.

    ``seasonal_lags`` (rows, e.g. from ``seasonal_lags_for``) is used by temporal detectors.
    ``ValueError`` names the known detectors when ``name`` is unknown.
    """
    try:
        factory = DETECTORS[name]
    except KeyError:
        known = ", ".join(sorted(DETECTORS))
        raise ValueError(f"unknown detector {name!r}; known detectors: {known}") from None
    return factory(tuple(features) or DEFAULT_FEATURES, seasonal_lags=tuple(seasonal_lags))
