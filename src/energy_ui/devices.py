"""Devices' own payloads, as the settings configure them: the mapping file read and checked,
and the registry of device formats the MQTT subscriber and the HTTP API decode with."""

from __future__ import annotations

from datetime import UTC, tzinfo
from zoneinfo import ZoneInfo

from energy_core.telemetry.decoders import DecoderRegistry, MappingFile, default_registry
from energy_core.telemetry.decoders.emon import DEFAULT_KEYS, EmonKey
from energy_core.telemetry.decoders.mapping import MappingFileError, parse_mapping
from energy_ui.settings import Settings


def load_mapping(settings: Settings) -> MappingFile | None:
    """The mapping file of ``ENERGY_DEVICE_MAPPINGS``, checked whole (``None`` without one);
    ``MappingFileError`` names the file, the key and what is wrong."""
    path = settings.device_mappings
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise MappingFileError(
            f"ENERGY_DEVICE_MAPPINGS={str(path)!r}: cannot read: {error}"
        ) from None
    return parse_mapping(text, str(path))


def tasmota_zone(settings: Settings) -> tzinfo | None:
    """The zone Tasmota's ``Time`` is read in; ``None``: the receive time is used."""
    name = settings.tasmota_time_zone
    if name == "receive":
        return None
    return UTC if name.upper() == "UTC" else ZoneInfo(name)


def device_registry(settings: Settings, mapping: MappingFile | None = None) -> DecoderRegistry:
    """The device formats the MQTT subscriber takes besides SmartEnergy's own topic."""
    return default_registry(
        tasmota=settings.mqtt_tasmota,
        tasmota_prefix=settings.mqtt_tasmota_prefix,
        tasmota_zone=tasmota_zone(settings),
        shelly=settings.mqtt_shelly,
        shelly_prefix=settings.mqtt_shelly_prefix,
        emonhub=settings.mqtt_emonhub,
        emonhub_prefix=settings.mqtt_emonhub_prefix,
        mapping=mapping,
    )


def emon_keys(mapping: MappingFile | None) -> dict[str, EmonKey]:
    """The emon key map: the defaults, with the mapping file's ``[emon.keys]`` over them."""
    if mapping is not None and mapping.emon_keys is not None:
        return dict(mapping.emon_keys)
    return dict(DEFAULT_KEYS)


def disabled_topics(settings: Settings) -> tuple[str, ...]:
    """The built-in families' filters turned off in these settings: a persistent session may
    still hold their subscriptions from before, so the subscriber drops them."""
    everything = default_registry(
        tasmota_prefix=settings.mqtt_tasmota_prefix,
        shelly_prefix=settings.mqtt_shelly_prefix,
        emonhub=True,
        emonhub_prefix=settings.mqtt_emonhub_prefix,
    ).topics
    wanted = set(device_registry(settings).topics)
    return tuple(topic for topic in everything if topic not in wanted)
