"""Anomaly detection: the model's scores over time and every flagged reading with its score
and the variables that explain it."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from energy_core.telemetry.readings import Reading
from energy_ui.dashboard import charts
from energy_ui.dashboard.layout import card, table_texts
from energy_ui.dashboard.tabs.base import TabView
from energy_ui.i18n import explanation, moment

TABLE_ROWS = 200
"""Flagged readings listed (the most recent)."""


class AnomaliesTab(TabView):
    name = "anomalies"
    title_key = "tab.anomalies"
    icon = "crisis_alert"

    def build(self) -> None:
        t = self.t
        with ui.row().classes("w-full items-center gap-2") as self.no_model:
            ui.icon("info", color="amber-8")
            ui.label(t("anomalies.no_model")).classes("text-amber-9").mark("anomalies-no-model")
        with card(t("chart.scores")):
            self.scores = (
                ui.echart(
                    charts.scores_options(
                        self.model.scores.points,
                        self.model.flagged_scores.points,
                        self._threshold(),
                        self.language,
                    )
                )
                .classes("h-72")
                .mark("chart-scores")
            )
        with card(t("anomalies.table")):
            self.table = (
                ui.table(
                    columns=[
                        {
                            "name": "time",
                            "label": t("column.time"),
                            "field": "time",
                            "align": "left",
                            "sortable": True,
                        },
                        {
                            "name": "meter",
                            "label": t("column.meter"),
                            "field": "meter",
                            "align": "left",
                            "sortable": True,
                        },
                        {
                            "name": "score",
                            "label": t("column.score"),
                            "field": "score",
                            "sortable": True,
                        },
                        {"name": "top", "label": t("column.why"), "field": "top", "align": "left"},
                        {
                            "name": "kind",
                            "label": t("column.kind"),
                            "field": "kind",
                            "align": "left",
                        },
                    ],
                    rows=[],
                    row_key="id",
                    pagination=10,
                )
                .props("flat dense")
                .classes("w-full")
                .mark("table-anomalies")
            )
            table_texts(self.table, self.t("table.rows_per_page"), self.t("view.empty"))
        self.render()

    def _threshold(self) -> float | None:
        model = self.model.status.model
        return model.threshold if model is not None else None

    def render(self) -> None:
        self.no_model.set_visibility(self.model.status.model is None)
        options = self.scores.options
        charts.set_data(options, 0, self.model.scores.points)
        charts.set_data(options, 1, self.model.flagged_scores.points)
        threshold = self._threshold()
        mark_data = [{"yAxis": round(threshold, 4)}] if threshold is not None else []
        if options["series"][0]["markLine"].get("data") != mark_data:
            fresh = charts.scores_options([], [], threshold, self.language)
            options["series"][0]["markLine"] = fresh["series"][0]["markLine"]
        self.table.rows = [
            self._row(reading) for reading in self.model.flagged_readings[:TABLE_ROWS]
        ]

    def _row(self, reading: Reading) -> dict[str, Any]:
        return {
            "id": reading.id,
            "time": moment(reading.timestamp),
            "meter": reading.meter_id,
            "score": round(reading.score, 4) if reading.score is not None else None,
            "top": explanation(reading.flagged_by, reading.top_variables, self.language),
            "kind": reading.anomaly_kind or "",
        }
