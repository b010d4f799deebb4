"""General analysis: KPIs of the view, the health gauge, analysis history, anomalies by variable."""

from __future__ import annotations

from nicegui import ui

from energy_core.telemetry.catalogue import variable
from energy_ui.dashboard import charts
from energy_ui.dashboard.layout import card, kpi, table_texts
from energy_ui.dashboard.tabs.base import TabView
from energy_ui.i18n import moment, number


class GeneralTab(TabView):
    name = "general"
    title_key = "tab.general"
    icon = "dashboard"
    min_interval = 0.25

    def build(self) -> None:
        t, language = self.t, self.language
        with (
            card(),
            ui.element("div").classes(
                "grid w-full gap-4 grid-cols-2 md:grid-cols-3 xl:grid-cols-6"
            ),
        ):
            self.readings, _ = kpi(t("kpi.readings"), "", marker="kpi-readings")
            self.flagged, _ = kpi(t("kpi.flagged"), "", marker="kpi-flagged")
            self.share, _ = kpi(t("kpi.share"), "", marker="kpi-share")
            self.meters, _ = kpi(t("kpi.meters"), "", marker="kpi-meters")
            self.span, self.span_caption = kpi(t("kpi.span"), "", marker="kpi-span")
            self.span.classes(replace="text-base font-semibold text-slate-900")
            self.quality, self.quality_caption = kpi(t("kpi.quality"), "", marker="kpi-quality")
            self.quality.classes(replace="text-base font-semibold text-slate-900")
        with ui.element("div").classes("grid w-full gap-4 grid-cols-1 lg:grid-cols-3"):
            with card(t("chart.gauge")):
                self.gauge = (
                    ui.echart(
                        charts.gauge_options(self.model.status.analysis, self.thresholds, language)
                    )
                    .classes("h-64")
                    .mark("chart-gauge")
                )
            with card(t("chart.history"), classes="lg:col-span-2"):
                self.history = (
                    ui.echart(charts.history_options(self.model.history, self.thresholds, language))
                    .classes("h-64")
                    .mark("chart-history")
                )
        with ui.element("div").classes("grid w-full gap-4 grid-cols-1 lg:grid-cols-2"):
            with card(t("chart.by_variable")):
                self.by_variable = (
                    ui.echart(charts.by_variable_options(self.model.top_counts, language))
                    .classes("h-56")
                    .mark("chart-by-variable")
                )
            with card(t("filters.variables")):
                self.stats = (
                    ui.table(
                        columns=[
                            {
                                "name": "variable",
                                "label": t("table.variable"),
                                "field": "variable",
                                "align": "left",
                            },
                            {"name": "mean", "label": t("table.mean"), "field": "mean"},
                            {"name": "minimum", "label": t("table.minimum"), "field": "minimum"},
                            {"name": "maximum", "label": t("table.maximum"), "field": "maximum"},
                            {"name": "flagged", "label": t("table.flagged"), "field": "flagged"},
                        ],
                        rows=[],
                        row_key="name",
                    )
                    .props("flat dense")
                    .classes("w-full")
                    .mark("table-stats")
                )
                table_texts(self.stats, self.t("table.rows_per_page"), self.t("view.empty"))
        self.render()

    def render(self) -> None:
        model, language = self.model, self.language
        self.readings.set_text(number(model.total, language))
        self.flagged.set_text(number(model.flagged, language))
        self.share.set_text(f"{number(model.share, language, 1)} %")
        self.meters.set_text(number(len(model.filters.meters or model.meters), language))
        if model.span:
            self.span.set_text(moment(model.span[0], seconds=False))
            self.span_caption.set_text("→ " + moment(model.span[1], seconds=False) + " UTC")
        else:
            self.span.set_text("—")
            self.span_caption.set_text("")
        analysis = model.status.analysis
        if analysis is not None and analysis.f1 is not None:
            self.quality.set_text(
                " / ".join(
                    number(value or 0.0, language, 2)
                    for value in (analysis.precision, analysis.recall, analysis.f1)
                )
            )
            self.quality_caption.set_text("")
        else:
            self.quality.set_text("—")
            self.quality_caption.set_text(self.t("kpi.quality_none"))
        gauge = charts.gauge_options(analysis, self.thresholds, language)["series"][0]
        self.gauge.options["series"][0]["data"] = gauge["data"]
        self.gauge.options["series"][0]["title"] = gauge["title"]
        charts.set_data(self.history.options, 0, charts.history_points(model.history))
        charts.set_data(
            self.by_variable.options, 0, [model.top_counts[name] for name in model.top_counts]
        )
        rows = []
        for name in model.filters.variables:
            stats = model.stats(name)
            decimals = charts.DECIMALS.get(name, 2)
            rows.append(
                {
                    "name": name,
                    "variable": variable(name).label_with_unit(language),
                    "mean": number(stats.mean, language, decimals) if stats else "—",
                    "minimum": number(stats.minimum, language, decimals) if stats else "—",
                    "maximum": number(stats.maximum, language, decimals) if stats else "—",
                    "flagged": number(model.top_counts.get(name, 0), language),
                }
            )
        self.stats.rows = rows
