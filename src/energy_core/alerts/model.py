"""What an alert is: a condition (an incident, a limit breach, a silent meter…) that opens,
may be updated while it lasts, and resolves; and the events that tell those moments.

Every rule in this package turns its input into ``AlertEvent``s; the caller stores the
alerts, decides what to notify with ``energy_core.alerts.policy`` and delivers it.

Times are aware datetimes in UTC throughout.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Literal, get_args

DetailValue = str | float | int
"""What an alert's ``details`` may hold: plain values any store and any message can carry."""


class Severity(StrEnum):
    """How urgent an alert is, from least to most."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for info, 1 for warning, 2 for critical: compare severities by it."""
        return list(Severity).index(self)


class AlertKind(StrEnum):
    """Which rule raised an alert."""

    INCIDENT = "incident"
    """Anomalous readings of one meter, grouped (``energy_core.alerts.incidents``)."""
    LIMIT = "limit"
    """A variable of one meter past a user's limit (``energy_core.alerts.limits``)."""
    SILENT_METER = "silent_meter"
    """A meter that stopped sending (``energy_core.alerts.silent``)."""
    HEALTH = "health"
    """The installation's health state (``energy_core.alerts.health``)."""
    DETECTOR = "detector"
    """Something wrong with the detector itself (``energy_core.alerts.detector_health``)."""


EventKind = Literal["opened", "updated", "resolved"]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)


@dataclass(frozen=True, slots=True)
class Alert:
    """One occurrence of a condition, as it stands after its latest event.

    ``key`` names the condition (``"limit:<rule id>:<meter>"``, ``"silent_meter:<meter>"``,
    ``"health"``…; see the ``*_key`` functions): at most one alert per key is open at a time,
    and ``(key, started_at)`` names one occurrence (an incident's key holds its start
    already). ``started_at`` is when the condition began (an incident's first flagged
    reading, a limit's first breaching reading, a silent meter's last reading), which may
    be before the alert opened; ``updated_at`` the instant of the latest change;
    ``ended_at`` when the condition ended (``None`` while open). ``peak`` is the most
    extreme value seen (an incident's highest score, a limit's farthest value, in the
    variable's unit), ``readings`` how many readings took part, ``top_variables`` the
    variables most often to blame, most often first. ``details`` holds what else a
    message may show, by rule (units in the key names: ``_s`` seconds).
    """

    key: str
    kind: AlertKind
    rule_id: str
    meter_id: str | None
    severity: Severity
    started_at: datetime
    updated_at: datetime
    ended_at: datetime | None = None
    peak: float | None = None
    readings: int = 0
    top_variables: tuple[str, ...] = ()
    details: Mapping[str, DetailValue] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # A read-only copy: an alert is shared by events, stores and messages.
        object.__setattr__(self, "details", MappingProxyType(dict(self.details)))
        object.__setattr__(self, "top_variables", tuple(self.top_variables))

    @property
    def is_open(self) -> bool:
        """Whether the condition still holds (no ``ended_at`` yet)."""
        return self.ended_at is None

    @property
    def occurrence(self) -> str:
        """A string naming this occurrence: ``"<key>@<started_at ISO>"``."""
        return f"{self.key}@{self.started_at.astimezone(UTC).isoformat()}"

    @property
    def duration(self) -> timedelta | None:
        """How long the condition lasted (``ended_at - started_at``); ``None`` while open."""
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """An alert opened, changed or resolved ``at`` an instant (a reading's timestamp, or
    the ``now`` of a check).

    Notifications are for ``opened`` and ``resolved`` events, and for an ``updated`` one
    that is ``escalated`` (its severity rose, e.g. health from Precaución to Crítico):
    ``notifies`` says which. Other updates (a new peak, more readings) are for stores and
    live pages. A rule gives at most one ``updated`` event per alert per call.
    """

    kind: EventKind
    alert: Alert
    at: datetime
    escalated: bool = False

    def __post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"event kind {self.kind!r}: must be one of {', '.join(EVENT_KINDS)}")

    @property
    def notifies(self) -> bool:
        """Whether this event is meant to reach people (subject to the policy)."""
        return self.kind != "updated" or self.escalated

    @property
    def id(self) -> str:
        """A string naming this event, the same however often it is computed: an outbox's
        idempotency key. Opened and resolved happen once per occurrence; an update is told
        apart by its instant."""
        if self.kind == "updated":
            return f"updated:{self.alert.occurrence}:{self.at.astimezone(UTC).isoformat()}"
        return f"{self.kind}:{self.alert.occurrence}"


def incident_key(meter_id: str, started_at: datetime) -> str:
    """``"incident:<meter>:<start, ISO 8601 UTC>"``."""
    return f"incident:{meter_id}:{started_at.astimezone(UTC).isoformat()}"


def limit_key(rule_id: str, meter_id: str) -> str:
    """``"limit:<rule id>:<meter>"``."""
    return f"limit:{rule_id}:{meter_id}"


def silent_key(meter_id: str) -> str:
    """``"silent_meter:<meter>"``."""
    return f"silent_meter:{meter_id}"


HEALTH_KEY = "health"
"""The key of the installation's health alert (there is one installation)."""


def detector_key(condition: str) -> str:
    """``"detector:<condition>"`` (``no_model``, ``model_age``, ``scoring_failed``,
    ``flag_rate``)."""
    return f"detector:{condition}"


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
    "d": timedelta(days=1),
    "w": timedelta(weeks=1),
}


def parse_duration(text: str) -> timedelta:
    """A duration written compactly: a number and a unit (``ms``, ``s``, ``m``, ``h``, ``d``,
    ``w``), several in a row adding up (``"90s"``, ``"5m"``, ``"1h30m"``, ``"0"``);
    ``ValueError`` naming the text otherwise."""
    compact = text.strip().lower().replace(" ", "")
    if compact == "0":
        return timedelta(0)
    total = timedelta(0)
    position = 0
    for match in _DURATION_PART.finditer(compact):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not compact or position != len(compact):
        raise ValueError(
            f"duration {text!r}: expected a number and a unit (ms, s, m, h, d, w),"
            " e.g. 90s, 5m, 1h30m"
        )
    return total


def format_duration(duration: timedelta) -> str:
    """``duration`` in the compact form ``parse_duration`` reads (``"1h30m"``, ``"45s"``,
    ``"0"``); sub-second parts in ``ms``."""
    if duration < timedelta(0):
        raise ValueError(f"duration {duration}: must not be negative")
    milliseconds = round(duration.total_seconds() * 1000)
    if milliseconds == 0:
        return "0"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, milliseconds = divmod(milliseconds, size)
        if count:
            parts.append(f"{count}{unit}")
    if milliseconds:
        parts.append(f"{milliseconds}ms")
    return "".join(parts)


def as_utc(moment: datetime, name: str = "time") -> datetime:
    """``moment`` in UTC; ``ValueError`` naming ``name`` when it carries no time zone."""
    if moment.tzinfo is None:
        raise ValueError(f"{name} {moment.isoformat()}: must carry a time zone (UTC)")
    return moment.astimezone(UTC)
