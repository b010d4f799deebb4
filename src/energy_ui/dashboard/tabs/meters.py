"""Meters: the fleet, one row per meter, paged, sorted and filtered by the server (the fleet
read port); a click on a meter restricts every other tab to it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, get_args

from nicegui import background_tasks, ui
from nicegui.events import GenericEventArguments, ValueChangeEventArguments

from energy_core.health.fleet import health_key
from energy_core.ports import (
    FLEET_SORTS,
    FleetHealth,
    FleetPage,
    FleetQuery,
    FleetSort,
    MeterOverview,
)
from energy_core.telemetry.catalogue import variable
from energy_ui.dashboard.layout import card, table_texts
from energy_ui.dashboard.tabs.base import TabView
from energy_ui.i18n import FLEET_HEALTH_TEXT, moment, number, origin_label

FleetLoader = Callable[[FleetQuery], Awaitable[FleetPage | None]]
"""Asks storage for one page of the fleet; ``None`` when it cannot answer now."""
MeterPicker = Callable[[str], None]

PAGE_SIZE = 25
PAGE_SIZES = (10, 25, 50, 100)
HEALTH_ALL = "all"
HEALTH_COLOURS: dict[FleetHealth, str] = {
    "normal": "text-green-700",
    "caution": "text-amber-700",
    "critical": "text-red-700",
    "silent": "text-slate-500",
}


class MetersTab(TabView):
    name = "meters"
    title_key = "tab.meters"
    icon = "sensors"
    min_interval = 5.0
    """Live readings re-ask storage for the page shown at most this often (seconds)."""

    loader: FleetLoader | None = None
    picker: MeterPicker | None = None

    def build(self) -> None:
        t = self.t
        self.query = FleetQuery(page_size=PAGE_SIZE)
        self._pagination = self._pagination_of(self.query, total=0)
        self._asking = False
        self._ask_again = False
        with card():
            with ui.row().classes("w-full items-center gap-3"):
                self.caption = ui.label().classes("se-caption").mark("meters-caption")
                ui.space()
                self.search = (
                    ui.input(t("meters.search"))
                    .props("dense outlined clearable debounce=300")
                    .classes("w-56")
                    .mark("meters-search")
                )
                self.search.on_value_change(lambda e: self._ask(meter_contains=e.value or ""))
                health_options = {HEALTH_ALL: t("meters.health_all")}
                health_options.update(
                    {key: self._health_text(key) for key in get_args(FleetHealth)}
                )
                self.health = (
                    ui.select(health_options, label=t("column.health"), value=HEALTH_ALL)
                    .props("dense outlined options-dense")
                    .classes("w-40")
                    .mark("meters-health")
                )
                self.health.on_value_change(
                    lambda e: self._ask(health=None if e.value == HEALTH_ALL else e.value)
                )
            ui.label(t("meters.hint")).classes("se-caption")
            self.table = (
                ui.table(
                    columns=self._columns(),
                    rows=[],
                    row_key="meter_id",
                    pagination=dict(self._pagination),
                    on_pagination_change=self._keep_pagination,
                )
                .props(f"flat dense :rows-per-page-options='{list(PAGE_SIZES)}'")
                .classes("w-full cursor-pointer se-meters")
                .mark("table-meters")
            )
            table_texts(self.table, t("table.rows_per_page"), t("view.empty"))
            self.table.add_slot(
                "body-cell-health",
                '<q-td :props="props"><span :class="props.row.health_class">'
                "{{ props.value }}</span></q-td>",
            )
            self.table.on("request", self._on_request, ["pagination"])
            self.table.on("rowClick", self._on_click, [[], ["meter_id"], None])
        self.refresh()

    def _columns(self) -> list[dict[str, Any]]:
        t = self.t

        def column(
            name: str, label: str, *, sortable: bool = True, left: bool = False
        ) -> dict[str, Any]:
            spec: dict[str, Any] = {
                "name": name,
                "label": label,
                "field": name,
                "sortable": sortable,
            }
            if left:
                spec["align"] = "left"
            return spec

        return [
            column("meter_id", t("column.meter"), left=True),
            column("origin", t("column.origin"), sortable=False, left=True),
            column("health", t("column.health"), left=True),
            column("flagged_share", t("column.flagged_share")),
            column("readings_last_hour", t("column.readings_hour")),
            column("flagged_last_hour", t("column.flagged_hour")),
            column("last_seen", t("column.last_seen"), left=True),
            column("cadence", t("column.cadence")),
            {
                **column("variables", t("column.variables"), sortable=False, left=True),
                # Wrapped: a meter sending all ten variables would push the table off the card.
                "style": "white-space: normal; min-width: 12rem",
            },
        ]

    # --- asking storage -----------------------------------------------------------------
    def render(self) -> None:
        """Live readings arrived: ask again for the page shown."""
        self.refresh()

    def refresh(self) -> None:
        background_tasks.create(self._fetch(), name="meters page")

    def _ask(self, **changes: Any) -> None:
        """Filters changed: back to the first page."""
        self.query = replace(self.query, page=1, **changes)
        self.refresh()

    def _on_request(self, event: GenericEventArguments) -> None:
        """The user paged or sorted: Quasar leaves both to the server."""
        pagination = event.args.get("pagination", {}) if isinstance(event.args, dict) else {}
        sort = pagination.get("sortBy") or "meter_id"
        sort = "cadence_s" if sort == "cadence" else sort
        size = int(pagination.get("rowsPerPage") or PAGE_SIZE)
        self.query = replace(
            self.query,
            page=max(1, int(pagination.get("page") or 1)),
            page_size=size if size in PAGE_SIZES else PAGE_SIZE,
            sort=sort if sort in FLEET_SORTS else "meter_id",
            descending=bool(pagination.get("descending")),
        )
        self.refresh()

    async def _fetch(self) -> None:
        # One question at a time; whatever was asked meanwhile is asked once more after.
        if self._asking:
            self._ask_again = True
            return
        self._asking = True
        try:
            while True:
                self._ask_again = False
                query = self.query
                page = await self.loader(query) if self.loader is not None else None
                if not self._ask_again:
                    break
        finally:
            self._asking = False
        if page is None or self.table.is_deleted:
            return
        self._show(page)

    def _show(self, page: FleetPage) -> None:
        query = page.query
        self.table.rows = [self._row(row) for row in page.rows]
        self._pagination = self._pagination_of(query, total=page.total)
        self.table.pagination = dict(self._pagination)
        filtered = bool(query.meter_contains) or query.health is not None
        key = "meters.caption_filtered" if filtered else "meters.caption"
        self.caption.set_text(self.t(key, total=number(page.total, self.language)))

    @staticmethod
    def _pagination_of(query: FleetQuery, *, total: int) -> dict[str, Any]:
        """Quasar's pagination for the page the server answered; ``rowsNumber`` (the fleet's
        size under the filters) is what makes Quasar leave paging and sorting to the server."""
        shown_sort: FleetSort | str = "cadence" if query.sort == "cadence_s" else query.sort
        return {
            "page": query.page,
            "rowsPerPage": query.page_size,
            "rowsNumber": total,
            "sortBy": shown_sort,
            "descending": query.descending,
        }

    def _keep_pagination(self, event: ValueChangeEventArguments[dict[str, Any]]) -> None:
        """The pagination is the server's. Quasar sends its own copy (``update:pagination``)
        each time the table mounts (the tab first shown, a reconnect), and NiceGUI takes that
        copy as the table's; one taken before the server's page arrived would put
        ``rowsNumber`` back to 0 ("1–0 / 0" under listed meters). Paging and sorting come as
        ``request`` events (``_on_request``), so any other copy is put back."""
        if event.value != self._pagination:
            self.table.pagination = dict(self._pagination)

    def _row(self, row: MeterOverview) -> dict[str, Any]:
        key = health_key(row.health)
        return {
            "meter_id": row.meter_id,
            "origin": origin_label(row.origin, self.language),
            "health": self._health_text(key),
            "health_class": HEALTH_COLOURS[key],
            "flagged_share": ""
            if row.flagged_share is None
            else f"{number(row.flagged_share, self.language, 1)} %",
            "readings_last_hour": row.readings_last_hour,
            "flagged_last_hour": row.flagged_last_hour,
            "last_seen": moment(row.last_seen),
            "cadence": self._cadence(row.cadence_s),
            "variables": ", ".join(variable(name).label(self.language) for name in row.variables),
        }

    def _health_text(self, key: FleetHealth) -> str:
        return self.t(FLEET_HEALTH_TEXT[key])

    def _cadence(self, seconds: float | None) -> str:
        if seconds is None:
            return ""
        if seconds < 120:
            return f"{number(seconds, self.language, 0 if seconds >= 10 else 1)} s"
        if seconds < 7_200:
            return f"{number(seconds / 60, self.language, 0)} min"
        return f"{number(seconds / 3_600, self.language, 1)} h"

    def _on_click(self, event: GenericEventArguments) -> None:
        args = event.args if isinstance(event.args, list) else []
        row = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
        meter = row.get("meter_id")
        if isinstance(meter, str) and self.picker is not None:
            self.picker(meter)
