"""What the Alerts tab, the alerts API and ``smartenergy alerts`` show and do alike: the
rules in force as text, each channel with its last delivery, a silence made from a
duration, feedback on an alert, and the catalogue keys of kinds, severities and delivery
states. No web framework here.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from energy_adapters.notify import Channel
from energy_core.alerts.model import Alert, AlertKind, Severity, format_duration
from energy_core.alerts.policy import DAY_NAMES, MaintenanceWindow, Silence
from energy_core.alerts.store import (
    DeliveryState,
    Feedback,
    FeedbackVerdict,
    OutboxItem,
    StoredAlert,
)
from energy_core.telemetry.catalogue import Language
from energy_core.telemetry.meter_patterns import check_patterns
from energy_core.usecases.alerting import AlertSettings
from energy_ui.alert_messages import render
from energy_ui.i18n import number, text

KIND_TEXT: Final[dict[AlertKind, str]] = {
    AlertKind.INCIDENT: "alerts.kind_incident",
    AlertKind.LIMIT: "alerts.kind_limit",
    AlertKind.SILENT_METER: "alerts.kind_silent_meter",
    AlertKind.HEALTH: "alerts.kind_health",
    AlertKind.DETECTOR: "alerts.kind_detector",
}
"""The catalogue key of each alert kind (literal keys: the i18n test sees them)."""
SEVERITY_TEXT: Final[dict[Severity, str]] = {
    Severity.INFO: "severity.info",
    Severity.WARNING: "severity.warning",
    Severity.CRITICAL: "severity.critical",
}
DELIVERY_TEXT: Final[dict[DeliveryState, str]] = {
    "pending": "alerts.delivery_pending",
    "sending": "alerts.delivery_sending",
    "sent": "alerts.delivery_sent",
    "failed": "alerts.delivery_failed",
    "suppressed": "alerts.delivery_suppressed",
}
NOTIFICATION_TEXT: Final[dict[str, str]] = {
    "opened": "alerts.notification_opened",
    "resolved": "alerts.notification_resolved",
    "escalated": "alerts.notification_escalated",
    "repeat": "alerts.notification_repeat",
}
VERDICT_TEXT: Final[dict[FeedbackVerdict, str]] = {
    "false_alarm": "alerts.verdict_false_alarm",
    "confirmed": "alerts.verdict_confirmed",
}

MAX_SILENCE: Final = timedelta(days=366)
"""The longest silence one may set (a longer one is a rule to change, not a silence)."""
MAX_TEXT: Final = 500
"""Longest comment (characters)."""
WINDOW_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_RULE_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:\-*?\[\]!]{1,128}")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")
FAULT_KIND: Final = re.compile(r"[a-z][a-z0-9_]{0,63}")


def kind_label(kind: AlertKind, language: Language) -> str:
    return text(KIND_TEXT[AlertKind(kind)], language)


def severity_label(severity: Severity, language: Language) -> str:
    return text(SEVERITY_TEXT[Severity(severity)], language)


def duration_text(duration: timedelta) -> str:
    """A duration in the compact form (``1h30m``), to the second."""
    seconds = max(0, round(duration.total_seconds()))
    return format_duration(timedelta(seconds=seconds))


# --- the rules in force ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RuleLine:
    """One rule in force: its id (what silences and windows name), its kind and what it
    does, in the user's language."""

    rule_id: str
    kind: str
    """``incident``, ``limit``, ``silent_meter``, ``health``, ``detector`` or ``repeat``."""
    text: str


def rule_lines(settings: AlertSettings, language: Language) -> list[RuleLine]:
    """Every rule ``settings`` run, and how often open alerts are told again."""
    rules = settings.rules

    def t(key: str, **values: object) -> str:
        return text(key, language, **values)

    lines: list[RuleLine] = []
    incident = rules.incidents
    if incident is not None:
        opens = []
        if incident.open_after is not None:
            opens.append(t("alerts.rule_readings", count=incident.open_after))
        if incident.open_for is not None:
            opens.append(t("alerts.rule_lasting", duration=format_duration(incident.open_for)))
        closes = []
        if incident.close_after is not None:
            closes.append(t("alerts.rule_readings", count=incident.close_after))
        if incident.close_quiet is not None:
            closes.append(t("alerts.rule_quiet", duration=format_duration(incident.close_quiet)))
        lines.append(
            RuleLine(
                incident.rule_id,
                "incident",
                t(
                    "alerts.rule_incident",
                    open=t("alerts.rule_or").join(opens),
                    close=t("alerts.rule_or").join(closes),
                ),
            )
        )
    for limit in rules.limits:
        lines.append(RuleLine(limit.id, "limit", t("alerts.rule_limit", rule=limit.text)))
    silent = rules.silent
    if silent is not None:
        after = []
        if silent.multiple is not None:
            after.append(t("alerts.rule_cadence", multiple=f"{silent.multiple:g}"))
        if silent.after is not None:
            after.append(format_duration(silent.after))
        where = ", ".join(silent.meters) or t("alerts.rule_every_meter")
        lines.append(
            RuleLine(
                silent.rule_id,
                "silent_meter",
                t("alerts.rule_silent", after=t("alerts.rule_or").join(after), meters=where),
            )
        )
    if rules.health is not None:
        lines.append(
            RuleLine(
                "health",
                "health",
                t(
                    "alerts.rule_health",
                    caution=number(rules.health.caution, language, 1),
                    critical=number(rules.health.critical, language, 1),
                ),
            )
        )
    detector = rules.detector
    if detector is not None:
        age = (
            t("alerts.rule_model_age", age=format_duration(detector.max_model_age))
            if detector.max_model_age is not None
            else ""
        )
        lines.append(
            RuleLine(
                detector.rule_id,
                "detector",
                t("alerts.rule_detector", age=age, factor=f"{detector.factor:g}"),
            )
        )
    repeat = settings.repeat_every
    lines.append(
        RuleLine(
            "repeat",
            "repeat",
            t("alerts.rule_repeat", every=format_duration(repeat))
            if repeat is not None
            else t("alerts.rule_no_repeat"),
        )
    )
    return lines


# --- channels and their last delivery ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ChannelDelivery:
    """A channel (its masked name) and what the outbox says of it: when a notification it
    receives was last sent, and the latest notification still carrying its error."""

    name: str
    position: int
    receives: str
    """Its filter: ``warning+`` and tags, or ``*`` for every notification."""
    last_sent_at: datetime | None = None
    last_failure_id: int | None = None
    last_failure_at: datetime | None = None
    """When that failing notification was created (the outbox keeps no attempt times)."""
    last_error: str | None = None


def channel_filter(channel: Channel) -> str:
    parts = []
    if channel.min_severity is not None:
        parts.append(f"{channel.min_severity.value}+")
    parts += sorted(channel.tags)
    return " ".join(parts) or "*"


def channel_deliveries(
    channels: Sequence[Channel],
    items: Sequence[OutboxItem],
    *,
    language: Language,
    dashboard_url: str,
) -> list[ChannelDelivery]:
    """Each channel with its last delivery, from ``items`` (recent notifications, any
    order). A sent notification counts for the channels whose filter accepts it; a
    failure for the channels its error names (``DeliveryError``'s ``name: reason``)."""
    names = [channel.name for channel in channels]
    found: list[ChannelDelivery] = []
    for channel in channels:
        last_sent: datetime | None = None
        failure: OutboxItem | None = None
        reason: str | None = None
        for item in items:
            if item.state == "sent" and item.sent_at is not None:
                if last_sent is not None and item.sent_at <= last_sent:
                    continue
                if channel.accepts(render(item, language, dashboard_url)):
                    last_sent = item.sent_at
            elif item.last_error and (failure is None or item.id > failure.id):
                said = failure_reason(item.last_error, channel.name, names)
                if said is not None:
                    failure, reason = item, said
        found.append(
            ChannelDelivery(
                name=channel.name,
                position=channel.position,
                receives=channel_filter(channel),
                last_sent_at=last_sent,
                last_failure_id=failure.id if failure else None,
                last_failure_at=failure.created_at if failure else None,
                last_error=reason,
            )
        )
    return found


def failure_reason(error: str, name: str, names: Sequence[str]) -> str | None:
    """What ``error`` (a ``DeliveryError``'s text: ``"name: reason"``, several joined by
    ``"; "``) says of channel ``name``; ``None`` when it does not name it."""
    starts = sorted({start for other in names for start in _entry_starts(error, other)})
    for index, start in enumerate(starts):
        if error.startswith(f"{name}: ", start):
            end = starts[index + 1] - 2 if index + 1 < len(starts) else len(error)
            return error[start + len(name) + 2 : end].strip()
    return None


def _entry_starts(error: str, name: str) -> list[int]:
    """Where an entry ``"name: …"`` starts: at 0, or after a ``"; "``."""
    found = [0] if error.startswith(f"{name}: ") else []
    position = error.find(f"; {name}: ")
    while position >= 0:
        found.append(position + 2)
        position = error.find(f"; {name}: ", position + 1)
    return found


# --- people's actions -----------------------------------------------------------------------
def clean_text(value: str, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    """``value`` stripped; ``ValueError`` naming ``field`` when it holds control characters,
    is too long, or is empty but ``required``."""
    value = value.strip()
    if required and not value:
        raise ValueError(f"{field}: must not be empty")
    if len(value) > limit:
        raise ValueError(f"{field}: at most {limit} characters")
    if _CONTROL.search(value):
        raise ValueError(f"{field}: control characters are not allowed")
    return value


def check_rule_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Rule-id globs (``limit-*``, ``incident``), each checked; duplicates dropped."""
    found = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not _RULE_PATTERN.fullmatch(pattern):
            raise ValueError(
                f"rule pattern {pattern!r}: 1 to 128 letters, digits, _ . : - or the glob "
                "characters * ? [ ] !"
            )
        found.append(pattern)
    return tuple(dict.fromkeys(found))


def new_silence(
    *,
    meters: Iterable[str] = (),
    rule_ids: Iterable[str] = (),
    duration: timedelta,
    by: str,
    comment: str = "",
    now: datetime,
) -> Silence:
    """A silence from ``now`` for ``duration`` of the alerts of ``meters`` (globs) and/or
    ``rule_ids`` (globs), with a fresh id; ``ValueError`` naming the field that is wrong.
    At least one meter or rule is needed: silencing everything is a maintenance window."""
    meter_patterns = check_patterns(meters)
    rule_patterns = check_rule_patterns(rule_ids)
    if not meter_patterns and not rule_patterns:
        raise ValueError("meters, rule_ids: name at least one meter or rule to silence")
    if not timedelta(0) < duration <= MAX_SILENCE:
        raise ValueError(f"duration: must be more than 0 and at most {MAX_SILENCE.days} days")
    return Silence.lasting(
        f"s-{now:%Y%m%d%H%M%S}-{secrets.token_hex(2)}",
        now,
        duration,
        meters=meter_patterns,
        rule_ids=rule_patterns,
        created_by=clean_text(by, "by", required=True, limit=64),
        comment=clean_text(comment, "comment"),
    )


def new_window(
    window_id: str,
    schedule: str,
    *,
    meters: Iterable[str] = (),
    rule_ids: Iterable[str] = (),
    comment: str = "",
) -> MaintenanceWindow:
    """A weekly maintenance window from its schedule (``"sun 02:00-04:00 Europe/Madrid"``);
    ``ValueError`` naming the part that is wrong."""
    if not WINDOW_ID.fullmatch(window_id):
        raise ValueError(
            f"id {window_id!r}: 1 to 64 letters, digits, _ . -, starting with a letter or digit"
        )
    return MaintenanceWindow.parse(
        window_id,
        schedule,
        meters=check_patterns(meters),
        rule_ids=check_rule_patterns(rule_ids),
        comment=clean_text(comment, "comment"),
    )


def window_schedule(window: MaintenanceWindow) -> str:
    """A window's schedule as ``MaintenanceWindow.parse`` reads it, e.g.
    ``"sun 02:00-04:00 Europe/Madrid"``, ``"mon,tue,wed 22:00-06:00 UTC"``."""
    days = (
        "daily"
        if len(window.days) == len(DAY_NAMES)
        else ",".join(DAY_NAMES[day] for day in sorted(window.days))
    )
    return f"{days} {window.start:%H:%M}-{window.end:%H:%M} {window.timezone}"


def feedback_on(
    stored: StoredAlert,
    verdict: FeedbackVerdict,
    *,
    by: str,
    at: datetime,
    fault_kind: str | None = None,
    comment: str = "",
) -> Feedback:
    """A verdict on an incident (the model's flags on one meter): its meter, its span (to
    its latest change while open) and its top variables; ``ValueError`` naming the field
    for another kind of alert or a bad value."""
    alert = stored.alert
    if alert.kind is not AlertKind.INCIDENT or alert.meter_id is None:
        raise ValueError(
            f"alert_id {stored.id}: a {alert.kind.value} alert; feedback is on incidents"
            " (the model's flags)"
        )
    if fault_kind is not None and not FAULT_KIND.fullmatch(fault_kind):
        raise ValueError(f"fault_kind {fault_kind!r}: a word of a-z, 0-9 and _, e.g. voltage_sag")
    if verdict == "false_alarm" and fault_kind is not None:
        raise ValueError("fault_kind: only a confirmed fault has a kind")
    return Feedback(
        meter_id=alert.meter_id,
        start=alert.started_at,
        end=alert_end(alert),
        verdict=verdict,
        by=clean_text(by, "by", required=True, limit=64),
        at=at,
        alert_id=stored.id,
        fault_kind=fault_kind,
        variables=alert.top_variables,
        comment=clean_text(comment, "comment"),
    )


def alert_end(alert: Alert) -> datetime:
    """When an alert ended, or its latest change while open."""
    return alert.ended_at or alert.updated_at


def alert_title(stored: StoredAlert, language: Language) -> str:
    """The title a notification of this alert carries now (``Incident on press: …``)."""
    alert = stored.alert
    item = OutboxItem(
        id=0,
        alert_id=stored.id,
        event_id="",
        kind="opened" if alert.is_open else "resolved",
        alert=alert,
        created_at=alert.updated_at,
        state="pending",
        reason="",
    )
    return render(item, language, "http://localhost").title


def reason_text(reason: str, language: Language) -> str:
    """The policy's decision (``send``, ``suppressed: silenced by <id>``,
    ``suppressed: maintenance``, ``not due``) in ``language``."""
    silenced = "suppressed: silenced by "
    if reason == "send":
        return text("alerts.reason_send", language)
    if reason.startswith(silenced):
        return text("alerts.reason_silenced", language, id=reason.removeprefix(silenced))
    if reason == "suppressed: maintenance":
        return text("alerts.reason_maintenance", language)
    return reason
