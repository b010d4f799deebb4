"""The fire drill next to the model version: what the model catches, after each training."""

from __future__ import annotations

from nicegui import ui
from nicegui.testing import User

from energy_ui.dashboard import create_app
from energy_ui.dashboard.drill import DrillParameters
from tests.ui.conftest import make_application
from tests.ui.helpers import eventually, one, set_value, text_of

SMALL = DrillParameters(
    kinds=("voltage_sag", "overcurrent"), training_readings=300, drill_readings=200
)


async def test_training_from_the_page_runs_the_drill_and_shows_its_table(user: User) -> None:
    dashboard = create_app(make_application(), demo=False, drill=SMALL)
    await dashboard.start()
    await user.open("/")
    assert text_of(user, "drill-summary") == (
        "Sin simulacro todavía: se ejecuta tras cada entrenamiento desde el panel."
    )
    await user.should_not_see(marker="drill-open")
    user.find(marker="action-train").click()
    await user.should_see("Modelo v2 entrenado")
    await eventually(lambda: dashboard.drill.latest is not None, attempts=1_000)
    outcome = dashboard.drill.latest
    assert outcome is not None and outcome.model_version == 2
    assert [result.kind for result in outcome.report.results] == ["voltage_sag", "overcurrent"]
    assert outcome.report.detector == dashboard.application.monitor.settings.detector
    await eventually(lambda: text_of(user, "drill-summary").startswith("Simulacro: "))
    assert text_of(user, "drill-summary") == (
        f"Simulacro: {outcome.caught} de 2 tipos de fallo detectados (≥ 90 %)"
    )
    user.find(marker="drill-open").click()
    await user.should_see(marker="drill-table")
    rows = one(user, "drill-table", ui.table).rows
    assert [row["fault"] for row in rows] == ["Hueco de tensión", "Sobrecorriente"]
    first = outcome.report.results[0]
    assert rows[0]["recall"].endswith(f"({first.detected}/{first.anomalous})")
    assert "modelo v2" in text_of(user, "drill-caption")


async def test_the_drill_table_follows_the_language(user: User) -> None:
    dashboard = create_app(make_application(), demo=False, drill=SMALL)
    await dashboard.start()
    await dashboard.drill.run(1)
    await user.open("/")
    set_value(user, "language", "en")
    await user.should_see("Fire drill: ")
    user.find(marker="drill-open").click()
    await user.should_see(marker="drill-table")
    assert [row["fault"] for row in one(user, "drill-table", ui.table).rows] == [
        "Voltage sag",
        "Overcurrent",
    ]


async def test_the_demo_runs_the_drill_once_at_start(user: User) -> None:
    dashboard = create_app(make_application(), demo=True, drill=SMALL)
    await dashboard.start()
    await eventually(lambda: dashboard.drill.latest is not None, attempts=1_000)
    assert dashboard.drill.latest is not None
    assert dashboard.drill.latest.model_version == 1
    await user.open("/")
    await user.should_see(marker="drill-open")
