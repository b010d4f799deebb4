"""Alerts, events and durations."""

from __future__ import annotations

from datetime import timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from energy_core.alerts import (
    Alert,
    AlertEvent,
    AlertKind,
    Severity,
    format_duration,
    incident_key,
    parse_duration,
)
from tests.unit.alerts.strategies import at


def an_alert(**changes):
    settings = {
        "key": "limit:p9:m1",
        "kind": AlertKind.LIMIT,
        "rule_id": "p9",
        "meter_id": "m1",
        "severity": Severity.WARNING,
        "started_at": at(0),
        "updated_at": at(5),
        "details": {"value": 9.0},
    }
    return Alert(**{**settings, **changes})


def test_an_alert_is_open_until_it_has_an_end():
    assert an_alert().is_open
    closed = an_alert(ended_at=at(65))
    assert (closed.is_open, closed.duration) == (False, timedelta(seconds=65))


def test_an_alerts_details_cannot_be_changed_through_it():
    details = {"value": 9.0}
    alert = an_alert(details=details)
    details["value"] = 1.0
    assert alert.details["value"] == 9.0
    with pytest.raises(TypeError):
        alert.details["value"] = 2.0  # type: ignore[index]


def test_event_ids_name_one_occurrence_and_one_moment_of_change():
    alert = an_alert()
    assert AlertEvent("opened", alert, at(5)).id == ("opened:limit:p9:m1@2025-06-01T00:00:00+00:00")
    assert AlertEvent("opened", alert, at(5)).id == AlertEvent("opened", alert, at(9)).id
    assert AlertEvent("updated", alert, at(5)).id != AlertEvent("updated", alert, at(9)).id


def test_keys_and_ids_are_in_utc_whatever_zone_the_instant_carries():
    madrid_summer = timezone(timedelta(hours=2))
    assert incident_key("m1", at(0).astimezone(madrid_summer)) == incident_key("m1", at(0))


def test_only_openings_resolutions_and_escalations_notify():
    alert = an_alert()
    assert [AlertEvent(kind, alert, at(0)).notifies for kind in ("opened", "resolved")] == [
        True,
        True,
    ]
    assert not AlertEvent("updated", alert, at(0)).notifies
    assert AlertEvent("updated", alert, at(0), escalated=True).notifies
    with pytest.raises(ValueError, match="event kind"):
        AlertEvent("closed", alert, at(0))  # type: ignore[arg-type]


def test_severities_are_ordered():
    assert [s.rank for s in (Severity.INFO, Severity.WARNING, Severity.CRITICAL)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("5m", timedelta(minutes=5)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("250ms", timedelta(milliseconds=250)),
        ("0", timedelta(0)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_durations_are_read_from_their_compact_form(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m5", "5 minutes", "-5m", "5m3", "1h 30x"])
def test_an_unreadable_duration_is_refused_naming_it(text):
    with pytest.raises(ValueError, match=repr(text).replace("(", r"\(")):
        parse_duration(text)


@given(st.integers(0, 10**10).map(lambda ms: timedelta(milliseconds=ms)))
def test_a_formatted_duration_reads_back_as_itself(duration):
    assert parse_duration(format_duration(duration)) == duration
