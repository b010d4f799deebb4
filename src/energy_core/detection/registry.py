"""Detectors by name: what ``evaluate --detector NAME`` and the drill build.

``DEFAULT_DETECTOR`` (``"temporal"``) was chosen by evidence; docs/detection.md has the
tables. The other names exist for comparison and ablation:

- ``temporal``: ``TemporalDetector`` with every view (point, stuck, collective);
- ``temporal_robust`` / ``temporal_pca``: its collective view reduced to one family;
- ``temporal_lags``: the default with the single-period lag features in its level family;
- ``temporal_classic``: the default before issue 16 (no same-hour profile, stuck runs by
  row quantile, no level floors), kept to measure what the changes bought;
- ``isolation_forest``: the project's original ``IsolationForestDetector`` (standardised
  single readings, contamination ``"auto"``);
- ``skab_isolation_forest``: the published SKAB baseline replica.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from energy_core.detection.baseline import SkabIsolationForestDetector
from energy_core.detection.isolation_forest import IsolationForestDetector
from energy_core.detection.protocol import Detector
from energy_core.detection.temporal import TemporalDetector
from energy_core.telemetry.catalogue import DEFAULT_FEATURES

DEFAULT_DETECTOR = "temporal"


Factory = Callable[..., Detector]


def _temporal(**views: Any) -> Factory:
    def build(
        features: Sequence[str], seasonal_lags: Sequence[int] = (), holidays: str | None = None
    ) -> Detector:
        return TemporalDetector(
            features=features, seasonal_lags=seasonal_lags, holidays=holidays, **views
        )

    return build


def _isolation_forest(
    features: Sequence[str], seasonal_lags: Sequence[int] = (), holidays: str | None = None
) -> Detector:
    del seasonal_lags, holidays
    return IsolationForestDetector(features=features, random_state=0)


def _skab(
    features: Sequence[str], seasonal_lags: Sequence[int] = (), holidays: str | None = None
) -> Detector:
    del seasonal_lags, holidays
    return SkabIsolationForestDetector(features=features)


DETECTORS: dict[str, Factory] = {
    "temporal": _temporal(),
    "temporal_robust": _temporal(views=("point", "stuck", "robust")),
    "temporal_pca": _temporal(views=("point", "stuck", "pca")),
    "temporal_lags": _temporal(lags_in_level=True),
    "temporal_classic": _temporal(
        profile_periods=0,
        stuck_rule="rows",
        level_floor=0.0,
        scale_floor=0.0,
        adapt=False,
        trim_rounds=0,
        lags_in_level=True,
        adapt_below_periods=0.0,
        recent_baseline=False,
    ),
    "isolation_forest": _isolation_forest,
    "skab_isolation_forest": _skab,
}


def make_detector(
    name: str = DEFAULT_DETECTOR,
    features: Sequence[str] = (),
    *,
    seasonal_lags: Sequence[int] = (),
    holidays: str | None = None,
) -> Detector:
    """A new, unfitted detector called ``name`` over ``features``.

    ``seasonal_lags`` (rows, e.g. from ``seasonal_lags_for``) and ``holidays`` (a country
    code for the public-holiday calendar, e.g. ``"ES"``) are used by temporal detectors.
    ``ValueError`` names the known detectors when ``name`` is unknown.
    """
    try:
        factory = DETECTORS[name]
    except KeyError:
        known = ", ".join(sorted(DETECTORS))
        raise ValueError(f"unknown detector {name!r}; known detectors: {known}") from None
    return factory(
        tuple(features) or DEFAULT_FEATURES, seasonal_lags=tuple(seasonal_lags), holidays=holidays
    )
