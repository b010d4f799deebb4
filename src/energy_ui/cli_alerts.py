"""``smartenergy alerts``: the alerts, acknowledging, silences, maintenance windows, the rules
in force and a test notification through every channel of ``ENERGY_NOTIFY_URLS``.

The commands work on the alerts of the configured storage through the alerting use cases
(``Application.alerting``). Without ``DATABASE_URL`` that is this command's own memory: it
says so, and what it changes vanishes with it. With alerts off (``ENERGY_ALERTS=false``) the
commands that need them refuse (exit 1). ``--json`` prints only JSON on stdout, in the
API's shapes.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from energy_core.alerts.delivery import DeliveryError, Notification
from energy_core.alerts.model import Severity, format_duration, parse_duration
from energy_core.alerts.store import StoredAlert
from energy_core.usecases.alerting import Alerting
from energy_ui.alert_messages import alert_variables
from energy_ui.alert_views import (
    kind_label,
    new_silence,
    new_window,
    rule_lines,
    severity_label,
    window_schedule,
)
from energy_ui.api.alerts import MAX_ALERTS, AlertOut, SilenceOut, WindowOut
from energy_ui.bootstrap import Application, DatabaseError, bootstrap, unavailable_errors
from energy_ui.cli_language import language, number, say
from energy_ui.i18n import moment
from energy_ui.settings import Settings

alerts_app = typer.Typer(
    name="alerts",
    help="Alerts: list, acknowledge, silence, maintenance windows, rules, test notification / "
    "alertas.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
windows_app = typer.Typer(
    name="windows",
    help="Weekly maintenance windows: alerts recorded, not sent / ventanas de mantenimiento.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
alerts_app.add_typer(windows_app, name="windows")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment
        return "cli"


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]{say('cli.error')}[/red] {escape(message)}", highlight=False)
    return typer.Exit(1)


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:
        raise _fail(str(error)) from None


@contextmanager
def _alerting() -> Iterator[tuple[Alerting, Application]]:
    """The alert use cases of the configured storage; every error one line and exit 1."""
    settings = _settings()
    try:
        application = bootstrap(settings)
    except (DatabaseError, ValueError) as error:
        raise _fail(str(error)) from None
    try:
        if application.alerting is None:
            raise _fail(say("cli.alerts_off"))
        if application.mode == "memory":
            err.print(f"[yellow]{escape(say('cli.in_memory'))}[/yellow]", highlight=False)
        yield application.alerting, application
    except (*unavailable_errors(), ValueError) as error:
        raise _fail(str(error)) from None
    finally:
        application.close()


def _print(message: str) -> None:
    out.print(message, highlight=False, markup=False)


def _json(value: object) -> None:
    out.print(json.dumps(value), highlight=False, markup=False)


# --- alerts -----------------------------------------------------------------------------------
@alerts_app.command("list")
def list_alerts(
    open_only: Annotated[bool, typer.Option("--open", help="only alerts still open")] = False,
    meter: Annotated[
        str | None, typer.Option(help="only this meter's alerts [default: every meter]")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=MAX_ALERTS, help="most alerts shown")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array on stdout")] = False,
) -> None:
    """Alerts, newest first: kind, meter, rule, severity, since, peak, readings, top
    variables, who acknowledged."""
    with _alerting() as (alerting, _):
        found = alerting.store.alerts(meter_id=meter, open_only=open_only, limit=limit)
    if as_json:
        _json([AlertOut.of(stored).model_dump(mode="json") for stored in found])
        return
    if not found:
        _print(say("cli.alerts_none"))
        return
    table = Table(title=say("tab.alerts"))
    for key in (
        "alerts.column_id",
        "alerts.column_state",
        "alerts.column_kind",
        "alerts.column_meter",
        "alerts.column_rule",
        "alerts.column_severity",
        "alerts.column_since",
        "alerts.column_duration",
        "alerts.column_peak",
        "alerts.column_readings",
        "alerts.column_variables",
        "alerts.column_acknowledged",
    ):
        table.add_column(say(key), no_wrap=key in ("alerts.column_id", "alerts.column_meter"))
    for stored in found:
        table.add_row(*(escape(cell) for cell in _cells(stored)))
    out.print(table)


def _cells(stored: StoredAlert) -> list[str]:
    alert = stored.alert
    ack = stored.acknowledgement
    lasted = "" if alert.duration is None else format_duration(alert.duration)
    return [
        str(stored.id),
        say("alerts.state_open") if alert.is_open else say("alerts.state_resolved"),
        kind_label(alert.kind, language()),
        alert.meter_id or "—",
        alert.rule_id,
        severity_label(alert.severity, language()),
        moment(alert.started_at),
        lasted,
        "" if alert.peak is None else number(alert.peak, 2),
        number(alert.readings),
        alert_variables(alert, language()),
        "" if ack is None else ack.by,
    ]


@alerts_app.command("ack")
def acknowledge(
    alert_id: Annotated[int, typer.Argument(min=1, help="the alert's id (alerts list)")],
    by: Annotated[str, typer.Option(help="who takes charge [default: your login name]")] = "",
    comment: Annotated[str, typer.Option(help="a note for the others [default: none]")] = "",
) -> None:
    """Acknowledge an alert: someone takes charge, its repeats stop."""
    with _alerting() as (alerting, _):
        if alerting.store.get(alert_id) is None:
            raise _fail(say("cli.alerts_unknown", id=alert_id))
        stored = alerting.acknowledge(alert_id, by or _login_name(), comment)
    assert stored.acknowledgement is not None
    _print(say("cli.alerts_acknowledged", id=alert_id, by=stored.acknowledgement.by))


@alerts_app.command("silence")
def silence(
    duration: Annotated[str, typer.Option("--for", help="how long from now: 30m, 2h, 1d, 1h30m")],
    meter: Annotated[
        list[str] | None,
        typer.Option(help="meter-id glob to silence, e.g. 'plant-*' (quote it); repeatable"),
    ] = None,
    rule: Annotated[
        list[str] | None,
        typer.Option(help="rule id (or glob) to silence: incident, limit-1…; repeatable"),
    ] = None,
    by: Annotated[str, typer.Option(help="who silences [default: your login name]")] = "",
    comment: Annotated[str, typer.Option(help="why [default: none]")] = "",
) -> None:
    """Silence the alerts of meters and/or rules for a while: recorded, not sent."""
    try:
        span = parse_duration(duration)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--for") from None
    with _alerting() as (alerting, _):
        made = new_silence(
            meters=meter or (),
            rule_ids=rule or (),
            duration=span,
            by=by or _login_name(),
            comment=comment,
            now=alerting.clock.now(),
        )
        alerting.silence(made)
    what = ", ".join([*made.meters, *made.rule_ids])
    _print(say("cli.alerts_silenced", id=made.id, what=what, until=moment(made.ends_at)))


@alerts_app.command("unsilence")
def unsilence(
    silence_id: Annotated[str, typer.Argument(help="the silence's id (alerts silences)")],
) -> None:
    """End a silence now."""
    with _alerting() as (alerting, _):
        removed = alerting.unsilence(silence_id)
    if not removed:
        raise _fail(say("cli.alerts_no_silence", id=silence_id))
    _print(say("cli.alerts_unsilenced", id=silence_id))


@alerts_app.command("silences")
def silences(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array on stdout")] = False,
) -> None:
    """The silences: what they mute, until when, who set them."""
    with _alerting() as (alerting, _):
        found = alerting.mutes.silences()
        now = alerting.clock.now()
    if as_json:
        _json([SilenceOut.of(item, now).model_dump(mode="json") for item in found])
        return
    if not found:
        _print(say("cli.alerts_no_silences"))
        return
    table = Table(title=say("alerts.silences"))
    for key in (
        "alerts.column_id",
        "alerts.column_meters",
        "alerts.column_rules",
        "alerts.column_until",
        "alerts.column_by",
        "alerts.column_comment",
    ):
        table.add_column(say(key))
    for item in found:
        table.add_row(
            escape(item.id),
            escape(", ".join(item.meters) or "*"),
            escape(", ".join(item.rule_ids) or "*"),
            moment(item.ends_at),
            escape(item.created_by),
            escape(item.comment),
        )
    out.print(table)


@alerts_app.command("rules")
def rules(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array on stdout")] = False,
) -> None:
    """The rules in force (from the settings): incidents, limits, silent meters, health,
    detector, repeats."""
    settings = _settings()
    lines = rule_lines(settings.alert_settings(), language())
    if as_json:
        _json([{"rule_id": line.rule_id, "kind": line.kind, "text": line.text} for line in lines])
        return
    if not settings.alerts:
        err.print(f"[yellow]{escape(say('cli.alerts_off'))}[/yellow]", highlight=False)
    table = Table(title=say("alerts.rules"))
    table.add_column(say("alerts.column_rule"), no_wrap=True)
    table.add_column(say("alerts.column_rule_text"))
    for line in lines:
        table.add_row(escape(line.rule_id), escape(line.text))
    out.print(table)


@alerts_app.command("test-notify")
def test_notify() -> None:
    """Send a test notification through every channel of ENERGY_NOTIFY_URLS and say, per
    channel, whether it arrived; exit 1 if any failed."""
    settings = _settings()
    if not settings.notify_urls.strip():
        raise _fail(say("cli.alerts_no_channels"))
    from energy_adapters.notify import AppriseNotifier

    notifier = AppriseNotifier(settings.notify_urls)
    channels = notifier.channels
    # Every channel's tags and the highest severity: each filter lets the test through.
    tags = sorted({tag for channel in channels for tag in channel.tags} | {"test"})
    notification = Notification(
        title=say("cli.alerts_test_title"),
        body=say("cli.alerts_test_body", url=settings.dashboard_url),
        severity=Severity.CRITICAL,
        tags=tuple(tags),
        link=settings.dashboard_url,
    )
    failures: dict[str, str] = {}
    try:
        notifier.send(notification)
    except DeliveryError as error:
        failures = dict(error.failures)
    for channel in channels:
        if channel.name in failures:
            line = say("cli.alerts_test_failed", channel=channel.name, error=failures[channel.name])
            err.print(f"[red]✗[/red] {escape(line)}", highlight=False)
        else:
            out.print(
                f"[green]✓[/green] {escape(say('cli.alerts_test_sent', channel=channel.name))}",
                highlight=False,
            )
    if failures:
        raise typer.Exit(1)


# --- maintenance windows ----------------------------------------------------------------------
@windows_app.command("add")
def add_window(
    window_id: Annotated[str, typer.Argument(help="a name for it, e.g. sunday-backup")],
    schedule: Annotated[
        str,
        typer.Argument(
            help="'<days> <HH:MM>-<HH:MM> [<time zone>]', e.g. 'sun 02:00-04:00 Europe/Madrid',"
            " 'mon-fri 22:00-06:00', 'daily 03:00-03:30 UTC' (quote it)"
        ),
    ],
    meter: Annotated[
        list[str] | None, typer.Option(help="meter-id glob it covers; repeatable; none: all")
    ] = None,
    rule: Annotated[
        list[str] | None, typer.Option(help="rule id (or glob) it covers; repeatable; none: all")
    ] = None,
    comment: Annotated[str, typer.Option(help="what happens then [default: none]")] = "",
) -> None:
    """Add (or replace, by id) a weekly maintenance window: matching alerts are recorded,
    not sent, inside it."""
    with _alerting() as (alerting, _):
        window = new_window(
            window_id, schedule, meters=meter or (), rule_ids=rule or (), comment=comment
        )
        alerting.add_window(window)
    _print(say("cli.alerts_window_added", id=window.id, schedule=window_schedule(window)))


@windows_app.command("list")
def list_windows(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array on stdout")] = False,
) -> None:
    """The maintenance windows."""
    with _alerting() as (alerting, _):
        found = alerting.mutes.windows()
        now = alerting.clock.now()
    if as_json:
        _json([WindowOut.of(window, now).model_dump(mode="json") for window in found])
        return
    if not found:
        _print(say("cli.alerts_no_windows"))
        return
    table = Table(title=say("alerts.windows"))
    for key in (
        "alerts.column_id",
        "alerts.column_schedule",
        "alerts.column_meters",
        "alerts.column_rules",
        "alerts.column_comment",
    ):
        table.add_column(say(key))
    for window in found:
        table.add_row(
            escape(window.id),
            escape(window_schedule(window)),
            escape(", ".join(window.meters) or "*"),
            escape(", ".join(window.rule_ids) or "*"),
            escape(window.comment),
        )
    out.print(table)


@windows_app.command("remove")
def remove_window(
    window_id: Annotated[str, typer.Argument(help="the window's id (alerts windows list)")],
) -> None:
    """Remove a maintenance window."""
    with _alerting() as (alerting, _):
        removed = alerting.remove_window(window_id)
    if not removed:
        raise _fail(say("cli.alerts_no_window", id=window_id))
    _print(say("cli.alerts_window_removed", id=window_id))
