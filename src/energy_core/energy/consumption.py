"""Energy between instants, per meter, and consumption by calendar period.

How each direction (imported, exported) is measured, per meter:

- **From the register** when the meter sends one (``energy_import`` / ``energy_export``,
  two samples or more): the increase between consecutive samples, spread evenly between
  them. A drop is a reset (or a rollover): the energy after it is counted from the new value,
  nothing is counted across the drop. Across a gap (samples farther apart than the gap
  limit) the register's increase is real energy whose timing is unknown: it is counted at
  the sample that ends the gap, in ``after_gap_kwh`` too, and never used for demand.
- **From active power** otherwise: the trapezoid over each interval between consecutive
  samples (power varying linearly between them), positive parts imported, negative parts
  exported (split exactly where the line crosses zero). An interval longer than the gap
  limit contributes nothing: gaps are not filled with invented energy.

Every figure is exact for any edges, since the integral of each piece is known in closed
form (``energy_bins``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import numpy as np

from energy_core.energy.calendar import CalendarPeriod, Period, calendar_periods, seconds
from energy_core.energy.ports import FloatArray, IntArray
from energy_core.energy.series import MeterSeries, Samples
from energy_core.energy.settings import EnergySettings

Source = Literal["counter", "power"]
Direction = Literal["import", "export"]
KWS_PER_KWH = 3600.0


def _plain_integral(a: FloatArray, b: FloatArray, d: FloatArray, x: FloatArray) -> FloatArray:
    """∫₀ˣ of the line from ``a`` (at 0) to ``b`` (at ``d``)."""
    return a * x + (b - a) * x * x / (2.0 * d)


def _positive_integral(a: FloatArray, b: FloatArray, d: FloatArray, x: FloatArray) -> FloatArray:
    """∫₀ˣ of the positive part of the line from ``a`` (at 0) to ``b`` (at ``d``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(a != b, a * d / (a - b), 0.0)
    result = np.where((a >= 0) & (b >= 0), _plain_integral(a, b, d, x), 0.0)
    falling = (a > 0) & (b < 0)
    rising = (a < 0) & (b > 0)
    result = np.where(falling, _plain_integral(a, b, d, np.minimum(x, crossing)), result)
    return np.where(
        rising,
        _plain_integral(a, b, d, np.maximum(x, crossing)) - _plain_integral(a, b, d, crossing),
        result,
    )


def _locate(times: FloatArray, at: FloatArray) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
    """For each instant of ``at``: the index of the cumulative total reached at the start
    of its piece, the piece's index (clipped), the time into it, and whether it is inside."""
    last = len(times) - 1
    piece = np.searchsorted(times, at, side="right") - 1
    inside = ((piece >= 0) & (piece < last)).astype(np.int64)
    base = np.clip(piece, 0, last)
    base = np.where(piece < 0, 0, base)
    clipped = np.clip(piece, 0, max(last - 1, 0))
    into = at - times[clipped]
    return base, clipped, into, inside


class _Power:
    """Active power ready to be integrated up to any instants: each piece's whole integrals
    and their running totals, for every set of pieces (``masks``) asked for."""

    def __init__(self, samples: Samples, masks: Sequence[np.ndarray]) -> None:
        self.times = samples.times
        self.masks = list(masks)
        self.empty = len(self.times) < 2
        if self.empty:
            return
        power = samples.values
        self.d = np.diff(self.times)
        self.a, self.b = power[:-1], power[1:]
        whole = _positive_integral(self.a, self.b, self.d, self.d)
        net = (self.a + self.b) / 2.0 * self.d
        zero = np.zeros(1)
        self.totals = [
            tuple(
                np.concatenate((zero, np.cumsum(np.where(mask, value, 0.0))))
                for value in (whole, whole - net, self.d)
            )
            for mask in self.masks
        ]

    def at(self, at: FloatArray) -> list[tuple[FloatArray, FloatArray, FloatArray]]:
        """Per mask: imported and exported energy (kWh) and covered time (s) from the first
        sample up to each instant of ``at``."""
        if self.empty:
            zero = np.zeros(len(at))
            return [(zero, zero, zero) for _ in self.masks]
        base, piece, into, inside = _locate(self.times, at)
        a, b, d = self.a[piece], self.b[piece], self.d[piece]
        part_in = _positive_integral(a, b, d, into)
        part_out = part_in - _plain_integral(a, b, d, into)
        result = []
        for mask, (cum_in, cum_out, cum_time) in zip(self.masks, self.totals, strict=True):
            counted = (inside == 1) & mask[piece]
            result.append(
                (
                    (cum_in[base] + np.where(counted, part_in, 0.0)) / KWS_PER_KWH,
                    (cum_out[base] + np.where(counted, part_out, 0.0)) / KWS_PER_KWH,
                    cum_time[base] + np.where(counted, into, 0.0),
                )
            )
        return result


class _Register:
    """An energy register ready to be integrated up to any instants (the module's rules)."""

    def __init__(self, samples: Samples, gap_limit_s: float) -> None:
        self.times = samples.times
        self.empty = len(self.times) < 2
        if self.empty:
            return
        self.d = np.diff(self.times)
        step = np.diff(samples.values)
        self.increase = np.where(step >= 0, step, 0.0)  # a drop is a reset: count from after
        self.valid = self.d <= gap_limit_s
        zero = np.zeros(1)
        self.cum = np.concatenate((zero, np.cumsum(np.where(self.valid, self.increase, 0.0))))
        self.cum_time = np.concatenate((zero, np.cumsum(np.where(self.valid, self.d, 0.0))))
        self.lump_times = self.times[1:][~self.valid]
        self.cum_lumps = np.concatenate((zero, np.cumsum(self.increase[~self.valid])))

    def at(self, at: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Energy (kWh), the part of it read after gaps (kWh) and covered time (s) from the
        first sample up to each instant of ``at``."""
        if self.empty:
            zero = np.zeros(len(at))
            return zero, zero, zero
        base, piece, into, inside = _locate(self.times, at)
        counted = (inside == 1) & self.valid[piece]
        spread = self.cum[base] + np.where(
            counted, self.increase[piece] * into / self.d[piece], 0.0
        )
        # An increase across a gap happens at the sample ending it: in [a, b) when a ≤ it < b.
        lumps = self.cum_lumps[np.searchsorted(self.lump_times, at, side="left")]
        return spread + lumps, lumps, self.cum_time[base] + np.where(counted, into, 0.0)


def power_cumulative(
    samples: Samples, valid: np.ndarray, at: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Imported and exported energy (kWh) and covered time (s) from the first sample up to
    each instant of ``at``, integrating only the pieces ``valid`` marks (one per pair of
    consecutive samples)."""
    return _Power(samples, [valid]).at(at)[0]


def counter_cumulative(
    samples: Samples, gap_limit_s: float, at: FloatArray
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A register's energy (kWh), the part of it read after gaps (kWh) and covered time
    (s) from its first sample up to each instant of ``at`` (see the module's rules)."""
    return _Register(samples, gap_limit_s).at(at)


@dataclass(frozen=True, slots=True, eq=False)
class EnergyBins:
    """One meter's energy in each interval between consecutive ``edges`` (epoch seconds;
    every array has one element per interval).

    ``import_kwh`` / ``export_kwh``: energy by direction; ``import_after_gap_kwh`` /
    ``export_after_gap_kwh``: the part of each read from a register after a gap (see the
    module). ``covered_s``: the time the
    imported energy's source covers. ``power_factor_known_s`` / ``_low_s``: time with a
    known power factor / one below the limit, and ``..._kwh`` the imported energy in that
    time (from active power). ``import_source`` / ``export_source``: where each direction
    came from (``None``: the meter measures neither)."""

    meter_id: str
    edges: FloatArray
    import_kwh: FloatArray
    export_kwh: FloatArray
    import_after_gap_kwh: FloatArray
    export_after_gap_kwh: FloatArray
    covered_s: FloatArray
    power_factor_known_s: FloatArray
    power_factor_low_s: FloatArray
    power_factor_known_kwh: FloatArray
    power_factor_low_kwh: FloatArray
    import_source: Source | None
    export_source: Source | None

    @property
    def after_gap_kwh(self) -> FloatArray:
        """Register energy of both directions read after a gap."""
        return self.import_after_gap_kwh + self.export_after_gap_kwh


def source_of(series: MeterSeries, direction: Direction) -> Source | None:
    """Where ``direction``'s energy comes from: the register when it has two samples or
    more, else active power, else nowhere."""
    if len(series.counter(direction)) >= 2:
        return "counter"
    if len(series.power) >= 2:
        return "power"
    return None


class EnergyIntegrator:
    """One meter's series prepared once (running totals of every piece), then cut at any
    edges by ``bins``: cheaper than ``energy_bins`` when the same meter is cut several
    ways (periods, demand intervals, prices)."""

    def __init__(self, series: MeterSeries, settings: EnergySettings) -> None:
        self.meter_id = series.meter_id
        gap = settings.gap_limit_s
        power = series.power
        pieces = series.spacing() <= gap if len(power) >= 2 else np.zeros(0, dtype=bool)
        factor = series.power_factor[:-1] if len(power) >= 2 else np.zeros(0)
        known = pieces & ~np.isnan(factor)
        with np.errstate(invalid="ignore"):
            low = known & (factor < settings.power_factor_limit)
        self._power = _Power(power, [pieces, known, low])
        self.import_source = source_of(series, "import")
        self.export_source = source_of(series, "export")
        self._registers = {
            direction: _Register(series.counter(direction), gap)
            for direction, source in (
                ("import", self.import_source),
                ("export", self.export_source),
            )
            if source == "counter"
        }

    def bins(self, edges: FloatArray) -> EnergyBins:
        """The energy between consecutive ``edges`` (ascending epoch seconds)."""
        edges = np.asarray(edges, dtype=np.float64)
        (power_in, power_out, power_time), (known_in, _, known_time), (low_in, _, low_time) = (
            self._power.at(edges)
        )
        nothing = np.zeros(len(edges))
        results: dict[str, tuple[FloatArray, FloatArray, FloatArray]] = {}
        for direction, source, from_power in (
            ("import", self.import_source, power_in),
            ("export", self.export_source, power_out),
        ):
            if source == "counter":
                results[direction] = self._registers[direction].at(edges)
            elif source == "power":
                results[direction] = (from_power, nothing, power_time)
            else:
                results[direction] = (nothing, nothing, nothing)
        return EnergyBins(
            meter_id=self.meter_id,
            edges=edges,
            import_kwh=np.diff(results["import"][0]),
            export_kwh=np.diff(results["export"][0]),
            import_after_gap_kwh=np.diff(results["import"][1]),
            export_after_gap_kwh=np.diff(results["export"][1]),
            covered_s=np.diff(results["import"][2]),
            power_factor_known_s=np.diff(known_time),
            power_factor_low_s=np.diff(low_time),
            power_factor_known_kwh=np.diff(known_in),
            power_factor_low_kwh=np.diff(low_in),
            import_source=self.import_source,
            export_source=self.export_source,
        )


def energy_bins(series: MeterSeries, edges: FloatArray, settings: EnergySettings) -> EnergyBins:
    """``series``' energy between consecutive ``edges`` (ascending epoch seconds)."""
    return EnergyIntegrator(series, settings).bins(edges)


@dataclass(frozen=True, slots=True)
class PeriodEnergy:
    """Energy of one calendar period (see ``CalendarPeriod`` for ``label``, ``start``,
    ``end``): imported and exported kWh, the part of them read after a gap, and
    ``coverage``, the share of the period the imported energy's source covers (0–1; the
    mean over meters in a total)."""

    label: str
    start: datetime
    end: datetime
    import_kwh: float
    export_kwh: float
    after_gap_kwh: float
    coverage: float

    @property
    def net_kwh(self) -> float:
        """Imported minus exported energy."""
        return self.import_kwh - self.export_kwh


@dataclass(frozen=True, slots=True)
class MeterConsumption:
    """One meter's energy by period and where it came from."""

    meter_id: str
    import_source: Source | None
    export_source: Source | None
    periods: tuple[PeriodEnergy, ...]

    @property
    def import_kwh(self) -> float:
        return float(sum(period.import_kwh for period in self.periods))

    @property
    def export_kwh(self) -> float:
        return float(sum(period.export_kwh for period in self.periods))


@dataclass(frozen=True, slots=True)
class Consumption:
    """Energy from ``start`` to ``end`` by ``period`` of ``timezone``: per meter (meter-id
    order) and in ``total`` (the meters' sum, period by period)."""

    start: datetime
    end: datetime
    period: Period
    timezone: str
    meters: tuple[MeterConsumption, ...]
    total: tuple[PeriodEnergy, ...]

    @property
    def import_kwh(self) -> float:
        return float(sum(period.import_kwh for period in self.total))

    @property
    def export_kwh(self) -> float:
        return float(sum(period.export_kwh for period in self.total))

    def meter(self, meter_id: str) -> MeterConsumption:
        """The consumption of ``meter_id``; ``KeyError`` when it has none in the window."""
        for meter in self.meters:
            if meter.meter_id == meter_id:
                return meter
        raise KeyError(f"no energy data for meter {meter_id!r} in the window")


def as_series_map(
    series: Mapping[str, MeterSeries] | Iterable[MeterSeries],
) -> dict[str, MeterSeries]:
    """``series`` keyed by meter id, in meter-id order."""
    items = series.values() if isinstance(series, Mapping) else series
    return {item.meter_id: item for item in sorted(items, key=lambda item: item.meter_id)}


def consumption(
    series: Mapping[str, MeterSeries] | Iterable[MeterSeries],
    start: datetime,
    end: datetime,
    *,
    period: Period = "day",
    settings: EnergySettings | None = None,
) -> Consumption:
    """Imported and exported energy of each meter and in total, by calendar ``period`` of
    ``settings.timezone``, from ``start`` (inclusive) to ``end`` (exclusive).

    ``series`` should reach a gap limit beyond both ends, so that intervals crossing them
    are integrated (``EnergyInsight`` reads it so)."""
    settings = settings or EnergySettings()
    integrators = [EnergyIntegrator(item, settings) for item in as_series_map(series).values()]
    return consumption_of(integrators, start, end, period=period, settings=settings)


def consumption_of(
    integrators: Sequence[EnergyIntegrator],
    start: datetime,
    end: datetime,
    *,
    period: Period = "day",
    settings: EnergySettings | None = None,
) -> Consumption:
    """``consumption`` from meters already prepared (in the order given)."""
    settings = settings or EnergySettings()
    periods = calendar_periods(start, end, period, settings.timezone)
    edges = np.array(
        [seconds(p.start) for p in periods] + ([seconds(periods[-1].end)] if periods else []),
        dtype=np.float64,
    )
    lengths = np.diff(edges) if len(edges) else np.zeros(0)
    meters = []
    sums = np.zeros((4, len(periods)))
    sourced = 0
    for integrator in integrators if len(edges) else ():
        bins = integrator.bins(edges)
        coverage = np.where(lengths > 0, bins.covered_s / np.maximum(lengths, 1e-9), 0.0)
        rows = (bins.import_kwh, bins.export_kwh, bins.after_gap_kwh, coverage)
        meters.append(
            MeterConsumption(
                integrator.meter_id,
                bins.import_source,
                bins.export_source,
                _period_energies(periods, rows),
            )
        )
        sums += np.vstack(rows)
        sourced += bins.import_source is not None
    if sourced:
        sums[3] /= sourced
    return Consumption(
        start=periods[0].start if periods else start,
        end=periods[-1].end if periods else end,
        period=period,
        timezone=settings.timezone,
        meters=tuple(meters),
        total=_period_energies(periods, tuple(sums)),
    )


def _period_energies(
    periods: Sequence[CalendarPeriod], rows: tuple[FloatArray, ...]
) -> tuple[PeriodEnergy, ...]:
    imported, exported, after_gap, coverage = rows
    return tuple(
        PeriodEnergy(
            label=p.label,
            start=p.start,
            end=p.end,
            import_kwh=float(imported[i]),
            export_kwh=float(exported[i]),
            after_gap_kwh=float(after_gap[i]),
            coverage=float(min(max(coverage[i], 0.0), 1.0)),
        )
        for i, p in enumerate(periods)
    )
