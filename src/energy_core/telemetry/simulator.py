"""A physically plausible meter simulator with labelled anomaly injection.

Each meter follows a daily load profile of its own. From the load come the current
(rated current × load), the voltage (nominal, sagging slightly under load), the power
factor (a little better at higher load), the active power P = V·I·PF/1000 (kW, with
metering noise), a mains frequency near 50 or 60 Hz, and a motor temperature that
follows the I²R losses with a first-order thermal lag.

Anomalies are injected per variable: every variable of every reading is hit with
probability ``anomaly_ratio`` (so one reading may carry several), by one of the kinds
that apply to that variable. Every reading carries its ground truth.

A meter sends the variables of its profile: the demo's meters the six of a motor meter
(``MOTOR_METER_VARIABLES``); ``plugs`` add meters that send what a Shelly-like smart plug
measures (``PLUG_VARIABLES``: no motor temperature, an imported-energy register that
integrates the active power). Faults are injected only into variables a meter sends.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from energy_core.telemetry.catalogue import variable
from energy_core.telemetry.readings import Origin, Reading, utc

SIMULATED = Origin("simulator")
"""The origin of every simulated reading."""

FloatArray = npt.NDArray[np.float64]


class AnomalyKind(StrEnum):
    """The named faults the simulator can inject."""

    VOLTAGE_SAG = "voltage_sag"
    VOLTAGE_SWELL = "voltage_swell"
    OVERCURRENT = "overcurrent"
    POWER_FACTOR_DROP = "power_factor_drop"
    FREQUENCY_DEVIATION = "frequency_deviation"
    OVERHEATING = "overheating"
    SENSOR_SPIKE = "sensor_spike"
    STUCK_SENSOR = "stuck_sensor"


MOTOR_METER_VARIABLES: tuple[str, ...] = (
    "voltage",
    "current",
    "active_power",
    "power_factor",
    "frequency",
    "motor_temperature",
)
"""What a demo meter sends: a motor's supply and its temperature."""

PLUG_VARIABLES: tuple[str, ...] = (
    "voltage",
    "current",
    "active_power",
    "power_factor",
    "frequency",
    "energy_import",
)
"""What a Shelly-like smart plug sends: no motor temperature, an energy register."""

# Which kinds can hit which variable. Sensor faults can hit any variable.
_SENSOR_FAULTS = (AnomalyKind.SENSOR_SPIKE, AnomalyKind.STUCK_SENSOR)
KINDS_BY_VARIABLE: dict[str, tuple[AnomalyKind, ...]] = {
    "voltage": (AnomalyKind.VOLTAGE_SAG, AnomalyKind.VOLTAGE_SWELL, *_SENSOR_FAULTS),
    "current": (AnomalyKind.OVERCURRENT, *_SENSOR_FAULTS),
    "active_power": _SENSOR_FAULTS,
    "power_factor": (AnomalyKind.POWER_FACTOR_DROP, *_SENSOR_FAULTS),
    "frequency": (AnomalyKind.FREQUENCY_DEVIATION, *_SENSOR_FAULTS),
    "motor_temperature": (AnomalyKind.OVERHEATING, *_SENSOR_FAULTS),
}

# Physical faults change what the meter measures consistently, so P is recomputed;
# sensor faults corrupt one channel only.
_PHYSICAL_FOR_POWER = {
    AnomalyKind.VOLTAGE_SAG,
    AnomalyKind.VOLTAGE_SWELL,
    AnomalyKind.OVERCURRENT,
    AnomalyKind.POWER_FACTOR_DROP,
}


@dataclass(frozen=True, slots=True)
class MeterProfile:
    """What makes one simulated meter different from another."""

    meter_id: str
    nominal_voltage: float  # V, line to neutral
    nominal_frequency: float  # Hz, 50 or 60
    rated_current: float  # A at full load
    base_power_factor: float
    base_load: float  # fraction of full load at night
    peak_hour: float  # hour of day of the main peak (UTC)
    ambient_temperature: float  # °C
    thermal_rise: float  # °C above ambient at full load
    thermal_time_constant_s: float  # s
    initial_energy: float = 0.0  # kWh on the energy register at the first reading
    variables: tuple[str, ...] = MOTOR_METER_VARIABLES
    """The variables this meter sends."""

    def load(self, hours: FloatArray) -> FloatArray:
        """Fraction of full load at the given hours of day: a main and a second peak."""
        main = _circular_bump(hours, self.peak_hour, 3.0)
        second = 0.7 * _circular_bump(hours, self.peak_hour + 7.0, 2.5)
        shape = np.clip(np.maximum(main, second), 0.0, 1.0)
        return self.base_load + (1.0 - self.base_load) * shape

    def temperature_target(self, load: FloatArray) -> FloatArray:
        """Steady-state motor temperature at ``load``: losses grow with I²."""
        return self.ambient_temperature + self.thermal_rise * load**2


def _circular_bump(hours: FloatArray, centre: float, width: float) -> FloatArray:
    distance = np.abs(((hours - centre + 12.0) % 24.0) - 12.0)
    result: FloatArray = np.exp(-0.5 * (distance / width) ** 2)
    return result


def profile_for(meter_id: str) -> MeterProfile:
    """The profile of the meter called ``meter_id``: the same in every process and run, so a
    model trained on one process's history knows the meters another process streams."""
    return random_profile(meter_id, np.random.default_rng(zlib.crc32(meter_id.encode())))


def random_profile(meter_id: str, rng: np.random.Generator) -> MeterProfile:
    """A plausible meter: 50 Hz/230 V or 60 Hz/220 V, 10–60 A rated, its own schedule."""
    sixty_hertz = bool(rng.random() < 0.4)
    return MeterProfile(
        meter_id=meter_id,
        nominal_voltage=220.0 if sixty_hertz else 230.0,
        nominal_frequency=60.0 if sixty_hertz else 50.0,
        rated_current=float(rng.uniform(10.0, 60.0)),
        base_power_factor=float(rng.uniform(0.84, 0.95)),
        base_load=float(rng.uniform(0.15, 0.4)),
        peak_hour=float(rng.uniform(8.0, 12.0)),
        ambient_temperature=float(rng.uniform(20.0, 30.0)),
        thermal_rise=float(rng.uniform(25.0, 45.0)),
        thermal_time_constant_s=float(rng.uniform(900.0, 2400.0)),
        initial_energy=float(rng.uniform(100.0, 5000.0)),
    )


@dataclass(slots=True)
class _ThermalState:
    at: datetime
    temperature: float


@dataclass(slots=True)
class _EnergyState:
    at: datetime
    energy: float  # kWh


@dataclass(slots=True)
class _Channels:
    """One meter's readings as columns, before they become ``Reading`` objects."""

    times: list[datetime]
    values: dict[str, FloatArray]
    kinds: list[list[AnomalyKind]]


class Simulator:
    """Deterministic under ``seed``: the same seed and calls give the same readings."""

    def __init__(
        self,
        *,
        meters: int = 1,
        anomaly_ratio: float = 0.02,
        kinds: Sequence[AnomalyKind] | None = None,
        seed: int | None = None,
        meter_prefix: str = "meter",
        plugs: int = 0,
        plug_prefix: str = "plug",
    ) -> None:
        """``meters`` motor meters (the six ``MOTOR_METER_VARIABLES``) and ``plugs`` smart
        plugs (``PLUG_VARIABLES``), named ``<prefix>-01``…; at least one of either."""
        if meters < 0 or plugs < 0 or meters + plugs < 1:
            raise ValueError(
                f"meters and plugs must not be negative and at least 1 in all,"
                f" got meters={meters}, plugs={plugs}"
            )
        if not 0.0 <= anomaly_ratio <= 1.0:
            raise ValueError(f"anomaly_ratio must be within [0, 1], got {anomaly_ratio}")
        self.anomaly_ratio = anomaly_ratio
        self.kinds = tuple(kinds) if kinds is not None else tuple(AnomalyKind)
        self._rng = np.random.default_rng(seed)
        self.profiles: tuple[MeterProfile, ...] = tuple(
            profile_for(meter_id) for meter_id in _names(meter_prefix, meters)
        ) + tuple(
            replace(profile_for(meter_id), variables=PLUG_VARIABLES)
            for meter_id in _names(plug_prefix, plugs)
        )
        self._thermal: dict[str, _ThermalState] = {}
        self._energy: dict[str, _EnergyState] = {}
        self._last_values: dict[str, dict[str, float]] = {}
        self._next_meter = 0

    @property
    def meter_ids(self) -> tuple[str, ...]:
        return tuple(profile.meter_id for profile in self.profiles)

    def history(
        self,
        count: int,
        *,
        end: datetime | None = None,
        cadence: timedelta = timedelta(minutes=1),
    ) -> list[Reading]:
        """``count`` readings ending at ``end``: each meter sampled every ``cadence``.

        Readings are spread over the meters in turn and returned in time order.
        """
        if count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        end = utc(end or datetime.now(UTC))
        steps = math.ceil(count / len(self.profiles)) if count else 0
        times = [end - cadence * (steps - 1 - step) for step in range(steps)]
        return self._emit(count, times)

    def next_batch(
        self,
        size: int,
        *,
        at: datetime | None = None,
        interval: timedelta = timedelta(seconds=1),
    ) -> list[Reading]:
        """The next ``size`` readings of a stream, spread evenly over ``interval`` up to ``at``."""
        if size < 0:
            raise ValueError(f"size must not be negative, got {size}")
        at = utc(at or datetime.now(UTC))
        times = [at - interval * ((size - 1 - index) / size) for index in range(size)]
        readings: list[Reading] = []
        by_meter: dict[int, list[datetime]] = {}
        for index, moment in enumerate(times):
            meter = (self._next_meter + index) % len(self.profiles)
            by_meter.setdefault(meter, []).append(moment)
        self._next_meter = (self._next_meter + size) % len(self.profiles)
        for meter in sorted(by_meter):
            readings.extend(self._meter_readings(self.profiles[meter], by_meter[meter]))
        readings.sort(key=lambda reading: (reading.timestamp, reading.meter_id))
        return readings

    def _emit(self, count: int, times: list[datetime]) -> list[Reading]:
        readings: list[Reading] = []
        for profile in self.profiles:
            readings.extend(self._meter_readings(profile, times))
        readings.sort(key=lambda reading: (reading.timestamp, reading.meter_id))
        # The most recent ``count`` readings, so the history ends exactly at ``end``.
        return readings[len(readings) - count :] if count else []

    def _meter_readings(self, profile: MeterProfile, times: list[datetime]) -> list[Reading]:
        if not times:
            return []
        channels = self._normal_channels(profile, times)
        self._inject(profile, channels)
        last = len(times) - 1
        self._last_values[profile.meter_id] = {
            name: float(column[last]) for name, column in channels.values.items()
        }
        sent = profile.variables
        columns = [channels.values[name].tolist() for name in sent]
        readings = []
        for row, moment in enumerate(times):
            kinds = channels.kinds[row]
            readings.append(
                Reading(
                    timestamp=moment,
                    meter_id=profile.meter_id,
                    values={name: column[row] for name, column in zip(sent, columns, strict=True)},
                    is_anomaly=bool(kinds),
                    anomaly_kind="+".join(sorted(set(kinds))) if kinds else None,
                    origin=SIMULATED,
                )
            )
        return readings

    def _normal_channels(self, profile: MeterProfile, times: list[datetime]) -> _Channels:
        rng = self._rng
        size = len(times)
        hours = np.array([t.hour + t.minute / 60.0 + t.second / 3600.0 for t in times])
        load = profile.load(hours) * (1.0 + rng.normal(0.0, 0.03, size))
        load = np.clip(load, 0.05, 1.1)
        voltage = profile.nominal_voltage * (1.0 - 0.03 * load + rng.normal(0.0, 0.004, size))
        current = profile.rated_current * load * (1.0 + rng.normal(0.0, 0.02, size))
        power_factor = np.clip(
            profile.base_power_factor + 0.04 * (load - 0.5) + rng.normal(0.0, 0.005, size),
            0.5,
            0.999,
        )
        active_power = voltage * current * power_factor / 1000.0
        active_power *= 1.0 + rng.normal(0.0, 0.005, size)
        frequency = profile.nominal_frequency + np.clip(rng.normal(0.0, 0.015, size), -0.2, 0.2)
        temperature = self._lagged_temperature(profile, times, profile.temperature_target(load))
        temperature += rng.normal(0.0, 0.2, size)
        return _Channels(
            times=times,
            values={
                "voltage": voltage,
                "current": current,
                "active_power": active_power,
                "power_factor": power_factor,
                "frequency": frequency,
                "motor_temperature": temperature,
                "energy_import": self._energy_register(profile, times, active_power),
            },
            kinds=[[] for _ in range(size)],
        )

    def _energy_register(
        self, profile: MeterProfile, times: list[datetime], power: FloatArray
    ) -> FloatArray:
        """The imported-energy register (kWh): the power integrated over the time since the
        previous reading (state kept per meter); no random draw, so it leaves every other
        channel as it was."""
        state = self._energy.get(profile.meter_id)
        previous_time = state.at if state else times[0]
        energy = state.energy if state else profile.initial_energy
        result = np.empty(len(times))
        for index, moment in enumerate(times):
            hours = max((moment - previous_time).total_seconds(), 0.0) / 3600.0
            energy += max(float(power[index]), 0.0) * hours
            result[index] = energy
            previous_time = max(previous_time, moment)
        self._energy[profile.meter_id] = _EnergyState(at=previous_time, energy=energy)
        return result

    def _lagged_temperature(
        self, profile: MeterProfile, times: list[datetime], target: FloatArray
    ) -> FloatArray:
        """First-order lag towards the load's steady-state temperature, state kept per meter."""
        state = self._thermal.get(profile.meter_id)
        previous_time = state.at if state else times[0]
        temperature = state.temperature if state else float(target[0])
        result = np.empty(len(times))
        tau = profile.thermal_time_constant_s
        for index, moment in enumerate(times):
            elapsed = max((moment - previous_time).total_seconds(), 0.0)
            weight = 1.0 - math.exp(-elapsed / tau)
            temperature += weight * (float(target[index]) - temperature)
            result[index] = temperature
            previous_time = moment
        self._thermal[profile.meter_id] = _ThermalState(at=times[-1], temperature=temperature)
        return result

    def _inject(self, profile: MeterProfile, channels: _Channels) -> None:
        rng = self._rng
        size = len(channels.times)
        values = channels.values
        recompute_power = np.zeros(size, dtype=bool)
        previous = self._last_values.get(profile.meter_id)
        for name in MOTOR_METER_VARIABLES:
            applicable = [kind for kind in KINDS_BY_VARIABLE[name] if kind in self.kinds]
            hits = rng.random(size) < self.anomaly_ratio
            choices = rng.integers(0, max(len(applicable), 1), size)
            magnitudes = rng.random(size)
            signs = np.where(rng.random(size) < 0.5, -1.0, 1.0)
            # The draws above happen for every variable, sent or not, so that every meter's
            # random stream stays the same whatever the others send.
            if not applicable or name not in profile.variables:
                continue
            column = values[name]
            for row in np.flatnonzero(hits):
                kind = applicable[int(choices[row])]
                strength = float(magnitudes[row])
                if kind is AnomalyKind.STUCK_SENSOR:
                    if row > 0:
                        column[row] = column[row - 1]
                    elif previous is not None:
                        column[row] = previous[name]
                else:
                    column[row] = _faulty_value(
                        kind, float(column[row]), strength, float(signs[row]), profile
                    )
                if kind in _PHYSICAL_FOR_POWER:
                    recompute_power[row] = True
                channels.kinds[row].append(kind)
        for row in np.flatnonzero(recompute_power):
            if AnomalyKind.SENSOR_SPIKE in channels.kinds[row]:
                continue
            if AnomalyKind.STUCK_SENSOR in channels.kinds[row]:
                continue
            values["active_power"][row] = (
                values["voltage"][row] * values["current"][row] * values["power_factor"][row]
            ) / 1000.0
        # A fault may push a channel far, but never beyond what a meter can report.
        for name, column in values.items():
            spec = variable(name)
            np.clip(column, spec.minimum, spec.maximum, out=column)


def _names(prefix: str, count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"{prefix}-{index:0{width}d}" for index in range(1, count + 1)]


def _faulty_value(
    kind: AnomalyKind, value: float, strength: float, sign: float, profile: MeterProfile
) -> float:
    """The value a fault of ``kind`` and ``strength`` in [0, 1) turns ``value`` into."""
    if kind is AnomalyKind.VOLTAGE_SAG:
        return value * (0.6 + 0.25 * strength)
    if kind is AnomalyKind.VOLTAGE_SWELL:
        return value * (1.1 + 0.15 * strength)
    if kind is AnomalyKind.OVERCURRENT:
        return value * (1.6 + 1.4 * strength) + 0.5 * profile.rated_current
    if kind is AnomalyKind.POWER_FACTOR_DROP:
        return 0.35 + 0.3 * strength
    if kind is AnomalyKind.FREQUENCY_DEVIATION:
        return profile.nominal_frequency + sign * (0.5 + 1.5 * strength)
    if kind is AnomalyKind.OVERHEATING:
        return value + 20.0 + 30.0 * strength
    if kind is AnomalyKind.SENSOR_SPIKE:
        factor = 1.5 + 1.5 * strength if sign > 0 else 0.2 + 0.3 * strength
        return value * factor
    raise AssertionError(f"no value rule for {kind}")  # stuck sensors are handled by the caller
