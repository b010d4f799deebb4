"""Which decoder handles a topic: each device format with its topic filter, so a channel asks
the registry instead of knowing every family.

Order decides when filters overlap: the mapping file's devices first (the user named those
topics), then Tasmota, Shelly and emonhub. The device a message belongs to is the level of its
topic where the format's filter has its first ``+``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import partial
from typing import Final

from energy_core.telemetry.decoders import emon
from energy_core.telemetry.decoders import shelly as _shelly
from energy_core.telemetry.decoders import tasmota as _tasmota
from energy_core.telemetry.decoders.common import (
    DecodeError,
    Decoder,
    RawReading,
    topic_matches,
    wildcards,
)
from energy_core.telemetry.decoders.mapping import DeviceMapping, MappingFile

ValueParser = Callable[..., tuple[str, str, float]]
"""``(topic, payload, *, device)`` → (node, key, value): one value for an assembler."""

TASMOTA: Final = "tasmota"
SHELLY: Final = "shelly"
EMONHUB: Final = "emonhub"


@dataclass(frozen=True)
class DeviceFormat:
    """A device format on one topic filter: its decoder (a message → readings), or, for
    formats that send one value per message, its value parser (for an assembler)."""

    name: str
    topic: str
    expects: str
    decoder: Decoder | None = None
    parser: ValueParser | None = None

    @property
    def assembles(self) -> bool:
        """Whether messages are single values to assemble rather than whole readings."""
        return self.parser is not None


@dataclass(frozen=True)
class Found:
    """A topic's format and the device its topic names."""

    format: DeviceFormat
    topic: str
    device: str

    def decode(self, payload: object, received_at: datetime) -> list[RawReading]:
        if self.format.decoder is None:
            raise TypeError(f"{self.format.name} on {self.format.topic} assembles values")
        return self.format.decoder(self.topic, payload, received_at, device=self.device)

    def value(self, payload: object) -> tuple[str, str, float]:
        if self.format.parser is None:
            raise TypeError(f"{self.format.name} on {self.format.topic} decodes whole messages")
        return self.format.parser(self.topic, payload, device=self.device)


class DecoderRegistry:
    """Device formats in the order they are tried."""

    def __init__(
        self,
        formats: Iterable[DeviceFormat],
        *,
        emon_keys: Mapping[str, emon.EmonKey] = emon.DEFAULT_KEYS,
    ) -> None:
        self.formats: tuple[DeviceFormat, ...] = tuple(formats)
        self.emon_keys = emon_keys
        """The key map of emonhub's single values (for the channel's assembler)."""

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic filter to subscribe to, each once, in order."""
        return tuple(dict.fromkeys(fmt.topic for fmt in self.formats))

    def find(self, topic: str) -> Found | None:
        """The format that handles ``topic``, or ``None`` when none does."""
        for fmt in self.formats:
            if topic_matches(fmt.topic, topic):
                levels = wildcards(fmt.topic, topic)
                return Found(fmt, topic, levels[0] if levels else fmt.name)
        return None


def _joined(prefix: str, rest: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{rest}" if prefix else rest


def mapping_formats(mapping: MappingFile) -> list[DeviceFormat]:
    """One format per topic of the file; its devices on that topic all decode a message."""
    formats = []
    for topic in mapping.topics:
        devices = [device for device in mapping.devices if device.topic == topic]
        names = ", ".join(dict.fromkeys(device.name for device in devices))
        expects = f"expected the JSON of {names} (mapping file {mapping.source})"
        formats.append(DeviceFormat(devices[0].name, topic, expects, decoder=_all_of(devices)))
    return formats


def _all_of(devices: Sequence[DeviceMapping]) -> Decoder:
    if len(devices) == 1:
        return devices[0].decode

    def decode(
        topic: str, payload: object, received_at: datetime, *, device: str | None = None
    ) -> list[RawReading]:
        readings: list[RawReading] = []
        failures: list[DecodeError] = []
        for mapped in devices:
            try:
                readings.extend(mapped.decode(topic, payload, received_at))
            except DecodeError as error:
                failures.append(error)
        if not readings and failures:
            raise failures[0]
        return readings

    return decode


def default_registry(
    *,
    tasmota: bool = True,
    tasmota_prefix: str = "tele",
    tasmota_zone: tzinfo | None = None,
    shelly: bool = True,
    shelly_prefix: str = "",
    emonhub: bool = False,
    emonhub_prefix: str = "emon",
    mapping: MappingFile | None = None,
) -> DecoderRegistry:
    """The device formats a channel handles besides SmartEnergy's own: the mapping file's,
    Tasmota (``<prefix>/+/SENSOR``) and Shelly Gen2 (``<prefix>/+/status/+``,
    ``<prefix>/+/events/rpc``) on by default, emonhub (``<prefix>/+``, ``<prefix>/+/+``) on
    request. ``tasmota_zone``: see ``tasmota.decode`` (``None``: the receive time)."""
    formats: list[DeviceFormat] = mapping_formats(mapping) if mapping is not None else []
    keys = mapping.emon_keys if mapping and mapping.emon_keys else emon.DEFAULT_KEYS
    if tasmota:
        formats.append(
            DeviceFormat(
                TASMOTA,
                _joined(tasmota_prefix, "+/SENSOR"),
                _tasmota.EXPECTED,
                decoder=partial(_tasmota.decode, zone=tasmota_zone),
            )
        )
    if shelly:
        for rest in ("+/status/+", "+/events/rpc"):
            formats.append(
                DeviceFormat(
                    SHELLY,
                    _joined(shelly_prefix, rest),
                    _shelly.EXPECTED_TOPIC,
                    decoder=_shelly.decode,
                )
            )
    if emonhub:
        formats.append(
            DeviceFormat(
                EMONHUB,
                _joined(emonhub_prefix, "+"),
                emon.EXPECTED_JSON,
                decoder=partial(emon.decode_message, keys=keys),
            )
        )
        formats.append(
            DeviceFormat(
                EMONHUB,
                _joined(emonhub_prefix, "+/+"),
                "expected one number (an emonhub input value)",
                parser=emon.parse_value,
            )
        )
    return DecoderRegistry(formats, emon_keys=keys)
