"""A physically plausible meter simulator with labelled anomaly injection.

Each meter follows a daily load profile of its own. From the load come the current
(rated current × load), the voltage (nominal, sagging slightly under load), the power
factor (a little better at higher load), the active power P = V·I·PF/1000 (kW, with
metering noise), a mains frequency near 50 or 60 Hz, and a motor temperature that
follows the I²R losses with a first-order thermal lag.

Anomalies are injected per variable: every variable of every reading is hit with
probability ``anomaly_ratio`` (so one reading may carry several), by one of the kinds
that apply to that variable. Every reading carries its ground truth.

An ``IncidentSchedule`` adds faults the way a plant has them: per meter, as *episodes*
that arrive at random (a Poisson process, a few minutes apart across the plant), each of
one kind with a duration and a shape of its own (a sag of seconds, overheating that builds
over minutes and cools, a sensor stuck for a minute…). Readings inside an episode are
labelled with its kind, every other reading is normal. Episodes are a function of time,
the seed and the meter only, so history and stream, asked in any pieces, agree.

A meter sends the variables of its profile: the demo's meters the six of a motor meter
(``MOTOR_METER_VARIABLES``); ``plugs`` add meters that send what a Shelly-like smart plug
measures (``PLUG_VARIABLES``: no motor temperature, an imported-energy register that
integrates the active power). Faults are injected only into variables a meter sends.
"""

from __future__ import annotations

import itertools
import math
import zlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

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
class FaultShape:
    """How an incident of one kind goes: it lasts ``shortest``–``longest`` and arrives
    ``weight`` times as often as a kind of weight 1. ``building``: how long the fault builds
    up (a range, drawn per episode) before it fades over the rest of the episode, drawn so
    that the whole stays within ``shortest``–``longest``; ``None``: the fault is there at
    once and throughout."""

    shortest: timedelta
    longest: timedelta
    weight: float
    building: tuple[timedelta, timedelta] | None = None

    def __post_init__(self) -> None:
        if not timedelta(0) < self.shortest <= self.longest:
            raise ValueError(
                f"shortest and longest: need 0 < shortest <= longest, got"
                f" {self.shortest}, {self.longest}"
            )
        if self.weight < 0:
            raise ValueError(f"weight must not be negative, got {self.weight}")
        if self.building is not None:
            low, high = self.building
            fading = (self.shortest - low, self.longest - high)
            if not (timedelta(0) < low <= high and timedelta(0) < fading[0] <= fading[1]):
                raise ValueError(
                    f"building {low}–{high} must leave a fading part within shortest–longest"
                    f" ({self.shortest}–{self.longest})"
                )


_S = timedelta(seconds=1)
_MIN = timedelta(minutes=1)
INCIDENT_SHAPES: Mapping[AnomalyKind, FaultShape] = MappingProxyType(
    {
        # Grid events: a sag (a large motor starting nearby, a fault cleared upstream) is the
        # commonest power-quality event and lasts seconds; swells are rarer.
        AnomalyKind.VOLTAGE_SAG: FaultShape(2 * _S, 10 * _S, 3.0),
        AnomalyKind.VOLTAGE_SWELL: FaultShape(2 * _S, 8 * _S, 1.0),
        # A jammed or overloaded machine draws too much until it frees itself or trips.
        AnomalyKind.OVERCURRENT: FaultShape(3 * _S, 20 * _S, 2.0),
        # A capacitor step drops out until the controller brings it back.
        AnomalyKind.POWER_FACTOR_DROP: FaultShape(20 * _S, 90 * _S, 1.0),
        # An islanded generator or a grid disturbance, corrected within seconds.
        AnomalyKind.FREQUENCY_DEVIATION: FaultShape(5 * _S, 30 * _S, 1.0),
        # A blocked fan or a failing bearing: heat builds for 2–5 minutes, then the motor cools
        # over 1–3 more once it is relieved. Rarer than the rest, and the longest by far.
        AnomalyKind.OVERHEATING: FaultShape(3 * _MIN, 8 * _MIN, 0.4, building=(2 * _MIN, 5 * _MIN)),
        # A glitch of one channel for a reading or two.
        AnomalyKind.SENSOR_SPIKE: FaultShape(1 * _S, 2 * _S, 2.0),
        # A frozen channel: the meter repeats its last value until it resets.
        AnomalyKind.STUCK_SENSOR: FaultShape(20 * _S, 90 * _S, 1.0),
    }
)
"""Each fault kind's duration, shape and relative frequency as an incident."""

_ALL_KINDS = tuple(AnomalyKind)
_BLOCK = timedelta(hours=1)
"""Episodes are drawn per meter and per hour of absolute time: longer than any episode."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BLOCK_OFFSET = 2**40  # keeps block numbers of any representable instant non-negative
_INCIDENT_SALT = 0x1C1DE47  # keeps the schedule's random stream apart from the readings'


@dataclass(frozen=True, slots=True)
class Episode:
    """One incident of one meter: a fault of ``kind`` from ``start`` (inclusive) for
    ``duration``; every reading of the meter in [start, end) is labelled with it.

    ``variable``: where the fault shows (for a sensor fault, the one channel it hits).
    ``strength`` in [0, 1]: how severe within the kind's range. ``sign``: the direction of
    a frequency deviation or a spike (+1 or -1). ``building``: how long the fault takes to
    build up before it fades over the rest of the episode (overheating); zero: at once.
    """

    meter_id: str
    kind: AnomalyKind
    start: datetime
    duration: timedelta
    variable: str
    strength: float = 0.5
    sign: float = 1.0
    building: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AnomalyKind(self.kind))
        object.__setattr__(self, "start", utc(self.start))
        if self.duration <= timedelta(0):
            raise ValueError(f"duration must be positive, got {self.duration}")
        if self.kind not in KINDS_BY_VARIABLE.get(self.variable, ()):
            raise ValueError(f"variable {self.variable!r} cannot show a {self.kind.value} fault")
        if not 0.0 <= self.strength <= 1.0:
            raise ValueError(f"strength must be within [0, 1], got {self.strength}")
        if self.sign not in (-1.0, 1.0):
            raise ValueError(f"sign must be 1 or -1, got {self.sign}")
        if not timedelta(0) <= self.building <= self.duration:
            raise ValueError(f"building must lie within [0, duration], got {self.building}")

    @property
    def end(self) -> datetime:
        """The first instant after the episode."""
        return self.start + self.duration

    def covers(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def intensity(self, moment: datetime) -> float:
        """How far the fault has built up at ``moment`` (0–1): 1 throughout a fault that is
        there at once; for one that builds, rising linearly over ``building`` then fading
        linearly to 0 at the end."""
        if self.building <= timedelta(0):
            return 1.0
        elapsed = moment - self.start
        if elapsed < self.building:
            return max(elapsed / self.building, 0.0)
        fading = self.duration - self.building
        if fading <= timedelta(0):
            return 1.0
        return max(1.0 - (elapsed - self.building) / fading, 0.0)


@dataclass(frozen=True, slots=True)
class IncidentSchedule:
    """Faults as a plant has them: episodes of the simulator's kinds arriving per meter as
    a Poisson process, ``mean_gap`` apart on average across the plant (each meter's own
    gap, from the end of one episode to the start of the next, is ``mean_gap`` × meters).

    ``kinds``: the kinds that may occur (``None``: every kind of the simulator that applies
    to what a meter sends); each is drawn in proportion to its shape's weight. ``shapes``:
    duration, build-up and weight per kind. ``pinned``: episodes that happen whatever the
    draw (a drawn episode that would overlap one on the same meter is left out), e.g. a
    first incident soon after a demo starts.
    """

    mean_gap: timedelta = timedelta(minutes=8)
    kinds: tuple[AnomalyKind, ...] | None = None
    shapes: Mapping[AnomalyKind, FaultShape] = field(
        default_factory=lambda: INCIDENT_SHAPES, hash=False
    )
    pinned: tuple[Episode, ...] = ()

    def __post_init__(self) -> None:
        if self.mean_gap <= timedelta(0):
            raise ValueError(f"mean_gap must be positive, got {self.mean_gap}")
        if self.kinds is not None:
            object.__setattr__(self, "kinds", tuple(AnomalyKind(kind) for kind in self.kinds))
        missing = set(self.kinds or AnomalyKind) - set(self.shapes)
        if missing:
            raise ValueError(f"shapes: no shape for {', '.join(sorted(missing))}")
        longest = max((shape.longest for shape in self.shapes.values()), default=_BLOCK)
        if longest >= _BLOCK:
            raise ValueError(f"shapes: an episode may last at most {_BLOCK}, got {longest}")
        pinned = sorted(self.pinned, key=lambda episode: (episode.meter_id, episode.start))
        for before, after in itertools.pairwise(pinned):
            if before.meter_id == after.meter_id and after.start < before.end:
                raise ValueError(
                    f"pinned: two episodes of {after.meter_id} overlap at {after.start}"
                )
        object.__setattr__(self, "pinned", tuple(pinned))

    def with_episode(self, episode: Episode) -> IncidentSchedule:
        """This schedule with ``episode`` pinned as well."""
        return replace(self, pinned=(*self.pinned, episode))


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
    """Deterministic under ``seed``: the same seed and calls give the same readings.

    ``anomaly_ratio``: per-reading faults (each variable of each reading hit with that
    probability). ``incidents``: faults as episodes (``IncidentSchedule``); both may be on,
    a reading's label is then the union. The episodes never change the random draws of
    the readings, so outside them a simulator reads exactly as one without a schedule.
    """

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
        incidents: IncidentSchedule | None = None,
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
        # The schedule's own seed: drawn apart from ``_rng`` so that turning incidents on
        # leaves every reading's random draws as they were.
        self._schedule_seed = (
            seed if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])
        )
        self._raw_episodes: dict[tuple[str, int], tuple[Episode, ...]] = {}
        self._episodes_for_kinds = self.kinds
        self._incidents: IncidentSchedule | None = None
        self.incidents = incidents

    @property
    def incidents(self) -> IncidentSchedule | None:
        """The incident schedule in force (``None``: no episodes); may be changed between
        calls, e.g. to pin an episode."""
        return self._incidents

    @incidents.setter
    def incidents(self, schedule: IncidentSchedule | None) -> None:
        if schedule is not None:
            sent = {profile.meter_id: profile.variables for profile in self.profiles}
            for episode in schedule.pinned:
                if episode.meter_id not in sent:
                    raise ValueError(f"pinned: no meter called {episode.meter_id!r}")
                if episode.variable not in sent[episode.meter_id]:
                    raise ValueError(f"pinned: {episode.meter_id} does not send {episode.variable}")
        if schedule != self._incidents:
            self._raw_episodes.clear()
        self._incidents = schedule

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

    def episodes(
        self, start: datetime, end: datetime, *, meter_ids: Sequence[str] | None = None
    ) -> list[Episode]:
        """The incident episodes that overlap [``start``, ``end``) (all meters, or
        ``meter_ids``), by start then meter; none without an incident schedule."""
        start, end = utc(start), utc(end)
        chosen = set(self.meter_ids if meter_ids is None else meter_ids)
        found = [
            episode
            for profile in self.profiles
            if profile.meter_id in chosen
            for episode in self._meter_episodes(profile, start, end)
            if episode.end > start and episode.start < end
        ]
        return sorted(found, key=lambda episode: (episode.start, episode.meter_id))

    def _meter_episodes(
        self, profile: MeterProfile, start: datetime, end: datetime
    ) -> list[Episode]:
        """``profile``'s episodes from the block before ``start``'s to ``end``'s, in order
        and never overlapping."""
        schedule = self._incidents
        if schedule is None:
            return []
        pinned = [episode for episode in schedule.pinned if episode.meter_id == profile.meter_id]
        first, last = _block(start) - 1, _block(end)
        drawn: list[Episode] = []
        for block in range(first, last + 1):
            # A block's draws start afresh; the ones that would overlap the previous
            # block's last episode are left out, so episodes never overlap.
            before = self._raw_block(schedule, profile, block - 1)
            spill = before[-1].end if before else None
            drawn.extend(
                episode
                for episode in self._raw_block(schedule, profile, block)
                if spill is None or episode.start >= spill
            )
        kept = [
            episode
            for episode in drawn
            if not any(episode.start < pin.end and pin.start < episode.end for pin in pinned)
        ]
        return sorted([*kept, *pinned], key=lambda episode: episode.start)

    def _raw_block(
        self, schedule: IncidentSchedule, profile: MeterProfile, block: int
    ) -> tuple[Episode, ...]:
        """The episodes drawn for ``profile`` in one block of absolute time: a renewal
        process from the block's start (exponential gaps from one episode's end to the next
        one's start), each episode starting within the block."""
        if self._episodes_for_kinds != self.kinds:  # ``kinds`` was changed: draw afresh
            self._raw_episodes.clear()
            self._episodes_for_kinds = self.kinds
        key = (profile.meter_id, block)
        cached = self._raw_episodes.get(key)
        if cached is not None:
            return cached
        kinds = self._incident_kinds(schedule, profile)
        weights = [schedule.shapes[kind].weight for kind in kinds]
        episodes: list[Episode] = []
        if sum(weights) > 0:
            cumulative = list(itertools.accumulate(weight / sum(weights) for weight in weights))
            entropy = [self._schedule_seed, zlib.crc32(profile.meter_id.encode()), block]
            rng = np.random.default_rng(
                np.random.SeedSequence([_INCIDENT_SALT, *(abs(part) for part in entropy)])
            )
            gap_us = _microseconds(schedule.mean_gap) * len(self.profiles)
            block_start = _EPOCH + _BLOCK * (block - _BLOCK_OFFSET)
            block_end = block_start + _BLOCK
            at = block_start
            draws: list[list[float]] = []
            while True:
                if not draws:  # seven draws per episode, taken sixteen episodes at a time
                    draws = rng.random((16, 7)).tolist()[::-1]
                gap, kind_draw, *shape_draws = draws.pop()
                at += _MICROSECOND * round(-math.log1p(-gap) * gap_us)
                if at >= block_end:
                    break
                kind = kinds[min(bisect_right(cumulative, kind_draw), len(kinds) - 1)]
                episode = _draw_episode(profile, kind, schedule.shapes[kind], at, shape_draws)
                episodes.append(episode)
                at = episode.end
        result = tuple(episodes)
        if len(self._raw_episodes) > 4096:  # a long-running demo: forget old hours
            self._raw_episodes.clear()
        self._raw_episodes[key] = result
        return result

    def _incident_kinds(
        self, schedule: IncidentSchedule, profile: MeterProfile
    ) -> list[AnomalyKind]:
        """The kinds that may hit ``profile`` as incidents, in the catalogue's order."""
        allowed = set(schedule.kinds if schedule.kinds is not None else _ALL_KINDS)
        allowed &= set(self.kinds)
        shown = {kind for name in profile.variables for kind in KINDS_BY_VARIABLE.get(name, ())}
        return [kind for kind in _ALL_KINDS if kind in allowed and kind in shown]

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
        previous = self._last_values.get(profile.meter_id)
        self._play_episodes(profile, channels, previous)
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

    def _play_episodes(
        self,
        profile: MeterProfile,
        channels: _Channels,
        previous: Mapping[str, float] | None,
    ) -> None:
        """The incident episodes of ``profile`` applied to its readings, in time order."""
        times = channels.times
        episodes = self._meter_episodes(profile, min(times), max(times))
        if not episodes:
            return
        starts = [episode.start for episode in episodes]
        values = channels.values
        for row, moment in enumerate(times):
            index = bisect_right(starts, moment) - 1
            if index < 0 or not episodes[index].covers(moment):
                continue
            episode = episodes[index]
            column = values[episode.variable]
            if episode.kind is AnomalyKind.STUCK_SENSOR:
                # The channel repeats what it read last, before or inside the episode.
                if row > 0:
                    column[row] = column[row - 1]
                elif previous is not None:
                    column[row] = previous[episode.variable]
            elif episode.kind is AnomalyKind.OVERHEATING:
                peak = _faulty_value(episode.kind, 0.0, episode.strength, episode.sign, profile)
                column[row] += peak * episode.intensity(moment)
            else:
                column[row] = _episode_value(
                    episode.kind, float(column[row]), episode.strength, episode.sign, profile
                )
            channels.kinds[row].append(episode.kind)

    def _inject(self, profile: MeterProfile, channels: _Channels) -> None:
        rng = self._rng
        size = len(channels.times)
        values = channels.values
        # Rows an incident episode hit with a physical fault: P follows V, I and PF there.
        recompute_power = np.array(
            [not _PHYSICAL_FOR_POWER.isdisjoint(kinds) for kinds in channels.kinds], dtype=bool
        )
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


def _block(moment: datetime) -> int:
    """The number of the hour of absolute time ``moment`` falls in (never negative)."""
    return (moment - _EPOCH) // _BLOCK + _BLOCK_OFFSET


def _microseconds(span: timedelta) -> int:
    return span // _MICROSECOND


def _draw_episode(
    profile: MeterProfile,
    kind: AnomalyKind,
    shape: FaultShape,
    start: datetime,
    draws: Sequence[float],
) -> Episode:
    """An episode of ``kind`` at ``start`` from five uniform draws in [0, 1): duration,
    build-up, strength, sign and (for sensor faults) the channel."""
    duration_draw, building_draw, strength, sign_draw, channel_draw = draws
    if shape.building is not None:
        low, high = shape.building
        building = low + (high - low) * building_draw
        least, most = shape.shortest - low, shape.longest - high
        duration = building + least + (most - least) * duration_draw
    else:
        building = timedelta(0)
        duration = shape.shortest + (shape.longest - shape.shortest) * duration_draw
    channels = [name for name in profile.variables if kind in KINDS_BY_VARIABLE.get(name, ())]
    variable = channels[min(int(channel_draw * len(channels)), len(channels) - 1)]
    return Episode(
        meter_id=profile.meter_id,
        kind=kind,
        start=start,
        duration=_MICROSECOND * round(duration / _MICROSECOND),
        variable=variable,
        strength=strength,
        sign=-1.0 if sign_draw < 0.5 else 1.0,
        building=_MICROSECOND * round(building / _MICROSECOND),
    )


def _episode_value(
    kind: AnomalyKind, value: float, strength: float, sign: float, profile: MeterProfile
) -> float:
    """``_faulty_value`` for a reading inside an episode: a fault that sets a level (a power
    factor drop, a frequency deviation) moves the reading by as much as it moves the
    nominal level, so the reading keeps its noise (a channel that stops moving is a stuck
    sensor, not a drop)."""
    if kind is AnomalyKind.POWER_FACTOR_DROP:
        nominal = profile.base_power_factor
    elif kind is AnomalyKind.FREQUENCY_DEVIATION:
        nominal = profile.nominal_frequency
    else:
        return _faulty_value(kind, value, strength, sign, profile)
    return value - nominal + _faulty_value(kind, nominal, strength, sign, profile)


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
