"""The bounds of one ingest request: size (refused while it arrives), nesting, readings."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi.testclient import TestClient

from energy_ui.api.routes import MAX_BODY_BYTES, MAX_READINGS_PER_REQUEST
from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings
from tests.api.helpers import AUTH, TOKEN, api_app, reading

JSON = {**AUTH, "Content-Type": "application/json"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}
MEGABYTE = 1024 * 1024


@pytest.fixture
def application(monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    app = bootstrap(Settings(_env_file=None, ingest_token=TOKEN, max_readings=None))
    yield app
    app.close()


@pytest.fixture
def client(application):
    return TestClient(api_app(application), raise_server_exceptions=False)


@pytest.mark.parametrize("headers", [JSON, NDJSON])
def test_deeply_nested_json_is_a_400_that_says_so(client, application, headers):
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/api/v1/readings", content=deep, headers=headers)
    assert response.status_code == 400
    assert "nested deeper than 16 levels" in response.json()["detail"]
    assert application.monitor.queries.count() == 0


def test_a_reading_nested_past_the_bound_is_refused_even_when_shallow_for_a_parser(client):
    body = [{**reading(), "voltage": json.loads("[" * 17 + "]" * 17)}]
    response = client.post("/api/v1/readings", content=json.dumps(body), headers=JSON)
    assert response.status_code == 400
    assert "nested deeper than 16 levels" in response.json()["detail"]


def test_an_ndjson_error_names_its_line_counting_blank_lines(client, application):
    body = json.dumps(reading()) + "\n\n" + "[" * 50 + "]" * 50 + "\n"
    response = client.post("/api/v1/readings", content=body, headers=NDJSON)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("line 3: nested deeper than 16 levels")
    broken = json.dumps(reading()) + "\r\n" + '{"meter_id": \r\n'
    response = client.post("/api/v1/readings", content=broken, headers=NDJSON)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("line 2: invalid JSON")
    assert application.monitor.queries.count() == 0


def test_ndjson_with_crlf_line_ends_is_accepted(client, application):
    body = "\r\n".join(json.dumps(reading(seconds=s)) for s in range(3)) + "\r\n"
    response = client.post("/api/v1/readings", content=body, headers=NDJSON)
    assert response.status_code == 200
    assert response.json()["accepted"] == 3


@pytest.mark.parametrize("headers", [JSON, NDJSON])
def test_more_readings_than_allowed_is_413_and_stores_nothing(client, application, headers):
    count = MAX_READINGS_PER_REQUEST + 1
    if headers is JSON:
        body = json.dumps([reading()] * count)
    else:
        body = "\n".join([json.dumps(reading())] * count)
    response = client.post("/api/v1/readings", content=body, headers=headers)
    assert response.status_code == 413
    assert f"at most {MAX_READINGS_PER_REQUEST} readings" in response.json()["detail"]
    assert application.monitor.queries.count() == 0


def test_a_body_not_in_utf8_is_400_naming_the_byte(client):
    response = client.post("/api/v1/readings", content=b'[{"meter_id": "\xff"}]', headers=JSON)
    assert response.status_code == 400
    assert "not UTF-8" in response.json()["detail"]


async def test_a_streamed_body_over_the_limit_is_refused_while_it_arrives(application):
    """A chunked body (no Content-Length) of 200 MB: the answer is 413 and the server
    stopped asking for more shortly after the limit, instead of reading it all."""
    chunk = b" " * MEGABYTE
    offered = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal offered
        for _ in range(200):
            offered += len(chunk)
            yield chunk

    transport = httpx.ASGITransport(app=api_app(application))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/api/v1/readings", content=body(), headers=JSON)
    assert response.status_code == 413
    assert f"body over {MAX_BODY_BYTES} bytes" in response.json()["detail"]
    assert offered <= MAX_BODY_BYTES + 2 * MEGABYTE


async def call_ingest(
    application, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, bytes, int]:
    """POST straight through ASGI: (status, body, chunks the app asked for)."""
    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        if pulled < len(chunks):
            pulled += 1
            return {"type": "http.request", "body": chunks[pulled - 1], "more_body": True}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/api/v1/readings",
        "raw_path": b"/api/v1/readings",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"test"),
            (b"authorization", f"Bearer {TOKEN}".encode()),
            (b"content-type", b"application/json"),
            *headers,
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    await api_app(application)(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body, pulled


async def test_a_declared_length_over_the_limit_is_refused_before_reading(application):
    declared = str(MAX_BODY_BYTES + 1).encode()
    status, body, pulled = await call_ingest(
        application, [(b"content-length", declared)], [b" " * MEGABYTE] * 20
    )
    assert status == 413
    assert f"body over {MAX_BODY_BYTES} bytes" in json.loads(body)["detail"]
    assert pulled == 0


async def test_an_unreadable_content_length_is_400(application):
    status, body, _ = await call_ingest(application, [(b"content-length", b"many")], [])
    assert status == 400
    assert "Content-Length" in json.loads(body)["detail"]
