from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score, roc_auc_score
from skops import io as sio

from energy_core.detection.isolation_forest import (
    IsolationForestDetector,
    contamination_from_labels,
)
from energy_core.detection.protocol import NotFittedError
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.readings import feature_matrix, labels
from energy_core.telemetry.simulator import Simulator
from tests.strategies import BASE


@pytest.fixture(scope="module")
def history():
    return Simulator(meters=1, seed=42, anomaly_ratio=0.02).history(8000, end=BASE)


@pytest.fixture(scope="module")
def simulated(history):
    return feature_matrix(history), labels(history)


def test_detector_finds_the_simulators_anomalies_far_above_chance(history, simulated):
    X, y = simulated
    train, test = slice(0, 5000), slice(5000, None)
    detector = IsolationForestDetector(random_state=0).fit(X[train], y[train])
    scores = detector.score(X[test])
    flags = detector.predict(X[test])
    # Measured over seeds 0-7 and 42: ROC-AUC 0.79-0.83, F1 0.52-0.61. Chance is 0.5 / ~0.11.
    assert roc_auc_score(y[test], scores) >= 0.78
    assert f1_score(y[test], flags) >= 0.5
    # A stuck sensor repeats a plausible value: invisible to a detector that sees one reading
    # at a time. Without those, the ranking is nearly perfect (measured 0.95-0.98).
    visible = np.array([reading.anomaly_kind != "stuck_sensor" for reading in history[5000:]])
    assert roc_auc_score(y[test][visible], scores[visible]) >= 0.94


def test_contamination_comes_from_the_training_labels(simulated):
    X, y = simulated
    detector = IsolationForestDetector().fit(X, y)
    assert detector.contamination_ == pytest.approx(np.mean(y))
    assert np.mean(detector.predict(X)) == pytest.approx(np.mean(y), abs=0.01)


def test_contamination_without_labels_falls_back_to_the_setting(simulated):
    X, _ = simulated
    assert IsolationForestDetector(fallback_contamination=0.05).fit(X).contamination_ == 0.05
    assert IsolationForestDetector().fit(X).contamination_ == "auto"


def test_contamination_is_clipped_to_what_isolation_forest_accepts():
    assert contamination_from_labels(np.array([True] * 9 + [False]), "auto") == 0.5
    assert contamination_from_labels(np.zeros(10, dtype=bool), 0.1) == 0.1


def test_higher_scores_mean_more_anomalous(simulated):
    X, y = simulated
    detector = IsolationForestDetector().fit(X, y)
    scores = detector.score(X)
    assert scores[y].mean() > scores[~y].mean()
    assert np.array_equal(detector.predict(X), scores > detector.threshold_)


def test_explanations_name_the_variable_that_was_broken(simulated):
    X, y = simulated
    detector = IsolationForestDetector().fit(X, y)
    normal = X[~y][:50].copy()
    voltage = VARIABLE_NAMES.index("voltage")
    temperature = VARIABLE_NAMES.index("motor_temperature")
    broken = normal.copy()
    broken[:25, voltage] *= 0.6
    broken[25:, temperature] += 40.0
    explanations = detector.explain(broken, top=3)
    assert all(top[0] == "voltage" for top in explanations[:25])
    assert all(top[0] == "motor_temperature" for top in explanations[25:])
    assert all(len(top) <= 3 for top in explanations)


def test_scoring_before_fit_is_a_clear_error():
    with pytest.raises(NotFittedError, match="fit"):
        IsolationForestDetector().score(np.zeros((1, 6)))


def test_wrong_shape_and_non_finite_inputs_are_refused(simulated):
    X, y = simulated
    detector = IsolationForestDetector().fit(X, y)
    with pytest.raises(ValueError, match="6 columns"):
        detector.score(np.zeros((2, 3)))
    bad = X[:2].copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="finite"):
        detector.score(bad)
    missing = X[:2].copy()
    missing[0, 0] = np.nan  # a variable the reading lacks: scored without it
    assert np.isfinite(detector.score(missing)).all()


def test_detector_accepts_any_feature_subset(simulated):
    X, y = simulated
    detector = IsolationForestDetector(features=("voltage", "current")).fit(X[:, :2], y)
    assert detector.score(X[:10, :2]).shape == (10,)


class ScoredByScikitLearn(IsolationForestDetector):
    """The detector as it scored before compilation: through the forest itself."""

    def score(self, X):
        return -self.forest_.score_samples(self.scaler_.transform(self._check(X)))


def test_compiled_scores_equal_the_forests_own(simulated):
    X, y = simulated
    detector = IsolationForestDetector().fit(X, y)
    reference = ScoredByScikitLearn().fit(X, y)
    assert np.max(np.abs(reference.score(X) - detector.score(X))) <= 1e-9
    assert np.array_equal(reference.predict(X), detector.predict(X))
    assert reference.threshold_ == detector.threshold_


def test_explanations_are_unchanged_by_compilation(simulated):
    X, y = simulated
    detector = IsolationForestDetector().fit(X, y)
    reference = ScoredByScikitLearn().fit(X, y)
    flagged = X[detector.predict(X)][:200]
    assert len(flagged) > 50
    assert reference.explain(flagged) == detector.explain(flagged)


def test_a_detector_stored_before_compilation_existed_still_scores(simulated):
    X, y = simulated
    detector = IsolationForestDetector().fit(X, y)
    expected = detector.score(X[:100])
    del detector.compiled_
    assert expected.tolist() == detector.score(X[:100]).tolist()
    assert hasattr(detector, "compiled_")


SKOPS_TRUSTED = [
    "energy_core.detection.isolation_forest.IsolationForestDetector",
    "energy_core.detection.fastforest.CompiledForest",
    "sklearn.tree._tree.Tree",
]


def test_a_detector_stored_with_skops_scores_the_same(simulated):
    X, y = simulated
    detector = IsolationForestDetector().fit(X, y)
    data = sio.dumps(detector)
    assert sorted(SKOPS_TRUSTED) == sorted(sio.get_untrusted_types(data=data))
    restored = sio.loads(data, trusted=SKOPS_TRUSTED)
    assert detector.score(X).tolist() == restored.score(X).tolist()
    assert detector.explain(X[:20]) == restored.explain(X[:20])
