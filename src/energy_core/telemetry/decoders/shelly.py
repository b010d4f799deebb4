"""Shelly Gen2+ (Plus, Pro, Gen3, Gen4): component statuses on ``<device>/status/<component>``
and ``NotifyStatus`` / ``NotifyFullStatus`` notifications on ``<device>/events/rpc``.

Metered components and what they give (W, VA → kW, kVA; Wh → kWh):

- ``switch``, ``cover``, ``light``, ``pm1``: ``apower`` → active_power, ``voltage``, ``current``,
  ``pf`` → power_factor, ``freq`` → frequency, ``aenergy.total`` → energy_import,
  ``ret_aenergy.total`` → energy_export.
- ``em1`` (one channel of an EM / Pro EM): ``act_power``, ``aprt_power`` → apparent_power,
  ``voltage``, ``current``, ``pf``, ``freq``; ``em1data``: ``total_act_energy``,
  ``total_act_ret_energy``.
- ``em`` (three-phase Pro 3EM / 3EM-63): per phase ``a_``/``b_``/``c_`` fields to meters
  ``<device>.L1``/``.L2``/``.L3``, and ``total_current``, ``total_act_power``,
  ``total_aprt_power`` to ``<device>``; ``emdata``: ``a_total_act_energy``… and ``total_act``,
  ``total_act_ret``.

Meters: instance 0 of a component is the device itself, ``<device>``; instance N is
``<device>.N`` (a Plus 2PM's second relay, a Pro EM's second clamp). Other components (sys,
wifi, input, temperature…) and statuses without any of these fields (an unmetered relay) give
no reading and are not an error. A frequency of 0 Hz is what a Shelly reports where no voltage
is connected: not a measurement, left out; so is a ``null`` (in a notification: the key went
away). The switch's ``temperature`` is the device's own, not a motor's: left out.

Instants: a status has none of its own (the receive time is used); a notification has
``params.ts`` (Unix seconds, UTC).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from energy_core.telemetry.decoders.common import (
    DecodeError,
    RawReading,
    number,
    reading,
    shown,
    unix_time,
)

_W: Final = 1000.0

_SWITCH: Final[Mapping[str, tuple[str, float]]] = {
    "apower": ("active_power", _W),
    "voltage": ("voltage", 1.0),
    "current": ("current", 1.0),
    "pf": ("power_factor", 1.0),
    "freq": ("frequency", 1.0),
    "aenergy.total": ("energy_import", _W),
    "ret_aenergy.total": ("energy_export", _W),
}
METERED: Final[Mapping[str, Mapping[str, tuple[str, float]]]] = {
    "switch": _SWITCH,
    "cover": _SWITCH,
    "light": _SWITCH,
    "pm1": _SWITCH,
    "em1": {
        "act_power": ("active_power", _W),
        "aprt_power": ("apparent_power", _W),
        "voltage": ("voltage", 1.0),
        "current": ("current", 1.0),
        "pf": ("power_factor", 1.0),
        "freq": ("frequency", 1.0),
    },
    "em1data": {
        "total_act_energy": ("energy_import", _W),
        "total_act_ret_energy": ("energy_export", _W),
    },
}
"""Component type → its field (dotted into sub-objects) → (variable, divisor)."""

PHASES: Final = (("a", "L1"), ("b", "L2"), ("c", "L3"))
EM_PHASE: Final[Mapping[str, tuple[str, float]]] = {
    "current": ("current", 1.0),
    "voltage": ("voltage", 1.0),
    "act_power": ("active_power", _W),
    "aprt_power": ("apparent_power", _W),
    "pf": ("power_factor", 1.0),
    "freq": ("frequency", 1.0),
}
EM_TOTAL: Final[Mapping[str, tuple[str, float]]] = {
    "total_current": ("current", 1.0),
    "total_act_power": ("active_power", _W),
    "total_aprt_power": ("apparent_power", _W),
}
EMDATA_PHASE: Final[Mapping[str, tuple[str, float]]] = {
    "total_act_energy": ("energy_import", _W),
    "total_act_ret_energy": ("energy_export", _W),
}
EMDATA_TOTAL: Final[Mapping[str, tuple[str, float]]] = {
    "total_act": ("energy_import", _W),
    "total_act_ret": ("energy_export", _W),
}

NOTIFICATIONS: Final = frozenset({"NotifyStatus", "NotifyFullStatus"})
EXPECTED_TOPIC: Final = (
    "expected a Shelly Gen2 topic: <device>/status/<component> or <device>/events/rpc"
)
EXPECTED_STATUS: Final = "expected a Shelly component status: a JSON object"
EXPECTED_RPC: Final = (
    'expected a Shelly RPC notification: a JSON object with "method" (NotifyStatus, '
    'NotifyFullStatus or NotifyEvent) and "params"'
)


def decode(
    topic: str, payload: object, received_at: datetime, *, device: str | None = None
) -> list[RawReading]:
    """The readings of one Shelly status or notification (see the module's docstring)."""
    levels = topic.split("/")
    if len(levels) >= 3 and levels[-2:] == ["events", "rpc"]:
        return _notification(topic, payload, received_at, device or levels[-3])
    if len(levels) >= 3 and levels[-2] == "status":
        if not isinstance(payload, Mapping):
            raise DecodeError(topic, EXPECTED_STATUS)
        return component(topic, device or levels[-3], levels[-1], payload, received_at)
    raise DecodeError(topic, EXPECTED_TOPIC)


def _notification(
    topic: str, payload: object, received_at: datetime, device: str
) -> list[RawReading]:
    if not isinstance(payload, Mapping) or not isinstance(payload.get("method"), str):
        raise DecodeError(topic, EXPECTED_RPC)
    if payload["method"] not in NOTIFICATIONS:
        return []  # NotifyEvent and the like: events, not measurements
    params = payload.get("params")
    if not isinstance(params, Mapping):
        raise DecodeError(topic, f"params={shown(params)}: expected a JSON object")
    ts = params.get("ts")
    instant = received_at if ts is None else unix_time(topic, "params.ts", ts)
    readings: list[RawReading] = []
    for key, status in params.items():
        if key == "ts" or not isinstance(status, Mapping):
            continue
        readings.extend(component(topic, device, key, status, instant))
    return readings


def component(
    topic: str,
    device: str,
    key: str,
    status: Mapping[str, object],
    instant: datetime,
) -> list[RawReading]:
    """The readings of one component's status (``key`` like ``switch:0`` or ``em:0``)."""
    kind, _, instance = key.partition(":")
    meter = device if instance in ("", "0") else f"{device}.{instance}"
    if kind in METERED:
        values = _fields(topic, key, status, METERED[kind])
        return [reading(meter, instant, values)] if values else []
    if kind in ("em", "emdata"):
        phase_fields, total_fields = (
            (EM_PHASE, EM_TOTAL) if kind == "em" else (EMDATA_PHASE, EMDATA_TOTAL)
        )
        readings: list[RawReading] = []
        totals = _fields(topic, key, status, total_fields)
        if totals:
            readings.append(reading(meter, instant, totals))
        for letter, phase in PHASES:
            prefixed = {f"{letter}_{field}": spec for field, spec in phase_fields.items()}
            values = _fields(topic, key, status, prefixed)
            if values:
                readings.append(reading(f"{meter}.{phase}", instant, values))
        return readings
    return []


def _fields(
    topic: str,
    key: str,
    status: Mapping[str, object],
    fields: Mapping[str, tuple[str, float]],
) -> dict[str, float]:
    values: dict[str, float] = {}
    for field, (variable, divisor) in fields.items():
        value: object = status
        for part in field.split("."):
            if value is None:
                break  # absent, or null: the key went away
            if not isinstance(value, Mapping):
                where = f"{key}.{field.rsplit('.', 1)[0]}"
                raise DecodeError(topic, f"{where}={shown(value)}: expected a JSON object")
            value = value.get(part)
        found = number(topic, f"{key}.{field}", value)
        if found is None or (variable == "frequency" and found == 0):
            continue
        values[variable] = found / divisor
    return values
