"""GET /api/v1/meters: the fleet, one row per meter, paged, sorted and filtered by the server."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from energy_adapters.memory import ManualClock
from energy_core import Reading, Simulator
from energy_core.ports import FleetPage, FleetQuery
from energy_ui.bootstrap import Application, DatabaseError, bootstrap
from energy_ui.settings import Settings
from tests.api.helpers import AUTH, TOKEN, api_app
from tests.strategies import BASE

VALUES = {
    "voltage": 230.0,
    "current": 10.0,
    "active_power": 2.0,
    "power_factor": 0.9,
    "frequency": 50.0,
    "motor_temperature": 40.0,
}


def readings() -> list[Reading]:
    """Five meters, one reading a minute for the last 10 minutes; meter-03 flags 2 of 10
    (20 %: critical), meter-04 1 of 10 (caution); meter-05 sent its last 2 hours ago."""
    made = []
    for number in range(1, 6):
        meter = f"meter-{number:02d}"
        end = BASE - timedelta(hours=2) if number == 5 else BASE
        for k in range(10):
            flagged = (number == 3 and k < 2) or (number == 4 and k == 0)
            plain = Reading(timestamp=end - timedelta(minutes=k), meter_id=meter, values=VALUES)
            made.append(plain.scored(0.9 if flagged else 0.1, flagged))
    return sorted(made, key=lambda reading: reading.timestamp)


def application_with(monkeypatch, **settings: object) -> Application:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    chosen = Settings(_env_file=None, ingest_token=TOKEN, max_readings=None, **settings)
    application = bootstrap(chosen, clock=ManualClock(BASE), simulator=Simulator(meters=2))
    application.monitor.readings.add_many(readings())
    return application


@pytest.fixture
def client(monkeypatch):
    application = application_with(monkeypatch)
    yield TestClient(api_app(application), raise_server_exceptions=False)
    application.close()


def test_every_meter_comes_with_its_figures_and_health_now(client):
    response = client.get("/api/v1/meters")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 5
    assert (body["page"], body["page_size"], body["sort"], body["order"]) == (
        1,
        50,
        "meter_id",
        "asc",
    )
    rows = {row["meter_id"]: row for row in body["items"]}
    assert list(rows) == [f"meter-0{n}" for n in range(1, 6)]
    assert rows["meter-03"] == {
        "meter_id": "meter-03",
        "channel": None,  # stored by code that did not say how they came
        "format": None,
        "variables": list(VALUES),
        "last_seen": "2025-06-01T00:00:00Z",
        "cadence_s": 60.0,
        "readings_last_hour": 10,
        "flagged_last_hour": 2,
        "flagged_share": 20.0,
        "health": "critical",
    }
    assert rows["meter-04"]["health"] == "caution"
    assert rows["meter-01"]["health"] == "normal"
    assert rows["meter-05"]["health"] == "silent"
    assert rows["meter-05"]["flagged_share"] is None


def test_health_is_judged_by_the_configured_thresholds(monkeypatch):
    application = application_with(monkeypatch, caution_percent=25.0, critical_percent=50.0)
    body = TestClient(api_app(application)).get("/api/v1/meters").json()
    assert {row["meter_id"]: row["health"] for row in body["items"]}["meter-03"] == "normal"


def test_sort_order_filters_and_pages_are_the_servers(client):
    worst = client.get("/api/v1/meters", params={"sort": "health", "order": "desc"}).json()
    assert [row["meter_id"] for row in worst["items"]][:2] == ["meter-03", "meter-04"]
    page = client.get("/api/v1/meters", params={"page": 2, "page_size": 2}).json()
    assert [row["meter_id"] for row in page["items"]] == ["meter-03", "meter-04"]
    assert page["total"] == 5
    found = client.get("/api/v1/meters", params={"q": "ER-0", "health": "critical"}).json()
    assert [row["meter_id"] for row in found["items"]] == ["meter-03"]
    assert found["total"] == 1
    silent = client.get("/api/v1/meters", params={"health": "silent"}).json()
    assert [row["meter_id"] for row in silent["items"]] == ["meter-05"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("page", "0"),
        ("page", "many"),
        ("page_size", "0"),
        ("page_size", "501"),
        ("sort", "colour"),
        ("order", "up"),
        ("health", "sick"),
        ("q", "a\x00b"),
        ("q", "x" * 65),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(client, field, value):
    response = client.get("/api/v1/meters", params={field: value})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_the_largest_page_is_allowed(client):
    response = client.get("/api/v1/meters", params={"page_size": 500})
    assert response.status_code == 200 and len(response.json()["items"]) == 5


def test_reading_the_fleet_needs_a_login_when_reads_do(monkeypatch):
    application = application_with(monkeypatch, admin_password="pw", read_access="login")
    client = TestClient(api_app(application))
    assert client.get("/api/v1/meters").status_code == 401
    assert client.get("/api/v1/meters", headers=AUTH).status_code == 200


class UnreachableFleet:
    def meters_overview(self, query: FleetQuery, now: object) -> FleetPage:
        raise DatabaseError("cannot use PostgreSQL database 'x' on db:5432")


def test_an_unreachable_database_is_a_503_with_retry_after(monkeypatch):
    application = application_with(monkeypatch)
    application.fleet = UnreachableFleet()
    response = TestClient(api_app(application)).get("/api/v1/meters")
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "PostgreSQL" not in response.text
