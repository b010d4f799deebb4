"""What `serve` hands to NiceGUI: the bind address, a storage secret from the settings, and
a warning when it exposes open actions."""

from __future__ import annotations

from typing import Any

import pytest

from energy_ui.access import storage_secret
from energy_ui.dashboard import app as dashboard_app
from energy_ui.settings import Settings


class FakeApp:
    def __init__(self) -> None:
        self.routers: list[object] = []
        self.user_middleware: list[Any] = []

    def add_middleware(self, middleware: object, **options: object) -> None:
        self.user_middleware.append(middleware)

    def include_router(self, router: object) -> None:
        self.routers.append(router)

    def on_shutdown(self, handler: object) -> None:
        pass

    def on_startup(self, handler: object) -> None:
        pass


class FakeUi:
    def __init__(self) -> None:
        self.run_options: dict[str, Any] = {}

    def run(self, **options: Any) -> None:
        self.run_options = options


@pytest.fixture
def fake_ui(monkeypatch: pytest.MonkeyPatch) -> FakeUi:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    fake = FakeUi()
    monkeypatch.setattr(dashboard_app, "ui", fake)
    monkeypatch.setattr(dashboard_app, "app", FakeApp())
    monkeypatch.setattr(dashboard_app, "create_app", lambda application: None)
    return fake


def test_serving_on_loopback_says_nothing_and_signs_sessions_from_the_settings(
    fake_ui: FakeUi, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(_env_file=None, admin_password="pw", demo_history=0)
    dashboard_app.serve(settings)
    assert fake_ui.run_options["host"] == "127.0.0.1"
    assert fake_ui.run_options["storage_secret"] == storage_secret(settings)
    assert capsys.readouterr().err == ""


def test_exposing_open_actions_prints_a_warning_in_both_languages(
    fake_ui: FakeUi, capsys: pytest.CaptureFixture[str]
) -> None:
    dashboard_app.serve(Settings(_env_file=None, demo_history=0), host="0.0.0.0")
    assert fake_ui.run_options["host"] == "0.0.0.0"
    err = capsys.readouterr().err
    assert "ATENCIÓN" in err and "WARNING" in err and "ENERGY_ADMIN_PASSWORD" in err


def test_exposing_with_a_password_prints_no_warning(
    fake_ui: FakeUi, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(_env_file=None, demo_history=0, admin_password="pw", host="0.0.0.0")
    dashboard_app.serve(settings)
    assert fake_ui.run_options["host"] == "0.0.0.0"
    assert capsys.readouterr().err == ""
