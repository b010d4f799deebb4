"""The Alerts tab: open alerts appear live (and in the header's badge), each one's
notifications and delivery, acknowledge / silence / feedback behind the admin login,
silences and windows, rules and channels, and a notification's link opening it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from nicegui import ui
from nicegui.testing import User

from energy_core import Reading
from energy_core.alerts.store import StoredAlert
from energy_ui.bootstrap import Application
from energy_ui.dashboard import Dashboard, create_app
from energy_ui.dashboard.tabs.alerts import AlertsTab
from tests.ui.conftest import START, make_application
from tests.ui.helpers import eventually, one, set_value, text_of

PASSWORD = "s3cret-admin"
VALUES = {"voltage": 231.0, "current": 10.0, "active_power": 2.0}


@pytest.fixture(autouse=True)
def quick_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(AlertsTab, "min_interval", 0.05)


def incident(application: Application, meter: str = "meter-01", *, after: int = 1) -> StoredAlert:
    """Three flagged readings of ``meter`` right after the history: an incident opens (the
    settings open one after two), as the monitor records it after storing them."""
    assert application.alerting is not None
    readings = [
        Reading(
            timestamp=START + timedelta(seconds=after + k),
            meter_id=meter,
            values=VALUES,
        ).scored(0.9, True, ("voltage",))
        for k in range(3)
    ]
    events = application.alerting.observe(readings)
    assert [event.kind for event in events][:1] == ["opened"]
    [stored] = [s for s in application.alerting.store.open_alerts() if s.alert.meter_id == meter]
    return stored


def rows(user: User, marker: str) -> list[dict[str, Any]]:
    return list(one(user, marker, ui.table).rows)


async def open_tab(user: User) -> None:
    user.find(marker="tab-alerts").click()
    await user.should_see(marker="alerts-open")


def click_row(user: User, marker: str, alert_id: int) -> None:
    """What Quasar sends for a click on a row (the handler keeps the row's id)."""
    user.find(marker=marker).trigger("rowClick", [{}, {"id": alert_id}, 0])


def badge(user: User) -> str | None:
    """The header badge's number; ``None`` while it is hidden (no open alert)."""
    try:
        found = user.find(marker="alerts-count").elements
    except AssertionError:  # none visible
        return None
    return next((str(element.text) for element in found), None)  # type: ignore[attr-defined]


def open_count(application: Application) -> int:
    assert application.alerting is not None
    return len(application.alerting.store.open_alerts())


def incident_rows(user: User, marker: str) -> list[dict[str, Any]]:
    return [row for row in rows(user, marker) if row["kind"] == "Incidencia"]


async def test_an_incident_appears_live_in_the_tab_and_the_header_badge(
    user: User, dashboard: Dashboard
) -> None:
    application = dashboard.application
    before = open_count(application)  # the test history leaves the health in Precaución
    await user.open("/")
    await open_tab(user)
    await eventually(lambda: badge(user) == str(before))
    assert incident_rows(user, "alerts-open") == []
    stored = incident(application)
    await eventually(lambda: len(incident_rows(user, "alerts-open")) == 1)
    row = incident_rows(user, "alerts-open")[0]
    assert row["id"] == stored.id
    assert row["meter"] == "meter-01"
    assert row["state"] == "abierta"
    assert row["severity"] == "aviso"
    assert row["variables"] == "Voltaje"
    assert row["readings"] == "3"
    assert stored.id in [r["id"] for r in rows(user, "alerts-history")]
    await eventually(lambda: badge(user) == str(before + 1))
    assert text_of(user, "alerts-open-title") == f"Alertas abiertas ({before + 1})"


async def test_the_badge_is_hidden_without_open_alerts(user: User) -> None:
    dashboard = create_app(make_application(history=0), demo=False)
    await dashboard.start()
    await user.open("/")
    await user.should_see(marker="alerts-badge")
    assert badge(user) is None
    incident(dashboard.application)
    await eventually(lambda: badge(user) == "1")


async def test_the_badge_counts_open_alerts_on_any_tab_and_opens_the_alerts_tab(
    user: User, dashboard: Dashboard
) -> None:
    before = open_count(dashboard.application)
    await user.open("/")
    incident(dashboard.application, "meter-01")
    incident(dashboard.application, "meter-02")
    await eventually(lambda: badge(user) == str(before + 2))
    await user.should_not_see(marker="alerts-open")  # on the first tab
    user.find(marker="alerts-badge").click()
    await user.should_see(marker="alerts-open")
    await eventually(lambda: len(incident_rows(user, "alerts-open")) == 2)


async def test_an_alert_shows_its_notifications_and_their_delivery(
    user: User, dashboard: Dashboard
) -> None:
    stored = incident(dashboard.application)
    alerting = dashboard.application.alerting
    assert alerting is not None
    await user.open("/")
    await open_tab(user)
    await eventually(lambda: len(incident_rows(user, "alerts-open")) == 1)
    click_row(user, "alerts-open", stored.id)
    await user.should_see(marker="alert-notifications")
    assert text_of(user, "alert-title").startswith(f"#{stored.id} · Incidencia en meter-01")
    [notification] = rows(user, "alert-notifications")
    assert (notification["kind"], notification["state"]) == ("apertura", "pendiente")
    # The dispatcher fails once: the row says so, with the channel's error, live.
    due = alerting.store.claim_due(START + timedelta(minutes=1), 10, 60)
    [claimed] = [item for item in due if item.alert_id == stored.id]
    alerting.store.mark_failed(claimed.id, "json://hook: refused", None)
    await eventually(lambda: rows(user, "alert-notifications")[0]["state"] == "fallido")
    assert rows(user, "alert-notifications")[0]["error"] == "json://hook: refused"


@pytest.fixture
async def guarded(user: User) -> Dashboard:
    dashboard = create_app(make_application(admin_password=PASSWORD), demo=False)
    dashboard.access.failed_login_delay = 0.0
    await dashboard.start()
    return dashboard


async def log_in(user: User) -> None:
    user.find(marker="alerts-login").click()
    await user.should_see(marker="login-password")
    set_value(user, "login-password", PASSWORD)
    user.find(marker="login-submit").click()
    await user.should_see(marker="admin")


async def test_acknowledging_and_silencing_need_the_admin_login(
    user: User, guarded: Dashboard
) -> None:
    application = guarded.application
    alerting = application.alerting
    assert alerting is not None
    stored = incident(application)
    await user.open(f"/?alert={stored.id}")
    await user.should_see(marker="alert-ack-button")
    await user.should_see("Inicie sesión como administrador para reconocer")
    for marker in ("alert-ack-button", "alert-silence", "silence-add", "window-add"):
        assert not one(user, marker, ui.button).enabled, marker
    # A click that reaches the server anyway is refused there.
    user.find(marker="alert-ack-button").trigger("click")
    await user.should_see("Esta acción requiere iniciar sesión como administrador.")
    user.find(marker="alert-silence").trigger("click")
    await user.should_not_see(marker="silence-form")
    assert alerting.store.get(stored.id).acknowledgement is None  # type: ignore[union-attr]
    assert alerting.mutes.silences() == []

    await log_in(user)
    await user.should_see(marker="alert-ack-button")
    user.find(marker="alert-ack-button").click()
    await user.should_see(marker="ack-form")
    set_value(user, "form-by", "Ana")
    set_value(user, "form-comment", "on my way")
    user.find(marker="ack-form-save").click()
    await user.should_see(f"Alerta #{stored.id} reconocida")
    acknowledged = alerting.store.get(stored.id)
    assert acknowledged is not None and acknowledged.acknowledgement is not None
    assert (acknowledged.acknowledgement.by, acknowledged.acknowledgement.comment) == (
        "Ana",
        "on my way",
    )
    await eventually(lambda: incident_rows(user, "alerts-open")[0]["acknowledged"] == "Ana")
    await user.should_see("Reconocida por Ana")

    user.find(marker="alert-silence").click()
    await user.should_see(marker="silence-form")
    set_value(user, "form-duration", "1h")
    user.find(marker="silence-form-save").click()
    await user.should_see("Silencio creado")
    [silence] = alerting.mutes.silences()
    assert silence.meters == ("meter-01",) and silence.rule_ids == ()
    assert silence.ends_at - silence.starts_at == timedelta(hours=1)
    await user.should_see(marker=f"silence-{silence.id}")


async def test_a_bad_duration_is_said_in_the_dialog_and_nothing_is_silenced(
    user: User, dashboard: Dashboard
) -> None:
    alerting = dashboard.application.alerting
    assert alerting is not None
    await user.open("/")
    await open_tab(user)
    user.find(marker="silence-add").click()
    await user.should_see(marker="silence-form")
    set_value(user, "form-meters", "meter-0*")
    set_value(user, "form-duration", "forever")
    user.find(marker="silence-form-save").click()
    await user.should_see("duration 'forever'")
    assert alerting.mutes.silences() == []
    set_value(user, "form-duration", "30m")
    user.find(marker="silence-form-save").click()
    await user.should_see("Silencio creado")
    [silence] = alerting.mutes.silences()
    assert silence.meters == ("meter-0*",)
    user.find(marker=f"silence-{silence.id}-remove").click()
    await user.should_see("Silencio terminado")
    assert alerting.mutes.silences() == []
    await user.should_not_see(marker=f"silence-{silence.id}")


async def test_maintenance_windows_are_added_and_removed(user: User, dashboard: Dashboard) -> None:
    alerting = dashboard.application.alerting
    assert alerting is not None
    await user.open("/")
    await open_tab(user)
    user.find(marker="window-add").click()
    await user.should_see(marker="window-form")
    set_value(user, "form-window-id", "sunday-backup")
    set_value(user, "form-schedule", "sun 02:00-04:00 Mars/Olympus")
    user.find(marker="window-form-save").click()
    await user.should_see("timezone 'Mars/Olympus': unknown time zone")
    set_value(user, "form-schedule", "sun 02:00-04:00 Europe/Madrid")
    user.find(marker="window-form-save").click()
    await user.should_see("Ventana guardada")
    [window] = alerting.mutes.windows()
    assert window.id == "sunday-backup" and window.timezone == "Europe/Madrid"
    await user.should_see("sunday-backup: sun 02:00-04:00 Europe/Madrid")
    user.find(marker="window-sunday-backup-remove").click()
    await user.should_see("Ventana quitada")
    assert alerting.mutes.windows() == []


async def test_feedback_on_an_incident_is_stored_and_shown(
    user: User, dashboard: Dashboard
) -> None:
    alerting = dashboard.application.alerting
    assert alerting is not None
    stored = incident(dashboard.application)
    await user.open(f"/?alert={stored.id}")
    await user.should_see(marker="alert-feedback-button")
    user.find(marker="alert-feedback-button").click()
    await user.should_see(marker="feedback-form")
    set_value(user, "form-verdict", "confirmed")
    set_value(user, "form-fault-kind", "voltage_sag")
    user.find(marker="feedback-form-save").click()
    await user.should_see("Valoración guardada")
    [said] = alerting.feedback_store.feedback()
    assert (said.alert_id, said.meter_id, said.verdict, said.fault_kind) == (
        stored.id,
        "meter-01",
        "confirmed",
        "voltage_sag",
    )
    assert said.start == stored.alert.started_at
    await user.should_see("Valoración: Fallo confirmado (Hueco de tensión), por admin")


async def test_a_notification_link_opens_the_alerts_tab_on_its_alert_filtered_to_it(
    user: User, dashboard: Dashboard
) -> None:
    incident(dashboard.application, "meter-02", after=1)
    stored = incident(dashboard.application, "meter-01", after=10)
    day = START.date().isoformat()
    await user.open(f"/?from={day}&to={day}&meter=meter-01&alert={stored.id}")
    await user.should_see(marker="alert-title")
    assert text_of(user, "alert-title").startswith(f"#{stored.id} · Incidencia en meter-01")
    assert one(user, "filter-meters", ui.select).value == ["meter-01"]
    assert one(user, "filter-dates").value == f"{day} - {day}"  # type: ignore[attr-defined]
    # The tab shows that meter's alerts only; the badge still counts every open alert.
    await eventually(lambda: [r["meter"] for r in rows(user, "alerts-open")] == ["meter-01"])
    assert badge(user) == str(open_count(dashboard.application))


async def test_a_link_to_an_unknown_alert_says_so(user: User, dashboard: Dashboard) -> None:
    await user.open("/?alert=999")
    await user.should_see(marker="alert-missing")
    await user.should_see("No existe la alerta #999")


async def test_the_rules_in_force_and_the_channels_are_shown(user: User) -> None:
    application = make_application(
        alert_limits=["active_power > 9 kW for 5m on plant-*"],
        notify_urls="json://127.0.0.1:9/hook",
    )
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    await user.open("/")
    await open_tab(user)
    await user.should_see("Límite: active_power > 9 kW for 5m on plant-*")
    await user.should_see("se abre con 2 lecturas anómalas seguidas")
    await eventually(lambda: len(rows(user, "alerts-channels")) == 1)
    assert rows(user, "alerts-channels")[0]["name"] == "json://127.0.0.1:9/hook"
    # The dispatcher tries the health alert the test history opened: nothing listens there.
    await eventually(lambda: "Connection error" in rows(user, "alerts-channels")[0]["last_failure"])
    [channel] = rows(user, "alerts-channels")
    assert channel["last_failure"].startswith("aviso #1 (2025-03-01 02:00:00 UTC): ")
    assert channel["last_sent"] == "—"


async def test_with_alerts_off_the_tab_says_so_and_there_is_no_badge(user: User) -> None:
    dashboard = create_app(make_application(alerts=False), demo=False)
    await dashboard.start()
    await user.open("/")
    await user.should_not_see(marker="alerts-badge")
    user.find(marker="tab-alerts").click()
    await user.should_see(marker="alerts-off")


async def test_a_link_that_meets_the_login_page_opens_its_alert_after_the_login(
    user: User,
) -> None:
    application = make_application(admin_password=PASSWORD, read_access="login")
    dashboard = create_app(application, demo=False)
    dashboard.access.failed_login_delay = 0.0
    await dashboard.start()
    stored = incident(application)
    await user.open(f"/?meter=meter-01&alert={stored.id}")
    await user.should_see("Inicie sesión para ver el panel.")
    set_value(user, "login-password", PASSWORD)
    user.find(marker="login-submit").click()
    await user.should_see(marker="alert-title")
    assert text_of(user, "alert-title").startswith(f"#{stored.id} · Incidencia en meter-01")


async def test_the_tab_follows_the_language_switch_and_stays_live(
    user: User, dashboard: Dashboard
) -> None:
    await user.open("/")
    await open_tab(user)
    set_value(user, "language", "en")
    await user.should_see("Rules in force")
    stored = incident(dashboard.application)
    await eventually(lambda: stored.id in [row["id"] for row in rows(user, "alerts-open")])
    assert incident_rows(user, "alerts-open") == []  # the kind is in English now
    assert [row["kind"] for row in rows(user, "alerts-open") if row["id"] == stored.id] == [
        "Incident"
    ]


async def test_an_open_incident_growing_updates_its_detail_in_place(
    user: User, dashboard: Dashboard
) -> None:
    application = dashboard.application
    assert application.alerting is not None
    stored = incident(application)
    await user.open(f"/?alert={stored.id}")
    await user.should_see(marker="alert-ack-button")
    button = one(user, "alert-ack-button", ui.button)
    more = [
        Reading(
            timestamp=START + timedelta(seconds=10 + k), meter_id="meter-01", values=VALUES
        ).scored(0.95, True, ("voltage",))
        for k in range(2)
    ]
    application.alerting.observe(more)

    def detail_texts() -> list[str]:
        card = one(user, "alert-detail", ui.card)
        return [str(label.text) for label in card.descendants() if isinstance(label, ui.label)]

    await eventually(lambda: "0,95" in detail_texts())  # the new peak
    assert "5" in detail_texts()  # readings
    assert not button.is_deleted  # the same button: a click on it is never lost
