"""Demand: peak demand as billed, baseload, load factor, and low power factor.

- **Interval mean power**: the imported energy of each whole demand interval (15 minutes by
  default, aligned to the wall clock) over the time its data covers, in kW; an interval
  covered less than ``min_coverage`` has none (NaN). Register energy read after a gap never
  counts here (its timing is unknown).
- **Peak demand**: the highest interval mean, and when its interval started.
- **Baseload**: the ``baseload_percentile`` (5th by default) of the interval means: what the
  site draws when little runs. A percentile rather than the night-time minimum: it needs no
  idea of when night is, and one odd interval cannot set it.
- **Load factor**: the mean of the interval means over the peak (1 = flat load).
- **Low power factor**: the share of time, and of imported energy, whose power factor
  (absolute) is below ``power_factor_limit``, among the time whose power factor is known
  (from the meter's power factor, else from active and reactive power).

The total of several meters adds their interval means (a meter not covered in an interval
adds nothing to it); an interval counts for the total when the meters' covered time reaches
``min_coverage`` of the time they could have covered.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from energy_core.energy.calendar import clock_intervals, instant
from energy_core.energy.consumption import KWS_PER_KWH, EnergyBins, as_series_map, energy_bins
from energy_core.energy.ports import FloatArray
from energy_core.energy.series import MeterSeries
from energy_core.energy.settings import EnergySettings


@dataclass(frozen=True, slots=True, eq=False)
class Demand:
    """The demand of one meter (``meter_id``) or of several together (``None``).

    ``interval_starts`` (epoch seconds) and ``kw`` are the demand curve: each whole interval
    of the window and its mean power (NaN: not covered enough). ``peak_kw`` / ``peak_at``,
    ``baseload_kw``, ``mean_kw`` and ``load_factor`` are over the covered intervals (NaN /
    ``None`` when there is none). ``low_power_factor_time_share`` and
    ``..._energy_share`` are 0–1, ``None`` without a known power factor.
    """

    meter_id: str | None
    interval: timedelta
    interval_starts: FloatArray
    kw: FloatArray
    peak_kw: float
    peak_at: datetime | None
    baseload_kw: float
    mean_kw: float
    load_factor: float
    low_power_factor_time_share: float | None
    low_power_factor_energy_share: float | None

    @property
    def intervals(self) -> int:
        """How many intervals are covered enough to count."""
        return int(np.count_nonzero(~np.isnan(self.kw)))

    def curve(self) -> list[tuple[datetime, float]]:
        """The demand curve as (interval start, kW) pairs; NaN where not covered."""
        pairs = zip(self.interval_starts, self.kw, strict=True)
        return [(instant(at), float(kw)) for at, kw in pairs]


def _share(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _factor_sums(bins: EnergyBins) -> FloatArray:
    return np.array(
        [
            bins.power_factor_known_s.sum(),
            bins.power_factor_low_s.sum(),
            bins.power_factor_known_kwh.sum(),
            bins.power_factor_low_kwh.sum(),
        ]
    )


def _summarise(
    meter_id: str | None,
    edges: FloatArray,
    kw: FloatArray,
    factor_sums: FloatArray,
    settings: EnergySettings,
) -> Demand:
    starts = edges[:-1]
    counted = kw[~np.isnan(kw)]
    known_s, low_s, known_kwh, low_kwh = (float(value) for value in factor_sums)
    if len(counted):
        peak_index = int(np.nanargmax(kw))
        peak, peak_at = float(kw[peak_index]), instant(starts[peak_index])
        baseload = float(np.percentile(counted, settings.baseload_percentile))
        mean = float(np.mean(counted))
        load_factor = mean / peak if peak > 0 else math.nan
    else:
        peak, peak_at, baseload, mean, load_factor = math.nan, None, math.nan, math.nan, math.nan
    return Demand(
        meter_id=meter_id,
        interval=settings.demand_interval,
        interval_starts=starts,
        kw=kw,
        peak_kw=peak,
        peak_at=peak_at,
        baseload_kw=baseload,
        mean_kw=mean,
        load_factor=load_factor,
        low_power_factor_time_share=_share(low_s, known_s),
        low_power_factor_energy_share=_share(low_kwh, known_kwh),
    )


def interval_means(bins: EnergyBins, settings: EnergySettings) -> FloatArray:
    """Each interval's mean imported power (kW) over its covered time; NaN where covered
    less than ``min_coverage``. Register energy read after a gap is left out."""
    width = np.diff(bins.edges)
    placed = bins.import_kwh - bins.import_after_gap_kwh
    enough = bins.covered_s >= settings.min_coverage * width - 1e-6
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = placed * KWS_PER_KWH / bins.covered_s
    return np.where(enough & (bins.covered_s > 0), mean, np.nan)


def demand_edges(start: datetime, end: datetime, settings: EnergySettings) -> FloatArray:
    """The edges of the whole demand intervals inside [``start``, ``end``)."""
    return clock_intervals(start, end, settings.demand_interval, settings.timezone)


def demand(
    series: Mapping[str, MeterSeries] | Iterable[MeterSeries],
    start: datetime,
    end: datetime,
    *,
    settings: EnergySettings | None = None,
) -> tuple[list[Demand], Demand]:
    """Each meter's demand (meter-id order) and the total's, over the whole demand
    intervals from ``start`` to ``end``."""
    settings = settings or EnergySettings()
    edges = demand_edges(start, end, settings)
    return demand_from_bins(
        [energy_bins(item, edges, settings) for item in as_series_map(series).values()],
        edges,
        settings,
    )


def demand_from_bins(
    all_bins: Sequence[EnergyBins], edges: FloatArray, settings: EnergySettings
) -> tuple[list[Demand], Demand]:
    """``demand`` from the meters' energy over the demand interval ``edges``."""
    intervals = max(len(edges) - 1, 0)
    width = np.diff(edges) if intervals else np.zeros(0)
    total = np.zeros(intervals)
    covered = np.zeros(intervals)
    possible = np.zeros(intervals)
    total_factor = np.zeros(4)
    meters = []
    for bins in all_bins:
        kw = interval_means(bins, settings)
        factor = _factor_sums(bins)
        total_factor += factor
        meters.append(_summarise(bins.meter_id, edges, kw, factor, settings))
        if bins.import_source is not None:
            total += np.nan_to_num(kw)
            covered += np.minimum(bins.covered_s, width)
            possible += width
    enough = (possible > 0) & (covered >= settings.min_coverage * possible - 1e-6)
    total_kw = np.where(enough, total, np.nan)
    return meters, _summarise(None, edges, total_kw, total_factor, settings)
