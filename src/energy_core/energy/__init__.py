"""Energy insight: what each meter consumed, its demand, what it cost by tariff, and what each
anomaly cost. Pure: reads come through the ``EnergyQueries`` port (per-minute aggregates).

Typical use::

    insight = EnergyInsight(queries, settings=EnergySettings(timezone="Europe/Madrid"),
                            tariffs=load_tariffs("tariffs.toml"))
    summary = insight.summary(start, end, period="day", incidents=incidents)
    summary.consumption.total        # kWh by day
    summary.total_demand.peak_kw     # the billed peak
    summary.total_cost.total         # in the schedule's currency
    summary.anomalies[0].cost        # the costliest incident

The pure functions behind it (``consumption``, ``demand``, ``anomaly_cost``, ``costs``) take
``MeterSeries``, built from readings (``series_from_readings``, exact instants) or from the
per-minute aggregates (``series_from_minutes``). See docs/energy.md for how each figure is
computed and its limits.
"""

from energy_core.energy.anomaly_cost import (
    HOURS_OF_WEEK,
    AnomalyCost,
    Incident,
    anomaly_cost,
    costliest,
    hour_of_week,
    hour_of_week_baseline,
    incidents_from_alerts,
)
from energy_core.energy.calendar import PERIODS, CalendarPeriod, Period, calendar_periods
from energy_core.energy.consumption import (
    Consumption,
    Direction,
    EnergyBins,
    EnergyIntegrator,
    MeterConsumption,
    PeriodEnergy,
    Source,
    consumption,
    consumption_of,
    energy_bins,
)
from energy_core.energy.cost import Cost, EnergyCharge, cost, costs
from energy_core.energy.demand import Demand, demand, demand_edges, interval_means
from energy_core.energy.insight import EnergyInsight, EnergySummary
from energy_core.energy.ports import (
    ENERGY_VARIABLES,
    REGISTERS,
    EnergyQueries,
    MeterMinutes,
    VariableMinutes,
    check_minute_window,
)
from energy_core.energy.series import (
    MeterSeries,
    Samples,
    aggregate_minutes,
    series_from_minutes,
    series_from_readings,
)
from energy_core.energy.settings import EnergySettings
from energy_core.energy.tariffs import (
    BASE_PERIOD,
    DAY_NAMES,
    DemandCharge,
    PriceIntervals,
    Tariff,
    TariffError,
    TariffPeriod,
    TariffSchedule,
    load_tariffs,
    parse_tariffs,
    tariffs_from_mapping,
)

__all__ = [
    "BASE_PERIOD",
    "DAY_NAMES",
    "ENERGY_VARIABLES",
    "HOURS_OF_WEEK",
    "PERIODS",
    "REGISTERS",
    "AnomalyCost",
    "CalendarPeriod",
    "Consumption",
    "Cost",
    "Demand",
    "DemandCharge",
    "Direction",
    "EnergyBins",
    "EnergyCharge",
    "EnergyInsight",
    "EnergyIntegrator",
    "EnergyQueries",
    "EnergySettings",
    "EnergySummary",
    "Incident",
    "MeterConsumption",
    "MeterMinutes",
    "MeterSeries",
    "Period",
    "PeriodEnergy",
    "PriceIntervals",
    "Samples",
    "Source",
    "Tariff",
    "TariffError",
    "TariffPeriod",
    "TariffSchedule",
    "VariableMinutes",
    "aggregate_minutes",
    "anomaly_cost",
    "calendar_periods",
    "check_minute_window",
    "consumption",
    "consumption_of",
    "cost",
    "costliest",
    "costs",
    "demand",
    "demand_edges",
    "energy_bins",
    "hour_of_week",
    "hour_of_week_baseline",
    "incidents_from_alerts",
    "interval_means",
    "load_tariffs",
    "parse_tariffs",
    "series_from_minutes",
    "series_from_readings",
    "tariffs_from_mapping",
]
