"""The admin login: actions refused without it (server side), reading guarded on demand."""

from __future__ import annotations

import pytest
from nicegui import ui
from nicegui.testing import User

from energy_ui.dashboard import Dashboard, create_app
from tests.ui.conftest import make_application
from tests.ui.helpers import one, set_value

PASSWORD = "s3cret-admin"


@pytest.fixture
async def guarded(user: User) -> Dashboard:
    dashboard = create_app(make_application(admin_password=PASSWORD), demo=False)
    dashboard.access.failed_login_delay = 0.0
    await dashboard.start()
    return dashboard


async def log_in(user: User, password: str = PASSWORD) -> None:
    user.find(marker="login-open").click()
    await user.should_see(marker="login-password")
    set_value(user, "login-password", password)
    user.find(marker="login-submit").click()


async def test_without_a_login_the_actions_are_disabled_and_refused_server_side(
    user: User, guarded: Dashboard
) -> None:
    monitor = guarded.application.monitor
    await user.open("/")
    await user.should_see("Inicie sesión como administrador para entrenar")
    for marker in ("action-train", "action-recalculate", "maintenance-generate"):
        assert not one(user, marker, ui.button).enabled
    # A click that reaches the server anyway (a crafted websocket message) is refused.
    user.find(marker="action-train").trigger("click")
    await user.should_see("Esta acción requiere iniciar sesión como administrador.")
    user.find(marker="maintenance-reset").trigger("click")
    await user.should_not_see(marker="dialog-confirm")
    assert monitor.models.latest_version() == 1
    assert len(monitor.metrics.latest(10)) == 1


async def test_a_wrong_password_is_refused(user: User, guarded: Dashboard) -> None:
    await user.open("/")
    await log_in(user, "guess")
    await user.should_see("Contraseña incorrecta.")
    await user.should_not_see(marker="admin")


async def test_after_logging_in_the_actions_work_until_logging_out(
    user: User, guarded: Dashboard
) -> None:
    monitor = guarded.application.monitor
    await user.open("/")
    await log_in(user)
    await user.should_see("Sesión iniciada como administrador")
    await user.should_see(marker="admin")
    assert one(user, "action-recalculate", ui.button).enabled
    user.find(marker="action-recalculate").click()
    await user.should_see("Métricas recalculadas")
    assert len(monitor.metrics.latest(10)) == 2
    user.find(marker="logout").click()
    await user.should_see("Sesión cerrada")
    await user.should_see(marker="login-open")
    assert not one(user, "action-recalculate", ui.button).enabled
    user.find(marker="action-recalculate").trigger("click")
    await user.should_see("Esta acción requiere iniciar sesión como administrador.")
    assert len(monitor.metrics.latest(10)) == 2


async def test_the_login_is_kept_by_the_browser_session(user: User, guarded: Dashboard) -> None:
    await user.open("/")
    await log_in(user)
    await user.should_see(marker="admin")
    await user.open("/")  # a reload, same cookie
    await user.should_see(marker="admin")
    assert one(user, "action-train", ui.button).enabled


async def test_without_a_password_there_is_no_login_and_actions_are_open(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    await user.should_see("Entrenar modelo")
    await user.should_not_see(marker="login-open")
    assert one(user, "action-train", ui.button).enabled


async def test_with_read_access_login_the_page_shows_no_data_before_logging_in(
    user: User,
) -> None:
    dashboard = create_app(
        make_application(admin_password=PASSWORD, read_access="login"), demo=False
    )
    dashboard.access.failed_login_delay = 0.0
    await dashboard.start()
    await user.open("/")
    await user.should_see("Inicie sesión para ver el panel.")
    await user.should_not_see("Lecturas almacenadas")
    await user.should_not_see(marker="status-readings")
    set_value(user, "login-password", "guess")
    user.find(marker="login-submit").click()
    await user.should_see("Contraseña incorrecta.")
    set_value(user, "login-password", PASSWORD)
    user.find(marker="login-submit").click()
    await user.should_see("Lecturas almacenadas")
    await user.should_see(marker="admin")
    user.find(marker="logout").click()
    await user.should_see("Inicie sesión para ver el panel.")
    await user.should_not_see("Lecturas almacenadas")
