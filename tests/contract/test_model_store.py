from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from energy_core import IsolationForestDetector, ModelInfo, Simulator, feature_matrix, labels
from energy_core.detection.registry import DETECTORS, make_detector
from tests.strategies import BASE


@pytest.fixture(scope="module")
def training():
    readings = Simulator(seed=3, anomaly_ratio=0.02).history(1500, end=BASE)
    return feature_matrix(readings), labels(readings)


def info_for(detector, rows) -> ModelInfo:
    return ModelInfo(
        trained_at=BASE,
        rows=rows,
        features=tuple(detector.features),
        contamination=str(detector.contamination_),
        threshold=detector.threshold_,
        evaluation={"roc_auc": 0.9},
    )


def test_empty_store_has_no_model(stores):
    assert stores.models.latest_version() is None
    assert stores.models.load() is None
    assert stores.models.info() is None
    assert stores.models.versions() == []


def test_saved_models_get_increasing_versions_and_score_identically(stores, training):
    X, y = training
    first = IsolationForestDetector(random_state=1).fit(X, y)
    second = IsolationForestDetector(random_state=2).fit(X[:800], y[:800])
    v1 = stores.models.save(first, info_for(first, len(X)))
    v2 = stores.models.save(second, info_for(second, 800))
    assert (v1.version, v2.version) == (1, 2)
    assert stores.models.latest_version() == 2
    loaded, info = stores.models.load()
    assert info == v2
    np.testing.assert_array_equal(loaded.score(X[:50]), second.score(X[:50]))
    old, old_info = stores.models.load(1)
    assert old_info.rows == len(X) and old_info.evaluation == {"roc_auc": 0.9}
    np.testing.assert_array_equal(old.score(X[:50]), first.score(X[:50]))
    assert [i.version for i in stores.models.versions()] == [1, 2]
    assert stores.models.info(1) == v1
    assert stores.models.load(99) is None


@pytest.mark.parametrize("name", sorted(DETECTORS))
def test_every_registered_detector_round_trips(stores, training, name):
    X, y = training
    groups = np.array(["meter-01"] * len(X))
    detector = make_detector(name).fit(X, y, groups=groups)
    info = ModelInfo(
        trained_at=BASE,
        rows=len(X),
        features=tuple(detector.features),
        contamination="auto",
        threshold=detector.threshold_,
        detector=name,
    )
    saved = stores.models.save(detector, info)
    loaded, loaded_info = stores.models.load(saved.version)
    assert loaded_info.detector == name
    np.testing.assert_array_equal(
        loaded.score(X[:200], groups=groups[:200]), detector.score(X[:200], groups=groups[:200])
    )


def test_per_meter_factors_are_stored_with_the_model(stores, training):
    X, y = training
    detector = IsolationForestDetector(random_state=1).fit(X, y)
    factors = {"meter-01": 1.75, "plant-boiler": 3.0}
    saved = stores.models.save(detector, replace(info_for(detector, len(X)), meter_factors=factors))
    assert saved.meter_factors == factors
    assert stores.models.info(saved.version).meter_factors == factors
    _, loaded = stores.models.load()
    assert loaded.meter_factors == factors
    assert [info.meter_factors for info in stores.models.versions()] == [factors]
    # A model trained without calibration keeps every meter at the model's threshold.
    bare = stores.models.save(detector, info_for(detector, len(X)))
    assert stores.models.load()[1].meter_factors == {} == bare.meter_factors
    assert stores.models.info(saved.version).meter_factors == factors
