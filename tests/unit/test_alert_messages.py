"""Notifications in the user's language, with a link to the dashboard filtered to the
alert's meter and days."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from energy_core.alerts import Alert, AlertKind, Severity
from energy_core.alerts.store import OutboxItem
from energy_ui.alert_messages import alert_link, render

START = datetime(2026, 3, 2, 23, 59, 30, tzinfo=UTC)


def item(alert: Alert, kind: str = "opened") -> OutboxItem:
    return OutboxItem(
        id=1,
        alert_id=7,
        event_id="e",
        kind=kind,
        alert=alert,
        created_at=START,  # type: ignore[arg-type]
        state="pending",
        reason="send",
    )


INCIDENT = Alert(
    key="incident:press:x",
    kind=AlertKind.INCIDENT,
    rule_id="incident",
    meter_id="press",
    severity=Severity.WARNING,
    started_at=START,
    updated_at=START + timedelta(minutes=2),
    ended_at=START + timedelta(minutes=2),
    peak=3.25,
    readings=12,
    top_variables=("motor_temperature", "current"),
)


@pytest.mark.parametrize(
    ("language", "title", "severity"),
    [
        ("en", "Incident resolved on press (Motor temperature, Current)", "Severity: warning"),
        (
            "es",
            "Incidencia resuelta en press (Temperatura del motor, Corriente)",
            "Gravedad: aviso",
        ),
    ],
)
def test_an_incident_is_told_in_the_users_language(language, title, severity):
    message = render(item(INCIDENT, "resolved"), language, "https://plant.example/")
    assert message.title == title
    assert severity in message.body
    assert ("Lasted 2m" if language == "en" else "Duró 2m") in message.body
    assert message.tags == ("incident", "incident", "press")


@pytest.mark.parametrize(
    ("language", "title"),
    [
        ("en", "Incident on press: anomalous readings (value stuck: Motor temperature, Current)"),
        (
            "es",
            "Incidencia en press: lecturas anómalas"
            " (valor congelado: Temperatura del motor, Corriente)",
        ),
    ],
)
def test_an_incident_says_which_view_fired_before_its_variables(language, title):
    stuck = replace(INCIDENT, ended_at=None, details={"flagged_by": "stuck", "scored": 12})
    assert render(item(stuck), language, "https://plant.example/").title == title


def test_the_link_opens_the_dashboard_on_the_meter_and_the_days_it_spans():
    link = alert_link(INCIDENT, "https://plant.example/", alert_id=7)
    assert link == "https://plant.example/?from=2026-03-02&to=2026-03-03&meter=press&alert=7"


def test_health_says_the_state_by_its_name_and_repeats_say_they_are_reminders():
    health = Alert(
        key="health",
        kind=AlertKind.HEALTH,
        rule_id="health",
        meter_id=None,
        severity=Severity.CRITICAL,
        started_at=START,
        updated_at=START,
        details={"state": "Crítico", "percentage": 17.5},
    )
    message = render(item(health, "repeat"), "en", "http://127.0.0.1:8080")
    assert message.title == "Reminder: Health state: Critical (17.5 % anomalous)"
    assert "meter=" not in (message.link or "")
