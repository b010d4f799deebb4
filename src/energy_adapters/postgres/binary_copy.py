"""Readings encoded in PostgreSQL's binary COPY format.

Binary rather than text or CSV because formatting floats as text (``repr``) costs about
four times more client CPU than the whole rest of an ingest: packing them is nearly free.
Format: https://www.postgresql.org/docs/current/sql-copy.html (section "Binary Format").
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.readings import Reading

# The columns in the order they are encoded: fixed-width ones first, then the rest.
COLUMNS: tuple[str, ...] = (
    "id",
    "timestamp",
    *VARIABLE_NAMES,
    "meter_id",
    "is_anomaly",
    "anomaly_kind",
    "score",
    "is_flagged",
    "top_variables",
    "flagged_by",
)

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_NULL = struct.pack(">i", -1)
_TRUE = struct.pack(">ib", 1, 1)
_FALSE = struct.pack(">ib", 1, 0)
_BOOLEANS: dict[bool | None, bytes] = {None: _NULL, True: _TRUE, False: _FALSE}
_TEXT_OID = 25
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_LAYOUTS_KEPT = 256
"""Encodings of distinct sets of variables kept per encoder (a fleet has a few)."""
_SCORE = struct.Struct(">id")
_LENGTH = struct.Struct(">i")


def _text_field(value: str) -> bytes:
    encoded = value.encode("utf-8")
    return _LENGTH.pack(len(encoded)) + encoded


def _cached_text(cache: dict[str, bytes], value: str | None) -> bytes:
    """``value`` as a text field (NULL for None), encoded once per distinct value."""
    if value is None:
        return _NULL
    field = cache.get(value)
    if field is None:
        field = cache[value] = _text_field(value)
    return field


def _text_array_field(items: Sequence[str]) -> bytes:
    if not items:
        body = struct.pack(">iii", 0, 0, _TEXT_OID)
    else:
        body = struct.pack(">iiiii", 1, 0, _TEXT_OID, len(items), 1) + b"".join(
            _text_field(item) for item in items
        )
    return _LENGTH.pack(len(body)) + body


def microseconds_since_2000(moment: datetime) -> int:
    """PostgreSQL's internal timestamptz value of ``moment`` (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _PG_EPOCH) // _MICROSECOND


def encode_readings(readings: Sequence[Reading], ids: Sequence[int]) -> bytes:
    """``readings`` with their ``ids`` as one binary COPY payload for :data:`COLUMNS`."""
    return HEADER + ReadingEncoder().rows(readings, ids) + TRAILER


_Layout = tuple[Callable[..., bytes], tuple[str | None, ...]]


def _layout(present: Sequence[str]) -> _Layout:
    """The fixed part of a row whose reading carries the variables ``present`` (any order):
    field count, id and timestamp, then per catalogue variable either (length 8, 8-byte
    value) or the NULL marker (length -1, no value); and per catalogue variable its name
    when carried, ``None`` when not."""
    slots = tuple(name if name in present else None for name in VARIABLE_NAMES)
    layout = ">h" + "iq" * 2 + "".join("i" if name is None else "id" for name in slots)
    return struct.Struct(layout).pack, slots


class ReadingEncoder:
    """Encodes readings as binary COPY rows (without the payload's header and trailer).

    Meter ids, anomaly kinds, views and top-variable tuples repeat a lot: each is encoded once
    per encoder, so use one encoder for all the chunks of a payload. So is the layout of
    each set of variables readings carry (a variable a reading lacks is written NULL).
    """

    def __init__(self) -> None:
        self._texts: dict[str, bytes] = {}
        self._arrays: dict[tuple[str, ...], bytes] = {}
        self._layouts: dict[tuple[str, ...], _Layout] = {}

    def _layout_of(self, keys: tuple[str, ...]) -> _Layout:
        if len(self._layouts) >= _LAYOUTS_KEPT:
            self._layouts.clear()
        found = self._layouts[keys] = _layout(keys)
        return found

    def rows(self, readings: Sequence[Reading], ids: Sequence[int]) -> bytes:
        score = _SCORE.pack
        field_count = len(COLUMNS)
        texts = self._texts
        arrays = self._arrays
        layouts = self._layouts
        parts: list[bytes] = []
        append = parts.append
        for reading_id, reading in zip(ids, readings, strict=True):
            values = reading.values
            keys = tuple(values)
            pack, slots = layouts.get(keys) or self._layout_of(keys)
            arguments: list[float | int] = [
                field_count,
                8,
                reading_id,
                8,
                microseconds_since_2000(reading.timestamp),
            ]
            for name in slots:
                if name is None:
                    arguments.append(-1)
                else:
                    arguments.append(8)
                    arguments.append(values[name])
            append(pack(*arguments))
            append(_cached_text(texts, reading.meter_id))
            append(_BOOLEANS[reading.is_anomaly])
            append(_cached_text(texts, reading.anomaly_kind))
            append(_NULL if reading.score is None else score(8, reading.score))
            append(_BOOLEANS[reading.is_flagged])
            top = arrays.get(reading.top_variables)
            if top is None:
                top = arrays[reading.top_variables] = _text_array_field(reading.top_variables)
            append(top)
            append(_cached_text(texts, reading.flagged_by))
        return b"".join(parts)


class ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (what ``copy_expert`` reads from)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return b""
            self._pending = chunk
        if size is None or size < 0 or size >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:size], self._pending[size:]
        return data


_SCORE_ROW = struct.Struct(">hiq")


def encode_scores(readings: Iterable[Reading]) -> bytes:
    """Each reading's id, score, flag, top variables and the view that flagged it as a binary
    COPY payload (the columns of ``rollups.SCORE_UPDATE_COLUMNS``)."""
    arrays: dict[tuple[str, ...], bytes] = {}
    views: dict[str, bytes] = {}
    parts = [HEADER]
    append = parts.append
    for reading in readings:
        if reading.id is None:
            raise ValueError("a reading without id cannot be updated")
        append(_SCORE_ROW.pack(5, 8, reading.id))
        append(_NULL if reading.score is None else _SCORE.pack(8, reading.score))
        append(_BOOLEANS[reading.is_flagged])
        top = arrays.get(reading.top_variables)
        if top is None:
            top = arrays[reading.top_variables] = _text_array_field(reading.top_variables)
        append(top)
        append(_cached_text(views, reading.flagged_by))
    append(TRAILER)
    return b"".join(parts)
