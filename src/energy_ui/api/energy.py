"""GET /api/v1/energy: what each meter consumed, its demand, what it cost and what the
costliest anomalies cost, over a window (``energy_core.energy``, docs/energy.md).

The same models are ``smartenergy energy --json``'s shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from pydantic import BaseModel, Field, StringConstraints

from energy_core.energy import (
    PERIODS,
    AnomalyCost,
    Cost,
    Demand,
    EnergySummary,
    Period,
    PeriodEnergy,
    Source,
)
from energy_core.telemetry.validation import METER_ID_PATTERN
from energy_ui.bootstrap import Application, unavailable_errors
from energy_ui.energy_views import (
    MAX_DAYS,
    TOP_ANOMALIES,
    WindowError,
    energy_summary,
    finite,
    meter_lines,
    parse_instant,
)

MAX_METERS = 100
MAX_TOP = 100
MeterId = Annotated[str, StringConstraints(pattern=METER_ID_PATTERN)]


# --- what the route answers -----------------------------------------------------------------
class PeriodOut(BaseModel):
    label: str = Field(
        description="the local period: 2025-06-02 (day), 2025-06-02T08:00+02:00 (hour), "
        "2025-W23 (ISO week), 2025-06 (month)"
    )
    start: datetime = Field(description="from, inclusive (UTC; the first cut to the window)")
    end: datetime = Field(description="until, exclusive (UTC; the last cut to the window)")
    import_kwh: float = Field(description="imported energy, kWh")
    export_kwh: float = Field(description="exported energy, kWh")
    after_gap_kwh: float = Field(
        description="of those, read from a register after a gap (timing unknown), kWh"
    )
    coverage: float = Field(
        description="share of the period the imported energy's source covers, 0–1 (the "
        "meters' mean in a total)"
    )

    @classmethod
    def of(cls, period: PeriodEnergy) -> PeriodOut:
        return cls(
            label=period.label,
            start=period.start,
            end=period.end,
            import_kwh=period.import_kwh,
            export_kwh=period.export_kwh,
            after_gap_kwh=period.after_gap_kwh,
            coverage=period.coverage,
        )


class CurvePointOut(BaseModel):
    start: datetime = Field(description="the demand interval's start (UTC)")
    kw: float | None = Field(description="its mean imported power, kW; null: not covered enough")


class DemandOut(BaseModel):
    interval_minutes: int = Field(description="the demand interval (billing), minutes")
    intervals: int = Field(description="intervals covered enough to count")
    peak_kw: float | None = Field(description="highest interval mean power, kW (billed peak)")
    peak_at: datetime | None = Field(description="when the peak interval began (UTC)")
    baseload_kw: float | None = Field(description="5th percentile of the interval means, kW")
    mean_kw: float | None = Field(description="mean of the interval means, kW")
    load_factor: float | None = Field(description="mean over peak, 0–1 (1: a flat load)")
    low_power_factor_time_share: float | None = Field(
        description="share of the time with a known power factor below the limit, 0–1; "
        "null without a known power factor"
    )
    low_power_factor_energy_share: float | None = Field(
        description="share of the imported energy in that time, 0–1"
    )
    curve: list[CurvePointOut] | None = Field(
        None, description="the demand curve, interval by interval (the total's only)"
    )

    @classmethod
    def of(cls, demand: Demand, *, curve: bool = False) -> DemandOut:
        return cls(
            interval_minutes=int(demand.interval.total_seconds() // 60),
            intervals=demand.intervals,
            peak_kw=finite(demand.peak_kw),
            peak_at=demand.peak_at,
            baseload_kw=finite(demand.baseload_kw),
            mean_kw=finite(demand.mean_kw),
            load_factor=finite(demand.load_factor),
            low_power_factor_time_share=demand.low_power_factor_time_share,
            low_power_factor_energy_share=demand.low_power_factor_energy_share,
            curve=[CurvePointOut(start=at, kw=finite(kw)) for at, kw in demand.curve()]
            if curve
            else None,
        )


class EnergyChargeOut(BaseModel):
    tariff: str
    period: str = Field(description="the tariff's period (base: its own price)")
    price: float = Field(description="per kWh")
    kwh: float
    amount: float


class DemandChargeOut(BaseModel):
    month: str = Field(description="the calendar month, YYYY-MM")
    peak_kw: float | None = Field(description="the month's peak within the window, kW")
    peak_at: datetime | None
    rate: float = Field(description="per kW")
    share: float = Field(description="share of the month inside the window, 0–1")
    amount: float | None


class CostOut(BaseModel):
    currency: str
    energy: list[EnergyChargeOut] = Field(description="energy charges by tariff and period")
    demand: list[DemandChargeOut] = Field(description="demand charges by month")
    unpriced_kwh: float = Field(description="imported while no tariff was in force")
    energy_amount: float
    demand_amount: float
    total: float

    @classmethod
    def of(cls, cost: Cost) -> CostOut:
        return cls(
            currency=cost.currency,
            energy=[
                EnergyChargeOut(
                    tariff=charge.tariff,
                    period=charge.period,
                    price=charge.price,
                    kwh=charge.kwh,
                    amount=charge.amount,
                )
                for charge in cost.energy
            ],
            demand=[
                DemandChargeOut(
                    month=charge.month,
                    peak_kw=finite(charge.peak_kw),
                    peak_at=charge.peak_at,
                    rate=charge.rate,
                    share=charge.share,
                    amount=finite(charge.amount),
                )
                for charge in cost.demand
            ],
            unpriced_kwh=cost.unpriced_kwh,
            energy_amount=cost.energy_amount,
            demand_amount=cost.demand_amount,
            total=cost.total,
        )


class MeterEnergyOut(BaseModel):
    meter_id: str
    import_source: Source | None = Field(
        description="where imported energy came from: counter (the register), power "
        "(integrated active power) or null"
    )
    export_source: Source | None
    import_kwh: float
    export_kwh: float
    periods: list[PeriodOut]
    demand: DemandOut | None
    cost: CostOut | None = Field(
        description="its own cost, the demand charge on its own peak; null without tariffs"
    )


class AnomalyOut(BaseModel):
    meter_id: str
    key: str = Field(description="the incident alert's key")
    start: datetime
    end: datetime = Field(description="its end (now while it is open)")
    actual_kwh: float | None = Field(description="imported while data covered it")
    expected_kwh: float | None = Field(description="by the meter's hour-of-week baseline")
    excess_kwh: float | None = Field(description="actual minus expected; null: unknown")
    cost: float | None = Field(description="the excess at the tariff; null: unknown")
    currency: str | None
    baseline_weeks: int = Field(description="fewest previous weeks behind its baseline")

    @classmethod
    def of(cls, item: AnomalyCost) -> AnomalyOut:
        return cls(
            meter_id=item.incident.meter_id,
            key=item.incident.key,
            start=item.incident.start,
            end=item.incident.end,
            actual_kwh=finite(item.actual_kwh),
            expected_kwh=finite(item.expected_kwh),
            excess_kwh=finite(item.excess_kwh),
            cost=finite(item.cost),
            currency=item.currency,
            baseline_weeks=item.baseline_weeks,
        )


class EnergyOut(BaseModel):
    start: datetime
    end: datetime
    period: Period
    timezone: str = Field(description="the time zone of the periods (ENERGY_TIMEZONE)")
    import_kwh: float = Field(description="imported energy of every meter asked for, kWh")
    export_kwh: float
    total: list[PeriodOut] = Field(description="the meters' sum, period by period")
    demand: DemandOut = Field(description="the meters together (one supply point)")
    cost: CostOut | None = Field(
        description="the meters together, the demand charge on their joint peak; null "
        "without tariffs (ENERGY_TARIFFS)"
    )
    meters: list[MeterEnergyOut]
    anomalies: list[AnomalyOut] = Field(description="the costliest incidents, costliest first")

    @classmethod
    def of(cls, summary: EnergySummary) -> EnergyOut:
        used = summary.consumption
        return cls(
            start=summary.start,
            end=summary.end,
            period=used.period,
            timezone=used.timezone,
            import_kwh=used.import_kwh,
            export_kwh=used.export_kwh,
            total=[PeriodOut.of(period) for period in used.total],
            demand=DemandOut.of(summary.total_demand, curve=True),
            cost=CostOut.of(summary.total_cost) if summary.total_cost is not None else None,
            meters=[
                MeterEnergyOut(
                    meter_id=line.meter_id,
                    import_source=line.consumption.import_source,
                    export_source=line.consumption.export_source,
                    import_kwh=line.consumption.import_kwh,
                    export_kwh=line.consumption.export_kwh,
                    periods=[PeriodOut.of(period) for period in line.consumption.periods],
                    demand=DemandOut.of(line.demand) if line.demand is not None else None,
                    cost=CostOut.of(line.cost) if line.cost is not None else None,
                )
                for line in meter_lines(summary)
            ],
            anomalies=[AnomalyOut.of(item) for item in summary.anomalies],
        )


# --- the route ------------------------------------------------------------------------------
def _invalid(error: WindowError, value: object) -> RequestValidationError:
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("query", error.field),
                "msg": error.reason,
                "input": value,
            }
        ]
    )


def energy_router(
    application: Application,
    *,
    dependencies: Sequence[Depends],
    responses: dict[int | str, dict[str, Any]],
    unavailable: Callable[[], HTTPException],
) -> APIRouter:
    """The route, under the read guard and answers of the other read routes."""
    router = APIRouter()
    timezone = application.settings.timezone

    @router.get(
        "/api/v1/energy",
        response_model=EnergyOut,
        tags=["energy"],
        summary="Consumption, demand, cost and the costliest anomalies over a window",
        description=(
            "Imported and exported kWh per meter and in total by `period` (calendar hours, "
            "days, ISO weeks or months of ENERGY_TIMEZONE), the 15-minute demand (billed "
            "peak, baseload, load factor, low power factor) with the total's curve, the cost "
            "at the tariffs of ENERGY_TARIFFS (null without them) and the costliest incidents "
            "with the energy they used above the meter's usual profile. `start` and `end` "
            "are ISO 8601: a date is local midnight of ENERGY_TIMEZONE, a date-time without "
            f"an offset local time there. At most {MAX_DAYS} days; every parameter out of "
            "its rules is a 422 naming it. Computed from the per-minute rollups; see "
            "docs/energy.md."
        ),
        dependencies=list(dependencies),
        responses=responses,
    )
    def energy(
        start: Annotated[
            str,
            Query(
                min_length=1, max_length=40, description="from, inclusive (ISO 8601 date or time)"
            ),
        ],
        end: Annotated[
            str,
            Query(
                min_length=1, max_length=40, description="until, exclusive (ISO 8601 date or time)"
            ),
        ],
        meter: Annotated[
            list[MeterId] | None,
            Query(
                max_length=MAX_METERS,
                description=f"meter id, repeatable (up to {MAX_METERS}); none: every meter",
            ),
        ] = None,
        period: Annotated[
            Period, Query(description=f"consumption by: {', '.join(PERIODS)}")
        ] = "day",
        top: Annotated[
            int, Query(ge=0, le=MAX_TOP, description="how many of the costliest anomalies")
        ] = TOP_ANOMALIES,
    ) -> EnergyOut:
        try:
            begins = parse_instant(start, timezone, "start")
            ends = parse_instant(end, timezone, "end")
            summary = energy_summary(
                application, begins, ends, meters=tuple(meter or ()), period=period, top=top
            )
        except WindowError as error:
            raise _invalid(error, start if error.field == "start" else end) from None
        except unavailable_errors() as _:
            raise unavailable() from None
        return EnergyOut.of(summary)

    return router
