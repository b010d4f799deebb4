"""Alerts to and from PostgreSQL values: an ``Alert`` as columns of ``alertas`` or as the
``jsonb`` snapshot a notification carries, and ``details`` as ``jsonb``.

``jsonb`` keeps numbers as ``numeric``, which prints a float written with a positive
exponent (``1e+16``) without a decimal point, so JSON would read it back as an int; and
JSON has no NaN or infinity. Such floats are stored as ``{"float": "<repr>"}`` (a detail
is never an object, so nothing else looks like that); every other value is plain JSON,
readable by SQL (``details->>'variable'``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from energy_core.alerts.model import Alert, AlertKind, DetailValue, Severity

_FLOAT = "float"


def encode_number(value: DetailValue | None) -> Any:
    """``value`` as JSON that ``jsonb`` gives back as the same Python value."""
    if isinstance(value, float) and (not math.isfinite(value) or "e+" in repr(value)):
        return {_FLOAT: repr(value)}
    return value


def decode_value(value: Any) -> Any:
    """The inverse of ``encode_number`` (strings and ints pass through)."""
    if isinstance(value, dict) and set(value) == {_FLOAT}:
        return float(value[_FLOAT])
    return value


def encode_details(details: Mapping[str, DetailValue]) -> dict[str, Any]:
    return {name: encode_number(value) for name, value in details.items()}


def decode_details(stored: Mapping[str, Any] | None) -> dict[str, DetailValue]:
    return {name: decode_value(value) for name, value in (stored or {}).items()}


def _instant(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


def _parsed(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def alert_columns(alert: Alert) -> dict[str, Any]:
    """The columns of ``alertas`` that hold ``alert`` itself."""
    return {
        "key": alert.key,
        "kind": alert.kind.value,
        "rule_id": alert.rule_id,
        "meter_id": alert.meter_id,
        "severity": alert.severity.value,
        "started_at": alert.started_at,
        "updated_at": alert.updated_at,
        "ended_at": alert.ended_at,
        "peak": alert.peak,
        "readings": alert.readings,
        "top_variables": list(alert.top_variables),
        "details": encode_details(alert.details),
    }


def alert_from_columns(row: Any) -> Alert:
    """The ``Alert`` held by a row of ``alertas`` (attribute access)."""
    return Alert(
        key=row.key,
        kind=AlertKind(row.kind),
        rule_id=row.rule_id,
        meter_id=row.meter_id,
        severity=Severity(row.severity),
        started_at=row.started_at,
        updated_at=row.updated_at,
        ended_at=row.ended_at,
        peak=row.peak,
        readings=row.readings,
        top_variables=tuple(row.top_variables),
        details=decode_details(row.details),
    )


def alert_json(alert: Alert) -> dict[str, Any]:
    """``alert`` as one JSON object (a notification's snapshot of it)."""
    return {
        "key": alert.key,
        "kind": alert.kind.value,
        "rule_id": alert.rule_id,
        "meter_id": alert.meter_id,
        "severity": alert.severity.value,
        "started_at": _instant(alert.started_at),
        "updated_at": _instant(alert.updated_at),
        "ended_at": _instant(alert.ended_at),
        "peak": encode_number(alert.peak),
        "readings": alert.readings,
        "top_variables": list(alert.top_variables),
        "details": encode_details(alert.details),
    }


def alert_from_json(stored: Mapping[str, Any]) -> Alert:
    """The inverse of ``alert_json``."""
    started_at = _parsed(stored["started_at"])
    updated_at = _parsed(stored["updated_at"])
    assert started_at is not None and updated_at is not None
    peak = decode_value(stored.get("peak"))
    return Alert(
        key=stored["key"],
        kind=AlertKind(stored["kind"]),
        rule_id=stored["rule_id"],
        meter_id=stored.get("meter_id"),
        severity=Severity(stored["severity"]),
        started_at=started_at,
        updated_at=updated_at,
        ended_at=_parsed(stored.get("ended_at")),
        peak=None if peak is None else float(peak),
        readings=int(stored.get("readings", 0)),
        top_variables=tuple(stored.get("top_variables", ())),
        details=decode_details(stored.get("details")),
    )
