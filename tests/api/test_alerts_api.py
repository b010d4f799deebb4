"""The alerts over HTTP: alerts with their notifications, acknowledging, silences,
maintenance windows, feedback and the outbox; reads as the other reads, changes behind the
admin password; bad input a 422 naming the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from energy_adapters.memory import ManualClock
from energy_core import Reading, Simulator
from energy_ui import access
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.settings import Settings
from tests.api.helpers import AUTH, TOKEN, api_app
from tests.strategies import BASE

PASSWORD = "s3cret-admin"
ADMIN = ("admin", PASSWORD)
VALUES = {"voltage": 230.0, "current": 10.0, "active_power": 2.0}


def application_with(monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Application:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setattr(access, "FAILED_LOGIN_DELAY_S", 0.0)  # a wrong password's wait
    chosen = Settings(_env_file=None, ingest_token=TOKEN, max_readings=None, **settings)
    return bootstrap(chosen, clock=ManualClock(BASE), simulator=Simulator(meters=2))


def incident(application: Application, meter: str, minutes_ago: int) -> int:
    """An incident of ``meter``: three flagged readings, then ten normal ones (resolved);
    the id of the alert."""
    assert application.alerting is not None
    start = BASE - timedelta(minutes=minutes_ago)
    readings = [
        Reading(timestamp=start + timedelta(seconds=k), meter_id=meter, values=VALUES).scored(
            0.9 if k < 3 else 0.1, k < 3, ("voltage",) if k < 3 else ()
        )
        for k in range(13)
    ]
    application.alerting.observe(readings)
    return application.alerting.store.alerts(meter_id=meter, limit=1)[0].id


def open_incident(application: Application, meter: str, *, after: int = -10) -> int:
    """An incident of ``meter`` still open, its readings from ``after`` seconds past BASE."""
    assert application.alerting is not None
    readings = [
        Reading(
            timestamp=BASE + timedelta(seconds=after + k), meter_id=meter, values=VALUES
        ).scored(0.9, True, ("current",))
        for k in range(3)
    ]
    application.alerting.observe(readings)
    return application.alerting.store.alerts(meter_id=meter, open_only=True, limit=1)[0].id


@pytest.fixture
def application(monkeypatch: pytest.MonkeyPatch) -> Application:
    found = application_with(monkeypatch)
    incident(found, "m-1", 60)
    open_incident(found, "m-2")
    return found


@pytest.fixture
def client(application: Application) -> TestClient:
    return TestClient(api_app(application), raise_server_exceptions=False)


@pytest.fixture
def guarded(monkeypatch: pytest.MonkeyPatch) -> tuple[Application, TestClient]:
    found = application_with(monkeypatch, admin_password=PASSWORD)
    open_incident(found, "m-2")
    return found, TestClient(api_app(found), raise_server_exceptions=False)


def field_of(response: Any) -> list[str]:
    """The body fields a 422 names."""
    assert response.status_code == 422, response.text
    return [str(problem["loc"][-1]) for problem in response.json()["detail"]]


# --- reading --------------------------------------------------------------------------------
def test_alerts_come_newest_first_with_what_they_carry(client: TestClient) -> None:
    response = client.get("/api/v1/alerts")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [(item["meter_id"], item["open"]) for item in items] == [("m-2", True), ("m-1", False)]
    resolved = items[1]
    assert resolved["kind"] == "incident" and resolved["rule_id"] == "incident"
    assert resolved["readings"] == 3 and resolved["peak"] == 0.9
    assert resolved["top_variables"] == ["voltage"]
    assert resolved["ended_at"] is not None and resolved["acknowledgement"] is None


def test_open_meter_and_limit_filter_the_alerts(client: TestClient) -> None:
    assert [i["meter_id"] for i in client.get("/api/v1/alerts?open=true").json()["items"]] == [
        "m-2"
    ]
    assert [i["meter_id"] for i in client.get("/api/v1/alerts?meter=m-1").json()["items"]] == [
        "m-1"
    ]
    assert len(client.get("/api/v1/alerts?limit=1").json()["items"]) == 1


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("meter=a%20b", "meter"),
        ("open=maybe", "open"),
    ],
)
def test_a_bad_query_is_a_422_naming_it(client: TestClient, query: str, field: str) -> None:
    response = client.get(f"/api/v1/alerts?{query}")
    assert field_of(response) == [field]


def test_one_alert_comes_with_its_notifications(client: TestClient) -> None:
    alert_id = client.get("/api/v1/alerts?meter=m-1").json()["items"][0]["id"]
    body = client.get(f"/api/v1/alerts/{alert_id}").json()
    assert [(n["kind"], n["state"], n["reason"]) for n in body["notifications"]] == [
        ("resolved", "pending", "send"),
        ("opened", "pending", "send"),
    ]
    assert body["feedback"] == []
    assert client.get("/api/v1/alerts/999").status_code == 404


def test_the_outbox_lists_notifications_by_alert_and_state(
    client: TestClient, application: Application
) -> None:
    alerting = application.alerting
    assert alerting is not None
    [first, *_] = alerting.store.claim_due(BASE, 1, 60)
    alerting.store.mark_failed(first.id, "json://hook: refused", None)
    everything = client.get("/api/v1/notifications").json()
    assert len(everything) == 3
    failed = client.get("/api/v1/notifications?state=failed").json()
    assert [(n["id"], n["last_error"]) for n in failed] == [(first.id, "json://hook: refused")]
    mine = client.get(f"/api/v1/notifications?alert_id={first.alert_id}").json()
    assert {n["alert_id"] for n in mine} == {first.alert_id}
    assert field_of(client.get("/api/v1/notifications?state=lost")) == ["state"]


def test_reads_need_a_login_under_read_access_login(monkeypatch: pytest.MonkeyPatch) -> None:
    application = application_with(monkeypatch, admin_password=PASSWORD, read_access="login")
    client = TestClient(api_app(application), raise_server_exceptions=False)
    for path in ("/api/v1/alerts", "/api/v1/silences", "/api/v1/notifications"):
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers=AUTH).status_code == 200, path


def test_with_alerts_off_the_routes_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(api_app(application_with(monkeypatch, alerts=False)))
    response = client.get("/api/v1/alerts")
    assert response.status_code == 404
    assert "ENERGY_ALERTS" in response.json()["detail"]


# --- acknowledging --------------------------------------------------------------------------
def test_acknowledging_records_who_and_stops_the_repeats(
    client: TestClient, application: Application
) -> None:
    alert_id = client.get("/api/v1/alerts?open=true").json()["items"][0]["id"]
    response = client.post(
        f"/api/v1/alerts/{alert_id}/ack", json={"by": "Ana", "comment": "on my way"}
    )
    assert response.status_code == 200
    assert response.json()["acknowledgement"] == {
        "by": "Ana",
        "at": "2025-06-01T00:00:00Z",
        "comment": "on my way",
    }
    assert application.alerting is not None
    stored = application.alerting.store.get(alert_id)
    assert stored is not None and stored.acknowledgement is not None
    assert client.post("/api/v1/alerts/999/ack", json={"by": "Ana"}).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "by"),
        ({"by": " "}, "by"),
        ({"by": "x" * 65}, "by"),
        ({"by": "a\x00b"}, "by"),
        ({"by": "Ana", "colour": "red"}, "colour"),
        ({"by": "Ana", "comment": "x" * 501}, "comment"),
    ],
)
def test_a_bad_acknowledgement_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    assert field_of(client.post("/api/v1/alerts/1/ack", json=body)) == [field]


def test_changes_need_the_admin_password_when_one_is_set(
    guarded: tuple[Application, TestClient],
) -> None:
    application, client = guarded
    assert application.alerting is not None
    [stored] = application.alerting.store.open_alerts()
    path = f"/api/v1/alerts/{stored.id}/ack"
    for auth in (None, ("admin", "guess")):
        response = client.post(path, json={"by": "Ana"}, auth=auth)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert (
        client.post(
            "/api/v1/silences", json={"meters": ["m-*"], "duration": "1h", "by": "x"}
        ).status_code
        == 401
    )
    assert client.delete("/api/v1/maintenance-windows/x").status_code == 401
    assert application.alerting.store.get(stored.id).acknowledgement is None  # type: ignore[union-attr]
    assert client.post(path, json={"by": "Ana"}, auth=ADMIN).status_code == 200
    assert client.get("/api/v1/alerts").status_code == 200  # reading stays open
    schema = client.get("/openapi.json").json()
    assert schema["paths"]["/api/v1/silences"]["post"]["security"] == [{"HTTPBasic": []}]


# --- silences and windows ---------------------------------------------------------------------
def test_a_silence_mutes_what_it_names_until_removed(
    client: TestClient, application: Application
) -> None:
    response = client.post(
        "/api/v1/silences",
        json={"meters": ["m-3"], "duration": "2h", "by": "Ana", "comment": "works"},
    )
    assert response.status_code == 201
    silence = response.json()
    assert (silence["meters"], silence["created_by"], silence["active"]) == (["m-3"], "Ana", True)
    assert silence["ends_at"] == "2025-06-01T02:00:00Z"
    assert [s["id"] for s in client.get("/api/v1/silences").json()] == [silence["id"]]
    open_incident(application, "m-3", after=1)  # after the silence began
    [told] = client.get("/api/v1/notifications?alert_id=3").json()
    assert (told["state"], told["reason"]) == (
        "suppressed",
        f"suppressed: silenced by {silence['id']}",
    )
    assert client.delete(f"/api/v1/silences/{silence['id']}").status_code == 204
    assert client.get("/api/v1/silences").json() == []
    assert client.delete(f"/api/v1/silences/{silence['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"meters": ["m-1"], "duration": "forever", "by": "Ana"}, "duration"),
        ({"meters": ["m-1"], "duration": "0", "by": "Ana"}, "duration"),
        ({"meters": ["m-1"], "duration": "400d", "by": "Ana"}, "duration"),
        ({"duration": "1h", "by": "Ana"}, "meters"),
        ({"meters": ["m 1"], "duration": "1h", "by": "Ana"}, "meters"),
        ({"rule_ids": ["limit 1"], "duration": "1h", "by": "Ana"}, "rule_ids"),
        ({"meters": ["m-1"], "duration": "1h"}, "by"),
    ],
)
def test_a_bad_silence_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    assert field_of(client.post("/api/v1/silences", json=body)) == [field]


def test_maintenance_windows_are_added_listed_and_removed(client: TestClient) -> None:
    response = client.post(
        "/api/v1/maintenance-windows",
        json={"id": "sunday", "schedule": "sun 02:00-04:00 Europe/Madrid", "meters": ["m-*"]},
    )
    assert response.status_code == 201
    assert response.json()["schedule"] == "sun 02:00-04:00 Europe/Madrid"
    listed = client.get("/api/v1/maintenance-windows").json()
    assert [(w["id"], w["meters"], w["active"]) for w in listed] == [("sunday", ["m-*"], True)]
    assert client.delete("/api/v1/maintenance-windows/sunday").status_code == 204
    assert client.get("/api/v1/maintenance-windows").json() == []
    assert client.delete("/api/v1/maintenance-windows/sunday").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id": "w", "schedule": "sun 02:00-04:00 Mars/Olympus"}, "schedule"),
        ({"id": "w", "schedule": "someday 02:00-04:00"}, "schedule"),
        ({"id": "w", "schedule": "sun 2-4"}, "schedule"),
        ({"id": "-w", "schedule": "sun 02:00-04:00"}, "id"),
        ({"schedule": "sun 02:00-04:00"}, "id"),
    ],
)
def test_a_bad_window_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    assert field_of(client.post("/api/v1/maintenance-windows", json=body)) == [field]


# --- feedback ---------------------------------------------------------------------------------
def test_feedback_on_an_incident_takes_its_meter_span_and_variables(
    client: TestClient, application: Application
) -> None:
    alert = client.get("/api/v1/alerts?meter=m-1").json()["items"][0]
    response = client.post(
        "/api/v1/feedback",
        json={
            "alert_id": alert["id"],
            "verdict": "confirmed",
            "fault_kind": "voltage_sag",
            "by": "Ana",
        },
    )
    assert response.status_code == 201
    said = response.json()
    assert (said["meter_id"], said["start"], said["end"]) == (
        "m-1",
        alert["started_at"],
        alert["ended_at"],
    )
    assert (said["variables"], said["fault_kind"]) == (["voltage"], "voltage_sag")
    assert client.get(f"/api/v1/alerts/{alert['id']}").json()["feedback"] == [said]
    assert application.alerting is not None
    assert len(application.alerting.feedback_store.feedback()) == 1


def test_feedback_on_flagged_readings_of_a_meter(client: TestClient) -> None:
    response = client.post(
        "/api/v1/feedback",
        json={
            "meter_id": "m-1",
            "start": "2025-05-31T23:00:00Z",
            "end": "2025-05-31T23:01:00Z",
            "variables": ["current"],
            "verdict": "false_alarm",
            "by": "Ana",
        },
    )
    assert response.status_code == 201
    assert (response.json()["alert_id"], response.json()["variables"]) == (None, ["current"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"verdict": "maybe", "alert_id": 1, "by": "Ana"}, "verdict"),
        ({"verdict": "confirmed", "by": "Ana"}, "meter_id"),
        (
            {
                "verdict": "confirmed",
                "meter_id": "m-1",
                "start": "2025-05-31T23:00:00Z",
                "by": "Ana",
            },
            "end",
        ),
        ({"verdict": "confirmed", "alert_id": 1, "meter_id": "m-1", "by": "Ana"}, "alert_id"),
        (
            {"verdict": "false_alarm", "alert_id": 1, "fault_kind": "voltage_sag", "by": "Ana"},
            "fault_kind",
        ),
        ({"verdict": "confirmed", "alert_id": 1, "fault_kind": "Sag!", "by": "Ana"}, "fault_kind"),
        (
            {
                "verdict": "confirmed",
                "meter_id": "m-1",
                "start": "2025-05-31T23:00:00",
                "end": "2025-05-31T23:01:00Z",
                "by": "Ana",
            },
            "start",
        ),
        (
            {
                "verdict": "confirmed",
                "meter_id": "m-1",
                "start": "2025-05-31T23:02:00Z",
                "end": "2025-05-31T23:01:00Z",
                "by": "Ana",
            },
            "end",
        ),
        (
            {
                "verdict": "confirmed",
                "meter_id": "m-1",
                "start": "2025-05-31T23:00:00Z",
                "end": "2025-05-31T23:01:00Z",
                "variables": ["colour"],
                "by": "Ana",
            },
            "variables",
        ),
    ],
)
def test_bad_feedback_is_a_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    assert field_of(client.post("/api/v1/feedback", json=body)) == [field]


def test_feedback_on_an_alert_that_is_no_incident_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    application = application_with(monkeypatch, caution_percent=5.0)
    assert application.alerting is not None
    application.alerting.observe_analysis(50.0, BASE)  # the installation's health: Crítico
    [health] = application.alerting.store.open_alerts()
    client = TestClient(api_app(application))
    response = client.post(
        "/api/v1/feedback", json={"alert_id": health.id, "verdict": "false_alarm", "by": "Ana"}
    )
    assert field_of(response) == ["alert_id"]
    assert "incidents" in response.json()["detail"][0]["msg"]
    assert (
        client.post(
            "/api/v1/feedback", json={"alert_id": 999, "verdict": "false_alarm", "by": "Ana"}
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/alerts", None),
        ("get", "/api/v1/silences", None),
        ("post", "/api/v1/silences", {"meters": ["plant-*"], "duration": "2h", "by": "Ana"}),
        ("get", "/api/v1/notifications", None),
    ],
)
def test_alert_storage_away_is_a_503_with_retry_after(application, client, method, path, body):
    from energy_adapters.postgres import DatabaseUnavailableError

    def away(*_args: object, **_kwargs: object) -> object:
        raise DatabaseUnavailableError("the database went away")

    alerting = application.alerting
    for name in ("alerts", "notifications", "get"):
        setattr(alerting.store, name, away)
    for name in ("silences", "add_silence"):
        setattr(alerting.mutes, name, away)
    response = getattr(client, method)(path, json=body) if body else getattr(client, method)(path)
    assert response.status_code == 503
    assert "retry-after" in {key.lower() for key in response.headers}
