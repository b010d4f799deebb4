"""A reading: one timestamped sample of one meter."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt

from energy_core.telemetry.catalogue import VARIABLE_NAMES, variable
from energy_core.telemetry.rules import DEFAULT_RULES, StorageRules


class InvalidReadingError(ValueError):
    """A reading that cannot be accepted; says which field, which value and why."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        self.field = field
        self.value = value
        self.reason = reason
        super().__init__(f"{field}={value!r}: {reason}")


@dataclass(frozen=True, slots=True)
class Reading:
    """One sample of one meter at one UTC instant.

    ``values`` maps catalogue variable names to floats. Ground truth (``is_anomaly``,
    ``anomaly_kind``) is known only for simulated or labelled data. ``score`` (higher =
    more anomalous), ``is_flagged`` and ``top_variables`` are set once a model scored it.
    ``id`` is assigned by the repository that stores it.
    """

    timestamp: datetime
    meter_id: str
    values: Mapping[str, float]
    is_anomaly: bool | None = None
    anomaly_kind: str | None = None
    score: float | None = None
    is_flagged: bool | None = None
    top_variables: tuple[str, ...] = field(default=())
    id: int | None = None

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    @property
    def is_scored(self) -> bool:
        return self.score is not None

    def scored(self, score: float, flagged: bool, top_variables: Sequence[str] = ()) -> Reading:
        """A copy carrying a model's verdict."""
        return replace(
            self, score=float(score), is_flagged=bool(flagged), top_variables=tuple(top_variables)
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
    is given), storable text, a non-empty meter id, every variable present, finite and
    within its physical bounds.
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
    for name in variables:
        if name not in reading.values:
            raise InvalidReadingError(name, None, "missing")
        value = reading.values[name]
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
    readings: Iterable[Reading], features: Sequence[str] = VARIABLE_NAMES
) -> npt.NDArray[np.float64]:
    """The readings' ``features`` as a float matrix, one row per reading."""
    rows = [[reading.values[name] for name in features] for reading in readings]
    if not rows:
        return np.empty((0, len(features)), dtype=np.float64)
    return np.asarray(rows, dtype=np.float64)


def labels(readings: Iterable[Reading]) -> npt.NDArray[np.bool_] | None:
    """Ground-truth labels when every reading carries one, else ``None``."""
    values = [reading.is_anomaly for reading in readings]
    if not values or any(value is None for value in values):
        return None
    return np.asarray(values, dtype=bool)
