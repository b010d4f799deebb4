from __future__ import annotations

import json
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from energy_adapters.memory import ManualClock
from energy_core import Simulator
from energy_core.detection.temporal import VIEWS
from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings
from tests.api.helpers import AUTH, TOKEN, api_app, reading
from tests.strategies import BASE


@pytest.fixture
def application(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings(_env_file=None, ingest_token=TOKEN, max_readings=None, meters=2, seed=3)
    app = bootstrap(settings, clock=ManualClock(BASE), simulator=Simulator(meters=2, seed=3))
    yield app
    app.close()


@pytest.fixture
def client(application):
    return TestClient(api_app(application))


def test_ingest_is_closed_without_a_token(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    application = bootstrap(Settings(_env_file=None))
    response = TestClient(api_app(application)).post(
        "/api/v1/readings", json=[reading()], headers=AUTH
    )
    assert response.status_code == 403
    assert "ENERGY_INGEST_TOKEN" in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_ingest_needs_the_right_bearer_token(client, headers):
    response = client.post("/api/v1/readings", json=[reading()], headers=headers)
    assert response.status_code == 401


def test_valid_readings_are_stored_and_invalid_ones_reported_by_index_and_field(
    client, application
):
    batch = [
        reading(seconds=2),
        reading(seconds=1, voltage=-3.0),
        reading(seconds=1, frequency="fast"),
        reading(seconds=0),
        {**reading(), "colour": "red"},
    ]
    response = client.post("/api/v1/readings", json=batch, headers=AUTH)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "voltage"),
        (2, "frequency"),
        (4, "colour"),
    ]
    assert "greater than or equal to 0" in body["rejected"][0]["reason"]
    assert application.monitor.queries.count() == 2


def test_ndjson_is_accepted(client, application):
    lines = "\n".join(json.dumps(reading(seconds=s)) for s in range(3))
    response = client.post(
        "/api/v1/readings",
        content=lines,
        headers={**AUTH, "Content-Type": "application/x-ndjson"},
    )
    assert response.json()["accepted"] == 3
    assert application.monitor.queries.count() == 3


def test_a_request_repeated_with_its_idempotency_key_is_stored_once(client, application):
    batch = [reading(seconds=s) for s in range(4)]
    once = {**AUTH, "Idempotency-Key": "batch-7"}
    first = client.post("/api/v1/readings", json=batch, headers=once)
    again = client.post("/api/v1/readings", json=batch, headers=once)
    other = client.post("/api/v1/readings", json=batch, headers={**AUTH, "Idempotency-Key": "8"})
    assert first.status_code == again.status_code == other.status_code == 200
    assert first.json()["accepted"] == again.json()["accepted"] == 4
    assert application.monitor.queries.count() == 8


def test_a_request_with_only_rejections_is_422_and_stores_nothing(client, application):
    response = client.post("/api/v1/readings", json=[reading(voltage=float("1e9"))], headers=AUTH)
    assert response.status_code == 422
    assert application.monitor.queries.count() == 0


@pytest.mark.parametrize(
    ("body", "fragment"), [("{not json", "invalid JSON"), ('"text"', "expected a JSON array")]
)
def test_malformed_bodies_are_400_with_where(client, body, fragment):
    response = client.post(
        "/api/v1/readings", content=body, headers={**AUTH, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


def test_future_timestamps_are_refused(client):
    response = client.post("/api/v1/readings", json=[reading(seconds=-3600)], headers=AUTH)
    assert response.json()["rejected"][0]["field"] == "timestamp"


def test_accepted_readings_are_scored_when_a_model_exists(client, application):
    application.monitor.generate_history(500)
    info = application.monitor.train()
    response = client.post("/api/v1/readings", json=[reading(voltage=120.0)], headers=AUTH)
    body = response.json()
    assert body["model_version"] == info.version
    assert body["flagged"] == 1
    stored = application.monitor.queries.latest(1, None)[0]
    assert stored.is_flagged and "voltage" in stored.top_variables
    listed = client.get("/api/v1/readings", params={"limit": 1}).json()["items"][0]
    # The default detector names the view that fired; the API says it as stored.
    assert stored.flagged_by in VIEWS
    assert (listed["flagged_by"], listed["top_variables"]) == (
        stored.flagged_by,
        list(stored.top_variables),
    )


def test_readings_are_listed_filtered_and_paged(client, application):
    application.monitor.generate_history(30)
    first = client.get("/api/v1/readings", params={"limit": 10, "meter": "meter-01"}).json()
    assert len(first["items"]) == 10
    assert {item["meter_id"] for item in first["items"]} == {"meter-01"}
    second = client.get(
        "/api/v1/readings", params={"limit": 10, "meter": "meter-01", "end": first["next_end"]}
    ).json()
    assert len(second["items"]) == 5 and second["next_end"] is None

    def moment(item):
        return datetime.fromisoformat(item["timestamp"])

    assert moment(second["items"][0]) < moment(first["items"][-1])


def test_latest_metrics_and_health(client, application):
    assert client.get("/api/v1/metrics/latest").status_code == 404
    health = client.get("/healthz").json()
    assert health == {
        "status": "ok",
        "storage": "memory",
        "database": "not used",
        "model_version": None,
    }
    application.monitor.generate_history(300)
    application.monitor.train()
    snapshot = application.monitor.analyse()
    body = client.get("/api/v1/metrics/latest").json()
    assert body["total_readings"] == snapshot.total_readings
    assert body["health"] == snapshot.health.value
    assert client.get("/healthz").json()["model_version"] == 1


def test_openapi_documents_every_route_and_the_reading_schema(client):
    schema = client.get("/openapi.json").json()
    assert {"/api/v1/readings", "/api/v1/metrics/latest", "/healthz"} <= set(schema["paths"])
    body = schema["paths"]["/api/v1/readings"]["post"]["requestBody"]["content"]
    reading = body["application/json"]["schema"]["items"]
    # Every variable is optional (a number within its bounds, or null: not sent).
    kinds = reading["properties"]["voltage"]["anyOf"]
    [number] = [kind for kind in kinds if kind["type"] != "null"]
    assert (number["type"], number["maximum"]) == ("number", 1000.0)
    assert set(reading["required"]) == {"meter_id", "timestamp"}
    answered = schema["components"]["schemas"]["ReadingOut"]["properties"]["flagged_by"]
    assert {kind["type"] for kind in answered["anyOf"]} == {"string", "null"}
    assert "stuck" in answered["description"]


def test_with_read_access_login_reads_need_the_token_and_health_stays_open(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    settings = Settings(
        _env_file=None, ingest_token=TOKEN, admin_password="admin", read_access="login"
    )
    client = TestClient(api_app(bootstrap(settings)))
    assert client.get("/api/v1/readings").status_code == 401
    assert client.get("/api/v1/metrics/latest").status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert client.get("/api/v1/readings", headers=wrong).status_code == 401
    assert client.get("/api/v1/readings", headers=AUTH).status_code == 200
    assert client.get("/healthz").status_code == 200


def test_reads_stay_open_by_default(client):
    assert client.get("/api/v1/readings").status_code == 200


def test_the_same_idempotency_key_with_other_readings_is_refused_with_409(client, application):
    once = {**AUTH, "Idempotency-Key": "batch-9"}
    first = client.post("/api/v1/readings", json=[reading(seconds=1)], headers=once)
    other = client.post("/api/v1/readings", json=[reading(seconds=2, voltage=231.0)], headers=once)
    assert first.status_code == 200
    assert other.status_code == 409
    detail = other.json()["detail"]
    assert "Idempotency-Key 'batch-9'" in detail and "different" in detail
    assert application.monitor.queries.count() == 1


def test_a_request_repeated_with_its_key_gets_the_original_answer(client, application):
    application.monitor.generate_history(500)
    application.monitor.train()
    batch = [reading(seconds=2), reading(seconds=1, voltage=120.0), reading(voltage=-1.0)]
    once = {**AUTH, "Idempotency-Key": "batch-10"}
    first = client.post("/api/v1/readings", json=batch, headers=once)
    again = client.post("/api/v1/readings", json=batch, headers=once)
    assert first.status_code == again.status_code == 200
    assert first.json()["accepted"] == 2 and first.json()["flagged"] >= 1
    assert first.json() == again.json()
    assert application.monitor.queries.count() == 500 + 2


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\tinside"])
def test_an_unusable_idempotency_key_is_422_naming_the_header(client, key):
    response = client.post(
        "/api/v1/readings", json=[reading()], headers={**AUTH, "Idempotency-Key": key}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
