"""``EnergyInsight``: every energy figure of a window from one read of the ``EnergyQueries``
port — what the Consumption tab, the API, the CLI and the monthly report ask for."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from energy_core.energy.anomaly_cost import AnomalyCost, Incident, anomaly_cost, costliest
from energy_core.energy.calendar import Period, seconds
from energy_core.energy.consumption import (
    Consumption,
    EnergyIntegrator,
    consumption,
    consumption_of,
    energy_bins,
)
from energy_core.energy.cost import Cost, costs
from energy_core.energy.demand import Demand, demand_edges, demand_from_bins
from energy_core.energy.ports import MINUTE, EnergyQueries
from energy_core.energy.series import MeterSeries, series_from_minutes
from energy_core.energy.settings import EnergySettings
from energy_core.energy.tariffs import TariffSchedule
from energy_core.telemetry.buckets import bucket_start


def _floor_minute(moment: datetime) -> datetime:
    return bucket_start(moment, MINUTE)


def _ceil_minute(moment: datetime) -> datetime:
    floor = _floor_minute(moment)
    return floor if floor == moment else floor + MINUTE


@dataclass(frozen=True, slots=True)
class EnergySummary:
    """Everything about a window: ``consumption`` by period, ``demand`` per meter and
    ``total_demand``, ``costs`` per meter and ``total_cost`` (empty / ``None`` without a
    tariff schedule), and the costliest ``anomalies`` among the incidents given."""

    start: datetime
    end: datetime
    settings: EnergySettings
    consumption: Consumption
    demand: tuple[Demand, ...]
    total_demand: Demand
    costs: tuple[Cost, ...]
    total_cost: Cost | None
    anomalies: tuple[AnomalyCost, ...]


class EnergyInsight:
    """Energy figures over the ``EnergyQueries`` port (per-minute aggregates), in
    ``settings``' time zone, priced by ``tariffs`` when given.

    Windows are [``start``, ``end``) of aware datetimes; ``meter_ids`` empty = every meter.
    Data is read a gap limit beyond both ends, so that an interval crossing them counts.
    """

    def __init__(
        self,
        queries: EnergyQueries,
        *,
        settings: EnergySettings | None = None,
        tariffs: TariffSchedule | None = None,
    ) -> None:
        self.queries = queries
        self.settings = settings or EnergySettings()
        self.tariffs = tariffs

    def series(
        self, start: datetime, end: datetime, meter_ids: Sequence[str] = ()
    ) -> dict[str, MeterSeries]:
        """Each meter's series for [``start``, ``end``), read a gap limit beyond both."""
        seconds(start, "start")  # aware, or a clear error
        seconds(end, "end")
        gap = self.settings.gap_limit
        read_from, read_to = _floor_minute(start - gap), _ceil_minute(end + gap)
        return {
            minutes.meter_id: series_from_minutes(minutes)
            for minutes in self.queries.minutes(read_from, read_to, tuple(meter_ids))
        }

    def consumption(
        self,
        start: datetime,
        end: datetime,
        *,
        period: Period = "day",
        meter_ids: Sequence[str] = (),
    ) -> Consumption:
        """Imported and exported kWh per meter and in total, by ``period``."""
        return consumption(
            self.series(start, end, meter_ids), start, end, period=period, settings=self.settings
        )

    def demand(
        self, start: datetime, end: datetime, *, meter_ids: Sequence[str] = ()
    ) -> tuple[list[Demand], Demand]:
        """Each meter's demand and the total's."""
        series = self.series(start, end, meter_ids)
        edges = demand_edges(start, end, self.settings)
        bins = [energy_bins(item, edges, self.settings) for item in series.values()]
        return demand_from_bins(bins, edges, self.settings)

    def costs(
        self, start: datetime, end: datetime, *, meter_ids: Sequence[str] = ()
    ) -> tuple[list[Cost], Cost]:
        """Each meter's cost and the total's; ``ValueError`` without a tariff schedule."""
        summary = self.summary(start, end, meter_ids=meter_ids)
        if summary.total_cost is None:
            raise ValueError("no tariff schedule: costs need tariffs")
        return list(summary.costs), summary.total_cost

    def anomaly_costs(
        self, incidents: Iterable[Incident], *, top: int | None = None
    ) -> list[AnomalyCost]:
        """What each incident cost, costliest first (the first ``top``). Each meter's data
        is read once, from ``baseline_weeks`` before its first incident."""
        by_meter: dict[str, list[Incident]] = defaultdict(list)
        for incident in incidents:
            by_meter[incident.meter_id].append(incident)
        found: list[AnomalyCost] = []
        history = timedelta(weeks=self.settings.baseline_weeks)
        for meter_id, items in sorted(by_meter.items()):
            first = min(item.start for item in items)
            last = max(item.end for item in items)
            read = self.series(first - history, last, (meter_id,))
            series = read.get(meter_id) or MeterSeries.empty(meter_id)
            found.extend(
                anomaly_cost(item, series, settings=self.settings, tariffs=self.tariffs)
                for item in items
            )
        return costliest(found, top)

    def summary(
        self,
        start: datetime,
        end: datetime,
        *,
        period: Period = "day",
        meter_ids: Sequence[str] = (),
        incidents: Iterable[Incident] = (),
        top: int | None = 10,
    ) -> EnergySummary:
        """Consumption by ``period``, demand, costs (with tariffs) and the ``top`` costliest
        of ``incidents`` (those of the meters asked for that overlap the window)."""
        series = self.series(start, end, meter_ids)
        integrators = [EnergyIntegrator(item, self.settings) for item in series.values()]
        used = consumption_of(integrators, start, end, period=period, settings=self.settings)
        edges = demand_edges(start, end, self.settings)
        demand_bins = [integrator.bins(edges) for integrator in integrators]
        meter_demand, total_demand = demand_from_bins(demand_bins, edges, self.settings)
        meter_costs: list[Cost] = []
        total_cost = None
        if self.tariffs is not None:
            intervals = self.tariffs.price_intervals(start, end)
            priced = [integrator.bins(intervals.edges) for integrator in integrators]
            meter_costs, total_cost = costs(
                priced, intervals, meter_demand, total_demand, self.tariffs, start, end
            )
        wanted = set(meter_ids)
        chosen = [
            item
            for item in incidents
            if (not wanted or item.meter_id in wanted) and item.start < end and item.end >= start
        ]
        return EnergySummary(
            start=start,
            end=end,
            settings=self.settings,
            consumption=used,
            demand=tuple(meter_demand),
            total_demand=total_demand,
            costs=tuple(meter_costs),
            total_cost=total_cost,
            anomalies=tuple(self.anomaly_costs(chosen, top=top)),
        )
