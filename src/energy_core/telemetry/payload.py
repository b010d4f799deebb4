"""Decoding what a channel receives (an HTTP body, an MQTT message) into JSON values, with
bounds on size and nesting checked before anything deep happens, so that no payload can
exhaust memory or the interpreter's stack: every failure is a ``PayloadError`` with a
message fit for the sender."""

from __future__ import annotations

import json

import numpy as np
import orjson

MAX_DEPTH = 16
"""Deepest nesting accepted: a batch (array) of readings (objects) of scalars needs 2."""


class PayloadError(ValueError):
    """A payload that is not acceptable JSON; the message says where and why."""


def decode_json(raw: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> object:
    """``raw`` (UTF-8 JSON) decoded, or ``PayloadError``.

    orjson when it can (fast, and it stops at its own depth limit instead of recursing
    without bound); on its failure the standard parser is asked again only for its message,
    which carries a line and a column, and because it also reads ``NaN``, which validation
    then refuses field by field with a clearer reason.
    """
    if len(raw) > max_bytes:
        raise PayloadError(f"payload over {max_bytes} bytes")
    too_deep = nesting_exceeds(raw, max_depth)
    if too_deep:
        raise PayloadError(f"nested deeper than {max_depth} levels")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as error:
        raise PayloadError(f"not UTF-8 (byte {error.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PayloadError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    except RecursionError:  # unreachable after the depth scan; kept as a last guard
        raise PayloadError(f"nested deeper than {max_depth} levels") from None


def nesting_exceeds(raw: bytes, max_depth: int) -> bool:
    """Whether brackets outside strings nest deeper than ``max_depth`` in ``raw``.

    No parsing and no Python loop per byte: escapes are dropped, everything but quotes and
    brackets is deleted (both at C speed), and the depth is a running sum in numpy.
    """
    # Fast path: a payload without that many opening brackets cannot nest that deep.
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False
    # Left to right, as JSON reads escapes: an escaped backslash, then an escaped quote.
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = raw.translate(None, _NOT_STRUCTURE)
    symbols = np.frombuffer(skeleton, dtype=np.uint8)
    outside_strings = (np.cumsum(symbols == _QUOTE) & 1) == 0
    steps = _STEP[symbols] * outside_strings
    return bool(steps.size) and int(np.cumsum(steps, dtype=np.int64).max()) > max_depth


_QUOTE = ord('"')
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_STEP = np.zeros(256, dtype=np.int64)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
