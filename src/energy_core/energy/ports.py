"""The read port of energy insight: per-meter, per-minute aggregates of the variables that
energy figures are made of.

Minutes are epoch-aligned (``energy_core.telemetry.buckets``), which is what PostgreSQL's
per-minute rollups hold: an adapter there answers without touching raw rows. The in-memory
adapter computes the same aggregates from readings (``aggregate_minutes``), and the contract
suite holds both to the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import numpy as np
import numpy.typing as npt

from energy_core.telemetry.buckets import EPOCH

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ENERGY_VARIABLES: tuple[str, ...] = (
    "active_power",
    "power_factor",
    "reactive_power",
    "energy_import",
    "energy_export",
)
"""The catalogue variables energy insight reads (kW, –, kvar, kWh, kWh)."""
REGISTERS: tuple[str, ...] = ("energy_import", "energy_export")
"""The energy registers among them: read by their envelope, the others by their mean."""

MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True, eq=False)
class VariableMinutes:
    """One variable of one meter, minute by minute (arrays aligned with
    ``MeterMinutes.minutes``): how many readings of the minute carry it, and the mean,
    minimum and maximum of their values (NaN where ``count`` is 0).

    What energy figures use, and every adapter gives: ``mean`` of active power, power
    factor and reactive power, ``minimum`` and ``maximum`` of the registers
    (``REGISTERS``). The other statistics may be NaN (an adapter may leave out what no
    figure reads)."""

    count: IntArray
    mean: FloatArray
    minimum: FloatArray
    maximum: FloatArray

    @classmethod
    def empty(cls, size: int) -> VariableMinutes:
        """``size`` minutes without a value."""
        nan = np.full(size, np.nan)
        return cls(np.zeros(size, dtype=np.int64), nan, nan.copy(), nan.copy())


@dataclass(frozen=True, slots=True, eq=False)
class MeterMinutes:
    """The per-minute aggregates of one meter.

    ``minutes``: the start of each minute, in seconds since the Unix epoch (UTC), ascending,
    only minutes in which at least one reading carries one of ``ENERGY_VARIABLES``.
    ``variables``: every name of ``ENERGY_VARIABLES``, each with arrays as long as
    ``minutes`` (a variable the meter does not send has ``count`` 0 throughout).
    """

    meter_id: str
    minutes: IntArray
    variables: Mapping[str, VariableMinutes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        size = len(self.minutes)
        filled = {
            name: self.variables.get(name) or VariableMinutes.empty(size)
            for name in ENERGY_VARIABLES
        }
        for name, values in filled.items():
            if not len(values.count) == len(values.mean) == size:
                raise ValueError(f"{self.meter_id}: {name}: arrays must be as long as minutes")
        object.__setattr__(self, "variables", filled)

    def __getitem__(self, name: str) -> VariableMinutes:
        return self.variables[name]

    def __len__(self) -> int:
        return len(self.minutes)


def check_minute_window(start: datetime, end: datetime) -> tuple[int, int]:
    """``start`` and ``end`` as epoch seconds, after checking that both are aware, on whole
    minutes, and in order; ``ValueError`` naming the bound otherwise."""
    bounds = []
    for name, moment in (("start", start), ("end", end)):
        if moment.tzinfo is None:
            raise ValueError(f"{name} {moment.isoformat()}: must carry a time zone (UTC)")
        if (moment - EPOCH) % MINUTE:
            raise ValueError(f"{name} {moment.isoformat()}: must be on a whole minute")
        bounds.append(int((moment - EPOCH).total_seconds()))
    if bounds[1] < bounds[0]:
        raise ValueError(f"end {end.isoformat()}: must not be before start {start.isoformat()}")
    return bounds[0], bounds[1]


class EnergyQueries(Protocol):
    """Reads energy insight needs. Never changes anything."""

    def minutes(
        self, start: datetime, end: datetime, meter_ids: Sequence[str] = ()
    ) -> list[MeterMinutes]:
        """The per-minute aggregates of every meter (or only ``meter_ids``) for the minutes
        from ``start`` (inclusive) to ``end`` (exclusive), both on whole minutes; one entry
        per meter with at least one such minute, in meter-id order."""
        ...
