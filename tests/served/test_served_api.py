"""The HTTP API of the app `smartenergy serve` starts, over real HTTP: ingest, reads, auth,
docs, health, limits, the session cookie behind a proxy."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.served.conftest import AUTH, ServedApp

API_PATHS = {
    "/api/v1/readings",
    "/api/v1/emoncms/input/{method}",
    "/api/v1/metrics/latest",
    "/api/v1/meters",
    "/api/v1/energy",
    "/healthz",
    "/api/v1/alerts",
    "/api/v1/alerts/{alert_id}",
    "/api/v1/alerts/{alert_id}/ack",
    "/api/v1/silences",
    "/api/v1/silences/{silence_id}",
    "/api/v1/maintenance-windows",
    "/api/v1/maintenance-windows/{window_id}",
    "/api/v1/feedback",
    "/api/v1/notifications",
}
MEGABYTE = 1024 * 1024


def reading(meter: str, seconds_ago: float = 0.0, **values: object) -> dict[str, object]:
    moment = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    return {
        "meter_id": meter,
        "timestamp": moment.isoformat(),
        "voltage": 230.0,
        "current": 10.0,
        "active_power": 2.0,
        "power_factor": 0.9,
        "frequency": 50.0,
        "motor_temperature": 40.0,
        **values,
    }


def new_meter() -> str:
    return f"served-{uuid.uuid4().hex[:10]}"


def stored_of(server: ServedApp, meter: str) -> list[dict[str, object]]:
    with server.client(**AUTH) as client:
        response = client.get("/api/v1/readings", params={"meter": meter, "limit": 1000})
    assert response.status_code == 200
    return list(response.json()["items"])


def test_health_answers_ok_with_its_storage(server: ServedApp) -> None:
    response = httpx.get(f"{server.base_url}/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    expected = "memory" if "memory" in server.workdir.name else "postgres"
    assert body["storage"] == expected


def test_a_good_batch_is_stored_and_read_back(server: ServedApp) -> None:
    meter = new_meter()
    batch = [reading(meter, seconds_ago=s) for s in (3, 2, 1)]
    with server.client(**AUTH) as client:
        response = client.post("/api/v1/readings", json=batch)
    assert response.status_code == 200
    assert response.json()["accepted"] == 3 and response.json()["rejected"] == []
    items = stored_of(server, meter)
    assert len(items) == 3
    assert [item["values"]["voltage"] for item in items] == [230.0] * 3


def test_a_bad_batch_is_422_by_index_and_field_and_stores_nothing(server: ServedApp) -> None:
    meter = new_meter()
    batch = [reading(meter, voltage=-5.0), reading(meter, seconds_ago=1, frequency="fast")]
    with server.client(**AUTH) as client:
        response = client.post("/api/v1/readings", json=batch)
    assert response.status_code == 422
    assert [(r["index"], r["field"]) for r in response.json()["rejected"]] == [
        (0, "voltage"),
        (1, "frequency"),
    ]
    assert stored_of(server, meter) == []


def test_a_mixed_ndjson_batch_stores_the_good_and_reports_the_bad(server: ServedApp) -> None:
    meter = new_meter()
    lines = [
        json.dumps(reading(meter, seconds_ago=2)),
        json.dumps({**reading(meter, seconds_ago=1), "colour": "red"}),
        json.dumps(reading(meter)),
    ]
    headers = {**AUTH, "Content-Type": "application/x-ndjson"}
    with server.client(**headers) as client:
        response = client.post("/api/v1/readings", content="\n".join(lines))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [(1, "colour")]
    assert len(stored_of(server, meter)) == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "invalid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested deeper than 16 levels"),
    ],
)
def test_a_body_that_is_not_acceptable_json_is_400_saying_why(server, body, fragment) -> None:
    headers = {**AUTH, "Content-Type": "application/json"}
    with server.client(**headers) as client:
        response = client.post("/api/v1/readings", content=body)
    assert response.status_code == 400
    assert fragment in response.json()["detail"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
def test_ingest_without_the_right_token_is_401(server: ServedApp, headers) -> None:
    meter = new_meter()
    with server.client(**headers) as client:
        response = client.post("/api/v1/readings", json=[reading(meter)])
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert stored_of(server, meter) == []


def test_a_near_miss_token_is_401(server: ServedApp) -> None:
    token = AUTH["Authorization"].removeprefix("Bearer ")
    near = f"Bearer {token[:-1]}{'x' if token[-1] != 'x' else 'y'}"
    with server.client(Authorization=near) as client:
        assert client.post("/api/v1/readings", json=[reading(new_meter())]).status_code == 401


def test_a_repeated_key_gets_the_original_answer_and_another_body_409(server) -> None:
    meter = new_meter()
    key = {"Idempotency-Key": f"served-{uuid.uuid4()}"}
    batch = [reading(meter, seconds_ago=1), reading(meter)]
    with server.client(**AUTH, **key) as client:
        first = client.post("/api/v1/readings", json=batch)
        again = client.post("/api/v1/readings", json=batch)
        other = client.post("/api/v1/readings", json=[reading(meter, seconds_ago=5)])
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    assert len(stored_of(server, meter)) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [("end", "0001-01-01T00:00:00"), ("start", "9999-12-31T23:59:59-01:00")],
)
def test_a_query_at_the_edge_of_the_calendar_is_422_naming_the_field(server, field, value):
    with server.client(**AUTH) as client:
        response = client.get("/api/v1/readings", params={field: value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_a_meter_id_with_a_nul_character_is_422(server: ServedApp) -> None:
    with server.client(**AUTH) as client:
        response = client.get("/api/v1/readings", params={"meter": "a\x00b"})
    assert response.status_code == 422


def test_the_reads_need_a_login_under_read_access_login(memory_server: ServedApp) -> None:
    with memory_server.client() as anonymous:
        for path in ("/api/v1/readings", "/api/v1/metrics/latest", "/openapi.json", "/docs"):
            assert anonymous.get(path).status_code == 401, path
        assert anonymous.get("/healthz").status_code == 200
    with memory_server.client(Authorization="Bearer wrong") as wrong:
        assert wrong.get("/api/v1/readings").status_code == 401
    with memory_server.client(**AUTH) as client:
        assert client.get("/api/v1/readings").status_code == 200
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200


@pytest.mark.postgres
def test_the_reads_are_open_by_default(postgres_server: ServedApp) -> None:
    with postgres_server.client() as anonymous:
        assert anonymous.get("/api/v1/readings").status_code == 200
        assert anonymous.get("/openapi.json").status_code == 200


def test_the_docs_and_the_schema_describe_the_api(server: ServedApp) -> None:
    with server.client(**AUTH) as client:
        schema = client.get("/openapi.json")
        docs = client.get("/docs")
    assert schema.status_code == 200
    assert set(schema.json()["paths"]) == API_PATHS
    for path, item in schema.json()["paths"].items():
        for method, operation in item.items():
            assert operation.get("summary") and operation.get("description"), (method, path)
    assert docs.status_code == 200 and "swagger-ui" in docs.text


def test_the_session_cookie_is_secure_over_https_through_a_trusted_proxy(memory_server) -> None:
    url = f"{memory_server.base_url}/healthz"
    over_https = httpx.get(url, headers={"X-Forwarded-Proto": "https"})
    plain = httpx.get(url)
    assert "secure" in over_https.headers["set-cookie"].lower()
    assert "secure" not in plain.headers["set-cookie"].lower()


@pytest.mark.postgres
def test_a_forwarded_proto_from_an_untrusted_address_leaves_the_cookie_plain(
    postgres_server: ServedApp,
) -> None:
    response = httpx.get(
        f"{postgres_server.base_url}/healthz", headers={"X-Forwarded-Proto": "https"}
    )
    assert "secure" not in response.headers["set-cookie"].lower()


# --- a body far over the limit, streamed ----------------------------------------------------
def memory_kb(pid: int, field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (peak resident) of ``pid``, in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak(pid: int) -> bool:
    """Start counting ``VmHWM`` afresh (Linux: 5 to clear_refs); whether it could."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@pytest.mark.postgres
def test_a_body_streamed_far_over_the_limit_is_413_without_being_held_in_memory(
    postgres_server: ServedApp,
) -> None:
    """200 MB sent in 1 MB chunks with no Content-Length: the answer is 413 and the server's
    peak resident memory grows by less than 50 MB (it would by 200 MB if it read it all)."""
    pid = postgres_server.pid
    total = 200
    chunk = b" " * MEGABYTE

    def body() -> Iterator[bytes]:
        for _ in range(total):
            yield chunk

    before = memory_kb(pid, "VmRSS")
    exact = reset_peak(pid)
    headers = {**AUTH, "Content-Type": "application/json"}
    with postgres_server.client(**headers) as client:
        response = client.post("/api/v1/readings", content=body())
    peak = memory_kb(pid, "VmHWM")
    growth_mb = (peak - before) / 1024
    print(
        f"\nstreamed {total} MB: RSS before {before / 1024:.1f} MB, peak after "
        f"{peak / 1024:.1f} MB, growth {growth_mb:.1f} MB ({'exact' if exact else 'upper bound'})"
    )
    assert response.status_code == 413
    assert "body over" in response.json()["detail"]
    assert growth_mb < 50
    with postgres_server.client() as client:
        assert client.get("/healthz").status_code == 200


@pytest.mark.postgres
def test_an_over_limit_body_without_the_token_is_401(postgres_server: ServedApp) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(50):
            yield b" " * MEGABYTE

    with postgres_server.client() as client:
        response = client.post("/api/v1/readings", content=body())
    assert response.status_code == 401
