"""Alerts over HTTP: the alerts (open and past) with their notifications, acknowledging,
silences, maintenance windows, feedback and the outbox's delivery states.

Reads follow the other read routes (open, or a login under ``ENERGY_READ_ACCESS=login``).
Changes follow the dashboard's actions: open without ``ENERGY_ADMIN_PASSWORD`` (the local
demo); with it, the dashboard's admin login (its session cookie) or HTTP Basic with the
admin password (any user name). A wrong password is answered after the same delay as the
dashboard's login.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response, status
from fastapi import Path as FastApiPath
from fastapi.exceptions import RequestValidationError
from fastapi.params import Depends
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field, field_validator

from energy_core.alerts.model import AlertKind, Severity, parse_duration
from energy_core.alerts.policy import MaintenanceWindow, Silence
from energy_core.alerts.store import (
    DeliveryState,
    Feedback,
    FeedbackVerdict,
    NotificationKind,
    OutboxItem,
    StoredAlert,
)
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.meter_patterns import check_patterns
from energy_core.telemetry.validation import METER_ID_PATTERN
from energy_core.usecases.alerting import Alerting
from energy_ui.access import Access
from energy_ui.alert_views import (
    FAULT_KIND,
    MAX_TEXT,
    check_rule_patterns,
    clean_text,
    feedback_on,
    new_silence,
    new_window,
    window_schedule,
)
from energy_ui.api.schemas import Problem
from energy_ui.bootstrap import Application, unavailable_errors

MAX_ALERTS = 1000
"""Most alerts or notifications one answer lists."""

basic = HTTPBasic(
    auto_error=False,
    description="the admin password (ENERGY_ADMIN_PASSWORD) as the password, any user name",
)


# --- what the routes answer -----------------------------------------------------------------
class AcknowledgementOut(BaseModel):
    by: str
    at: datetime
    comment: str


class AlertOut(BaseModel):
    id: int
    key: str = Field(
        description="the condition, e.g. incident:<meter>:<start>, limit:<rule>:<meter>"
    )
    kind: AlertKind
    rule_id: str = Field(description="the rule that raised it (what silences and windows name)")
    meter_id: str | None = Field(description="null for the installation's health and detector")
    severity: Severity
    open: bool
    started_at: datetime = Field(description="when the condition began (UTC)")
    updated_at: datetime
    ended_at: datetime | None
    peak: float | None = Field(
        description="an incident's highest score, a limit's farthest value (its unit)"
    )
    readings: int = Field(description="readings that took part")
    top_variables: list[str]
    details: dict[str, str | float | int]
    acknowledgement: AcknowledgementOut | None
    last_sent_at: datetime | None = Field(description="when a notification of it was last sent")

    @classmethod
    def of(cls, stored: StoredAlert) -> AlertOut:
        alert = stored.alert
        ack = stored.acknowledgement
        return cls(
            id=stored.id,
            key=alert.key,
            kind=alert.kind,
            rule_id=alert.rule_id,
            meter_id=alert.meter_id,
            severity=alert.severity,
            open=alert.is_open,
            started_at=alert.started_at,
            updated_at=alert.updated_at,
            ended_at=alert.ended_at,
            peak=alert.peak,
            readings=alert.readings,
            top_variables=list(alert.top_variables),
            details=dict(alert.details),
            acknowledgement=None
            if ack is None
            else AcknowledgementOut(by=ack.by, at=ack.at, comment=ack.comment),
            last_sent_at=stored.last_sent_at,
        )


class AlertList(BaseModel):
    items: list[AlertOut] = Field(description="newest first (by start)")


class NotificationOut(BaseModel):
    id: int
    alert_id: int
    kind: NotificationKind
    state: DeliveryState = Field(
        description="pending (or waiting for a retry), sending, sent, failed for good, or "
        "suppressed (recorded, not sent: a silence or a maintenance window)"
    )
    reason: str = Field(description="the policy's decision, e.g. send, suppressed: maintenance")
    created_at: datetime
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None = Field(description="why the last attempt failed, per channel")
    sent_at: datetime | None

    @classmethod
    def of(cls, item: OutboxItem) -> NotificationOut:
        return cls(
            id=item.id,
            alert_id=item.alert_id,
            kind=item.kind,
            state=item.state,
            reason=item.reason,
            created_at=item.created_at,
            attempts=item.attempts,
            next_attempt_at=item.next_attempt_at,
            last_error=item.last_error,
            sent_at=item.sent_at,
        )


class FeedbackOut(BaseModel):
    id: int | None
    meter_id: str
    start: datetime
    end: datetime
    verdict: FeedbackVerdict
    fault_kind: str | None
    variables: list[str]
    by: str
    at: datetime
    alert_id: int | None
    comment: str

    @classmethod
    def of(cls, feedback: Feedback) -> FeedbackOut:
        return cls(
            id=feedback.id,
            meter_id=feedback.meter_id,
            start=feedback.start,
            end=feedback.end,
            verdict=feedback.verdict,
            fault_kind=feedback.fault_kind,
            variables=list(feedback.variables),
            by=feedback.by,
            at=feedback.at,
            alert_id=feedback.alert_id,
            comment=feedback.comment,
        )


class AlertDetail(AlertOut):
    notifications: list[NotificationOut] = Field(description="its notifications, newest first")
    feedback: list[FeedbackOut] = Field(description="what users said of it, newest first")


class SilenceOut(BaseModel):
    id: str
    starts_at: datetime
    ends_at: datetime
    meters: list[str]
    rule_ids: list[str]
    created_by: str
    comment: str
    active: bool = Field(description="in force now")

    @classmethod
    def of(cls, silence: Silence, now: datetime) -> SilenceOut:
        return cls(
            id=silence.id,
            starts_at=silence.starts_at,
            ends_at=silence.ends_at,
            meters=list(silence.meters),
            rule_ids=list(silence.rule_ids),
            created_by=silence.created_by,
            comment=silence.comment,
            active=silence.active(now),
        )


class WindowOut(BaseModel):
    id: str
    schedule: str = Field(description="days, local times and time zone, as they are given")
    meters: list[str]
    rule_ids: list[str]
    comment: str
    active: bool = Field(description="the window covers this instant")

    @classmethod
    def of(cls, window: MaintenanceWindow, now: datetime) -> WindowOut:
        return cls(
            id=window.id,
            schedule=window_schedule(window),
            meters=list(window.meters),
            rule_ids=list(window.rule_ids),
            comment=window.comment,
            active=window.covers(now),
        )


AlertId = Annotated[int, FastApiPath(ge=1, le=2**62, description="the alert's id")]
Name = Annotated[
    str, Field(min_length=1, max_length=64, description="who does it (shown beside it)")
]
Comment = Annotated[str, Field(max_length=MAX_TEXT)]
Patterns = Annotated[list[str], Field(max_length=50)]


class _Body(BaseModel):
    model_config = {"extra": "forbid"}

    @field_validator("by", "comment", check_fields=False)
    @classmethod
    def _plain_text(cls, value: str, info: Any) -> str:
        return clean_text(value, info.field_name, required=info.field_name == "by")


class AckIn(_Body):
    by: Name
    comment: Comment = ""


class SilenceIn(_Body):
    meters: Patterns = Field(default_factory=list, description="meter-id globs, e.g. plant-*")
    rule_ids: Patterns = Field(
        default_factory=list, description="rule-id globs, e.g. incident, limit-1, limit-*"
    )
    duration: str = Field(description="how long from now: 30m, 2h, 1d, 1h30m", max_length=32)
    by: Name
    comment: Comment = ""

    @field_validator("meters")
    @classmethod
    def _meters(cls, value: list[str]) -> list[str]:
        return list(check_patterns(value))

    @field_validator("rule_ids")
    @classmethod
    def _rules(cls, value: list[str]) -> list[str]:
        return list(check_rule_patterns(value))

    @field_validator("duration")
    @classmethod
    def _duration(cls, value: str) -> str:
        parse_duration(value)  # a ValueError names the text
        return value


class WindowIn(_Body):
    id: str = Field(min_length=1, max_length=64, description="a name, e.g. sunday-backup")
    schedule: str = Field(
        max_length=100,
        description="'<days> <HH:MM>-<HH:MM> [<time zone>]': days as names or ranges (sun, "
        "mon-fri, sat,sun, daily), local times, an IANA zone (default UTC), e.g. "
        "'sun 02:00-04:00 Europe/Madrid'",
    )
    meters: Patterns = Field(default_factory=list, description="meter-id globs; none: all")
    rule_ids: Patterns = Field(default_factory=list, description="rule-id globs; none: all")
    comment: Comment = ""

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        MaintenanceWindow.parse("check", value)  # a ValueError names the wrong part
        return value


class FeedbackIn(_Body):
    verdict: FeedbackVerdict = Field(description="false_alarm or confirmed (a real fault)")
    alert_id: int | None = Field(
        None, ge=1, description="an incident; or give meter_id, start and end instead"
    )
    meter_id: str | None = Field(None, pattern=METER_ID_PATTERN)
    start: datetime | None = Field(None, description="first flagged reading meant (inclusive)")
    end: datetime | None = Field(None, description="last one (inclusive)")
    variables: list[str] = Field(
        default_factory=list, max_length=len(VARIABLE_NAMES), description="none: all"
    )
    fault_kind: str | None = Field(
        None, max_length=64, description="for a confirmed fault: its kind, e.g. voltage_sag"
    )
    by: Name
    comment: Comment = ""

    @field_validator("variables")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in VARIABLE_NAMES]
        if unknown:
            raise ValueError(f"unknown variables {unknown}; known: {', '.join(VARIABLE_NAMES)}")
        return value

    @field_validator("fault_kind")
    @classmethod
    def _kind(cls, value: str | None) -> str | None:
        if value is not None and not FAULT_KIND.fullmatch(value):
            raise ValueError(f"{value!r}: a word of a-z, 0-9 and _, e.g. voltage_sag")
        return value

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a time zone, e.g. 2025-03-01T10:00:00Z")
        return value

    def problem(self) -> tuple[str, str] | None:
        """The field that does not fit the others, and why (``None``: the body is whole)."""
        span = (self.meter_id, self.start, self.end)
        if self.alert_id is None and None in span:
            missing = next(
                name
                for name, part in zip(("meter_id", "start", "end"), span, strict=True)
                if part is None
            )
            return missing, "give alert_id, or meter_id with start and end"
        if self.alert_id is not None and any(part is not None for part in span):
            return "alert_id", "give either an alert or meter_id, start and end, not both"
        if self.start is not None and self.end is not None and self.end < self.start:
            return "end", "must not be before start"
        if self.verdict == "false_alarm" and self.fault_kind is not None:
            return "fault_kind", "only a confirmed fault has a kind"
        return None


def _invalid(field: str, message: str, value: Any = None) -> RequestValidationError:
    """A 422 naming ``field`` of the body, as pydantic's own are."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}]
    )


# --- the routes -------------------------------------------------------------------------------
def alerts_router(
    application: Application,
    *,
    access: Access,
    session: Callable[[], Mapping[str, Any]],
    dependencies: Sequence[Depends],
    responses: dict[int | str, dict[str, Any]],
    unavailable: Callable[[], HTTPException],
) -> APIRouter:
    """The alert routes: reads under ``dependencies`` (the read guard), changes under the
    admin login when ``ENERGY_ADMIN_PASSWORD`` is set. ``session``: the request's dashboard
    session (its admin login counts)."""
    router = APIRouter(tags=["alerts"])
    clock = application.monitor.clock

    def require_admin(
        credentials: Annotated[HTTPBasicCredentials | None, Depends(basic)],
    ) -> None:
        """With ENERGY_ADMIN_PASSWORD: a dashboard admin login or HTTP Basic with it."""
        if access.is_admin(session()):
            return
        if credentials is not None:
            if access.check(credentials.password):
                return
            time.sleep(access.failed_login_delay)  # a worker thread: slows guessing only
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "changing alerts needs the admin login: the dashboard's, or HTTP Basic with "
            "ENERGY_ADMIN_PASSWORD / se necesita iniciar sesión como administrador",
            headers={"WWW-Authenticate": 'Basic realm="SmartEnergy"'},
        )

    reads: dict[str, Any] = dict(dependencies=list(dependencies), responses=dict(responses))
    change_responses: dict[int | str, dict[str, Any]] = {
        404: {"model": Problem, "description": "no such alert, silence or window"},
        503: {"model": Problem, "description": "database unavailable; see Retry-After"},
    }
    change_dependencies: list[Any] = []
    if access.protects_actions:  # only declared when enforced: the schema tells the truth
        change_dependencies = [Depends(require_admin)]
        change_responses[401] = {"model": Problem, "description": "no admin login"}
    changes: dict[str, Any] = dict(dependencies=change_dependencies, responses=change_responses)
    reads["responses"].setdefault(
        404, {"model": Problem, "description": "no such alert, or alerts are off"}
    )

    @contextmanager
    def storage() -> Iterator[None]:
        """Storage away (an outage, a restart): the API's 503 with Retry-After."""
        try:
            yield
        except unavailable_errors() as _:
            raise unavailable() from None

    def alerting() -> Alerting:
        found = application.alerting
        if found is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                "alerts are off here (ENERGY_ALERTS=false) / las alertas están desactivadas",
            )
        return found

    def stored_alert(use: Alerting, alert_id: int) -> StoredAlert:
        with storage():
            found = use.store.get(alert_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}")
        return found

    def detail(use: Alerting, stored: StoredAlert) -> AlertDetail:
        with storage():
            items = use.store.notifications(alert_id=stored.id, limit=MAX_ALERTS)
            said = [
                item
                for item in use.feedback_store.feedback(meter_id=stored.alert.meter_id)
                if item.alert_id == stored.id
            ]
        return AlertDetail(
            **AlertOut.of(stored).model_dump(),
            notifications=[NotificationOut.of(item) for item in items],
            feedback=[FeedbackOut.of(item) for item in said],
        )

    @router.get(
        "/api/v1/alerts",
        response_model=AlertList,
        summary="Alerts, open or past, newest first",
        description=(
            "Each alert occurrence as it stands: kind, rule, meter, severity, when it "
            "started and ended, its peak, readings and top variables, who acknowledged it. "
            "`open=true`: only those still open."
        ),
        **reads,
    )
    def list_alerts(
        open_only: Annotated[
            bool, Query(alias="open", description="only alerts still open")
        ] = False,
        meter: Annotated[
            str | None, Query(pattern=METER_ID_PATTERN, description="only this meter's")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_ALERTS, description="most alerts")] = 100,
    ) -> AlertList:
        use = alerting()
        with storage():
            found = use.store.alerts(meter_id=meter, open_only=open_only, limit=limit)
        return AlertList(items=[AlertOut.of(stored) for stored in found])

    @router.get(
        "/api/v1/alerts/{alert_id}",
        response_model=AlertDetail,
        summary="One alert with its notifications and feedback",
        description=(
            "The alert as it stands, each notification of it with its delivery state "
            "(pending, sending, sent, failed with the channel's error, suppressed with why) "
            "and what users said of it. 404 for an unknown id."
        ),
        **reads,
    )
    def get_alert(alert_id: AlertId) -> AlertDetail:
        use = alerting()
        return detail(use, stored_alert(use, alert_id))

    @router.post(
        "/api/v1/alerts/{alert_id}/ack",
        response_model=AlertDetail,
        summary="Acknowledge an alert: someone takes charge, its repeats stop",
        description=(
            "Records who (`by`), when and a `comment`; reminders of the alert stop, its end is "
            "still told. Answers the alert as `GET /api/v1/alerts/{alert_id}` does."
        ),
        **changes,
    )
    def acknowledge(alert_id: AlertId, body: AckIn) -> AlertDetail:
        use = alerting()
        stored_alert(use, alert_id)
        try:
            stored = use.acknowledge(alert_id, body.by, body.comment)
        except KeyError:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no alert {alert_id}") from None
        except unavailable_errors() as _:
            raise unavailable() from None
        return detail(use, stored)

    @router.get(
        "/api/v1/silences",
        response_model=list[SilenceOut],
        summary="Silences: alerts of these meters or rules recorded, not sent, until they end",
        description="Every silence, ended or not, with whether it is in force now.",
        **reads,
    )
    def list_silences() -> list[SilenceOut]:
        use = alerting()
        now = clock.now()
        with storage():
            return [SilenceOut.of(silence, now) for silence in use.mutes.silences()]

    @router.post(
        "/api/v1/silences",
        response_model=SilenceOut,
        status_code=status.HTTP_201_CREATED,
        summary="Silence alerts of meters and/or rules from now for a duration",
        description=(
            "`meters` and `rule_ids` are globs (`plant-*`, `limit-*`); at least one is "
            "needed. Matching alerts still open and resolve, recorded as suppressed; one still "
            "open when the silence ends is told then. `duration`: up to 366 days."
        ),
        **changes,
    )
    def add_silence(body: SilenceIn) -> SilenceOut:
        use = alerting()
        now = clock.now()
        if not body.meters and not body.rule_ids:
            raise _invalid("meters", "name at least one meter or rule (rule_ids) to silence", [])
        try:
            silence = new_silence(
                meters=body.meters,
                rule_ids=body.rule_ids,
                duration=parse_duration(body.duration),
                by=body.by,
                comment=body.comment,
                now=now,
            )
        except ValueError as error:
            raise _invalid("duration", str(error), body.duration) from None
        with storage():
            return SilenceOut.of(use.silence(silence), now)

    @router.delete(
        "/api/v1/silences/{silence_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="End a silence now",
        description="204 when it was there, 404 otherwise.",
        **changes,
    )
    def remove_silence(
        silence_id: Annotated[str, FastApiPath(max_length=100)],
    ) -> Response:
        use = alerting()
        with storage():
            removed = use.unsilence(silence_id)
        if not removed:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no silence {silence_id!r}")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get(
        "/api/v1/maintenance-windows",
        response_model=list[WindowOut],
        summary="Weekly maintenance windows: matching alerts are recorded, not sent, inside",
        description="Every window, its schedule as given and whether it covers this instant.",
        **reads,
    )
    def list_windows() -> list[WindowOut]:
        use = alerting()
        now = clock.now()
        with storage():
            return [WindowOut.of(window, now) for window in use.mutes.windows()]

    @router.post(
        "/api/v1/maintenance-windows",
        response_model=WindowOut,
        status_code=status.HTTP_201_CREATED,
        summary="Add (or replace, by id) a weekly maintenance window",
        description=(
            "By the local wall clock of its time zone, e.g. `sun 02:00-04:00 Europe/Madrid`; "
            "a window may cross midnight. `meters` and `rule_ids`: globs, none for all."
        ),
        **changes,
    )
    def add_window(body: WindowIn) -> WindowOut:
        use = alerting()
        try:
            window = new_window(
                body.id,
                body.schedule,
                meters=body.meters,
                rule_ids=body.rule_ids,
                comment=body.comment,
            )
        except ValueError as error:
            field = "id" if str(error).startswith("id ") else "schedule"
            raise _invalid(field, str(error), getattr(body, field)) from None
        with storage():
            return WindowOut.of(use.add_window(window), clock.now())

    @router.delete(
        "/api/v1/maintenance-windows/{window_id}",
        status_code=status.HTTP_204_NO_CONTENT,
        summary="Remove a maintenance window",
        description="204 when it was there, 404 otherwise.",
        **changes,
    )
    def remove_window(window_id: Annotated[str, FastApiPath(max_length=64)]) -> Response:
        use = alerting()
        with storage():
            removed = use.remove_window(window_id)
        if not removed:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no maintenance window {window_id!r}")
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/api/v1/feedback",
        response_model=FeedbackOut,
        status_code=status.HTTP_201_CREATED,
        summary="Say an incident (or flagged readings) was a false alarm or a real fault",
        description=(
            "Either `alert_id` (an incident: its meter, span and top variables are taken), "
            "or `meter_id`, `start` and `end` (flagged readings of one meter)."
        ),
        **changes,
    )
    def give_feedback(body: FeedbackIn) -> FeedbackOut:
        use = alerting()
        now = clock.now()
        problem = body.problem()
        if problem is not None:
            raise _invalid(problem[0], problem[1], getattr(body, problem[0]))
        try:
            if body.alert_id is not None:
                stored = stored_alert(use, body.alert_id)
                feedback = feedback_on(
                    stored,
                    body.verdict,
                    by=body.by,
                    at=now,
                    fault_kind=body.fault_kind,
                    comment=body.comment,
                )
            else:
                assert body.meter_id and body.start and body.end  # checked by the model
                feedback = Feedback(
                    meter_id=body.meter_id,
                    start=body.start,
                    end=body.end,
                    verdict=body.verdict,
                    by=body.by,
                    at=now,
                    fault_kind=body.fault_kind,
                    variables=tuple(body.variables),
                    comment=body.comment,
                )
        except ValueError as error:
            raise _invalid("alert_id", str(error), body.alert_id) from None
        with storage():
            # Through the monitor: what it changes in scoring applies at once.
            return FeedbackOut.of(application.monitor.give_feedback(feedback))

    @router.get(
        "/api/v1/notifications",
        response_model=list[NotificationOut],
        summary="The outbox: each notification and its delivery state, newest first",
        description=(
            "Each notification: what it tells (opened, resolved, escalated, repeat), the "
            "policy's decision, attempts, the last error per channel, when it was sent."
        ),
        **reads,
    )
    def list_notifications(
        alert_id: Annotated[int | None, Query(ge=1, description="only this alert's")] = None,
        state: Annotated[
            DeliveryState | None, Query(description="only those in this state")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_ALERTS, description="most notifications")] = 100,
    ) -> list[NotificationOut]:
        use = alerting()
        with storage():
            found = use.store.notifications(
                alert_id=alert_id, limit=MAX_ALERTS if state is not None else limit
            )
        chosen = [item for item in found if state is None or item.state == state]
        return [NotificationOut.of(item) for item in chosen[:limit]]

    return router
