"""The dashboard and the read API never fail because of stored data: readings at every edge
the storage rules accept (the oldest and newest instants, values on the physical bounds,
odd but valid meter ids, text with accents and tabs) are stored, and then every tab and every
read endpoint still answers — in memory and on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from nicegui import ui
from nicegui.testing import User

from energy_adapters.memory import ManualClock
from energy_core import VARIABLES, Reading, ReadingFilter, Simulator
from energy_core.telemetry.rules import EARLIEST_TIMESTAMP, FUTURE_TOLERANCE
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.dashboard import create_app
from energy_ui.settings import Settings
from tests.api.helpers import api_app
from tests.postgres_support import truncate_all
from tests.ui.helpers import one, text_of
from tests.ui.test_filters import open_every_tab

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TOKEN = "edge-token"


def edge_readings() -> list[Reading]:
    lowest = {spec.name: spec.minimum for spec in VARIABLES}
    highest = {spec.name: spec.maximum for spec in VARIABLES}
    typical = Simulator(meters=1, seed=5).next_batch(1, at=NOW)[0].values
    return [
        Reading(EARLIEST_TIMESTAMP, "a", lowest, is_anomaly=False),
        Reading(EARLIEST_TIMESTAMP, "Z" * 64, highest, is_anomaly=True, anomaly_kind="x" * 200),
        Reading(NOW + FUTURE_TOLERANCE, "m.1:b-c_d", highest, is_anomaly=True),
        Reading(NOW, "0", typical, is_anomaly=True, anomaly_kind="caída\tde tensión «fase 2»"),
        Reading(NOW - timedelta(microseconds=1), "a", lowest),
    ]


def build(settings: Settings) -> Application:
    application = bootstrap(
        settings, clock=ManualClock(NOW), simulator=Simulator(meters=2, seed=3, anomaly_ratio=0.05)
    )
    monitor = application.monitor
    monitor.settings = replace(monitor.settings, max_readings=None)
    monitor.generate_history(400)
    monitor.ingest(edge_readings())
    monitor.train()
    monitor.analyse()
    return application


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def application(request: pytest.FixtureRequest, monkeypatch) -> Iterator[Application]:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    options: dict[str, object] = {"meters": 2, "seed": 3, "ingest_token": TOKEN, "language": "es"}
    if request.param == "postgres":
        engine = request.getfixturevalue("pg_engine")
        truncate_all(engine)
        options["database_url"] = request.getfixturevalue("pg_database_url")
    application = build(Settings(_env_file=None, **options))  # type: ignore[arg-type]
    yield application
    application.close()


def test_edge_readings_are_all_accepted_and_stored(application: Application) -> None:
    stored = application.monitor.queries.window(ReadingFilter())
    assert {reading.meter_id for reading in stored} >= {"a", "Z" * 64, "m.1:b-c_d", "0"}
    assert min(reading.timestamp for reading in stored) == EARLIEST_TIMESTAMP
    assert max(reading.timestamp for reading in stored) == NOW + FUTURE_TOLERANCE


async def test_every_tab_renders_over_the_edges(user: User, application: Application) -> None:
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    try:
        await user.open("/")
        assert int(text_of(user, "status-readings").replace(",", "").replace(".", "")) == 405
        await open_every_tab(user)
        rows = one(user, "table-records", ui.table).rows
        assert {"a", "Z" * 64, "m.1:b-c_d", "0"} <= {row["meter"] for row in rows}
    finally:
        await dashboard.stop()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?start=2000-01-01T00:00:00Z",
        "?end=2000-01-01T00:00:00.000001Z",
        f"?start={EARLIEST_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ}"
        f"&end={NOW + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}",
        "?meter=" + "Z" * 64,
        "?meter=a&state=normal&limit=1000",
        "?state=anomalous&limit=1",
        "?start=1900-01-01T00:00:00Z&end=2199-12-31T00:00:00Z",
    ],
)
def test_every_read_endpoint_answers_over_the_edges(application: Application, query: str) -> None:
    client = TestClient(api_app(application))
    response = client.get(f"/api/v1/readings{query}")
    assert response.status_code == 200, response.text
    for item in response.json()["items"]:
        assert item["meter_id"]
    assert client.get("/api/v1/metrics/latest").status_code == 200
    assert client.get("/healthz").status_code == 200


async def test_readings_stored_before_the_rules_do_not_break_a_page_or_a_query(
    user: User, application: Application
) -> None:
    """A database filled by an older version may hold instants at the calendar's edges;
    they are left out of what is read instead of overflowing date arithmetic."""
    legacy = Simulator(meters=1, seed=1).next_batch(2, at=NOW)
    application.monitor.readings.add_many(  # below validation, as an older version stored
        [
            replace(legacy[0], timestamp=datetime(1, 1, 1, tzinfo=UTC)),
            replace(legacy[1], timestamp=datetime(9999, 12, 31, tzinfo=UTC)),
        ]
    )
    client = TestClient(api_app(application))
    response = client.get("/api/v1/readings", params={"limit": 1000})
    assert response.status_code == 200
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    try:
        await user.open("/")
        await open_every_tab(user)
        rows = one(user, "table-records", ui.table).rows
        assert all(not row["time"].startswith(("0001", "9999")) for row in rows)
    finally:
        await dashboard.stop()
