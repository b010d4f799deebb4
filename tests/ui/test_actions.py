"""Train, recalculate and maintenance: off the event loop, one at a time, confirmed."""

from __future__ import annotations

import asyncio
import threading

from nicegui import ui
from nicegui.testing import User

from energy_core.ports import ModelInfo
from energy_ui.dashboard import Dashboard, create_app
from tests.ui.conftest import HISTORY, make_application
from tests.ui.helpers import eventually, one, text_of


async def test_training_from_the_page_stores_a_model_and_says_so(user: User) -> None:
    application = make_application(trained=False)
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    await user.open("/")
    user.find(marker="action-train").click()
    await user.should_see(f"Modelo v1 entrenado con {HISTORY} lecturas")
    await eventually(lambda: text_of(user, "status-model") == "v1")
    assert application.monitor.models.latest_version() == 1


async def test_recalculating_metrics_records_an_analysis(user: User, dashboard: Dashboard) -> None:
    await user.open("/")
    user.find(marker="action-recalculate").click()
    await user.should_see("Métricas recalculadas")
    assert len(dashboard.application.monitor.metrics.latest(10)) == 2
    await eventually(lambda: "pp vs. el anterior" in text_of(user, "status-delta"))


async def test_recalculating_without_a_model_asks_to_train_first(user: User) -> None:
    create_app(make_application(trained=False), demo=False)
    await user.open("/")
    user.find(marker="action-recalculate").click()
    await user.should_see("Primero entrene un modelo.")


async def test_a_second_task_is_refused_while_one_runs(user: User, dashboard: Dashboard) -> None:
    monitor = dashboard.application.monitor
    release = threading.Event()
    started = threading.Event()
    real_train = monitor.train

    def slow_train() -> ModelInfo:
        started.set()
        release.wait(timeout=30)
        return real_train()

    monitor.train = slow_train  # type: ignore[method-assign]
    await user.open("/")
    try:
        user.find(marker="action-train").click()
        await eventually(started.is_set)
        await eventually(lambda: not one(user, "action-recalculate", ui.button).enabled)
        assert not one(user, "action-train", ui.button).enabled
        await user.should_see("En curso: Entrenar modelo")
        # A click that reaches the server anyway (e.g. from another browser) is refused.
        user.find(marker="action-recalculate").trigger("click")
        await user.should_see("Ya hay una tarea en curso (Entrenar modelo)")
    finally:
        release.set()
    await user.should_see("Modelo v2 entrenado")
    await eventually(lambda: one(user, "action-recalculate", ui.button).enabled)
    assert len(monitor.metrics.latest(10)) == 1  # the refused recalculation never ran


async def test_generating_a_history_needs_confirmation(user: User, dashboard: Dashboard) -> None:
    repo = dashboard.application.monitor.readings
    await user.open("/")
    user.find(marker="maintenance-generate").click()
    await user.should_see("¿Generar 300 lecturas simuladas que terminan ahora?")
    await user.should_see(marker="dialog-cancel")
    user.find(marker="dialog-cancel").click()
    await asyncio.sleep(0.05)
    assert repo.count() == HISTORY
    user.find(marker="maintenance-generate").click()
    await user.should_see(marker="dialog-confirm")
    user.find(marker="dialog-confirm").click()
    await user.should_see("300 lecturas generadas")
    assert repo.count() == HISTORY + 300
    await eventually(lambda: text_of(user, "status-readings") == "900")


async def test_resetting_the_database_empties_and_repopulates(
    user: User, dashboard: Dashboard
) -> None:
    monitor = dashboard.application.monitor
    await user.open("/")
    user.find(marker="maintenance-reset").click()
    await user.should_see("No se puede deshacer")
    await user.should_see(marker="dialog-confirm")
    user.find(marker="dialog-confirm").click()
    await user.should_see("Base de datos reiniciada con 300 lecturas")
    assert monitor.queries.count() == 300
    assert monitor.metrics.latest(1) == []
    await eventually(lambda: text_of(user, "status-readings") == "300")
    await eventually(lambda: text_of(user, "status-analysis") == "—")
