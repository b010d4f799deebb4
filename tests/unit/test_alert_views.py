"""What the Alerts tab, the alerts API and `smartenergy alerts` share: channels' last
delivery read from the outbox, the rules in force as text, silences, windows and feedback
made from what people type, and the notification link's query."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_adapters.notify import parse_notify_urls
from energy_core.alerts import Alert, AlertKind, MaintenanceWindow, Severity
from energy_core.alerts.store import OutboxItem, StoredAlert
from energy_core.usecases.alerting import AlertSettings
from energy_ui.alert_views import (
    channel_deliveries,
    failure_reason,
    feedback_on,
    new_silence,
    new_window,
    reason_text,
    rule_lines,
    window_schedule,
)
from energy_ui.dashboard.alerts_state import AlertLink, shows
from energy_ui.dashboard.filters import Filters
from energy_ui.settings import Settings

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)
INCIDENT = Alert(
    key="incident:press:x",
    kind=AlertKind.INCIDENT,
    rule_id="incident",
    meter_id="press",
    severity=Severity.WARNING,
    started_at=NOW - timedelta(minutes=5),
    updated_at=NOW - timedelta(minutes=4),
    peak=0.8,
    readings=4,
    top_variables=("voltage", "current"),
)


def item(number: int, **changes: object) -> OutboxItem:
    made = OutboxItem(
        id=number,
        alert_id=1,
        event_id=f"e{number}",
        kind="opened",
        alert=INCIDENT,
        created_at=NOW + timedelta(minutes=number),
        state="pending",
        reason="send",
    )
    return replace(made, **changes)  # type: ignore[arg-type]


CHANNELS = parse_notify_urls(
    "json://10.0.0.5:8000/hook, critical=ntfys://ntfy.example/plant, boiler=json://10.0.0.6/b"
)
NAMES = [channel.name for channel in CHANNELS]


def test_a_failure_is_told_to_the_channels_its_error_names_only() -> None:
    error = f"{NAMES[0]}: refused; {NAMES[1]}: timed out after 4 s; with; semicolons"
    assert failure_reason(error, NAMES[0], NAMES) == "refused"
    assert failure_reason(error, NAMES[1], NAMES) == "timed out after 4 s; with; semicolons"
    assert failure_reason(error, NAMES[2], NAMES) is None
    assert failure_reason("render failed", NAMES[0], NAMES) is None


def test_each_channel_shows_its_last_sent_and_its_latest_failure() -> None:
    items = [
        item(1, state="sent", sent_at=NOW + timedelta(minutes=1)),
        item(2, state="sent", sent_at=NOW + timedelta(minutes=2)),
        item(3, state="failed", last_error=f"{NAMES[0]}: refused"),
        item(4, state="pending", last_error=f"{NAMES[0]}: reset by peer", attempts=2),
    ]
    found = channel_deliveries(CHANNELS, items, language="en", dashboard_url="http://x")
    everything, critical_only, boiler = found
    assert everything.last_sent_at == NOW + timedelta(minutes=2)
    assert (everything.last_failure_id, everything.last_error) == (4, "reset by peer")
    assert everything.receives == "*"
    # A warning about a press is for neither the critical channel nor the boiler's.
    assert critical_only.last_sent_at is None and critical_only.receives == "critical+"
    assert boiler.last_sent_at is None and boiler.receives == "boiler"
    assert critical_only.last_error is None and boiler.last_error is None


def test_the_rules_in_force_say_what_the_settings_ask() -> None:
    settings = Settings(
        _env_file=None,
        alert_limits=["active_power > 9 kW for 5m on plant-*"],
        alert_open_after=3,
        alert_close_after=7,
        alert_silent_after_s=600,
        alert_repeat_s=7200,
    )
    lines = {line.rule_id: line.text for line in rule_lines(settings.alert_settings(), "en")}
    assert lines["incident"] == (
        "Incident per meter: opens after 3 readings flagged in a row; resolves after 7 readings"
        " normal in a row."
    )
    assert lines["limit-1"] == "Limit: active_power > 9 kW for 5m on plant-*"
    assert lines["silent_meter"] == (
        "Silent meter after 10 times its usual interval or 10m (every meter)."
    )
    assert lines["repeat"] == "Open, unacknowledged alerts are told again every 2h."
    assert "Precaución" not in lines["health"] and "5.0 %" in lines["health"]
    assert rule_lines(AlertSettings(), "es")[-1].text.startswith("Las alertas abiertas no")


def test_a_silence_needs_a_target_and_a_sensible_duration() -> None:
    made = new_silence(meters=["m-*"], duration=timedelta(hours=2), by=" Ana ", now=NOW)
    assert (made.meters, made.created_by, made.ends_at) == (
        ("m-*",),
        "Ana",
        NOW + timedelta(hours=2),
    )
    other = new_silence(rule_ids=["limit-*"], duration=timedelta(hours=2), by="Ana", now=NOW)
    assert other.id != made.id
    for kwargs, field in (
        ({"duration": timedelta(hours=1)}, "meters, rule_ids"),
        ({"meters": ["m-1"], "duration": timedelta(0)}, "duration"),
        ({"meters": ["m-1"], "duration": timedelta(days=400)}, "duration"),
        ({"rule_ids": ["a b"], "duration": timedelta(hours=1)}, "rule pattern"),
    ):
        with pytest.raises(ValueError, match=field):
            new_silence(by="Ana", now=NOW, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="by"):
        new_silence(meters=["m-1"], duration=timedelta(hours=1), by="  ", now=NOW)


@given(
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    end=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    zone=st.sampled_from(["UTC", "Europe/Madrid", "America/New_York"]),
)
def test_a_windows_schedule_reads_back_as_the_same_window(days, start, end, zone) -> None:
    window = MaintenanceWindow("w", days, start, end, zone)
    assert MaintenanceWindow.parse("w", window_schedule(window)) == window


def test_a_window_id_is_a_plain_name() -> None:
    assert new_window("sunday-backup", "sun 02:00-04:00").id == "sunday-backup"
    with pytest.raises(ValueError, match="id '-x'"):
        new_window("-x", "sun 02:00-04:00")


def test_feedback_is_on_incidents_with_their_span_and_variables() -> None:
    stored = StoredAlert(7, INCIDENT)
    said = feedback_on(stored, "confirmed", by="Ana", at=NOW, fault_kind="voltage_sag")
    assert (said.meter_id, said.start, said.end, said.variables, said.alert_id) == (
        "press",
        INCIDENT.started_at,
        INCIDENT.updated_at,
        ("voltage", "current"),
        7,
    )
    health = StoredAlert(8, replace(INCIDENT, kind=AlertKind.HEALTH, meter_id=None))
    with pytest.raises(ValueError, match="alert_id 8: a health alert"):
        feedback_on(health, "false_alarm", by="Ana", at=NOW)
    with pytest.raises(ValueError, match="fault_kind"):
        feedback_on(stored, "false_alarm", by="Ana", at=NOW, fault_kind="voltage_sag")


def test_the_policys_reasons_read_in_the_users_language() -> None:
    assert reason_text("suppressed: silenced by s-1", "es") == "silenciado por s-1"
    assert reason_text("suppressed: maintenance", "en") == "maintenance window"
    assert reason_text("send", "es") == "enviar"
    assert reason_text("something new", "es") == "something new"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            {"meter": "press", "from": "2026-03-01", "to": "2026-03-02", "alert": "7"},
            AlertLink("press", date(2026, 3, 1), date(2026, 3, 2), 7),
        ),
        (
            {"from": "2026-03-02", "to": "2026-03-01"},
            AlertLink(None, date(2026, 3, 1), date(2026, 3, 2)),
        ),
        ({"to": "2026-03-02"}, AlertLink(None, date(2026, 3, 2), date(2026, 3, 2))),
        ({"meter": "no spaces please", "alert": "-1"}, None),
        ({"alert": "१२"}, None),  # digits of another script are no id
        ({"from": "yesterday", "alert": "99999999999999999999"}, None),
        ({}, None),
    ],
)
def test_a_links_query_is_read_leaving_out_what_cannot_be(
    query: dict[str, str], expected: AlertLink | None
) -> None:
    assert AlertLink.of(query) == expected


def test_a_link_sets_the_filters_to_its_meter_and_days() -> None:
    link = AlertLink("press", date(2026, 3, 1), date(2026, 3, 2), 7)
    filters = link.filters(Filters(meters=("other",)))
    assert (filters.meters, filters.date_from, filters.date_to) == (
        ("press",),
        date(2026, 3, 1),
        date(2026, 3, 2),
    )


def test_the_tab_shows_the_alerts_of_the_chosen_meters_and_days() -> None:
    stored = StoredAlert(1, INCIDENT)
    assert shows(stored, Filters(), NOW)
    assert shows(stored, Filters(meters=("press",), date_from=NOW.date(), date_to=NOW.date()), NOW)
    assert not shows(stored, Filters(meters=("other",)), NOW)
    later = NOW.date() + timedelta(days=1)
    assert not shows(stored, Filters(date_from=later, date_to=later), NOW)
    health = StoredAlert(2, replace(INCIDENT, kind=AlertKind.HEALTH, meter_id=None))
    assert shows(health, Filters(), NOW) and not shows(health, Filters(meters=("press",)), NOW)
