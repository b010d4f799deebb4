"""What an anomaly cost: the energy a meter used above its usual profile during an incident,
and that energy at the tariff.

- **Baseline**: for each hour of the week (Monday 00:00–01:00 … Sunday 23:00–24:00, local
  time of ``settings.timezone``), the median of the meter's mean imported power in that same
  hour over the ``baseline_weeks`` weeks before the incident began (hours covered less than
  ``min_coverage`` left out). A median: earlier incidents in those weeks barely move it.
- **Excess**: minute by minute during the incident, the imported energy minus the baseline
  over the time data covers; summed. Negative when the meter used less than usual.
- **Cost**: each minute's excess at the price in force then, summed (demand charges left
  out: an incident may or may not set the month's peak).

Unknown (NaN) when no data covers the incident (nothing is known of what it used), when an
hour of it has no baseline (too little history) or, for the cost, when no tariff is in
force.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from energy_core.alerts.model import Alert, AlertKind
from energy_core.energy.calendar import (
    FIRST_MONDAY_S,
    calendar_periods,
    check_zone,
    seconds,
    utc_offsets,
)
from energy_core.energy.consumption import KWS_PER_KWH, energy_bins
from energy_core.energy.demand import interval_means
from energy_core.energy.ports import FloatArray, IntArray
from energy_core.energy.series import MeterSeries
from energy_core.energy.settings import EnergySettings
from energy_core.energy.tariffs import TariffSchedule

HOURS_OF_WEEK = 168


@dataclass(frozen=True, slots=True)
class Incident:
    """An anomaly of one meter from ``start`` to ``end`` (aware instants); ``key`` names
    it (an alert's key)."""

    meter_id: str
    start: datetime
    end: datetime
    key: str = ""

    def __post_init__(self) -> None:
        if seconds(self.end, "end") < seconds(self.start, "start"):
            raise ValueError(
                f"end {self.end.isoformat()}: must not be before start {self.start.isoformat()}"
            )


def incidents_from_alerts(alerts: Iterable[Alert], now: datetime) -> list[Incident]:
    """The incidents among ``alerts`` (kind ``incident``, with a meter); one still open ends
    ``now``."""
    return [
        Incident(alert.meter_id, alert.started_at, alert.ended_at or now, alert.key)
        for alert in alerts
        if alert.kind == AlertKind.INCIDENT and alert.meter_id is not None
    ]


@dataclass(frozen=True, slots=True)
class AnomalyCost:
    """What ``incident`` cost: ``actual_kwh`` imported while data covered it,
    ``expected_kwh`` by the baseline over the same time, ``excess_kwh`` the difference,
    ``cost`` its price (in ``currency``; NaN: unknown), ``baseline_weeks`` the fewest
    previous weeks any hour of the incident had a baseline from."""

    incident: Incident
    actual_kwh: float
    expected_kwh: float
    excess_kwh: float
    cost: float
    currency: str | None
    baseline_weeks: int


def hour_of_week(epoch_seconds: FloatArray, timezone: str) -> IntArray:
    """The local hour of the week (0 = Monday 00:00–01:00 … 167) at each instant."""
    local = epoch_seconds + utc_offsets(epoch_seconds, check_zone(timezone))
    return (np.floor((local - FIRST_MONDAY_S) / 3600.0).astype(np.int64)) % HOURS_OF_WEEK


def hour_of_week_baseline(
    series: MeterSeries, before: datetime, settings: EnergySettings
) -> tuple[FloatArray, IntArray]:
    """The median mean imported power (kW) of each hour of the week over the
    ``baseline_weeks`` weeks before ``before`` (NaN: no covered hour), and how many
    hours each median is over."""
    history = calendar_periods(
        before - timedelta(weeks=settings.baseline_weeks), before, "hour", settings.timezone
    )
    medians = np.full(HOURS_OF_WEEK, np.nan)
    counts = np.zeros(HOURS_OF_WEEK, dtype=np.int64)
    if not history:
        return medians, counts
    edges = np.array([seconds(p.start) for p in history] + [seconds(history[-1].end)])
    means = interval_means(energy_bins(series, edges, settings), settings)
    slots = hour_of_week(edges[:-1], settings.timezone)
    known = ~np.isnan(means)
    for slot in np.unique(slots[known]):
        values = means[known & (slots == slot)]
        medians[slot] = float(np.median(values))
        counts[slot] = len(values)
    return medians, counts


def anomaly_cost(
    incident: Incident,
    series: MeterSeries,
    *,
    settings: EnergySettings | None = None,
    tariffs: TariffSchedule | None = None,
) -> AnomalyCost:
    """The excess energy and cost of ``incident`` from its meter's ``series`` (which must
    reach ``baseline_weeks`` before the incident)."""
    settings = settings or EnergySettings()
    medians, counts = hour_of_week_baseline(series, incident.start, settings)
    low, high = seconds(incident.start), seconds(incident.end)
    minutes = np.arange(math.floor(low / 60) * 60 + 60, high, 60.0)
    edges = np.concatenate(([low], minutes, [high])) if high > low else np.array([low, low])
    bins = energy_bins(series, edges, settings)
    actual = bins.import_kwh - bins.import_after_gap_kwh
    slots = hour_of_week(edges[:-1], settings.timezone)
    covered = bins.covered_s > 0
    baseline = medians[slots]
    expected = baseline * bins.covered_s / KWS_PER_KWH
    known = covered.any() and not np.isnan(baseline[covered]).any()
    excess = actual - expected
    actual_kwh = float(actual.sum()) if covered.any() else math.nan
    expected_kwh = float(expected[covered].sum()) if known else math.nan
    excess_kwh = actual_kwh - expected_kwh
    cost = math.nan
    if tariffs is not None and known:
        _, _, price = tariffs.classify(edges[:-1])
        if not np.isnan(price[covered]).any():
            cost = float(np.sum(np.where(covered, excess * np.nan_to_num(price), 0.0)))
    weeks = int(counts[slots[covered]].min()) if covered.any() else 0
    return AnomalyCost(
        incident=incident,
        actual_kwh=actual_kwh,
        expected_kwh=expected_kwh,
        excess_kwh=excess_kwh,
        cost=cost,
        currency=tariffs.currency if tariffs is not None else None,
        baseline_weeks=weeks,
    )


def costliest(costs: Sequence[AnomalyCost], top: int | None = None) -> list[AnomalyCost]:
    """``costs`` from the costliest down (by cost, then by excess energy; unknown ones
    last), the first ``top`` of them."""

    def key(item: AnomalyCost) -> tuple[bool, float, bool, float]:
        return (
            math.isnan(item.cost),
            -item.cost if not math.isnan(item.cost) else 0.0,
            math.isnan(item.excess_kwh),
            -item.excess_kwh if not math.isnan(item.excess_kwh) else 0.0,
        )

    ordered = sorted(costs, key=key)
    return ordered if top is None else ordered[:top]
