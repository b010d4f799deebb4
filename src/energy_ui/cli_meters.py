"""``smartenergy meters``: the fleet, one row per meter, as the Meters tab and
``GET /api/v1/meters`` show it (sorted, filtered and paged by storage).

With ``--json`` stdout holds only the JSON, the API's own shape. Without ``DATABASE_URL`` it
refuses: a fresh in-memory store has no meters.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from energy_core.health.fleet import health_key
from energy_core.ports import MAX_FLEET_PAGE, FleetHealth, FleetQuery, FleetSort, MeterOverview
from energy_core.telemetry.catalogue import variable
from energy_ui.api.meters import MeterPage
from energy_ui.bootstrap import DatabaseError, bootstrap, unavailable_errors
from energy_ui.cli_language import language, number, say
from energy_ui.i18n import FLEET_HEALTH_TEXT, moment, origin_label
from energy_ui.settings import Settings

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def meters(
    sort: Annotated[
        FleetSort, typer.Option(help="column to sort by (health sorts like flagged_share)")
    ] = "meter_id",
    desc: Annotated[bool, typer.Option("--desc", help="largest (or newest) first")] = False,
    limit: Annotated[int, typer.Option(min=1, max=MAX_FLEET_PAGE, help="meters per page")] = 50,
    page: Annotated[int, typer.Option(min=1, help="which page, from 1")] = 1,
    contains: Annotated[
        str,
        typer.Option(help="only meters whose id contains this text (any case) [default: all]"),
    ] = "",
    health: Annotated[
        FleetHealth | None,
        typer.Option(help="only meters whose health now is this one [default: any]"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object on stdout")] = False,
) -> None:
    """The fleet: per meter its variables, last seen, cadence, readings and flagged readings
    in the last hour and health now."""
    query = FleetQuery(
        page=page,
        page_size=limit,
        sort=sort,
        descending=desc,
        meter_contains=contains,
        health=health,
    )
    try:
        settings = Settings()
        if not settings.database_url:
            raise DatabaseError(say("cli.needs_database", command="meters"))
        application = bootstrap(settings)
        try:
            found = application.meters_overview(query)
        finally:
            application.close()
    except (*unavailable_errors(), ValueError) as error:
        err.print(f"[red]{say('cli.error')}[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        out.print(json.dumps(MeterPage.of(found).model_dump(mode="json")), markup=False)
        return
    table = Table(title=say("tab.meters"))
    for key in (
        "column.meter",
        "column.origin",
        "column.health",
        "column.flagged_share",
        "column.readings_hour",
        "column.flagged_hour",
        "column.last_seen",
        "column.cadence",
        "column.variables",
    ):
        # Ids and states whole; the variables wrap.
        table.add_column(say(key), no_wrap=key in ("column.meter", "column.health"))
    for row in found.rows:
        table.add_row(*(escape(cell) for cell in _cells(row)))
    out.print(table)
    first = query.offset + 1 if found.rows else 0
    out.print(
        say(
            "meters.cli_page",
            first=number(first),
            last=number(query.offset + len(found.rows)),
            total=say("meters.caption", total=number(found.total)),
        ),
        highlight=False,
        markup=False,
    )


def _cells(row: MeterOverview) -> list[str]:
    share = "" if row.flagged_share is None else f"{number(row.flagged_share, 1)} %"
    cadence = "" if row.cadence_s is None else f"{number(row.cadence_s, 1)} s"
    return [
        row.meter_id,
        origin_label(row.origin, language()),
        say(FLEET_HEALTH_TEXT[health_key(row.health)]),
        share,
        number(row.readings_last_hour),
        number(row.flagged_last_hour),
        moment(row.last_seen),
        cadence,
        ", ".join(variable(name).label(language()) for name in row.variables),
    ]
