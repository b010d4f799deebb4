"""Detectors are stored with skops and loaded only when every type in them is trusted."""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from energy_adapters.model_codec import (
    MOVED_MODULES,
    UntrustedModelError,
    dump_detector,
    load_detector,
)
from energy_adapters.model_files import FileModelStore
from energy_core import IsolationForestDetector, ModelInfo, Simulator, feature_matrix, labels
from tests.strategies import BASE


@pytest.fixture(scope="module")
def training():
    readings = Simulator(seed=5, anomaly_ratio=0.03).history(400, end=BASE)
    return feature_matrix(readings), labels(readings)


def fitted(training) -> IsolationForestDetector:
    X, y = training
    return IsolationForestDetector(n_estimators=20, random_state=4).fit(X, y)


def info_for(detector: IsolationForestDetector) -> ModelInfo:
    return ModelInfo(
        trained_at=BASE,
        rows=400,
        features=tuple(detector.features),
        contamination=str(detector.contamination_),
        threshold=detector.threshold_,
    )


def test_a_detector_survives_the_round_trip_and_scores_the_same(training):
    detector = fitted(training)
    loaded = load_detector(dump_detector(detector))
    X, _ = training
    np.testing.assert_array_equal(loaded.score(X), detector.score(X))
    assert loaded.threshold_ == detector.threshold_


def test_a_stored_model_carrying_an_untrusted_type_is_refused_by_name(tmp_path, training):
    detector = fitted(training)
    # What a tampered file would carry: a callable that runs shell commands.
    detector.hook = os.system  # type: ignore[attr-defined]
    store = FileModelStore(tmp_path)
    store.save(detector, info_for(detector))
    with pytest.raises(UntrustedModelError) as raised:
        store.load()
    system = f"{os.system.__module__}.{os.system.__name__}"
    assert raised.value.untrusted == (system,)
    assert system in str(raised.value)


def test_file_store_keeps_one_skops_and_one_json_file_per_version(tmp_path, training):
    detector = fitted(training)
    store = FileModelStore(tmp_path / "models")
    store.save(detector, info_for(detector))
    store.save(detector, info_for(detector))
    names = sorted(path.name for path in (tmp_path / "models").iterdir())
    assert names == ["model-0001.json", "model-0001.skops", "model-0002.json", "model-0002.skops"]


def test_a_half_written_model_is_not_visible(tmp_path, training):
    store = FileModelStore(tmp_path)
    (tmp_path / "model-0001.skops").write_bytes(b"still being written")
    assert store.latest_version() is None
    detector = fitted(training)
    # The claimed version is skipped, not overwritten.
    assert store.save(detector, info_for(detector)).version == 2


def _with_module_paths_renamed(payload: bytes, renames: dict[str, str]) -> bytes:
    """``payload`` as a skops file written when the classes lived at other module paths."""
    source, target = io.BytesIO(payload), io.BytesIO()
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item)
            if item.filename == "schema.json":
                text = data.decode()
                for before, after in renames.items():
                    text = text.replace(f'"{before}"', f'"{after}"')
                data = text.encode()
            new.writestr(item, data)
    return target.getvalue()


def test_a_model_stored_before_the_core_moved_into_folders_still_loads(training):
    """Databases keep models whose classes are named by the old flat module paths."""
    from energy_core.detection.registry import make_detector

    X, y = training
    detector = make_detector("temporal").fit(X, y)
    old = _with_module_paths_renamed(
        dump_detector(detector),
        {new: old for old, new in MOVED_MODULES.items()},
    )
    assert "energy_core.temporal" in old.decode("latin-1")
    loaded = load_detector(old)
    np.testing.assert_array_equal(loaded.score(X), detector.score(X))


def test_an_untrusted_type_under_an_old_module_path_is_still_refused(training):
    detector = fitted(training)
    detector.hook = os.system  # type: ignore[attr-defined]
    old = _with_module_paths_renamed(
        dump_detector(detector), {new: old for old, new in MOVED_MODULES.items()}
    )
    with pytest.raises(UntrustedModelError):
        load_detector(old)


def test_a_model_file_stored_before_meter_factors_loads_with_none(tmp_path, training):
    detector = fitted(training)
    store = FileModelStore(tmp_path)
    saved = store.save(detector, replace(info_for(detector), meter_factors={"meter-01": 2.0}))
    path = tmp_path / f"model-{saved.version:04d}.json"
    old = json.loads(path.read_text(encoding="utf-8"))
    del old["meter_factors"]  # as files written before per-meter calibration
    path.write_text(json.dumps(old), encoding="utf-8")
    loaded, info = store.load()
    assert info.meter_factors == {}
    assert loaded.threshold_ == detector.threshold_
