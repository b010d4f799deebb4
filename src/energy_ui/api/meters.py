"""GET /api/v1/meters: the fleet view, one row per meter, paged, sorted and filtered by storage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from fastapi.params import Depends
from pydantic import BaseModel, Field

from energy_core.health.fleet import health_key
from energy_core.ports import (
    FLEET_SORTS,
    MAX_FLEET_PAGE,
    FleetHealth,
    FleetPage,
    FleetQuery,
    FleetSort,
    MeterOverview,
)
from energy_ui.bootstrap import Application, unavailable_errors

MAX_CONTAINS = 64
"""Longest ``q``: a meter id is at most 64 characters."""


class MeterOut(BaseModel):
    meter_id: str
    channel: str | None = Field(
        description="how its newest readings came: http, mqtt, csv or simulator; null when "
        "stored by code that did not say"
    )
    format: str | None = Field(
        description="their payload format: native, tasmota, shelly, emoncms, emonhub or a "
        "mapping file's device name"
    )
    variables: list[str] = Field(description="catalogue variables its newest readings carry")
    last_seen: datetime = Field(description="its newest reading's instant (UTC)")
    cadence_s: float | None = Field(
        description="median interval between its newest readings, seconds; null with one"
    )
    readings_last_hour: int = Field(
        description="readings in the last hour: the 60 whole UTC minutes up to this one"
    )
    flagged_last_hour: int = Field(description="of those, flagged by the model")
    flagged_share: float | None = Field(description="flagged per cent; null when silent")
    health: FleetHealth = Field(
        description="that share against the health thresholds: normal, caution or critical; "
        "silent when it sent nothing in the last hour"
    )

    @classmethod
    def of(cls, row: MeterOverview) -> MeterOut:
        return cls(
            meter_id=row.meter_id,
            channel=row.origin.channel if row.origin else None,
            format=row.origin.format if row.origin else None,
            variables=list(row.variables),
            last_seen=row.last_seen,
            cadence_s=row.cadence_s,
            readings_last_hour=row.readings_last_hour,
            flagged_last_hour=row.flagged_last_hour,
            flagged_share=row.flagged_share,
            health=health_key(row.health),
        )


class MeterPage(BaseModel):
    items: list[MeterOut]
    total: int = Field(description="meters matching the filters, over every page")
    page: int
    page_size: int
    sort: FleetSort
    order: Literal["asc", "desc"]

    @classmethod
    def of(cls, page: FleetPage) -> MeterPage:
        query = page.query
        return cls(
            items=[MeterOut.of(row) for row in page.rows],
            total=page.total,
            page=query.page,
            page_size=query.page_size,
            sort=query.sort,
            order="desc" if query.descending else "asc",
        )


def meters_router(
    application: Application,
    *,
    dependencies: Sequence[Depends],
    responses: dict[int | str, dict[str, Any]],
    unavailable: Callable[[], HTTPException],
) -> APIRouter:
    """The route, under the read guard and answers of the other read routes."""
    router = APIRouter()

    @router.get(
        "/api/v1/meters",
        response_model=MeterPage,
        tags=["meters"],
        summary="The fleet: one row per meter, paged, sorted and filtered",
        description=(
            "Each meter that has stored readings: the variables it sends, when it was last "
            "seen, its cadence, its readings and flagged readings in the last hour and its "
            "health now (the flagged share of that hour against the health thresholds, or "
            "silent). Sorting, filtering and paging happen in storage, so a page stays fast "
            f"with thousands of meters. Pages of at most {MAX_FLEET_PAGE}; ties are ordered "
            "by meter id and meters lacking the sorted value come last. Every parameter out "
            "of its rules is a 422 naming it."
        ),
        dependencies=list(dependencies),
        responses=responses,
    )
    def list_meters(
        page: Annotated[int, Query(ge=1, le=1_000_000, description="page number, from 1")] = 1,
        page_size: Annotated[
            int, Query(ge=1, le=MAX_FLEET_PAGE, description="meters per page")
        ] = 50,
        sort: Annotated[
            FleetSort,
            Query(description=f"column to sort by: {', '.join(FLEET_SORTS)}"),
        ] = "meter_id",
        order: Annotated[Literal["asc", "desc"], Query(description="sort direction")] = "asc",
        q: Annotated[
            str,
            Query(
                max_length=MAX_CONTAINS,
                pattern=r"^[^\x00-\x1f\x7f]*$",
                description="keep meters whose id contains this text (any case)",
            ),
        ] = "",
        health: Annotated[
            FleetHealth | None,
            Query(description="keep meters whose health now is this one"),
        ] = None,
    ) -> MeterPage:
        query = FleetQuery(
            page=page,
            page_size=page_size,
            sort=sort,
            descending=order == "desc",
            meter_contains=q,
            health=health,
        )
        try:
            return MeterPage.of(application.meters_overview(query))
        except unavailable_errors() as _:
            raise unavailable() from None

    return router
