"""What energy cost at a tariff schedule: imported kWh at the price in force when they were
used, plus each month's demand charge.

Exported energy is not priced (no feed-in credit), and a meter's own cost puts the demand
charge on its own peak, the total's on the peak of the meters together (one supply point):
the total's cost is therefore not the sum of the meters'.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from energy_core.energy.consumption import EnergyBins, EnergyIntegrator, as_series_map
from energy_core.energy.demand import Demand, demand_edges, demand_from_bins
from energy_core.energy.series import MeterSeries
from energy_core.energy.settings import EnergySettings
from energy_core.energy.tariffs import DemandCharge, PriceIntervals, TariffSchedule


@dataclass(frozen=True, slots=True)
class EnergyCharge:
    """Imported ``kwh`` at one ``price`` (per kWh) of one ``period`` of one ``tariff``."""

    tariff: str
    period: str
    price: float
    kwh: float
    amount: float


@dataclass(frozen=True, slots=True)
class Cost:
    """The cost of one meter (``meter_id``) or of the meters together (``None``) in
    ``currency``: energy charges by tariff and period (in the order first used), demand
    charges by month, and ``unpriced_kwh``, imported while no tariff was in force (not in
    any amount)."""

    meter_id: str | None
    currency: str
    energy: tuple[EnergyCharge, ...]
    demand: tuple[DemandCharge, ...]
    unpriced_kwh: float

    @property
    def energy_amount(self) -> float:
        return float(sum(charge.amount for charge in self.energy))

    @property
    def demand_amount(self) -> float:
        return float(sum(charge.amount for charge in self.demand if not math.isnan(charge.amount)))

    @property
    def total(self) -> float:
        return self.energy_amount + self.demand_amount


def energy_charges(
    imported_kwh: np.ndarray, intervals: PriceIntervals, schedule: TariffSchedule
) -> tuple[tuple[EnergyCharge, ...], float]:
    """Imported energy per price interval (``imported_kwh``, aligned with ``intervals``)
    as charges grouped by tariff and period, and the kWh no tariff priced."""
    grouped: dict[tuple[int, int], float] = {}
    unpriced = 0.0
    for tariff_index, period, kwh in zip(
        intervals.tariff.tolist(), intervals.period.tolist(), imported_kwh.tolist(), strict=True
    ):
        if tariff_index < 0:
            unpriced += kwh
            continue
        key = (tariff_index, period)
        grouped[key] = grouped.get(key, 0.0) + kwh
    charges = []
    for (tariff_index, period), kwh in grouped.items():
        tariff = schedule.tariffs[tariff_index]
        price = float(tariff.prices()[period])
        charges.append(
            EnergyCharge(tariff.name, tariff.period_name(period), price, kwh, price * kwh)
        )
    return tuple(charges), unpriced


def costs(
    priced: Sequence[EnergyBins],
    intervals: PriceIntervals,
    meter_demand: Sequence[Demand],
    total_demand: Demand,
    schedule: TariffSchedule,
    start: datetime,
    end: datetime,
) -> tuple[list[Cost], Cost]:
    """Each meter's cost and the total's, from the meters' energy over the price
    ``intervals`` (``priced``, in the order of ``meter_demand``) and their demand curves."""
    result = []
    total_imported = np.zeros(len(intervals.tariff))
    for bins, demand in zip(priced, meter_demand, strict=True):
        total_imported += bins.import_kwh
        charges, unpriced = energy_charges(bins.import_kwh, intervals, schedule)
        monthly = schedule.demand_charges(demand.interval_starts, demand.kw, start, end)
        result.append(Cost(bins.meter_id, schedule.currency, charges, monthly, unpriced))
    charges, unpriced = energy_charges(total_imported, intervals, schedule)
    monthly = schedule.demand_charges(total_demand.interval_starts, total_demand.kw, start, end)
    return result, Cost(None, schedule.currency, charges, monthly, unpriced)


def cost(
    series: Mapping[str, MeterSeries] | Iterable[MeterSeries],
    start: datetime,
    end: datetime,
    *,
    tariffs: TariffSchedule,
    settings: EnergySettings | None = None,
) -> tuple[list[Cost], Cost]:
    """Each meter's cost (meter-id order) and the total's from ``start`` to ``end`` at
    ``tariffs`` (energy at the price in force, demand charges on the demand curves)."""
    settings = settings or EnergySettings()
    chosen = [EnergyIntegrator(item, settings) for item in as_series_map(series).values()]
    edges = demand_edges(start, end, settings)
    meter_demand, total_demand = demand_from_bins(
        [item.bins(edges) for item in chosen], edges, settings
    )
    intervals = tariffs.price_intervals(start, end)
    priced = [item.bins(intervals.edges) for item in chosen]
    return costs(priced, intervals, meter_demand, total_demand, tariffs, start, end)
