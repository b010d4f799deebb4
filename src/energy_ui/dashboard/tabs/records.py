"""Records table: the most recent readings of the view, paged, and their CSV download."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nicegui import ui

from energy_core.telemetry.catalogue import variable
from energy_core.telemetry.readings import Reading
from energy_ui.dashboard import charts
from energy_ui.dashboard.export import readings_csv
from energy_ui.dashboard.layout import card, table_texts
from energy_ui.dashboard.tabs.base import TabView
from energy_ui.i18n import explanation, moment, number

PAGE_SIZE = 15


class RecordsTab(TabView):
    name = "records"
    title_key = "tab.records"
    icon = "table_rows"

    def build(self) -> None:
        t = self.t
        variables = self.model.filters.variables
        with card():
            with ui.row().classes("w-full items-center justify-between"):
                self.caption = ui.label().classes("se-caption").mark("records-caption")
                ui.button(t("records.download"), icon="download", on_click=self.download).props(
                    "outline no-caps"
                ).mark("records-download")
            columns: list[dict[str, Any]] = [
                {
                    "name": "id",
                    "label": t("column.id"),
                    "field": "id",
                    "sortable": True,
                    "align": "left",
                },
                {
                    "name": "time",
                    "label": t("column.time"),
                    "field": "time",
                    "sortable": True,
                    "align": "left",
                },
                {
                    "name": "meter",
                    "label": t("column.meter"),
                    "field": "meter",
                    "sortable": True,
                    "align": "left",
                },
                *(
                    {
                        "name": name,
                        "label": variable(name).label_with_unit(self.language),
                        "field": name,
                        "sortable": True,
                    }
                    for name in variables
                ),
                {
                    "name": "state",
                    "label": t("column.state"),
                    "field": "state",
                    "align": "left",
                    "sortable": True,
                },
                {"name": "score", "label": t("column.score"), "field": "score", "sortable": True},
                {"name": "top", "label": t("column.why"), "field": "top", "align": "left"},
            ]
            self.table = (
                ui.table(columns=columns, rows=[], row_key="id", pagination=PAGE_SIZE)
                .props("flat dense")
                .classes("w-full")
                .mark("table-records")
            )
            table_texts(self.table, self.t("table.rows_per_page"), self.t("view.empty"))
        self.render()

    def render(self) -> None:
        model = self.model
        self.caption.set_text(
            self.t(
                "records.caption",
                shown=number(len(model.rows), self.language),
                total=number(model.total, self.language),
            )
        )
        self.table.rows = [self._row(reading) for reading in model.rows]

    def _row(self, reading: Reading) -> dict[str, Any]:
        if reading.is_flagged is None:
            state = self.t("state.unscored")
        else:
            state = self.t("state.anomalous" if reading.is_flagged else "state.normal")
        row: dict[str, Any] = {
            "id": reading.id,
            "time": moment(reading.timestamp),
            "meter": reading.meter_id,
            "state": state,
            "score": round(reading.score, 4) if reading.score is not None else None,
            "top": explanation(reading.flagged_by, reading.top_variables, self.language),
        }
        for name in self.model.filters.variables:  # blank, not 0, where the meter sent none
            value = reading.values.get(name)
            row[name] = None if value is None else round(value, charts.DECIMALS.get(name, 2) + 1)
        return row

    def download(self) -> None:
        """The rows of the view (all pages) as CSV."""
        content = readings_csv(self.model.rows, self.model.filters.variables, self.model.feedback)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        ui.download.content(
            content.encode("utf-8"), f"smartenergy-{stamp}.csv", media_type="text/csv"
        )
