"""A reading: one timestamped sample of one meter."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from energy_core.telemetry.catalogue import DEFAULT_FEATURES, VARIABLE_NAMES, variable
from energy_core.telemetry.rules import DEFAULT_RULES, StorageRules


def newest_origins(readings: Iterable[Reading]) -> dict[str, Origin]:
    """Each meter's origin in ``readings``: the last one given (in the readings' order)."""
    found: dict[str, Origin] = {}
    for reading in readings:
        if reading.origin is not None:
            found[reading.meter_id] = reading.origin
    return found


class InvalidReadingError(ValueError):
    """A reading that cannot be accepted; says which field, which value and why."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a reading came from: the ``channel`` that received it (``http``, ``mqtt``,
    ``csv``, ``simulator``) and the ``format`` of its payload (``native``, ``tasmota``,
    ``shelly``, ``emoncms``, ``emonhub``, or a mapping file's device name)."""

    channel: str
    format: str = "native"

    def __str__(self) -> str:
        return f"{self.channel}/{self.format}"


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample of one meter at one UTC instant.

    ``values`` maps catalogue variable names to floats: the variables the meter sent, any
    non-empty subset of the catalogue (a variable it did not send is absent). Ground truth
    (``is_anomaly``, ``anomaly_kind``) is known only for simulated or labelled data.
    ``score`` (higher = more anomalous), ``is_flagged`` and ``top_variables`` are set once a
    model scored it; ``flagged_by``, when a flagged reading's detector has views, names the
    view that fired (``energy_core.detection.temporal.VIEWS``: ``point``, ``stuck``,
    ``profile``, ``collective``).
    ``id`` is assigned by the repository that stores it. ``origin`` (not part of equality:
    the same sample is the same reading whichever way it came) is kept per meter by storage.
    """

    timestamp: datetime
    meter_id: str
    values: Mapping[str, float]
    is_anomaly: bool | None = None
    anomaly_kind: str | None = None
    score: float | None = None
    is_flagged: bool | None = None
    top_variables: tuple[str, ...] = field(default=())
    flagged_by: str | None = None
    id: int | None = None
    origin: Origin | None = field(default=None, compare=False)

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    @property
    def is_scored(self) -> bool:
        return self.score is not None

    def scored(
        self,
        score: float,
        flagged: bool,
        top_variables: Sequence[str] = (),
        flagged_by: str | None = None,
    ) -> Reading:
        """A copy carrying a model's verdict."""
        # Every field by name rather than ``dataclasses.replace``, which looks the fields up
        # again for each copy: this runs for every reading scored.
        return Reading(
            timestamp=self.timestamp,
            meter_id=self.meter_id,
            values=self.values,
            is_anomaly=self.is_anomaly,
            anomaly_kind=self.anomaly_kind,
            score=float(score),
            is_flagged=bool(flagged),
            top_variables=tuple(top_variables),
            flagged_by=flagged_by,
            id=self.id,
            origin=self.origin,
        )

    def with_id(self, reading_id: int) -> Reading:
        return replace(self, id=reading_id)


def validate(
    reading: Reading,
    variables: Sequence[str] = VARIABLE_NAMES,
    *,
    rules: StorageRules = DEFAULT_RULES,
    now: datetime | None = None,
) -> Reading:
    """Check a reading against the catalogue and the storage rules; raise
    ``InvalidReadingError`` on the first fault.

    Checks: an aware timestamp inside the rules' range (its future bound only when ``now``
    is given), storable text, a non-empty meter id, at least one of ``variables`` present,
    no value of a name outside them, and every value present a finite number (not a bool)
    within its physical bounds. An absent variable is not a fault: meters send what they
    measure.
    """
    if reading.timestamp.tzinfo is None:
        raise InvalidReadingError("timestamp", reading.timestamp, "must carry a time zone (UTC)")
    problem = rules.timestamp_problem(reading.timestamp, now)
    if problem is not None:
        raise InvalidReadingError("timestamp", reading.timestamp, problem)
    if not reading.meter_id or not reading.meter_id.strip():
        raise InvalidReadingError("meter_id", reading.meter_id, "must not be empty")
    for name, text in (("meter_id", reading.meter_id), ("anomaly_kind", reading.anomaly_kind)):
        problem = rules.text_problem(text) if text is not None else None
        if problem is not None:
            raise InvalidReadingError(name, text, problem)
    if not reading.values:
        raise InvalidReadingError("values", {}, no_variable_reason(variables))
    for name, value in reading.values.items():
        if name not in variables:
            known = ", ".join(variables)
            raise InvalidReadingError(name, value, f"unknown variable; known: {known}")
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise InvalidReadingError(name, value, "must be a number")
        if not math.isfinite(value):
            raise InvalidReadingError(name, value, "must be a finite number")
        spec = variable(name)
        if not spec.within_bounds(value):
            raise InvalidReadingError(
                name, value, f"outside the physical range [{spec.minimum}, {spec.maximum}]"
            )
    return reading


def no_variable_reason(variables: Sequence[str] = VARIABLE_NAMES) -> str:
    """Why a reading without any of ``variables`` is refused, naming them."""
    return f"no known variable: a reading needs at least one of {', '.join(variables)}"


def batch_fingerprint(readings: Iterable[Reading]) -> str:
    """A digest of what a batch says (meters, instants, values, ground truth), not of how it
    was scored: a retry scored by a newer model has the same fingerprint, other readings
    under a reused idempotency key do not."""
    digest = hashlib.sha256()
    for reading in readings:
        values = ",".join(f"{name}={value!r}" for name, value in sorted(reading.values.items()))
        digest.update(
            f"{reading.meter_id}|{reading.timestamp.isoformat()}|{values}|"
            f"{reading.is_anomaly}|{reading.anomaly_kind}\n".encode("utf-8", "surrogatepass")
        )
    return digest.hexdigest()


def utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def feature_matrix(
    readings: Iterable[Reading], features: Sequence[str] = DEFAULT_FEATURES
) -> npt.NDArray[np.float64]:
    """The readings' ``features`` as a float matrix, one row per reading; NaN where a reading
    does not carry a feature (the meter did not send it)."""
    missing = math.nan
    rows = [[reading.values.get(name, missing) for name in features] for reading in readings]
    if not rows:
        return np.empty((0, len(features)), dtype=np.float64)
    return np.asarray(rows, dtype=np.float64)


def present_variables(readings: Iterable[Reading]) -> dict[str, int]:
    """How many of ``readings`` carry each catalogue variable, in catalogue order (variables
    no reading carries are left out)."""
    counts = dict.fromkeys(VARIABLE_NAMES, 0)
    for reading in readings:
        for name in reading.values:
            if name in counts:
                counts[name] += 1
    return {name: count for name, count in counts.items() if count}


def labels(readings: Iterable[Reading]) -> npt.NDArray[np.bool_] | None:
    """Ground-truth labels when every reading carries one, else ``None``."""
    values = [reading.is_anomaly for reading in readings]
    if not values or any(value is None for value in values):
        return None
    return np.asarray(values, dtype=bool)
