"""Named ingest tokens over HTTP (in memory): who may ingest, which meters, revoking."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from energy_adapters.memory import ManualClock
from energy_adapters.postgres import DatabaseUnavailableError
from energy_adapters.tokens import MemoryTokenStore
from energy_core import Simulator
from energy_ui.api import create_api_router
from energy_ui.api.tokens import issue_token
from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings
from tests.api.test_api import reading
from tests.strategies import BASE

LEGACY = "legacy-shared-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_application(monkeypatch, **settings):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    values = {"max_readings": None, "meters": 2, "seed": 3, "token_cache_s": 0.0, **settings}
    return bootstrap(
        Settings(_env_file=None, **values),
        clock=ManualClock(BASE),
        simulator=Simulator(meters=2, seed=3),
    )


def client_of(application) -> TestClient:
    api = FastAPI()
    api.include_router(create_api_router(application))
    return TestClient(api)


@pytest.fixture
def application(monkeypatch):
    application = make_application(monkeypatch, ingest_token=LEGACY)
    yield application
    application.close()


@pytest.fixture
def client(application):
    return client_of(application)


def issue(application, name, *patterns):
    token, _ = issue_token(
        application.ingest_tokens, name, patterns, now=application.monitor.clock.now()
    )
    return token


def post(client, token, batch):
    return client.post("/api/v1/readings", json=batch, headers=bearer(token))


def stored_meters(application):
    return sorted(r.meter_id for r in application.monitor.queries.latest(100, None))


def test_a_named_token_ingests_and_the_legacy_token_still_does(client, application):
    token = issue(application, "gw-1")
    assert post(client, token, [reading("m-1", seconds=1)]).status_code == 200
    assert post(client, LEGACY, [reading("m-2", seconds=2)]).status_code == 200
    assert stored_meters(application) == ["m-1", "m-2"]


def test_a_near_miss_of_a_named_token_is_refused(client, application):
    token = issue(application, "gw-1")
    other_last = "A" if token[-1] != "A" else "B"
    for near_miss in (token[:-1] + other_last, token[:-1], token + "A", token[:20]):
        response = post(client, near_miss, [reading()])
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert stored_meters(application) == []


def test_a_revoked_token_is_refused_without_a_restart(client, application):
    token = issue(application, "gw-1")
    assert post(client, token, [reading(seconds=1)]).status_code == 200
    assert application.ingest_tokens.revoke("gw-1")
    assert post(client, token, [reading(seconds=2)]).status_code == 401
    assert application.monitor.queries.count() == 1


def test_a_token_added_while_serving_is_accepted_without_a_restart(client, application):
    assert post(client, "se_not-issued-yet", [reading()]).status_code == 401
    token = issue(application, "gw-late")
    assert post(client, token, [reading()]).status_code == 200


def test_a_restricted_token_stores_its_meters_and_rejects_the_others_by_index(client, application):
    token = issue(application, "gw-1", "gw1-*", "m-7")
    batch = [
        reading("gw1-a", seconds=4),
        reading("other", seconds=3),
        reading("m-7", seconds=2),
        reading("gw1-b", seconds=1, voltage=-1.0),
        reading("m-77", seconds=0),
    ]
    response = post(client, token, batch)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"], r["value"]) for r in body["rejected"]] == [
        (1, "meter_id", "other"),
        (3, "voltage", -1.0),
        (4, "meter_id", "m-77"),
    ]
    assert "gw-1" in body["rejected"][0]["reason"] and "gw1-*" in body["rejected"][0]["reason"]
    assert stored_meters(application) == ["gw1-a", "m-7"]


def test_a_restricted_token_whose_every_reading_is_outside_is_422(client, application):
    token = issue(application, "gw-1", "gw1-*")
    response = post(client, token, [reading("m-1")])
    assert response.status_code == 422
    assert response.json()["rejected"][0]["field"] == "meter_id"
    assert stored_meters(application) == []


def test_restriction_applies_to_ndjson_too(client, application):
    token = issue(application, "gw-1", "gw1-*")
    lines = "\n".join(json.dumps(reading(m, seconds=s)) for s, m in enumerate(["gw1-a", "x"]))
    response = client.post(
        "/api/v1/readings",
        content=lines,
        headers={**bearer(token), "Content-Type": "application/x-ndjson"},
    )
    assert response.json()["accepted"] == 1
    assert [(r["index"], r["field"]) for r in response.json()["rejected"]] == [(1, "meter_id")]


def test_named_tokens_alone_open_ingest_and_a_wrong_token_is_401(monkeypatch):
    application = make_application(monkeypatch)
    client = client_of(application)
    assert post(client, "anything", [reading()]).status_code == 403
    token = issue(application, "gw-1")
    assert post(client, "anything", [reading()]).status_code == 401
    assert post(client, token, [reading()]).status_code == 200
    application.ingest_tokens.revoke("gw-1")
    closed = post(client, token, [reading()])
    assert closed.status_code == 403
    assert "ENERGY_INGEST_TOKEN" in closed.json()["detail"]
    assert "tokens add" in closed.json()["detail"]


def test_same_idempotency_key_from_two_tokens_does_not_collide(client, application):
    first, second = issue(application, "gw-1"), issue(application, "gw-2")
    key = {"Idempotency-Key": "batch-1"}
    one = client.post(
        "/api/v1/readings", json=[reading("a", seconds=1)], headers={**bearer(first), **key}
    )
    two = client.post(
        "/api/v1/readings", json=[reading("b", seconds=2)], headers={**bearer(second), **key}
    )
    assert (one.status_code, two.status_code) == (200, 200)
    assert stored_meters(application) == ["a", "b"]


# --- reads under ENERGY_READ_ACCESS=login -------------------------------------------------
@pytest.fixture
def login_client(monkeypatch):
    application = make_application(
        monkeypatch, ingest_token=LEGACY, admin_password="admin", read_access="login"
    )
    yield application, client_of(application)
    application.close()


def test_an_unrestricted_named_token_may_read(login_client):
    application, client = login_client
    token = issue(application, "reader")
    assert client.get("/api/v1/readings", headers=bearer(token)).status_code == 200
    assert client.get("/api/v1/readings", headers=bearer(LEGACY)).status_code == 200
    assert client.get("/api/v1/readings", headers=bearer(token[:-1])).status_code == 401
    application.ingest_tokens.revoke("reader")
    assert client.get("/api/v1/readings", headers=bearer(token)).status_code == 401


def test_a_token_limited_to_meters_may_not_read_everything(login_client):
    application, client = login_client
    token = issue(application, "gw-1", "gw1-*")
    response = client.get("/api/v1/readings", headers=bearer(token))
    assert response.status_code == 403
    assert "gw-1" in response.json()["detail"]
    assert client.get("/api/v1/metrics/latest", headers=bearer(token)).status_code == 403


class UnreachableStore(MemoryTokenStore):
    def active(self):
        raise DatabaseUnavailableError("cannot use PostgreSQL database 'x' on h:5432: gone")


def test_a_named_token_while_the_database_is_away_is_503_and_the_legacy_token_unaffected(
    monkeypatch,
):
    application = make_application(monkeypatch, ingest_token=LEGACY)
    application.ingest_tokens = UnreachableStore()
    client = client_of(application)
    response = post(client, "se_some-named-token", [reading()])
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "gone" not in response.text  # the driver's words are not shown
    assert post(client, LEGACY, [reading()]).status_code == 200
