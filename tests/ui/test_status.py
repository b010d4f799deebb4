"""The status panel, with and without a model."""

from __future__ import annotations

from nicegui.testing import User

from energy_ui.dashboard import Dashboard, create_app
from tests.ui.conftest import make_application


async def test_the_status_panel_shows_readings_model_analysis_and_health(
    user: User, dashboard: Dashboard
) -> None:
    monitor = dashboard.application.monitor
    analysis = monitor.metrics.latest(1)[0]
    await user.open("/")
    await user.should_see("600")  # readings stored, Spanish thousands
    await user.should_see("v1")
    await user.should_see(f"{analysis.percentage:.1f} %".replace(".", ","))
    await user.should_see(analysis.health.label("es"))
    await user.should_see("primer análisis")


async def test_without_a_model_the_panel_says_how_to_get_one(user: User) -> None:
    create_app(make_application(trained=False), demo=False)
    await user.open("/")
    await user.should_see("Sin modelo entrenado")
    await user.should_see("Entrenar modelo")
    await user.should_see("Sin análisis todavía")
    await user.should_see("Sin datos")
