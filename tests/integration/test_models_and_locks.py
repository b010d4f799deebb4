"""Models in PostgreSQL refuse untrusted types; advisory locks admit one holder."""

from __future__ import annotations

import os

import pytest

from energy_adapters.model_codec import UntrustedModelError
from energy_adapters.postgres import advisory_lock, open_engine
from energy_core import IsolationForestDetector, ModelInfo, Simulator, feature_matrix, labels
from tests.strategies import BASE

pytestmark = pytest.mark.postgres


def test_a_model_row_carrying_an_untrusted_type_is_refused_by_name(pg_stores):
    readings = Simulator(seed=2).history(300, end=BASE)
    detector = IsolationForestDetector(n_estimators=10).fit(
        feature_matrix(readings), labels(readings)
    )
    detector.hook = os.system  # type: ignore[attr-defined]
    info = ModelInfo(
        trained_at=BASE,
        rows=300,
        features=tuple(detector.features),
        contamination=str(detector.contamination_),
        threshold=detector.threshold_,
    )
    saved = pg_stores.models.save(detector, info)
    assert pg_stores.models.info() == saved  # metadata is readable without loading
    with pytest.raises(UntrustedModelError, match=f"{os.system.__module__}.system"):
        pg_stores.models.load()


def test_only_one_holder_of_an_advisory_lock_across_connections(pg_engine, pg_database_url):
    other = open_engine(pg_database_url)
    try:
        with advisory_lock(pg_engine, "auto-train") as first:
            assert first
            with advisory_lock(other, "auto-train") as second:
                assert not second
            with advisory_lock(other, "another-loop") as unrelated:
                assert unrelated
        with advisory_lock(other, "auto-train") as after_release:
            assert after_release
    finally:
        other.dispose()
