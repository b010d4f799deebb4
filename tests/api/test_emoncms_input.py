"""The Emoncms input API shape at /api/v1/emoncms/input/…: what emonhub's HTTP interfacer and
Emoncms-speaking devices post, with the native route's tokens and rejections."""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from energy_adapters.memory import ManualClock
from energy_core import ReadingFilter, Simulator
from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings
from tests.api.helpers import AUTH, TOKEN, api_app
from tests.strategies import BASE

# A node whose inputs carry every variable (the mapping file names them), so that a reading
# is whole whatever the catalogue requires.
KEYS = """
[emon.keys]
V = { variable = "voltage" }
I = { variable = "current" }
P = { variable = "active_power", scale = 0.001 }
PF = { variable = "power_factor" }
F = { variable = "frequency" }
T = { variable = "motor_temperature" }
"""
INPUTS = {"V": 231.2, "I": 4.1, "P": 850, "PF": 0.9, "F": 50.02, "T": 45.5}
NOW = int(BASE.timestamp())
BULK = "/api/v1/emoncms/input/bulk.json"
POST = "/api/v1/emoncms/input/post"


@pytest.fixture
def application(monkeypatch, tmp_path: Path):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    mappings = tmp_path / "devices.toml"
    mappings.write_text(KEYS, encoding="utf-8")
    settings = Settings(
        _env_file=None, ingest_token=TOKEN, max_readings=None, device_mappings=mappings
    )
    app = bootstrap(settings, clock=ManualClock(BASE), simulator=Simulator(seed=3))
    yield app
    app.close()


@pytest.fixture
def client(application):
    return TestClient(api_app(application))


def stored(application, meter: str) -> list:
    return application.monitor.queries.window(ReadingFilter(meter_ids=(meter,)))


def bulk_body(*frames: list) -> str:
    return json.dumps(list(frames), separators=(",", ":"))


def test_emonhub_bulk_compressed_with_names_and_a_bearer_token_is_stored_and_answered_ok(
    client, application
):
    # As emonhub (sendnames = 1) posts: zlib body, cb=1, sentat, Authorization: Bearer.
    data = bulk_body([NOW - 10, "pump", INPUTS], [NOW, "pump", {**INPUTS, "V": 232.0}])
    response = client.post(
        f"{BULK}?sentat={NOW}&cb=1", content=zlib.compress(data.encode()), headers=AUTH
    )
    assert (response.status_code, response.text) == (200, "ok")
    readings = stored(application, "pump")
    assert sorted(r.timestamp.timestamp() for r in readings) == [NOW - 10, NOW]
    assert sorted(r["voltage"] for r in readings) == [231.2, 232.0]
    assert readings[0]["active_power"] == pytest.approx(0.85)


def test_older_emonhub_form_posts_with_the_apikey_field(client, application):
    body = urlencode({"apikey": TOKEN, "data": bulk_body([NOW, "pump", INPUTS]), "sentat": NOW})
    response = client.post(
        BULK, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (response.status_code, response.text) == (200, "ok")
    assert len(stored(application, "pump")) == 1


def test_input_post_fulljson_answers_as_emoncms_does(client, application):
    params = {"node": "pump", "fulljson": json.dumps(INPUTS), "apikey": TOKEN}
    response = client.post(POST, params=params)
    assert (response.status_code, response.json()) == (200, {"success": True})
    [reading] = stored(application, "pump")
    assert reading.timestamp == BASE  # no time given: the receive time


def test_input_post_json_with_a_time_over_get(client, application):
    loose = "{" + ",".join(f"{k}:{v}" for k, v in INPUTS.items()) + "}"
    response = client.get(
        "/api/v1/emoncms/input/post.json",
        params={"node": "pump", "json": loose, "time": NOW - 60},
        headers=AUTH,
    )
    assert (response.status_code, response.text) == (200, "ok")
    [reading] = stored(application, "pump")
    assert reading.timestamp.timestamp() == NOW - 60


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({}, {}, 401),
        ({"Authorization": "Bearer wrong"}, {}, 401),
        ({}, {"apikey": "wrong"}, 401),
    ],
)
def test_the_native_routes_tokens_guard_it(client, headers, params, status):
    query = {"node": "pump", "fulljson": json.dumps(INPUTS), **params}
    response = client.post(POST, params=query, headers=headers)
    assert response.status_code == status


def test_it_is_closed_without_any_token(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    application = bootstrap(Settings(_env_file=None))
    response = TestClient(api_app(application)).post(
        POST, params={"node": "a", "csv": "1"}, headers=AUTH
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("url", "body", "detail"),
    [
        (BULK, b"data=%7B%7D", "input/bulk: data: expected [[time, node, values…], …]"),
        (BULK, b"sentat=1", "input/bulk: data: missing"),
        (f"{BULK}?cb=1", b"not zlib", "cb=1: the body is not zlib-compressed data"),
        (POST, b"node=a", "input/post: expected node and fulljson, json, csv or data"),
        (POST, b"node=a&csv=1,x", "input/post: csv: 'x': expected a number"),
    ],
)
def test_a_request_in_no_emoncms_shape_is_400_saying_what_was_expected(client, url, body, detail):
    headers = {**AUTH, "Content-Type": "application/x-www-form-urlencoded"}
    response = client.post(url, content=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)


def test_a_compressed_body_is_bounded_once_decompressed(client, monkeypatch):
    from energy_ui.api import routes

    monkeypatch.setattr(routes, "MAX_BODY_BYTES", 1000)
    bomb = zlib.compress(b"[" + b" " * 5000 + b"]")
    response = client.post(f"{BULK}?cb=1", content=bomb, headers=AUTH)
    assert response.status_code == 413


def test_when_every_reading_is_refused_the_answer_is_the_native_422(client, application):
    data = bulk_body([NOW, "pump", {**INPUTS, "V": -5}])
    response = client.post(BULK, data={"data": data, "sentat": NOW}, headers=AUTH)
    assert response.status_code == 422
    body = response.json()
    assert body["accepted"] == 0
    assert body["rejected"][0]["field"] == "voltage"
    assert stored(application, "pump") == []


def test_some_refused_is_ok_for_emonhub_and_the_native_result_for_json_clients(client, application):
    data = bulk_body([NOW - 5, "pump", INPUTS], [NOW, "pump", {**INPUTS, "F": 99}])
    plain = client.post(BULK, data={"data": data, "sentat": NOW}, headers=AUTH)
    # emonhub retries whatever is not "ok": a refused reading must not block its buffer.
    assert (plain.status_code, plain.text) == (200, "ok")
    asked = client.post(
        BULK,
        data={"data": data, "sentat": NOW},
        headers={**AUTH, "Accept": "application/json"},
    )
    assert asked.status_code == 200
    assert asked.json()["rejected"][0]["field"] == "frequency"
    # The same readings posted again (a retry) are stored once.
    assert len(stored(application, "pump")) == 1


def test_inputs_nothing_maps_are_ok_and_store_nothing(client, application):
    data = bulk_body([NOW, "emonth", {"temperature": 21.5, "humidity": 40}])
    response = client.post(BULK, data={"data": data}, headers=AUTH)
    assert (response.status_code, response.text) == (200, "ok")
    assert application.monitor.queries.count(ReadingFilter()) == 0


def test_a_token_limited_to_other_meters_is_refused_for_this_node(client, application):
    from energy_ui.api.tokens import issue_token

    token, _ = issue_token(application.ingest_tokens, "north", ["north-*"], now=BASE)
    response = client.post(
        POST,
        params={"node": "pump", "fulljson": json.dumps(INPUTS)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert response.json()["rejected"][0]["field"] == "meter_id"


def test_default_keys_store_each_channel_with_only_what_it_measured(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    application = bootstrap(
        Settings(_env_file=None, ingest_token=TOKEN, max_readings=None),
        clock=ManualClock(BASE),
    )
    response = TestClient(api_app(application)).post(
        POST,
        params={"node": "emontx", "fulljson": '{"power1": 100, "vrms": 240}'},
        headers=AUTH,
    )
    assert response.status_code == 200
    assert len(stored(application, "emontx.1")) == 1
    assert len(stored(application, "emontx")) == 1


def test_the_fleet_says_which_route_and_shape_each_meter_came_by(client):
    data = bulk_body([NOW, "pump", INPUTS])
    response = client.post(
        f"{BULK}?sentat={NOW}&cb=1", content=zlib.compress(data.encode()), headers=AUTH
    )
    assert response.status_code == 200
    native = {"meter_id": "press", "timestamp": BASE.isoformat(), "voltage": 230.0}
    assert client.post("/api/v1/readings", json=[native], headers=AUTH).status_code == 200
    rows = {row["meter_id"]: row for row in client.get("/api/v1/meters").json()["items"]}
    assert (rows["pump"]["channel"], rows["pump"]["format"]) == ("http", "emoncms")
    assert (rows["press"]["channel"], rows["press"]["format"]) == ("http", "native")
