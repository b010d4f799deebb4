"""What becomes a notification: silences, recurring maintenance windows, acknowledgements
and repeats of open alerts.

``NotificationPolicy.decide`` answers for an alert event, ``NotificationPolicy.decide_repeat``
for an alert still open at ``now``; each gives a ``Decision``: send, suppressed (by which
silence, or by maintenance) or not due. Nothing here stores or sends: the caller records
a suppressed notification and sends the others.

Silences and maintenance windows apply to an alert by meter and by rule: their ``meters``
globs must match the alert's meter (an alert without a meter — health, detector — only
matches when ``meters`` is empty) and their ``rule_ids`` globs its rule id; an empty
list matches everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from fnmatch import fnmatchcase
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from energy_core.alerts.model import Alert, AlertEvent, as_utc
from energy_core.telemetry.meter_patterns import check_patterns

Action = Literal["send", "suppressed", "not_due"]
Reason = Literal[
    "notify",
    "repeat",
    "silenced",
    "maintenance",
    "update",
    "acknowledged",
    "resolved",
    "not_announced",
    "no_repeat",
    "repeat_not_due",
]
"""Why a decision was taken, as a code a message catalogue can translate:
``notify`` (an event worth telling), ``repeat`` (an open alert due again), ``silenced``,
``maintenance``, ``update`` (an event that does not notify), ``acknowledged`` (repeats
stop), ``resolved`` (a closed alert does not repeat), ``not_announced`` (the end of an
alert whose start was not sent), ``no_repeat`` (repeats are off), ``repeat_not_due``."""


def _matches(meters: tuple[str, ...], rule_ids: tuple[str, ...], alert: Alert) -> bool:
    if meters and (
        alert.meter_id is None or not any(fnmatchcase(alert.meter_id, p) for p in meters)
    ):
        return False
    return not rule_ids or any(fnmatchcase(alert.rule_id, p) for p in rule_ids)


def _globs(name: str, patterns: Iterable[str]) -> tuple[str, ...]:
    if isinstance(patterns, str):
        raise ValueError(f"{name} {patterns!r}: must be a list of patterns, not a text")
    return tuple(patterns)


@dataclass(frozen=True, slots=True)
class Silence:
    """Mute matching alerts from ``starts_at`` (inclusive) until ``ends_at`` (exclusive).

    ``id`` names it in decisions. ``meters``: meter-id globs; ``rule_ids``: rule-id globs
    (both empty: every alert). ``created_by`` and ``comment`` are for people.
    """

    id: str
    starts_at: datetime
    ends_at: datetime
    meters: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    created_by: str = ""
    comment: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("id: must not be empty")
        starts = as_utc(self.starts_at, "starts_at")
        ends = as_utc(self.ends_at, "ends_at")
        if ends <= starts:
            raise ValueError(
                f"ends_at {ends.isoformat()}: must be after starts_at {starts.isoformat()}"
            )
        object.__setattr__(self, "starts_at", starts)
        object.__setattr__(self, "ends_at", ends)
        object.__setattr__(self, "meters", check_patterns(_globs("meters", self.meters)))
        object.__setattr__(self, "rule_ids", _globs("rule_ids", self.rule_ids))

    @classmethod
    def lasting(
        cls,
        id: str,
        starts_at: datetime,
        duration: timedelta,
        *,
        meters: Iterable[str] = (),
        rule_ids: Iterable[str] = (),
        created_by: str = "",
        comment: str = "",
    ) -> Silence:
        """A silence of ``duration`` from ``starts_at``."""
        return cls(
            id,
            starts_at,
            starts_at + duration,
            tuple(meters),
            tuple(rule_ids),
            created_by,
            comment,
        )

    def active(self, at: datetime) -> bool:
        """Whether the silence is in force ``at`` that instant."""
        return self.starts_at <= at < self.ends_at

    def applies(self, alert: Alert, at: datetime) -> bool:
        """Whether it mutes ``alert`` ``at`` that instant."""
        return self.active(at) and _matches(self.meters, self.rule_ids, alert)


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Days of the week as ``MaintenanceWindow.days`` counts them: 0 = Monday … 6 = Sunday."""


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A weekly window, by the local wall clock of ``timezone`` (an IANA name, e.g.
    ``"Europe/Madrid"``), in which matching alerts are not sent.

    ``days``: the weekdays the window *starts* on (0 = Monday … 6 = Sunday). It covers
    local times from ``start`` (inclusive) to ``end`` (exclusive); when ``end`` ≤ ``start``
    it crosses midnight and ends on the next day (``end == start``: 24 hours). Being by
    the wall clock, a window spans an hour less or more of real time on the nights the
    clocks change (zoneinfo's rules): a 02:00–04:00 window is one hour long on the night
    the clock jumps from 02:00 to 03:00, three on the night it goes back from 03:00.
    """

    id: str
    days: frozenset[int]
    start: time
    end: time
    timezone: str = "UTC"
    meters: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    comment: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("id: must not be empty")
        days = frozenset(self.days)
        if not days or not days <= frozenset(range(7)):
            raise ValueError(
                f"days {sorted(days)}: one or more of 0 (Monday) to 6 (Sunday) are needed"
            )
        for name, moment in (("start", self.start), ("end", self.end)):
            if not isinstance(moment, time) or moment.tzinfo is not None:
                raise ValueError(f"{name} {moment!r}: must be a local time without a zone")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r}: unknown time zone") from None
        object.__setattr__(self, "days", days)
        object.__setattr__(self, "meters", check_patterns(_globs("meters", self.meters)))
        object.__setattr__(self, "rule_ids", _globs("rule_ids", self.rule_ids))

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window ends on the day after it starts."""
        return self.end <= self.start

    def covers(self, at: datetime) -> bool:
        """Whether the local wall clock ``at`` that instant is inside the window."""
        local = as_utc(at, "at").astimezone(ZoneInfo(self.timezone))
        clock = local.time().replace(tzinfo=None, fold=0)
        weekday = local.weekday()
        if not self.crosses_midnight:
            return weekday in self.days and self.start <= clock < self.end
        return (weekday in self.days and clock >= self.start) or (
            (weekday - 1) % 7 in self.days and clock < self.end
        )

    def applies(self, alert: Alert, at: datetime) -> bool:
        """Whether it mutes ``alert`` ``at`` that instant."""
        return _matches(self.meters, self.rule_ids, alert) and self.covers(at)

    @classmethod
    def parse(cls, id: str, text: str, **options: object) -> MaintenanceWindow:
        """A window from ``"<days> <HH:MM>-<HH:MM> [<time zone>]"``: days as names or
        ranges (``sun``, ``mon-fri``, ``sat,sun``, ``daily``), e.g.
        ``"sun 02:00-04:00 Europe/Madrid"``. ``options`` are the other fields.
        ``ValueError`` naming the part that is wrong."""
        words = text.split()
        if len(words) not in (2, 3):
            raise ValueError(
                f"maintenance window {text!r}: expected '<days> <HH:MM>-<HH:MM> [<time zone>]',"
                " e.g. 'sun 02:00-04:00 Europe/Madrid'"
            )
        days = _parse_days(text, words[0])
        span = words[1].split("-")
        if len(span) != 2:
            raise ValueError(f"maintenance window {text!r}: times {words[1]!r}: need HH:MM-HH:MM")
        start, end = (_parse_time(text, part) for part in span)
        timezone = words[2] if len(words) == 3 else "UTC"
        return cls(id, days, start, end, timezone, **options)  # type: ignore[arg-type]


def _parse_days(text: str, word: str) -> frozenset[int]:
    if word.lower() in ("daily", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in word.lower().split(","):
        ends = part.split("-")
        if len(ends) > 2 or not all(end in DAY_NAMES for end in ends):
            raise ValueError(
                f"maintenance window {text!r}: days {word!r}: use {', '.join(DAY_NAMES)},"
                " ranges (mon-fri) or daily"
            )
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def _parse_time(text: str, word: str) -> time:
    try:
        return time.fromisoformat(word)
    except ValueError:
        raise ValueError(f"maintenance window {text!r}: time {word!r}: need HH:MM") from None


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """Someone took charge of an alert: ``by`` whom, ``at`` when, with a ``comment``.
    Repeats of an acknowledged alert stop; its resolution is still told."""

    by: str
    at: datetime
    comment: str = ""

    def __post_init__(self) -> None:
        if not self.by.strip():
            raise ValueError("by: who acknowledges must be named")
        object.__setattr__(self, "at", as_utc(self.at, "at"))


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do with one notification: ``action`` and its ``reason`` code; ``by`` is the
    id of the silence or maintenance window that suppressed it. ``str()`` gives
    ``"send"``, ``"suppressed: silenced by <id>"``, ``"suppressed: maintenance"`` or
    ``"not due"``."""

    action: Action
    reason: Reason
    by: str | None = None

    @property
    def send(self) -> bool:
        return self.action == "send"

    def __str__(self) -> str:
        if self.action == "suppressed":
            return (
                f"suppressed: silenced by {self.by}"
                if self.reason == "silenced"
                else ("suppressed: maintenance")
            )
        return "send" if self.action == "send" else "not due"


@dataclass(frozen=True, slots=True)
class NotificationPolicy:
    """Silences, maintenance windows and the repeat interval in force.

    ``repeat_every``: how often an open, unacknowledged alert is told again (``None``:
    never). Build a new policy when the user changes silences or windows (cheap).
    """

    silences: tuple[Silence, ...] = ()
    maintenance: tuple[MaintenanceWindow, ...] = ()
    repeat_every: timedelta | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "silences", tuple(self.silences))
        object.__setattr__(self, "maintenance", tuple(self.maintenance))
        if self.repeat_every is not None and self.repeat_every <= timedelta(0):
            raise ValueError(f"repeat_every={self.repeat_every}: must be a positive duration")

    def muted(self, alert: Alert, at: datetime) -> Decision | None:
        """The suppression in force for ``alert`` ``at`` an instant (a silence first, then
        maintenance), ``None`` when it may be sent."""
        at = as_utc(at, "at")
        for silence in self.silences:
            if silence.applies(alert, at):
                return Decision("suppressed", "silenced", silence.id)
        for window in self.maintenance:
            if window.applies(alert, at):
                return Decision("suppressed", "maintenance", window.id)
        return None

    def decide(self, event: AlertEvent, *, start_sent: bool = True) -> Decision:
        """Whether to notify ``event`` now (at ``event.at``). ``start_sent``: for a
        ``resolved`` event, whether the alert's opening was sent (or repeated) at all; its
        end is not told otherwise."""
        if not event.notifies:
            return Decision("not_due", "update")
        if event.kind == "resolved" and not start_sent:
            return Decision("not_due", "not_announced")
        return self.muted(event.alert, event.at) or Decision("send", "notify")

    def decide_repeat(
        self,
        alert: Alert,
        now: datetime,
        *,
        last_sent: datetime | None,
        acknowledgement: Acknowledgement | None = None,
    ) -> Decision:
        """Whether to tell an alert again at ``now``. ``last_sent``: when it was last sent
        (``None``: never — it was suppressed so far, and is sent once nothing mutes it).
        An acknowledged or resolved alert is not repeated."""
        now = as_utc(now, "now")
        if not alert.is_open:
            return Decision("not_due", "resolved")
        if acknowledgement is not None:
            return Decision("not_due", "acknowledged")
        if last_sent is not None:
            if self.repeat_every is None:
                return Decision("not_due", "no_repeat")
            if now - as_utc(last_sent, "last_sent") < self.repeat_every:
                return Decision("not_due", "repeat_not_due")
        return self.muted(alert, now) or Decision("send", "repeat")
