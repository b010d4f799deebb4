"""The mapping file: a device nobody coded, described in TOML by its user.

```toml
[[device]]
name = "acme-meter"             # optional: named in errors
topic = "acme/+/telemetry"      # MQTT topic filter; {1}, {2}… are its '+' levels
meter = "{1}"                   # optional, default {1}: the meter id, from the topic
timestamp = "ts"                # optional JSON path; without it, the receive time
timestamp_format = "epoch_ms"   # iso8601 (default), epoch_s, epoch_ms or a strftime pattern
time_zone = "Europe/Madrid"     # optional, default UTC: for times written without an offset

[device.variables]              # catalogue variable = JSON path, or { path, scale }
voltage = "data.v"
active_power = { path = "data.p", scale = 0.001 }   # W → kW: the value is multiplied
current = "data.phases[0].i"

[emon.keys]                     # emonhub / Emoncms inputs (see emon.DEFAULT_KEYS)
T1 = { variable = "motor_temperature", meter = "{node}" }
```

A JSON path is names and ``[index]``es joined by dots (``data.phases[0].v``, ``[1].v`` for a
top-level array). Several ``[[device]]`` tables may share a topic (one per phase, say): each
gives its reading. A field the message lacks is left out; a message with none of them, or a
field that is not a number, is refused. ``parse_mapping`` checks the whole file and names the
file, the key and what is wrong.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.decoders.common import (
    DecodeError,
    RawReading,
    check_filter,
    local_time,
    number,
    reading,
    shown,
    unix_time,
    wildcards,
)
from energy_core.telemetry.decoders.emon import DEFAULT_KEYS, EmonKey

FORMATS: Final = ("iso8601", "epoch_s", "epoch_ms")
DEVICE_KEYS: Final = (
    "name",
    "topic",
    "meter",
    "timestamp",
    "timestamp_format",
    "time_zone",
    "variables",
)
_PATH: Final = re.compile(r"(?:[^.\[\]]+|\[\d+\])(?:\[\d+\])*(?:\.[^.\[\]]+(?:\[\d+\])*)*")
_STEP: Final = re.compile(r"[^.\[\]]+|\[\d+\]")
_PLACEHOLDER: Final = re.compile(r"\{([^{}]*)\}")


class MappingFileError(ValueError):
    """A mapping file that cannot be used: the message names the file, the key and why."""


@dataclass(frozen=True, slots=True)
class Path:
    """A JSON path: names (object keys) and integers (list indexes)."""

    text: str
    steps: tuple[str | int, ...]

    @classmethod
    def parse(cls, text: str) -> Path:
        if not _PATH.fullmatch(text):
            raise ValueError(
                f"path {text!r}: expected names and [indexes] joined by dots, e.g. data.phases[0].v"
            )
        steps = tuple(
            int(step[1:-1]) if step.startswith("[") else step for step in _STEP.findall(text)
        )
        return cls(text, steps)

    def find(self, document: object) -> tuple[bool, object]:
        """``(True, value)`` where the path leads, ``(False, None)`` where it does not."""
        value = document
        for step in self.steps:
            if isinstance(step, int):
                if not isinstance(value, list) or step >= len(value):
                    return False, None
                value = value[step]
            else:
                if not isinstance(value, Mapping) or step not in value:
                    return False, None
                value = value[step]
        return True, value


@dataclass(frozen=True, slots=True)
class Field:
    variable: str
    path: Path
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class DeviceMapping:
    """One ``[[device]]`` table: how a message on ``topic`` becomes one reading."""

    name: str
    topic: str
    meter: str
    fields: tuple[Field, ...]
    timestamp: Path | None = None
    timestamp_format: str = "iso8601"
    time_zone: tzinfo = UTC

    def meter_of(self, topic: str) -> str:
        levels = wildcards(self.topic, topic)
        return _PLACEHOLDER.sub(lambda m: levels[int(m[1]) - 1], self.meter)

    def decode(
        self, topic: str, payload: object, received_at: datetime, *, device: str | None = None
    ) -> list[RawReading]:
        """The message's reading (``DecodeError`` naming this device when it is not in the
        mapped shape). ``device`` is not used: the meter comes from this table's template."""
        roots = {isinstance(spec.path.steps[0], int) for spec in self.fields}
        if not (isinstance(payload, list) and True in roots) and not (
            isinstance(payload, Mapping) and False in roots
        ):
            shape = "a JSON array" if roots == {True} else "a JSON object"
            raise DecodeError(topic, f"{self.name}: expected {shape}")
        values: dict[str, float] = {}
        for spec in self.fields:
            found, value = spec.path.find(payload)
            if not found:
                continue
            try:
                measured = number(topic, spec.path.text, value)
            except DecodeError as error:
                raise DecodeError(topic, f"{self.name}: {error.problem}") from None
            if measured is not None:
                values[spec.variable] = measured * spec.scale
        if not values:
            paths = ", ".join(spec.path.text for spec in self.fields)
            raise DecodeError(
                topic, f"{self.name}: none of the mapped fields is in the message ({paths})"
            )
        return [reading(self.meter_of(topic), self._instant(topic, payload, received_at), values)]

    def _instant(self, topic: str, payload: object, received_at: datetime) -> datetime:
        if self.timestamp is None:
            return received_at
        found, value = self.timestamp.find(payload)
        where = self.timestamp.text
        if not found or value is None:
            raise DecodeError(topic, f"{self.name}: {where}: missing (the timestamp field)")
        try:
            if self.timestamp_format == "epoch_s":
                return unix_time(topic, where, value)
            if self.timestamp_format == "epoch_ms":
                seconds = _milliseconds(value)
                return unix_time(topic, where, value if seconds is None else seconds)
            parse = (
                datetime.fromisoformat
                if self.timestamp_format == "iso8601"
                else lambda text: datetime.strptime(text, self.timestamp_format)
            )
            return local_time(topic, where, value, self.time_zone, parse)
        except DecodeError:
            raise DecodeError(
                topic, f"{self.name}: {where}={shown(value)}: expected {self.timestamp_format}"
            ) from None


def _milliseconds(value: object) -> float | None:
    try:
        if isinstance(value, str):
            return float(value) / 1000
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value / 1000
    except (ValueError, OverflowError):
        return None
    return None


@dataclass(frozen=True, slots=True)
class MappingFile:
    """A parsed mapping file: its devices and its emon keys (the defaults with the file's
    ``[emon.keys]`` over them; ``None`` when the file has none)."""

    source: str
    devices: tuple[DeviceMapping, ...]
    emon_keys: Mapping[str, EmonKey] | None = None

    @property
    def topics(self) -> tuple[str, ...]:
        """The topic filters of the file's devices, each once, in the file's order."""
        return tuple(dict.fromkeys(device.topic for device in self.devices))


def parse_mapping(text: str, source: str) -> MappingFile:
    """The mapping file ``text`` (read from ``source``, named in errors) checked whole:
    ``MappingFileError`` names the file, the key and what is wrong."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MappingFileError(f"{source}: not valid TOML: {error}") from None
    try:
        _known(document, ("device", "emon"), "")
        tables = document.get("device", [])
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ValueError("device: must be a list of tables ([[device]])")
        devices = tuple(_device(index, table) for index, table in enumerate(tables))
        emon_keys = _emon(document["emon"]) if "emon" in document else None
    except ValueError as error:
        raise MappingFileError(f"{source}: {error}") from None
    return MappingFile(source, devices, emon_keys)


def _known(table: Mapping[str, object], known: Sequence[str], where: str) -> None:
    for key in table:
        if key not in known:
            raise ValueError(f"{where}unknown key {key!r}; known: {', '.join(known)}")


def _device(index: int, table: Mapping[str, object]) -> DeviceMapping:
    name = table.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise ValueError(f"device[{index}]: name: must be text")
    label = f'device[{index}] ("{name}")' if name else f"device[{index}]"
    try:
        _known(table, DEVICE_KEYS, "")
        topic = _topic(table.get("topic"))
        count = topic.split("/").count("+")
        meter = _meter(table.get("meter"), count)
        variables = table.get("variables")
        if not isinstance(variables, Mapping) or not variables:
            raise ValueError("variables: missing; map at least one variable")
        fields = tuple(_field(variable, spec) for variable, spec in variables.items())
        timestamp = _path_of(table["timestamp"], "timestamp") if "timestamp" in table else None
        time_format = _time_format(table.get("timestamp_format", "iso8601"))
        zone = _zone(table.get("time_zone", "UTC"))
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from None
    return DeviceMapping(
        name=str(name) if name else label,
        topic=topic,
        meter=meter,
        fields=fields,
        timestamp=timestamp,
        timestamp_format=time_format,
        time_zone=zone,
    )


def _topic(value: object) -> str:
    if value is None:
        raise ValueError("topic: missing")
    if not isinstance(value, str):
        raise ValueError(f"topic: must be text, got {shown(value)}")
    try:
        return check_filter(value)
    except ValueError as error:
        raise ValueError(f"topic {value!r}: {error}") from None


def _meter(value: object, count: int) -> str:
    if value is None:
        if count == 0:
            raise ValueError("meter: missing: the topic has no '+' level to name the meter")
        return "{1}"
    if not isinstance(value, str) or not value:
        raise ValueError(f"meter: must be text, got {shown(value)}")
    for placeholder in _PLACEHOLDER.findall(value):
        if not placeholder.isdigit():
            raise ValueError(f"meter {value!r}: only {{1}}, {{2}}, … name topic levels")
        if not 1 <= int(placeholder) <= count:
            raise ValueError(
                f"meter {value!r}: the topic has {count} '+' level(s), {{1}} to {{{count}}}"
            )
    return value


def _field(variable: str, spec: object) -> Field:
    if variable not in VARIABLE_NAMES:
        raise ValueError(
            f"variables.{variable}: unknown variable; known: {', '.join(VARIABLE_NAMES)}"
        )
    if isinstance(spec, str):
        return Field(variable, _path_of(spec, f"variables.{variable}"))
    if not isinstance(spec, Mapping):
        raise ValueError(f"variables.{variable}: expected a JSON path or {{ path = …, scale = … }}")
    _known(spec, ("path", "scale"), f"variables.{variable}: ")
    if "path" not in spec:
        raise ValueError(f"variables.{variable}.path: missing")
    path = _path_of(spec["path"], f"variables.{variable}")
    return Field(variable, path, _scale(spec.get("scale", 1.0), f"variables.{variable}.scale"))


def _path_of(value: object, where: str) -> Path:
    if not isinstance(value, str):
        raise ValueError(f"{where}: must be a JSON path (text), got {shown(value)}")
    try:
        return Path.parse(value)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


def _scale(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: must be a number, got {shown(value)}")
    if not math.isfinite(value) or value == 0:
        raise ValueError(f"{where}: must be a finite number other than 0")
    return float(value)


def _time_format(value: object) -> str:
    if isinstance(value, str) and (value in FORMATS or "%" in value):
        return value
    raise ValueError(
        f"timestamp_format {shown(value)}: expected iso8601, epoch_s, epoch_ms or a "
        "strftime pattern such as %Y-%m-%d %H:%M:%S"
    )


def _zone(value: object) -> tzinfo:
    if not isinstance(value, str) or not value:
        raise ValueError(f"time_zone {shown(value)}: expected a zone name such as Europe/Madrid")
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"time_zone {value!r}: unknown time zone") from None


def _emon(table: object) -> Mapping[str, EmonKey]:
    if not isinstance(table, Mapping):
        raise ValueError("emon: must be a table ([emon.keys])")
    _known(table, ("keys",), "emon: ")
    entries = table.get("keys", {})
    if not isinstance(entries, Mapping):
        raise ValueError("emon.keys: must be a table of input names")
    keys = dict(DEFAULT_KEYS)
    for key, spec in entries.items():
        where = f"emon.keys.{key}"
        if not isinstance(spec, Mapping):
            raise ValueError(f"{where}: expected {{ variable = …, scale = …, meter = … }}")
        _known(spec, ("variable", "scale", "meter"), f"{where}: ")
        variable = spec.get("variable")
        if variable is None:
            raise ValueError(f"{where}: variable: missing")
        if variable not in VARIABLE_NAMES:
            raise ValueError(
                f"{where}.variable: unknown variable {shown(variable)}; "
                f"known: {', '.join(VARIABLE_NAMES)}"
            )
        meter = spec.get("meter", "{node}")
        if (
            not isinstance(meter, str)
            or not meter
            or any(placeholder != "node" for placeholder in _PLACEHOLDER.findall(meter))
        ):
            raise ValueError(f"{where}.meter {shown(meter)}: a meter id where {{node}} is the node")
        keys[str(key)] = EmonKey(
            str(variable), _scale(spec.get("scale", 1.0), f"{where}.scale"), meter
        )
    return keys
