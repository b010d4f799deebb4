"""Comparatives: a scatter matrix of the selected variables, flagged readings in red."""

from __future__ import annotations

from nicegui import ui

from energy_ui.dashboard import charts
from energy_ui.dashboard.layout import card
from energy_ui.dashboard.tabs.base import TabView

CELL_HEIGHT_PX = 150


class ComparativesTab(TabView):
    name = "comparatives"
    title_key = "tab.comparatives"
    icon = "scatter_plot"

    def build(self) -> None:
        t = self.t
        variables = self.model.filters.variables
        self.matrix: ui.echart | None = None
        with card(t("chart.matrix")):
            if len(variables) < 2:
                ui.label(t("chart.matrix_need_two")).classes("se-caption").mark("matrix-need-two")
                return
            ui.label(t("chart.matrix_hint")).classes("se-caption")
            height = CELL_HEIGHT_PX * (len(variables) - 1) + 60
            self.matrix = (
                ui.echart(charts.matrix_options(variables, self.model.pairs, self.language))
                .style(f"height: {height}px")
                .mark("chart-matrix")
            )

    def render(self) -> None:
        if self.matrix is None:
            return
        for index, pair in enumerate(self.model.pairs):
            charts.set_data(self.matrix.options, 2 * index, pair.normal.points)
            charts.set_data(self.matrix.options, 2 * index + 1, pair.flagged.points)
