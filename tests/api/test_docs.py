"""`/openapi.json` and `/docs` come with the API (NiceGUI's app switches FastAPI's own off),
describe every route, and honour ENERGY_READ_ACCESS like the reads do."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from nicegui import app as nicegui_app
from nicegui.testing import User

from energy_ui.api import create_api_router
from energy_ui.bootstrap import bootstrap
from energy_ui.dashboard import create_app
from energy_ui.settings import Settings
from tests.api.helpers import AUTH, TOKEN, api_app
from tests.ui.conftest import make_application
from tests.ui.helpers import set_value

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
PASSWORD = "admin-pw"


def served(monkeypatch, **settings: object) -> TestClient:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    application = bootstrap(Settings(_env_file=None, ingest_token=TOKEN, **settings))
    return TestClient(api_app(application))


def test_the_schema_and_the_docs_are_served_on_an_app_without_fastapi_docs(monkeypatch):
    client = served(monkeypatch)
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    assert set(schema.json()["paths"]) == API_PATHS
    assert schema.json()["info"]["title"] == "SmartEnergy API"
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "text/html" in docs.headers["content-type"]
    assert "swagger-ui" in docs.text and "/openapi.json" in docs.text


def test_every_operation_has_a_summary_and_a_description(monkeypatch):
    schema = served(monkeypatch).get("/openapi.json").json()
    operations = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]
    assert len(operations) == 19  # Emoncms input answers GET and POST; 11 of the alerts
    for path, method, operation in operations:
        assert operation.get("summary"), f"{method.upper()} {path} has no summary"
        assert operation.get("description"), f"{method.upper()} {path} has no description"


def test_the_schema_documents_the_bearer_token_and_the_answers_of_ingest(monkeypatch):
    schema = served(monkeypatch).get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    answers = schema["paths"]["/api/v1/readings"]["post"]["responses"]
    assert {"200", "400", "401", "403", "409", "413", "422", "503"} <= set(answers)


@pytest.mark.parametrize("path", ["/openapi.json", "/docs"])
def test_with_read_access_login_the_docs_need_the_token(monkeypatch, path):
    client = served(monkeypatch, admin_password=PASSWORD, read_access="login")
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers=AUTH).status_code == 200


async def test_with_read_access_login_a_dashboard_login_opens_the_docs(user: User) -> None:
    application = make_application(
        history=0, trained=False, admin_password=PASSWORD, read_access="login"
    )
    nicegui_app.include_router(create_api_router(application))
    dashboard = create_app(application, demo=False)
    dashboard.access.failed_login_delay = 0.0
    await dashboard.start()
    assert (await user.http_client.get("/openapi.json")).status_code == 401
    assert (await user.http_client.get("/api/v1/readings")).status_code == 401
    await user.open("/")
    set_value(user, "login-password", PASSWORD)
    user.find(marker="login-submit").click()
    await user.should_see(marker="admin", retries=100)
    assert (await user.http_client.get("/openapi.json")).status_code == 200
    assert (await user.http_client.get("/docs")).status_code == 200
    assert (await user.http_client.get("/api/v1/readings")).status_code == 200
