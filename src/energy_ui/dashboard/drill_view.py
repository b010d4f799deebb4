"""What the status panel shows of the fire drill: a one-line summary and a table dialog."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from energy_core.detection.drill import DrillResult
from energy_core.telemetry.catalogue import Language
from energy_ui.dashboard.drill import DrillOutcome, DrillRunner
from energy_ui.dashboard.layout import table_texts
from energy_ui.i18n import moment, number, text


def drill_summary(drill: DrillRunner, language: Language) -> str:
    """One line: running, failed, none yet, or how many fault kinds the model caught."""
    if drill.running:
        return text("drill.running", language)
    if drill.error is not None:
        return text("drill.failed", language, error=drill.error)
    outcome = drill.latest
    if outcome is None:
        return text("drill.none", language)
    return text("drill.summary", language, caught=outcome.caught, kinds=len(outcome.report.results))


def drill_rows(outcome: DrillOutcome, language: Language) -> list[dict[str, Any]]:
    """One table row per fault kind."""
    return [_row(result, language) for result in outcome.report.results]


def _row(result: DrillResult, language: Language) -> dict[str, Any]:
    delay = result.median_delay_s
    return {
        "kind": result.kind,
        "fault": text(f"fault.{result.kind}", language),
        "recall": f"{number(100 * result.recall, language, 0)} %"
        f" ({number(result.detected, language)}/{number(result.anomalous, language)})",
        "false_alarms": f"{number(result.false_alarms, language)}"
        f" ({number(100 * result.false_alarm_rate, language, 2)} %)",
        "delay": "—" if delay is None else f"{number(delay, language, 0)} s",
    }


def open_drill_dialog(outcome: DrillOutcome, language: Language) -> None:
    """A dialog with the drill's table and how it was run."""

    def t(key: str, **values: object) -> str:
        return text(key, language, **values)

    report = outcome.report
    with (
        ui.dialog() as dialog,
        ui.card().classes("se-card w-full max-w-3xl gap-2").mark("drill-dialog"),
    ):
        ui.label(t("drill.title")).classes("se-section")
        ui.label(
            t(
                "drill.caption",
                detector=report.detector,
                readings=number(report.drill_readings, language),
                time=moment(outcome.finished_at, seconds=False),
                version=outcome.model_version if outcome.model_version is not None else "—",
            )
        ).classes("se-caption").mark("drill-caption")
        columns: list[dict[str, Any]] = [
            {"name": key, "label": t(f"column.{key}"), "field": key, "align": "left"}
            for key in ("fault", "recall", "false_alarms", "delay")
        ]
        table = (
            ui.table(columns=columns, rows=drill_rows(outcome, language), row_key="kind")
            .props("flat dense hide-pagination")
            .classes("w-full")
            .mark("drill-table")
        )
        table.pagination = {"rowsPerPage": 0}
        table_texts(table, t("table.rows_per_page"), t("view.empty"))
        with ui.row().classes("w-full justify-end"):
            ui.button(t("dialog.close"), on_click=dialog.close).props("flat no-caps").mark(
                "drill-close"
            )
    dialog.on("hide", dialog.delete)
    dialog.open()
