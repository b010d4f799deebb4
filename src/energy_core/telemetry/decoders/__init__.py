"""Devices' own payloads decoded into SmartEnergy's raw readings: Tasmota, Shelly Gen2+,
emonhub / Emoncms, and any other JSON through a mapping file; and a registry saying which
decoder handles a topic. Pure functions over decoded JSON: no broker, no HTTP, no clock.

Every decoder returns mappings in the native raw shape (``meter_id``, ``timestamp``, the
catalogue variables the device sent, in catalogue units) for the one ingest validation to
check, or raises ``DecodeError`` naming the topic and the shape it expected.
"""

from energy_core.telemetry.decoders import emon, mapping, shelly, tasmota
from energy_core.telemetry.decoders.common import (
    DecodeError,
    Decoder,
    RawReading,
    topic_matches,
    wildcards,
)
from energy_core.telemetry.decoders.emon import EmonAssembler, EmonKey
from energy_core.telemetry.decoders.mapping import MappingFile, MappingFileError, parse_mapping
from energy_core.telemetry.decoders.registry import (
    DecoderRegistry,
    DeviceFormat,
    Found,
    default_registry,
)

__all__ = [
    "DecodeError",
    "Decoder",
    "DecoderRegistry",
    "DeviceFormat",
    "EmonAssembler",
    "EmonKey",
    "Found",
    "MappingFile",
    "MappingFileError",
    "RawReading",
    "default_registry",
    "emon",
    "mapping",
    "parse_mapping",
    "shelly",
    "tasmota",
    "topic_matches",
    "wildcards",
]
