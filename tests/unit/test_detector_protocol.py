"""Every detector the registry builds is one ``Detector``: context optional, nothing probed."""

from __future__ import annotations

import numpy as np
import pytest

from energy_core.detection.protocol import Detector
from energy_core.detection.registry import DETECTORS, make_detector

FEATURES = ("voltage", "current", "active_power")


def _series(rows: int = 400, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    X = np.column_stack(
        [230 + rng.normal(0, 1, rows), 10 + rng.normal(0, 0.2, rows), 2 + rng.normal(0, 0.05, rows)]
    )
    return X


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_registered_detector_meets_the_one_protocol(name: str) -> None:
    X = _series()
    groups = np.array(["a", "b"] * 200)
    detector = make_detector(name, FEATURES).fit(X, None, groups=groups)
    assert isinstance(detector, Detector)  # a fitted one: ``threshold_`` is learnt state
    assert detector.calibration
    fresh = _series(20, seed=1)
    fresh[5] = (400.0, 50.0, 20.0)  # far outside anything seen, voltage the furthest
    context = {"a": X[groups == "a"][-detector.context_rows :]} if detector.context_rows else None
    scores, tops = detector.score_and_explain(fresh, context=context, groups=np.array(["a"] * 20))
    assert scores.shape == (20,)
    assert len(tops) == int(np.sum(scores > detector.threshold_))
    assert scores[5] > detector.threshold_
    assert "voltage" in tops[int(np.sum(scores[:5] > detector.threshold_))]


@pytest.mark.parametrize("name", ["isolation_forest", "skab_isolation_forest"])
def test_a_detector_that_scores_readings_alone_ignores_context(name: str) -> None:
    detector = make_detector(name, FEATURES).fit(_series())
    assert detector.context_rows == 0
    fresh = _series(10, seed=2)
    alone = detector.score(fresh)
    with_context = detector.score(fresh, context=_series(50, seed=3), groups=["m"] * 10)
    np.testing.assert_array_equal(alone, with_context)


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_detector_gives_the_range_it_expected_each_value_in(name: str) -> None:
    X = _series()
    detector = make_detector(name, FEATURES).fit(X)
    fresh = _series(30, seed=4)
    fresh[10, 0] = 300.0  # a voltage far outside what training showed
    fresh[12, 1] = np.nan  # a current the reading lacks
    context = X[-detector.context_rows :] if detector.context_rows else None
    low, high = detector.expected_range(fresh, context=context)
    assert low.shape == high.shape == fresh.shape
    known = ~np.isnan(low)
    assert np.all(low[known] < high[known])
    inside = (fresh >= low) & (fresh <= high)
    assert not inside[10, 0]
    # Ordinary readings fall inside their band (the spike and its row aside).
    ordinary = np.delete(inside, [10, 12], axis=0)
    assert ordinary.mean() > 0.95
    # The band sits around training's values, not around the spike.
    assert 220.0 < low[11, 0] < 230.0 < high[11, 0] < 240.0


def test_the_temporal_band_is_where_its_point_view_stops_alarming() -> None:
    X = _series()
    detector = make_detector("temporal", FEATURES).fit(X)
    fresh = _series(12, seed=5)
    _, high = detector.expected_range(fresh, context=X)
    for value, flagged in ((high[11, 0] + 0.05, True), (high[11, 0] - 0.05, False)):
        probe = fresh.copy()
        probe[11, 0] = value
        assert detector.predict(probe, context=X)[11] == flagged
