"""emonhub and Emoncms (OpenEnergyMonitor): the Emoncms input API over HTTP (``input/post``,
``input/bulk``) and emonhub's MQTT messages (``emon/<node>/<key>`` single values,
``emon/<node>`` JSON objects).

A node sends named inputs (``power1``, ``vrms``, ``P1``, ``E1``…); the key map says which
catalogue variable each one is, its scale into the catalogue's unit and its meter, a template
where ``{node}`` is the node's name or number. The default map (``DEFAULT_KEYS``) covers what
emonTx, emonPi and emonTx4 send, single-phase:

- ``vrms``, ``Vrms``, ``V1`` → voltage (V) of meter ``<node>``;
- ``power1``…``power12`` and ``P1``…``P12`` (W) → active_power (kW) of ``<node>.1``…``<node>.12``;
- ``E1``…``E12`` (Wh, the channel's energy counter) → energy_import (kWh) of ``<node>.1``….

Anything else (temperatures, pulse counts, ``MSG``, ``rssi``…) is left out, unless the mapping
file's ``[emon.keys]`` maps it; its entries replace or add to these. Values Emoncms names by
position (``csv``, or a bulk frame without names) are keys ``"1"``, ``"2"``…
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Final, Generic, TypeVar

from energy_core.telemetry.decoders.common import (
    DecodeError,
    RawReading,
    number,
    reading,
    shown,
    unix_time,
)
from energy_core.telemetry.payload import PayloadError, decode_json

T = TypeVar("T")

MAX_TEXT: Final = 1024 * 1024
"""Longest parameter (bytes) decoded as JSON; the channel bounds the request before this."""
POST: Final = "input/post"
BULK: Final = "input/bulk"
BULK_SHAPE: Final = "expected [[time, node, values…], …]"


@dataclass(frozen=True, slots=True)
class EmonKey:
    """What one emon input is: a catalogue variable, a scale into its unit (the value is
    multiplied by it) and the meter, a template where ``{node}`` is the node."""

    variable: str
    scale: float = 1.0
    meter: str = "{node}"

    def meter_of(self, node: str) -> str:
        return self.meter.replace("{node}", node)


def _default_keys() -> dict[str, EmonKey]:
    keys = {name: EmonKey("voltage") for name in ("vrms", "Vrms", "V1")}
    for channel in range(1, 13):
        meter = f"{{node}}.{channel}"
        keys[f"power{channel}"] = EmonKey("active_power", 0.001, meter)
        keys[f"P{channel}"] = EmonKey("active_power", 0.001, meter)
        keys[f"E{channel}"] = EmonKey("energy_import", 0.001, meter)
    return keys


DEFAULT_KEYS: Final[Mapping[str, EmonKey]] = MappingProxyType(_default_keys())


def node_readings(
    topic: str,
    node: str,
    values: Mapping[str, object],
    instant: datetime,
    keys: Mapping[str, EmonKey] = DEFAULT_KEYS,
) -> list[RawReading]:
    """One reading per meter the node's mapped inputs name; unmapped inputs are left out."""
    per_meter: dict[str, dict[str, float]] = {}
    for key, value in values.items():
        spec = keys.get(key)
        if spec is None:
            continue
        found = number(topic, f"{node}.{key}", value)
        if found is not None:
            per_meter.setdefault(spec.meter_of(node), {})[spec.variable] = found * spec.scale
    return [reading(meter, instant, variables) for meter, variables in per_meter.items()]


# --- Emoncms input API (HTTP) -------------------------------------------------------------------


def decode_input_post(
    params: Mapping[str, str],
    received_at: datetime,
    *,
    keys: Mapping[str, EmonKey] = DEFAULT_KEYS,
) -> list[RawReading]:
    """``input/post``: ``node`` (default 0, as Emoncms), one of ``fulljson`` (a JSON object),
    ``json`` (Emoncms's loose ``{power1:100,power2:200}``), ``csv`` (values by position) or
    ``data``, and an optional ``time`` (Unix seconds; default: the receive time)."""
    node = str(params.get("node", "0")).strip() or "0"
    instant = received_at
    if params.get("time") not in (None, ""):
        instant = unix_time(POST, "time", params["time"])
    if params.get("fulljson") not in (None, ""):
        values = _json_object(POST, "fulljson", params["fulljson"])
    else:
        name = next((n for n in ("json", "csv", "data") if params.get(n) not in (None, "")), None)
        if name is None:
            raise DecodeError(POST, "expected node and fulljson, json, csv or data")
        values = _loose(POST, name, params[name])
    return node_readings(POST, node, values, instant, keys)


def decode_input_bulk(
    params: Mapping[str, str],
    received_at: datetime,
    *,
    keys: Mapping[str, EmonKey] = DEFAULT_KEYS,
) -> list[RawReading]:
    """``input/bulk``: ``data`` = ``[[time, node, values…], …]``, where a value is a number
    (named by its position, from 1) or an object of names and numbers. Each frame's time is
    relative to a reference, as Emoncms reads it: ``sentat`` (the sender's clock when it sent:
    the reference is now − sentat, which corrects the sender's clock), ``offset`` (now −
    offset), ``time`` (that Unix time), or else now − the last frame's time."""
    raw = params.get("data")
    if raw in (None, ""):
        raise DecodeError(BULK, f"data: missing; {BULK_SHAPE}")
    try:
        data = decode_json(str(raw).encode(), max_bytes=MAX_TEXT, max_depth=3)
    except PayloadError as error:
        raise DecodeError(BULK, f"data: not JSON ({error}); {BULK_SHAPE}") from None
    if not isinstance(data, list) or not data or not all(isinstance(f, list) for f in data):
        raise DecodeError(BULK, f"data: {BULK_SHAPE}")
    frames: list[list[object]] = data
    reference = _bulk_reference(params, frames, received_at)
    readings: list[RawReading] = []
    for index, frame in enumerate(frames):
        if len(frame) <= 2:
            continue  # Emoncms skips a frame without values
        seconds = _seconds(frame[0], f"data[{index}]: the time")
        instant = _shifted(reference, seconds, f"data[{index}]: the time {shown(frame[0])}")
        node = _node(frame[1])
        if node is None:
            raise DecodeError(BULK, f"data[{index}]: the node must be a name or a number")
        readings.extend(node_readings(BULK, node, dict(_frame_values(frame[2:])), instant, keys))
    return readings


def _bulk_reference(
    params: Mapping[str, str], frames: list[list[object]], received_at: datetime
) -> datetime:
    for name in ("sentat", "offset"):
        if params.get(name) not in (None, ""):
            unix_time(BULK, name, params[name])  # a finite number of seconds, or refused
            where = f"{name}={shown(params[name])}"
            return _shifted(received_at, -float(params[name]), where)
    if params.get("time") not in (None, ""):
        return unix_time(BULK, "time", params["time"])
    where = f"data[{len(frames) - 1}]: the time"
    last = frames[-1][0] if frames[-1] else None
    return _shifted(received_at, -_seconds(last, where), f"{where} {shown(last)}")


def _seconds(value: object, what: str) -> float:
    """``value`` as a finite number of seconds; ``DecodeError`` saying ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DecodeError(BULK, f"{what} must be a number")
    try:
        seconds = float(value)
    except OverflowError:
        seconds = math.inf
    if not math.isfinite(seconds):
        raise DecodeError(BULK, f"{what} {shown(value)} is not a number of seconds")
    return seconds


def _shifted(moment: datetime, seconds: float, what: str) -> datetime:
    """``moment`` moved by ``seconds``; ``DecodeError`` if that leaves the calendar."""
    try:
        return moment + timedelta(seconds=seconds)
    except OverflowError:
        raise DecodeError(BULK, f"{what} is out of range") from None


def _frame_values(values: list[object]) -> Iterator[tuple[str, object]]:
    position = 1
    for value in values:
        if isinstance(value, Mapping):
            for name, named in value.items():
                yield str(name), named
            continue
        if value is not None and value != "":
            yield str(position), value
        position += 1


def _node(value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def _json_object(topic: str, name: str, text: str) -> dict[str, object]:
    try:
        decoded = decode_json(text.encode(), max_bytes=MAX_TEXT, max_depth=2)
    except PayloadError as error:
        raise DecodeError(topic, f"{name}: not JSON: {error}") from None
    if not isinstance(decoded, dict):
        raise DecodeError(topic, f"{name}: expected a JSON object")
    return decoded


_LOOSE_DROP = re.compile(r"[^\w\s\-.:,]", re.UNICODE)


def _loose(topic: str, name: str, text: str) -> dict[str, object]:
    """Emoncms's loose format: ``key:value`` pairs and bare values (named by position, from
    1), separated by commas; other characters (braces, quotes) are ignored as Emoncms ignores
    them."""
    values: dict[str, object] = {}
    position = 1
    for pair in _LOOSE_DROP.sub("", text).split(","):
        key, colon, value = pair.partition(":")
        if colon:
            key, value = key.strip(), value.strip()
            if not key:
                raise DecodeError(topic, f"{name}: a value without a name before ':'")
            values[key] = _numeric(topic, f"{name}: {key}", value)
        else:
            values[str(position)] = _numeric(topic, f"{name}: ", key.strip(), bare=True)
            position += 1
    return values


def _numeric(topic: str, where: str, text: str, *, bare: bool = False) -> float:
    try:
        return float(text)
    except ValueError:
        shown_where = f"{where}{shown(text)}" if bare else f"{where}={shown(text)}"
        raise DecodeError(topic, f"{shown_where}: expected a number") from None


# --- emonhub over MQTT ----------------------------------------------------------------------------

EXPECTED_JSON: Final = (
    "expected an emonhub JSON message: a JSON object of input names and numbers "
    '(and "time", Unix seconds)'
)


def decode_message(
    topic: str,
    payload: object,
    received_at: datetime,
    *,
    device: str | None = None,
    keys: Mapping[str, EmonKey] = DEFAULT_KEYS,
) -> list[RawReading]:
    """``emon/<node>``: a JSON object of a node's inputs, with an optional ``time``."""
    if not isinstance(payload, Mapping):
        raise DecodeError(topic, EXPECTED_JSON)
    node = device or topic.rsplit("/", 1)[-1]
    values = dict(payload)
    instant = received_at
    if values.get("time") is not None:
        instant = unix_time(topic, "time", values.pop("time"))
    return node_readings(topic, node, values, instant, keys)


def parse_value(
    topic: str, payload: object, *, device: str | None = None
) -> tuple[str, str, float]:
    """``emon/<node>/<key>``: one input's value; the node (``device`` when the channel knows
    it, else the level before the key) and the key come from the topic."""
    levels = topic.split("/")
    if isinstance(payload, bool) or not isinstance(payload, int | float) or len(levels) < 2:
        raise DecodeError(topic, "expected one number (an emonhub input value)")
    return device or levels[-2], levels[-1], float(payload)


@dataclass
class Assembled(Generic[T]):
    """One node's values joined: its readings (possibly none: nothing mapped) and the tags of
    the messages they came from."""

    node: str
    readings: list[RawReading]
    tags: list[T]


@dataclass
class _Group(Generic[T]):
    started: datetime
    values: dict[str, float] = field(default_factory=dict)
    tags: list[T] = field(default_factory=list)


class EmonAssembler(Generic[T]):
    """Joins emonhub's single values (one MQTT message per input, no timestamp) into one
    reading per meter: a node's values received within ``window`` of its first belong
    together, at that first value's instant. A key arriving again closes the node's group at
    once (it is the next frame). ``due`` closes the groups whose window has passed, ``flush``
    all of them. Each value carries a tag (its message), returned with the group."""

    def __init__(
        self,
        *,
        keys: Mapping[str, EmonKey] = DEFAULT_KEYS,
        window: timedelta = timedelta(seconds=1),
    ) -> None:
        self.keys = keys
        self.window = window
        self._groups: dict[str, _Group[T]] = {}

    @property
    def pending(self) -> int:
        """Values held, not yet in a closed group."""
        return sum(len(group.tags) for group in self._groups.values())

    def add(
        self, node: str, key: str, value: float, received_at: datetime, tag: T
    ) -> list[Assembled[T]]:
        """Hold one value; returns the node's previous group if this value closed it."""
        closed: list[Assembled[T]] = []
        group = self._groups.get(node)
        if group is not None and (
            key in group.values or received_at - group.started >= self.window
        ):
            closed.append(self._close(node))
            group = None
        if group is None:
            group = self._groups[node] = _Group(received_at)
        group.values[key] = value
        group.tags.append(tag)
        return closed

    def due(self, now: datetime) -> list[Assembled[T]]:
        """The groups whose window has passed by ``now``, closed."""
        ready = [node for node, g in self._groups.items() if now - g.started >= self.window]
        return [self._close(node) for node in ready]

    def flush(self) -> list[Assembled[T]]:
        """Every group, closed, whatever its age."""
        return [self._close(node) for node in list(self._groups)]

    def _close(self, node: str) -> Assembled[T]:
        group = self._groups.pop(node)
        readings = node_readings(node, node, group.values, group.started, self.keys)
        return Assembled(node, readings, group.tags)


__all__ = [
    "DEFAULT_KEYS",
    "Assembled",
    "EmonAssembler",
    "EmonKey",
    "decode_input_bulk",
    "decode_input_post",
    "decode_message",
    "node_readings",
    "parse_value",
]
