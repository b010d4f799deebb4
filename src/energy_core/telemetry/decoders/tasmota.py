"""Tasmota energy monitoring: ``tele/<device>/SENSOR`` with an ``ENERGY`` object.

Units: ``Power`` W, ``ApparentPower`` VA and ``ReactivePower`` var become kW, kVA and kvar;
``Voltage`` V, ``Current`` A, ``Factor``, ``Frequency`` Hz as they are; ``Total`` (kWh, the
imported active energy counter) is ``energy_import``, ``ExportActive`` (kWh) ``energy_export``.
``Today``, ``Yesterday``, ``Period``, ``TotalStartTime`` and the rest are left out.

Several channels or phases (Tasmota prints arrays, one element each): one meter per element,
``<device>.L1``, ``<device>.L2``…; a number next to them belongs to the device meter
``<device>`` (``Total`` summed over the phases, as Tasmota prints it by default). ``Voltage``
and ``Frequency`` printed once for all channels (Tasmota's common voltage) are also each
channel's. A ``null`` is left out.

Time: Tasmota's ``Time`` is the device's local time without a zone (unless ``SetOption52 1``
adds the offset), and its default zone is not UTC. So by default (``zone=None``) a reading
takes the instant it was received, whatever the device's clock says; given the zone the devices
are set to (``Timezone`` / ``TimeStd`` / ``TimeDst``), ``Time`` is read in it, and a ``Time``
with an offset keeps its offset.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Final

from energy_core.telemetry.decoders.common import (
    MAX_CHANNELS,
    DecodeError,
    RawReading,
    local_time,
    number,
    reading,
    shown,
)

FIELDS: Final[Mapping[str, tuple[str, float]]] = {
    "Voltage": ("voltage", 1.0),
    "Current": ("current", 1.0),
    "Power": ("active_power", 1000.0),
    "ApparentPower": ("apparent_power", 1000.0),
    "ReactivePower": ("reactive_power", 1000.0),
    "Factor": ("power_factor", 1.0),
    "Frequency": ("frequency", 1.0),
    "Total": ("energy_import", 1.0),
    "ExportActive": ("energy_export", 1.0),
}
"""Tasmota's ENERGY key → (catalogue variable, divisor into the catalogue's unit)."""

COMMON: Final = frozenset({"Voltage", "Frequency"})
"""Keys Tasmota prints once when every channel shares the value."""

EXPECTED: Final = (
    'expected Tasmota energy telemetry: a JSON object with an "ENERGY" object '
    "(Voltage, Current, Power, …)"
)


def device_of(topic: str) -> str:
    """The device of a Tasmota telemetry topic: ``tele/<device>/SENSOR`` (the default
    FullTopic ``%prefix%/%topic%/``) or ``<device>/tele/SENSOR`` (``%topic%/%prefix%/``)."""
    levels = topic.split("/")
    if len(levels) >= 3 and levels[-2] == "tele":
        return levels[-3]
    return levels[-2] if len(levels) >= 2 else topic


def decode(
    topic: str,
    payload: object,
    received_at: datetime,
    *,
    device: str | None = None,
    zone: tzinfo | None = None,
) -> list[RawReading]:
    """The readings of one ``tele/<device>/SENSOR`` message (see the module's docstring)."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("ENERGY"), Mapping):
        raise DecodeError(topic, EXPECTED)
    energy = payload["ENERGY"]
    meter = device or device_of(topic)
    timestamp = _instant(topic, payload, received_at, zone)

    scalars: dict[str, float] = {}
    channels: list[dict[str, float]] = []
    common: dict[str, float] = {}
    for key, (variable, divisor) in FIELDS.items():
        if key not in energy:
            continue
        value = energy[key]
        if isinstance(value, list):
            if len(value) > MAX_CHANNELS:
                raise DecodeError(topic, f"ENERGY.{key}: more than {MAX_CHANNELS} channels")
            while len(channels) < len(value):
                channels.append({})
            for index, element in enumerate(value):
                found = number(topic, f"ENERGY.{key}[{index}]", element)
                if found is not None:
                    channels[index][variable] = found / divisor
            continue
        if isinstance(value, Mapping):
            raise DecodeError(topic, f"ENERGY.{key}={shown(value)}: expected a number")
        found = number(topic, f"ENERGY.{key}", value)
        if found is not None:
            scalars[variable] = found / divisor
            if key in COMMON:
                common[variable] = found / divisor

    if not scalars and not any(channels):
        present = {key for key in FIELDS if key in energy}
        if not present:
            raise DecodeError(topic, f"ENERGY has none of {', '.join(FIELDS)}")
        return []  # every value was null: nothing measured

    readings: list[RawReading] = []
    # With channels, the device meter holds what is not per channel; a common voltage alone
    # says nothing the channels do not.
    if scalars and (not channels or set(scalars) - set(common)):
        readings.append(reading(meter, timestamp, scalars))
    for index, values in enumerate(channels, start=1):
        if values:
            readings.append(reading(f"{meter}.L{index}", timestamp, {**common, **values}))
    return readings


def _instant(
    topic: str, payload: Mapping[str, object], received_at: datetime, zone: tzinfo | None
) -> datetime:
    if zone is None or payload.get("Time") is None:
        return received_at
    return local_time(topic, "Time", payload["Time"], zone, datetime.fromisoformat)
