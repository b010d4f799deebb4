"""GET /api/v1/energy: consumption, demand, cost and the costliest anomalies of a window, as
JSON; a bad parameter is a 422 naming it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from energy_adapters.memory import ManualClock
from energy_core import Simulator
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.settings import Settings
from tests.api.helpers import TOKEN, api_app
from tests.energy_support import BURST_END, METER, burst, flag_burst, two_kw_for_two_hours


def application_with(monkeypatch, *, with_burst: bool = True, **settings: object) -> Application:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    chosen = Settings(_env_file=None, ingest_token=TOKEN, max_readings=None, **settings)
    # The clock stands at the burst's end: the incident it flags is still open, ending now.
    application = bootstrap(chosen, clock=ManualClock(BURST_END), simulator=Simulator(meters=1))
    application.monitor.readings.add_many(two_kw_for_two_hours() + (burst() if with_burst else []))
    if with_burst:
        flag_burst(application)
    return application


@pytest.fixture
def client(monkeypatch) -> Iterator[TestClient]:
    application = application_with(monkeypatch)
    yield TestClient(api_app(application), raise_server_exceptions=False)
    application.close()


def test_a_constant_two_kilowatts_for_two_hours_is_four_kilowatt_hours(monkeypatch):
    application = application_with(monkeypatch, with_burst=False)
    response = TestClient(api_app(application)).get(
        "/api/v1/energy", params={"start": "2025-06-02", "end": "2025-06-03"}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["import_kwh"] == pytest.approx(4.0, rel=0.005)
    assert [period["label"] for period in body["total"]] == ["2025-06-02"]
    [meter] = body["meters"]
    assert (meter["meter_id"], meter["import_source"]) == (METER, "power")
    assert meter["import_kwh"] == pytest.approx(4.0, rel=0.005)
    assert body["demand"]["peak_kw"] == pytest.approx(2.0)
    assert body["cost"] is None  # no ENERGY_TARIFFS


def test_the_summary_has_periods_demand_curve_and_the_incident(client):
    response = client.get(
        "/api/v1/energy",
        params={"start": "2025-06-02T00:00Z", "end": "2025-06-03T00:00Z", "period": "hour"},
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["period"], body["timezone"]) == ("hour", "UTC")
    assert len(body["total"]) == 24
    by_hour = {period["label"][11:16]: period["import_kwh"] for period in body["total"]}
    assert by_hour["08:00"] == pytest.approx(2.0, rel=0.01)
    assert by_hour["12:00"] == pytest.approx(1.5, rel=0.01)
    assert by_hour["03:00"] == 0.0
    demand = body["demand"]
    assert demand["interval_minutes"] == 15
    assert demand["peak_kw"] == pytest.approx(6.0, rel=0.01)
    assert demand["peak_at"] == "2025-06-02T12:00:00Z"
    assert len(demand["curve"]) == 96
    assert demand["curve"][0] == {"start": "2025-06-02T00:00:00Z", "kw": None}  # no data
    [anomaly] = body["anomalies"]
    assert (anomaly["meter_id"], anomaly["start"]) == (METER, "2025-06-02T12:00:00Z")
    assert anomaly["actual_kwh"] == pytest.approx(1.5, rel=0.01)
    assert anomaly["excess_kwh"] is None  # no history before it: no baseline


def test_costs_follow_the_tariff_file(monkeypatch, tmp_path):
    from tests.energy_support import write_tariffs

    application = application_with(monkeypatch, tariffs=write_tariffs(tmp_path))
    client = TestClient(api_app(application))
    body = client.get("/api/v1/energy", params={"start": "2025-06-02", "end": "2025-06-03"}).json()
    cost = body["cost"]
    assert cost["currency"] == "EUR"
    assert [(c["period"], round(c["kwh"], 2)) for c in cost["energy"]] == [
        ("base", 4.0),
        ("peak", 1.5),
    ]
    assert cost["energy_amount"] == pytest.approx(0.70, abs=0.005)
    [charge] = cost["demand"]
    assert charge["month"] == "2025-06"
    assert charge["amount"] == pytest.approx(3.0 * 6.0 / 30, rel=0.01)
    assert body["meters"][0]["cost"]["currency"] == "EUR"


def test_dates_are_local_days_of_the_energy_time_zone(monkeypatch):
    application = application_with(monkeypatch, timezone="Europe/Madrid")
    client = TestClient(api_app(application))
    body = client.get("/api/v1/energy", params={"start": "2025-06-02", "end": "2025-06-03"}).json()
    assert (body["start"], body["end"]) == ("2025-06-01T22:00:00Z", "2025-06-02T22:00:00Z")
    assert body["timezone"] == "Europe/Madrid"


def test_other_meters_are_left_out_when_meters_are_named(client):
    body = client.get(
        "/api/v1/energy", params={"start": "2025-06-02", "end": "2025-06-03", "meter": "other"}
    ).json()
    assert (body["meters"], body["import_kwh"], body["anomalies"]) == ([], 0.0, [])


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday", "end": "2025-06-03"}, "start"),
        ({"start": "2025-06-02", "end": "2025-13-01"}, "end"),
        ({"start": "2025-06-03", "end": "2025-06-02"}, "end"),
        ({"start": "2024-01-01", "end": "2025-06-02"}, "end"),  # over 366 days
        ({"start": "1800-01-01", "end": "1800-01-02"}, "start"),
        ({"start": "2025-06-02", "end": "2025-06-03", "period": "year"}, "period"),
        ({"start": "2025-06-02", "end": "2025-06-03", "meter": "no spaces"}, "meter"),
        ({"start": "2025-06-02", "end": "2025-06-03", "top": "-1"}, "top"),
        ({"end": "2025-06-03"}, "start"),
    ],
)
def test_a_bad_parameter_is_a_422_naming_it(client, params, field):
    response = client.get("/api/v1/energy", params=params)
    assert response.status_code == 422, response.text
    assert field in [problem["loc"][1] for problem in response.json()["detail"]]
