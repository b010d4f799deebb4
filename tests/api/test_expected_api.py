"""GET /api/v1/readings?expected=true: each reading carries the range the current model
expected each of its values in (issue 16), the same band the Variables tab draws."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from fastapi.testclient import TestClient

from energy_adapters.memory import ManualClock
from energy_core import ReadingFilter, Simulator
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.settings import Settings
from tests.api.helpers import TOKEN, api_app
from tests.strategies import BASE


def application(*, train: bool) -> Application:
    settings = Settings(_env_file=None, ingest_token=TOKEN, max_readings=None, meters=2, seed=3)
    app = bootstrap(settings, clock=ManualClock(BASE), simulator=Simulator(meters=2, seed=3))
    app.monitor.generate_history(800)
    if train:
        app.monitor.train()
        app.monitor.analyse()
    return app


@pytest.fixture(scope="module")
def trained() -> Iterator[tuple[Application, TestClient]]:
    app = application(train=True)
    yield app, TestClient(api_app(app))
    app.close()


def test_without_asking_no_reading_carries_a_band(trained):
    _, client = trained
    items = client.get("/api/v1/readings", params={"limit": 5}).json()["items"]
    assert [item["expected"] for item in items] == [None] * 5


def test_asked_each_reading_carries_low_and_high_per_variable(trained):
    app, client = trained
    answer = client.get(
        "/api/v1/readings", params={"meter": "meter-01", "limit": 200, "expected": "true"}
    )
    assert answer.status_code == 200
    items = answer.json()["items"]
    assert len(items) == 200
    detector, _ = app.monitor.current_model() or pytest.fail("no model")
    inside = []
    for item in items:
        assert set(item["expected"]) == set(detector.features)
        for name, (low, high) in item["expected"].items():
            assert low < high
            inside.append(low <= item["values"][name] <= high)
    assert np.mean(inside) > 0.9
    # The band the monitor gives for the same readings, in time order (the page is newest
    # first): the API neither shifts nor reorders it.
    window = app.monitor.queries.window(ReadingFilter(meter_ids=("meter-01",)), limit=200)
    low, high = app.monitor.expected_ranges(window)["voltage"]
    shown = [item["expected"]["voltage"] for item in reversed(items)]
    np.testing.assert_allclose([pair[0] for pair in shown], low, rtol=1e-6)
    np.testing.assert_allclose([pair[1] for pair in shown], high, rtol=1e-6)


def test_a_page_of_several_meters_gives_each_its_own_band(trained):
    _, client = trained
    mixed = client.get("/api/v1/readings", params={"limit": 40, "expected": "true"}).json()
    assert {item["meter_id"] for item in mixed["items"]} == {"meter-01", "meter-02"}
    for meter in ("meter-01", "meter-02"):
        alone = client.get(
            "/api/v1/readings", params={"meter": meter, "limit": 20, "expected": "true"}
        ).json()["items"]
        assert [item["expected"] for item in mixed["items"] if item["meter_id"] == meter] == [
            item["expected"] for item in alone
        ]


def test_without_a_model_the_band_asked_for_is_empty():
    app = application(train=False)
    try:
        client = TestClient(api_app(app))
        items = client.get("/api/v1/readings", params={"limit": 3, "expected": True}).json()
        assert [item["expected"] for item in items["items"]] == [{}, {}, {}]
    finally:
        app.close()


def test_the_schema_documents_the_parameter_and_the_field(trained):
    _, client = trained
    schema = client.get("/openapi.json")
    operation = schema.json()["paths"]["/api/v1/readings"]["get"]
    parameter = next(item for item in operation["parameters"] if item["name"] == "expected")
    assert "expected range" in parameter["description"]
    field = schema.json()["components"]["schemas"]["ReadingOut"]["properties"]["expected"]
    assert "[low, high]" in field["description"]
