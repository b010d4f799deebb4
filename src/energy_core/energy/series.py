"""A meter's samples of power, power factor and energy counters: what every energy figure is
computed from.

Two ways in, one computation after them: ``series_from_readings`` keeps each reading's own
instant (exact), ``series_from_minutes`` rebuilds samples from per-minute aggregates (the
rollups: the only way that scales), placing them inside their minute as described there.
``aggregate_minutes`` turns readings into those aggregates, as the rollups do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from energy_core.energy.ports import (
    ENERGY_VARIABLES,
    FloatArray,
    IntArray,
    MeterMinutes,
    VariableMinutes,
)
from energy_core.telemetry.buckets import EPOCH
from energy_core.telemetry.readings import Reading, utc

_NO_TIMES: FloatArray = np.empty(0)


@dataclass(frozen=True, slots=True, eq=False)
class Samples:
    """Values at instants: ``times`` in seconds since the Unix epoch (UTC), strictly
    increasing; ``values`` as long."""

    times: FloatArray
    values: FloatArray

    def __len__(self) -> int:
        return len(self.times)

    @classmethod
    def empty(cls) -> Samples:
        return cls(_NO_TIMES, _NO_TIMES)


@dataclass(frozen=True, slots=True, eq=False)
class MeterSeries:
    """What one meter measured of energy.

    ``power``: active power (kW; negative = exporting). ``power_factor``: the absolute power
    factor at each power sample (NaN where unknown; derived from reactive power when the
    meter sends that instead). ``energy_import`` / ``energy_export``: the energy registers
    (kWh counters) as read.
    """

    meter_id: str
    power: Samples
    power_factor: FloatArray
    energy_import: Samples
    energy_export: Samples
    power_spacing: FloatArray | None = None
    """Per pair of consecutive power samples, the time between the readings they stand
    for, which the gap limit is held against (``None``: the samples' own spacing)."""

    def spacing(self) -> FloatArray:
        """The time the gap limit is held against, per pair of consecutive power samples."""
        if self.power_spacing is not None:
            return self.power_spacing
        return np.diff(self.power.times)

    @classmethod
    def empty(cls, meter_id: str) -> MeterSeries:
        """A meter without data: every figure of it is zero or unknown."""
        return cls(meter_id, Samples.empty(), _NO_TIMES, Samples.empty(), Samples.empty())

    def counter(self, direction: str) -> Samples:
        """The register of ``direction`` (``"import"`` or ``"export"``)."""
        return self.energy_import if direction == "import" else self.energy_export


def derived_power_factor(power: FloatArray, reactive: FloatArray) -> FloatArray:
    """|P| / √(P² + Q²), NaN where either is unknown or both are zero."""
    apparent = np.hypot(power, reactive)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(apparent > 0, np.abs(power) / apparent, np.nan)


def _factor(power: FloatArray, factor: FloatArray, reactive: FloatArray) -> FloatArray:
    return np.where(np.isnan(factor), derived_power_factor(power, reactive), np.abs(factor))


def _grouped(times: FloatArray, values: FloatArray, reduce: str) -> tuple[FloatArray, FloatArray]:
    """Samples sorted by time, those sharing an instant merged (their mean or maximum)."""
    order = np.argsort(times, kind="stable")
    times, values = times[order], values[order]
    unique, first = np.unique(times, return_index=True)
    if len(unique) == len(times):
        return times, values
    if reduce == "max":
        return unique, np.maximum.reduceat(values, first)
    counts = np.diff(np.append(first, len(times)))
    return unique, np.add.reduceat(values, first) / counts


def series_from_readings(readings: Iterable[Reading]) -> dict[str, MeterSeries]:
    """Each meter's series from its readings, at their own instants (any order; readings of
    one meter at the same instant are merged: power and power factor averaged, a counter's
    highest value kept)."""
    columns: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for reading in readings:
        values = reading.values
        moment = (utc(reading.timestamp) - EPOCH).total_seconds()
        meter = columns[reading.meter_id]
        if "active_power" in values:
            meter["power_t"].append(moment)
            meter["power"].append(values["active_power"])
            meter["factor"].append(values.get("power_factor", np.nan))
            meter["reactive"].append(values.get("reactive_power", np.nan))
        for name in ("energy_import", "energy_export"):
            if name in values:
                meter[f"{name}_t"].append(moment)
                meter[name].append(values[name])
    result = {}
    for meter_id in sorted(columns):
        meter = columns[meter_id]
        power_t = np.asarray(meter["power_t"], dtype=np.float64)
        power = np.asarray(meter["power"], dtype=np.float64)
        factor = _factor(
            power,
            np.asarray(meter["factor"], dtype=np.float64),
            np.asarray(meter["reactive"], dtype=np.float64),
        )
        times, power_mean = _grouped(power_t, power, "mean")
        _, factor_mean = _grouped(power_t, factor, "mean")
        counters = {
            name: Samples(
                *_grouped(
                    np.asarray(meter[f"{name}_t"], dtype=np.float64),
                    np.asarray(meter[name], dtype=np.float64),
                    "max",
                )
            )
            for name in ("energy_import", "energy_export")
        }
        result[meter_id] = MeterSeries(
            meter_id,
            Samples(times, power_mean),
            factor_mean,
            counters["energy_import"],
            counters["energy_export"],
        )
    return result


def _counter_from_minutes(minutes: IntArray, register: VariableMinutes) -> Samples:
    """A register's samples from its minutes: the lowest value early in the minute, the
    highest late (a register only grows), as if the minute's readings were evenly spread —
    the first ``30/count`` s after its start, the last as long before its end. A minute
    entered with a drop (a reset) whose highest value still continues the previous minute
    was reset inside the minute: there the highest value comes first."""
    present = register.count > 0
    start = minutes[present].astype(np.float64)
    count = register.count[present].astype(np.float64)
    low, high = register.minimum[present], register.maximum[present]
    if not len(start):
        return Samples.empty()
    previous_high = np.concatenate(([-np.inf], high[:-1]))
    reset_inside = (low < previous_high) & (high >= previous_high)
    first = np.where(reset_inside, high, low)
    last = np.where(reset_inside, low, high)
    early = start + 30.0 / count
    late = start + 60.0 - 30.0 / count
    single = count == 1  # one reading: one sample, mid-minute
    times = np.column_stack((early, late)).ravel()
    values = np.column_stack((first, last)).ravel()
    keep = np.column_stack((np.ones_like(single), ~single)).ravel()
    return Samples(times[keep], values[keep])


EDGE_S = 1e-3
"""How far inside its minute a minute's held mean starts and ends (s): the line joining two
minutes spans 2 ms, so a minute holds its own energy to within microwatt-hours."""


def _power_from_minutes(
    minutes: IntArray, power: VariableMinutes, factor: FloatArray
) -> tuple[Samples, FloatArray, FloatArray]:
    """Power samples, their power factors and spacings from per-minute means: a minute of
    two readings or more holds its mean from its start to its end (its energy is then the
    readings', however the load moved within it); a minute of one reading is one sample
    mid-minute, joined to its neighbours by straight lines (as the reading alone would be).
    The gap limit is held against the time between the readings as if each minute's were
    evenly spread: the last ``30/count`` s before its end, the next's first as long after
    its start."""
    present = power.count > 0
    start = minutes[present].astype(np.float64)
    count = power.count[present].astype(np.float64)
    mean = power.mean[present]
    held = count >= 2
    first = np.where(held, start + EDGE_S, start + 30.0)
    last = np.where(held, start + 60.0 - EDGE_S, start + 30.0)
    keep = np.column_stack((np.ones_like(held), held)).ravel()
    times = np.column_stack((first, last)).ravel()[keep]
    values = np.repeat(mean, 2)[keep]
    factors = np.repeat(factor, 2)[keep]
    readings = np.column_stack((start + 30.0 / count, start + 60.0 - 30.0 / count)).ravel()
    spacing = np.diff(readings[keep])
    inner = np.column_stack((np.zeros_like(held), held)).ravel()[keep][1:]
    spacing[inner] = np.repeat(60.0 / count, 2)[keep][1:][inner]
    return Samples(times, values), factors, spacing


def series_from_minutes(minutes: MeterMinutes) -> MeterSeries:
    """A meter's series rebuilt from its per-minute aggregates.

    Power: see ``_power_from_minutes``. Power factor: the minute's mean, else derived from
    the means of active and reactive power. Registers: see ``_counter_from_minutes``.
    Instants inside a minute are thus known to the minute: energy moves by at most that
    much between periods, and none at all for a meter sending several readings a minute
    (periods and demand intervals are whole minutes).
    """
    power = minutes["active_power"]
    present = power.count > 0
    factor = _factor(
        power.mean[present],
        minutes["power_factor"].mean[present],
        minutes["reactive_power"].mean[present],
    )
    samples, factors, spacing = _power_from_minutes(minutes.minutes, power, factor)
    return MeterSeries(
        minutes.meter_id,
        samples,
        factors,
        _counter_from_minutes(minutes.minutes, minutes["energy_import"]),
        _counter_from_minutes(minutes.minutes, minutes["energy_export"]),
        spacing,
    )


def aggregate_minutes(readings: Iterable[Reading]) -> list[MeterMinutes]:
    """Per meter and epoch-aligned minute, the count, mean, minimum and maximum of each of
    ``ENERGY_VARIABLES`` over the readings carrying it (what the PostgreSQL rollups keep);
    meters in id order, minutes ascending, only minutes with one of those variables."""
    rows: dict[str, tuple[list[float], list[list[float]]]] = defaultdict(
        lambda: ([], [[] for _ in ENERGY_VARIABLES])
    )
    for reading in readings:
        values = reading.values
        if not any(name in values for name in ENERGY_VARIABLES):
            continue
        times, columns = rows[reading.meter_id]
        times.append((utc(reading.timestamp) - EPOCH).total_seconds())
        for column, name in zip(columns, ENERGY_VARIABLES, strict=True):
            column.append(values.get(name, np.nan))
    result = []
    for meter_id in sorted(rows):
        times, columns = rows[meter_id]
        minute = (np.floor(np.asarray(times) / 60.0) * 60).astype(np.int64)
        order = np.argsort(minute, kind="stable")
        minute = minute[order]
        unique, first = np.unique(minute, return_index=True)
        variables = {}
        for name, column in zip(ENERGY_VARIABLES, columns, strict=True):
            value = np.asarray(column, dtype=np.float64)[order]
            known = ~np.isnan(value)
            count = np.add.reduceat(known.astype(np.int64), first)
            total = np.add.reduceat(np.where(known, value, 0.0), first)
            low = np.fmin.reduceat(value, first)  # fmin/fmax skip NaN
            high = np.fmax.reduceat(value, first)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
            variables[name] = VariableMinutes(count, mean, low, high)
        result.append(MeterMinutes(meter_id, unique, variables))
    return result
