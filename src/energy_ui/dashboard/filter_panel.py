"""The filters of the side panel; every change goes to the page, which re-queries every tab."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from nicegui import ui

from energy_core.telemetry.catalogue import VARIABLES, Language, variable
from energy_ui.dashboard.filters import Filters
from energy_ui.i18n import number, text

SAMPLING_CHOICES = (250, 500, 1_000, 2_000, 5_000)
ROW_LIMIT_CHOICES = (100, 250, 500, 1_000, 5_000)
STATE_ALL = "all"


class FilterPanel:
    """Date range, variables, state, meters, chart sampling and table row limit."""

    def __init__(
        self,
        language: Language,
        filters: Filters,
        meters: list[str],
        on_change: Callable[[Filters], Any],
    ) -> None:
        self.language = language
        self.filters = filters
        self._on_change = on_change
        t = self._t
        ui.label(t("filters.title")).classes("se-section")
        self.dates = (
            ui.date_input(t("filters.dates"), range_input=True, value=_dates_text(filters))
            .props("clearable dense outlined")
            .classes("w-full")
            .mark("filter-dates")
        )
        self.dates.on_value_change(lambda e: self._set(self.filters.with_dates(e.value)))
        self.variables = (
            ui.select(
                {spec.name: spec.label(language) for spec in VARIABLES},
                label=t("filters.variables"),
                multiple=True,
                value=list(filters.variables),
            )
            .props("dense outlined options-dense")
            .classes("w-full")
            .mark("filter-variables")
        )
        self._show_variables(filters.variables)
        self.variables.on_value_change(lambda e: self._set_variables(e.value))
        ui.label(t("filters.state")).classes("se-caption -mb-2")
        self.state = (
            ui.toggle(
                {
                    STATE_ALL: t("filters.state_all"),
                    "normal": t("filters.state_normal"),
                    "anomalous": t("filters.state_anomalous"),
                },
                value=filters.state or STATE_ALL,
            )
            .props("dense no-caps spread toggle-color=primary")
            .classes("w-full")
            .mark("filter-state")
        )
        self.state.on_value_change(lambda e: self._set_state(e.value))
        self.meters = (
            ui.select(
                list(meters),
                label=t("filters.meters"),
                multiple=True,
                value=list(filters.meters),
            )
            .props("use-chips dense outlined clearable")
            .classes("w-full")
            .mark("filter-meters")
        )
        self.meters.props["hint"] = t("filters.meters_all")
        self.meters.on_value_change(
            lambda e: self._set(replace(self.filters, meters=tuple(e.value or ())))
        )
        with ui.column().classes("w-full gap-3"):
            self.sampling = (
                ui.select(
                    {choice: number(choice, language) for choice in SAMPLING_CHOICES},
                    label=t("filters.sampling"),
                    value=filters.sampling,
                )
                .props("dense outlined")
                .classes("w-full")
                .mark("filter-sampling")
            )
            self.sampling.on_value_change(
                lambda e: self._set(replace(self.filters, sampling=int(e.value)))
            )
            self.row_limit = (
                ui.select(
                    {choice: number(choice, language) for choice in ROW_LIMIT_CHOICES},
                    label=t("filters.row_limit"),
                    value=filters.row_limit,
                )
                .props("dense outlined")
                .classes("w-full")
                .mark("filter-row-limit")
            )
            self.row_limit.on_value_change(
                lambda e: self._set(replace(self.filters, row_limit=int(e.value)))
            )
        ui.button(t("filters.reset"), icon="filter_alt_off", on_click=self.clear).props(
            "flat dense no-caps"
        ).classes("self-end").mark("filter-clear")

    def _t(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    def set_meters(self, meters: list[str]) -> None:
        """Offer the meters known now (new ones appear after a reset or a new source)."""
        if list(self.meters.options) != list(meters):
            self.meters.set_options(
                list(meters), value=[m for m in self.meters.value if m in meters]
            )

    def clear(self) -> None:
        defaults = Filters(sampling=self.filters.sampling, row_limit=self.filters.row_limit)
        self._set(defaults)
        self.dates.value = ""
        self.variables.value = list(defaults.variables)
        self.state.value = STATE_ALL
        self.meters.value = []

    def _set_variables(self, value: list[str] | None) -> None:
        order = [spec.name for spec in VARIABLES]
        chosen = tuple(name for name in order if name in (value or []))
        self._show_variables(chosen)
        self._set(replace(self.filters, variables=chosen))

    def _show_variables(self, chosen: tuple[str, ...]) -> None:
        """A short summary instead of many chips: "All (10)", the chosen labels when they
        are a few, else "6 of 10"."""
        if len(chosen) == len(VARIABLES):
            shown = self._t("filters.variables_all", count=len(VARIABLES))
        elif len(chosen) > 3:
            shown = self._t("filters.variables_some", count=len(chosen), total=len(VARIABLES))
        else:
            shown = ", ".join(variable(name).label(self.language) for name in chosen)
        self.variables.props["display-value"] = shown

    def _set_state(self, value: str | None) -> None:
        state = value if value in ("normal", "anomalous") else None
        self._set(replace(self.filters, state=state))  # type: ignore[arg-type]

    def _set(self, filters: Filters) -> None:
        if filters == self.filters:
            return
        self.filters = filters
        self._on_change(filters)


def _dates_text(filters: Filters) -> str:
    if filters.date_from is None or filters.date_to is None:
        return ""
    return f"{filters.date_from.isoformat()} - {filters.date_to.isoformat()}"
