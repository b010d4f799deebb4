"""Alert recording on PostgreSQL is batched: every event of a call (an ingest batch, or a
burst of thousands of silent meters) is stored in a handful of multi-row statements in one
transaction, not a few statements per event (which held the alerting lock, and so stalled
storing, for tens of seconds when 10,000 meters went silent together)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from energy_adapters.postgres import build_stores
from energy_core.alerts import Alert, AlertEvent, AlertKind, Decision, Severity
from energy_core.alerts.store import Recorded

pytestmark = pytest.mark.postgres

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
ALERT_TABLES = "alertas, notificaciones"


def silent(meter: str, ended: bool = False) -> Recorded:
    at = START + timedelta(seconds=40 if ended else 0)
    alert = Alert(
        key=f"silent:{meter}",
        kind=AlertKind.SILENT_METER,
        rule_id="silent",
        meter_id=meter,
        severity=Severity.WARNING,
        started_at=START,
        updated_at=at,
        ended_at=at if ended else None,
    )
    kind = "resolved" if ended else "opened"
    return Recorded(AlertEvent(kind, alert, at), Decision("send", "notify"), kind)


@pytest.fixture
def stores(pg_engine: Engine) -> Iterator[Any]:
    with pg_engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {ALERT_TABLES} RESTART IDENTITY CASCADE"))
    built = build_stores(pg_engine, owns_engine=False)
    yield built
    built.close()


@pytest.fixture
def statements(pg_engine: Engine) -> Iterator[list[str]]:
    """Every statement the engine sends while the test runs."""
    sent: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        sent.append(statement)

    event.listen(pg_engine, "before_cursor_execute", count)
    yield sent
    event.remove(pg_engine, "before_cursor_execute", count)


def test_ten_thousand_silent_meters_are_recorded_in_a_few_statements(stores, statements):
    meters = [f"m{index:05d}" for index in range(10_000)]
    added = stores.alerts.record([silent(meter) for meter in meters])
    # Per 1,000 events: the locks, the upsert, the notifications, "announced": 4 statements.
    assert len(added) == 10_000
    assert len(statements) <= 45, f"{len(statements)} statements for 10,000 events"

    statements.clear()
    ended = stores.alerts.record([silent(meter, ended=True) for meter in meters])
    assert len(ended) == 10_000 and stores.alerts.open_alerts() == []
    assert len(statements) <= 45


def test_an_ingest_batch_of_events_is_a_few_statements(stores, statements):
    # A gateway's batch: 100 meters, each opening an alert.
    stores.alerts.record([silent(f"gw-{index:03d}") for index in range(100)])
    assert len(statements) <= 6, statements
