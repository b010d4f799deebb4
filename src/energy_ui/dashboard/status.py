"""The status panel: readings stored, model, latest analysis and health, whatever the filters."""

from __future__ import annotations

from nicegui import ui

from energy_core.health.analysis import HealthThresholds
from energy_core.telemetry.catalogue import Language
from energy_ui.dashboard.charts import AMBER, GREEN, HEALTH_COLORS, RED, TEXT
from energy_ui.dashboard.drill import DrillRunner
from energy_ui.dashboard.drill_view import drill_summary, open_drill_dialog
from energy_ui.dashboard.layout import card
from energy_ui.dashboard.queries import Status
from energy_ui.i18n import moment, number, signed, text


class StatusPanel:
    """Four cards; ``show`` refreshes them in place, ``show_drill`` the model's drill line."""

    def __init__(
        self, language: Language, thresholds: HealthThresholds, drill: DrillRunner
    ) -> None:
        self.language = language
        self.thresholds = thresholds
        self.drill = drill
        t = self._t
        with ui.element("div").classes(
            "se-status grid w-full gap-4 grid-cols-1 sm:grid-cols-2 xl:grid-cols-4"
        ):
            with card(classes="border-l-4 !border-l-blue-600"):
                with ui.row().classes("items-center gap-2 no-wrap"):
                    ui.icon("storage", color="primary").classes("text-xl")
                    ui.label(t("status.readings")).classes("se-kpi-label")
                self.readings = ui.label().classes("se-kpi-value").mark("status-readings")
                self.latest = (
                    ui.label().classes("se-caption se-latest-reading").mark("status-latest")
                )
            with card(classes="border-l-4 !border-l-indigo-500"):
                with ui.row().classes("items-center gap-2 no-wrap"):
                    ui.icon("psychology", color="indigo").classes("text-xl")
                    ui.label(t("status.model")).classes("se-kpi-label")
                self.model = ui.label().classes("se-kpi-value").mark("status-model")
                self.model_caption = ui.label().classes("se-caption").mark("status-model-caption")
                with ui.row().classes("items-center gap-1 no-wrap"):
                    self.drill_summary = ui.label().classes("se-caption").mark("drill-summary")
                    self.drill_button = (
                        ui.button(icon="fact_check", on_click=self.open_drill)
                        .props("flat round dense size=sm color=indigo")
                        .tooltip(t("drill.button"))
                        .mark("drill-open")
                    )
            with card(classes="border-l-4 !border-l-slate-500"):
                with ui.row().classes("items-center gap-2 no-wrap"):
                    ui.icon("analytics", color="grey-8").classes("text-xl")
                    ui.label(t("status.analysis")).classes("se-kpi-label")
                with ui.row().classes("items-baseline gap-3"):
                    self.analysis = ui.label().classes("se-kpi-value").mark("status-analysis")
                    self.delta = ui.label().classes("text-sm font-semibold").mark("status-delta")
                self.analysis_caption = ui.label().classes("se-caption")
            # On a phone, one card a row, the health comes first: what a notification's
            # reader opens the page for.
            with card(classes="se-health max-sm:order-first") as self.health_card:
                with ui.row().classes("items-center gap-2 no-wrap"):
                    ui.icon("monitor_heart", color="grey-8").classes("text-xl")
                    ui.label(t("status.health")).classes("se-kpi-label")
                self.health = ui.label().classes("se-kpi-value").mark("status-health")
                ui.label(
                    t(
                        "status.health_hint",
                        caution=number(thresholds.caution, language, 0),
                        critical=number(thresholds.critical, language, 0),
                    )
                ).classes("se-caption")

    def _t(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    def show_drill(self) -> None:
        """The latest fire drill's one-line summary; its table opens from the button."""
        self.drill_summary.set_text(drill_summary(self.drill, self.language))
        self.drill_button.set_visibility(self.drill.latest is not None)

    def open_drill(self) -> None:
        if self.drill.latest is not None:
            open_drill_dialog(self.drill.latest, self.language)

    def show(self, status: Status) -> None:
        language, t = self.language, self._t
        self.readings.set_text(number(status.stored, language))
        latest = status.latest
        self.latest.set_text(
            t("status.last_reading", id=latest.id, time=moment(latest.timestamp))
            if latest is not None
            else t("status.no_readings")
        )
        model = status.model
        if model is None:
            self.model.set_text(t("status.no_model"))
            self.model.classes(add="!text-lg")
            self.model_caption.set_text(t("status.no_model_hint"))
        else:
            self.model.set_text(t("status.model_version", version=model.version))
            self.model.classes(remove="!text-lg")
            self.model_caption.set_text(
                t(
                    "status.model_trained",
                    time=moment(model.trained_at, seconds=False) + " UTC",
                    rows=number(model.rows, language),
                )
            )
        analysis = status.analysis
        if analysis is None:
            self.analysis.set_text("—")
            self.delta.set_text(t("status.no_analysis"))
            self.delta.style(f"color: {TEXT}")
            self.analysis_caption.set_text("")
            self.health.set_text(t("status.health_unknown"))
            self.health.style(f"color: {TEXT}")
            self.health_card.style(f"border-left: 4px solid {TEXT}")
            return
        self.analysis.set_text(f"{number(analysis.percentage, language, 1)} %")
        delta = analysis.delta_percentage
        if delta is None:
            self.delta.set_text(t("status.no_delta"))
            self.delta.style(f"color: {TEXT}")
        else:
            steady = abs(delta) < 0.05  # what rounds to 0.0 pp
            arrow = "=" if steady else "▲" if delta > 0 else "▼"
            colour = TEXT if steady else RED if delta > 0 else GREEN
            self.delta.set_text(f"{arrow} " + t("status.delta", delta=signed(delta, language, 1)))
            self.delta.style(f"color: {colour}")
        self.analysis_caption.set_text(
            t(
                "status.analysis_detail",
                anomalies=number(analysis.anomalies_detected, language),
                total=number(analysis.total_readings, language),
            )
        )
        colour = HEALTH_COLORS.get(analysis.health, AMBER)
        self.health.set_text(analysis.health.label(language))
        self.health.style(f"color: {colour}")
        self.health_card.style(f"border-left: 4px solid {colour}")
