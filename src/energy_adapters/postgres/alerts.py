"""Alerting's stores on PostgreSQL (revision 0009): alert occurrences and the outbox of
their notifications (``alertas``, ``notificaciones``); silences and maintenance windows
(``energy_adapters.postgres.mutes``); feedback (``energy_adapters.postgres.feedback``).

Several processes may record the same events and run dispatchers on one database:

- ``record`` writes the events' alerts (an upsert on each occurrence, ``key`` and
  ``started_at``) and their notifications (``ON CONFLICT (event_id) DO NOTHING``) in one
  transaction, so an event is queued once whoever saw it. A stored occurrence only moves
  forward: an end is final, and otherwise an event older than what is stored (a slower
  process telling what another told already) changes nothing. The whole call is a few
  multi-row statements per 1,000 events (the locks, one upsert of every occurrence at the
  most forward state the call tells, one insert of the notifications, one update of the
  announced alerts), not a few per event: an ingest batch's events cost one round of
  statements, and 10,000 meters going silent at once a few dozen.
- ``claim_due`` takes rows with ``FOR UPDATE SKIP LOCKED`` and marks them ``sending``
  with a lease in the same statement: concurrent claimers never get the same row, and a
  row whose dispatcher vanished is due again when its lease runs out.
- Locks are taken in one order, so writers queue rather than deadlock: ``record`` first
  takes a transaction-level advisory lock per occurrence (sorted), then the occurrences'
  rows (in the order first told, so new ids are given in that order, as in memory) before
  their notifications; ``repeat`` and ``mark_sent`` too lock the occurrence before the
  notification. A deadlock the server still reports (e.g. with ``close``) is retried.

Delivery is at least once. ``mark_sent`` and ``mark_failed`` wait out a short outage of
the database (``confirm_within_s``) rather than give up, since a notification sent but not
marked goes out again; but a dispatcher that dies between sending and ``mark_sent``, or an
outage longer than that, leaves its row ``sending``, and after the lease it is sent again.
Each ``OutboxItem`` carries its ``event_id``: a channel that passes it on lets receivers
drop the repeat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import Connection, Engine, Row, and_, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert

from energy_adapters.postgres.alert_codec import (
    alert_columns,
    alert_from_columns,
    alert_from_json,
    alert_json,
)
from energy_adapters.postgres.feedback import PostgresFeedbackStore
from energy_adapters.postgres.locks import lock_key
from energy_adapters.postgres.mutes import PostgresMuteStore
from energy_adapters.postgres.schema import alerts as alerts_table
from energy_adapters.postgres.schema import notifications as outbox
from energy_adapters.postgres.urls import Database, DatabaseUnavailableError
from energy_core.alerts.model import Alert
from energy_core.alerts.policy import Acknowledgement
from energy_core.alerts.store import OutboxItem, Recorded, StoredAlert

__all__ = ["PostgresAlertStore", "PostgresFeedbackStore", "PostgresMuteStore"]

log = logging.getLogger(__name__)

_ANNOUNCING = ("opened", "repeat", "escalated")
_DEADLOCK = "40P01"
_ATTEMPTS = 3
_FIRST_WAIT_S = 0.1
_T = TypeVar("_T")
_ROWS_PER_STATEMENT = 1_000
"""Events per multi-row statement: a burst (10,000 meters silent at once) is a few
statements, each of a bounded size."""
_LOCK_OCCURRENCES = text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k"
)


def _upsert_statement() -> Any:
    statement = insert(alerts_table)
    table = alerts_table.c
    # Forward only: an end is final (whatever its instant); otherwise the later wins.
    was_open, ends = table.ended_at.is_(None), statement.excluded.ended_at.is_not(None)
    forward = or_(
        and_(was_open, ends),
        and_(was_open != ends, table.updated_at <= statement.excluded.updated_at),
    )
    return statement.on_conflict_do_update(
        index_elements=[table.key, table.started_at],
        set_={name: statement.excluded[name] for name in _ALERT_FIELDS},
        where=forward,
    ).returning(table.id, table.key, table.started_at)


_ALERT_FIELDS = (
    "key",
    "kind",
    "rule_id",
    "meter_id",
    "severity",
    "started_at",
    "updated_at",
    "ended_at",
    "peak",
    "readings",
    "top_variables",
    "details",
)
"""The columns of ``alertas`` that hold an alert itself (``alert_codec.alert_columns``)."""
_UPSERT = _upsert_statement()
_NOTIFY = (
    insert(outbox).on_conflict_do_nothing(index_elements=[outbox.c.event_id]).returning(*outbox.c)
)
_IDS_OF_OCCURRENCES = text(
    """
    SELECT id, key, started_at FROM alertas
    WHERE (key, started_at) IN (
        SELECT * FROM unnest(CAST(:keys AS text[]), CAST(:starts AS timestamptz[])))
    """
)


def _forward(stored: Alert, new: Alert) -> bool:
    """Whether ``new`` may replace ``stored`` (the same occurrence): the upsert's rule, in
    Python. An end is final (whatever its instant); otherwise the later ``updated_at``
    wins, a tie going to ``new``."""
    if stored.ended_at is None and new.ended_at is not None:
        return True
    return (stored.ended_at is None) == (new.ended_at is None) and (
        stored.updated_at <= new.updated_at
    )


def _stored(row: Row[Any]) -> StoredAlert:
    acknowledgement = (
        None
        if row.acknowledged_by is None
        else Acknowledgement(
            by=row.acknowledged_by,
            at=row.acknowledged_at,
            comment=row.acknowledgement_comment or "",
        )
    )
    return StoredAlert(
        id=row.id,
        alert=alert_from_columns(row),
        acknowledgement=acknowledgement,
        last_sent_at=row.last_sent_at,
        announced=row.announced,
    )


def _item(row: Row[Any]) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        alert_id=row.alert_id,
        event_id=row.event_id,
        kind=row.kind,
        alert=alert_from_json(row.alert),
        created_at=row.created_at,
        state=row.state,
        reason=row.reason,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        sent_at=row.sent_at,
        retry_channels=tuple(row.retry_channels),
    )


def _is_deadlock(error: sqlalchemy.exc.DBAPIError) -> bool:
    return getattr(error.orig, "pgcode", None) == _DEADLOCK


class PostgresAlertStore:
    """``AlertStore`` on PostgreSQL: ``alertas`` and the outbox ``notificaciones``.

    ``confirm_within_s``: how long ``mark_sent`` and ``mark_failed`` keep trying while the
    database is away (keep it below the dispatchers' lease).
    """

    def __init__(self, database: Database | Engine, *, confirm_within_s: float = 30.0) -> None:
        self._db = database if isinstance(database, Database) else Database(database)
        self.confirm_within_s = confirm_within_s

    def _transaction(self, work: Callable[[Connection], _T]) -> _T:
        """``work`` in one transaction, run again if the server broke a deadlock with it."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._db.transaction() as connection:
                    return work(connection)
            except sqlalchemy.exc.DBAPIError as error:
                if not _is_deadlock(error) or attempt == _ATTEMPTS:
                    raise
                time.sleep(0.01 * attempt)
        raise AssertionError("unreachable")

    def _confirm(self, what: str, work: Callable[[Connection], None]) -> None:
        """``work`` in a transaction, tried again while the database is away, for up to
        ``confirm_within_s``: an outcome lost here means the notification is sent twice."""
        deadline = time.monotonic() + self.confirm_within_s
        wait = _FIRST_WAIT_S
        while True:
            try:
                self._transaction(work)
                return
            except DatabaseUnavailableError as error:
                if time.monotonic() + wait > deadline:
                    raise
                if wait == _FIRST_WAIT_S:
                    log.warning("%s: the database is away, trying again (%s)", what, error)
                time.sleep(wait)
                wait = min(wait * 2, 1.0)

    # --- writing ---------------------------------------------------------------------------
    def record(self, recorded: Sequence[Recorded]) -> list[OutboxItem]:
        if not recorded:
            return []
        return self._transaction(lambda connection: self._record(connection, recorded))

    def _record(self, connection: Connection, recorded: Sequence[Recorded]) -> list[OutboxItem]:
        # Writers telling the same occurrences queue here, in one order, whatever theirs.
        occurrences = {item.event.alert.occurrence for item in recorded}
        keys = sorted({lock_key(f"smartenergy:alert:{name}") for name in occurrences})
        for first in range(0, len(keys), _ROWS_PER_STATEMENT):
            # unnest reads the (sorted) array in order: the locks are taken in that order.
            connection.execute(
                _LOCK_OCCURRENCES, {"keys": keys[first : first + _ROWS_PER_STATEMENT]}
            )
        ids = self._upsert_many(connection, [item.event.alert for item in recorded])
        told = [item for item in recorded if item.decision.action != "not_due"]
        added: list[OutboxItem] = []
        for first in range(0, len(told), _ROWS_PER_STATEMENT):
            added.extend(self._add_many(connection, told[first : first + _ROWS_PER_STATEMENT], ids))
        return added

    def _upsert_many(self, connection: Connection, alerts: Sequence[Alert]) -> dict[str, int]:
        """Each occurrence of ``alerts`` brought to the most forward state the batch tells
        (as if its events were applied one after the other) by multi-row upserts; the
        occurrences' ids. New occurrences get ids in the order they are first told."""
        latest: dict[str, Alert] = {}  # in the order first told (dicts keep insertion order)
        for alert in alerts:
            kept = latest.get(alert.occurrence)
            if kept is None or _forward(kept, alert):
                latest[alert.occurrence] = alert
        chosen = list(latest.values())
        rows = [{"announced": False, **alert_columns(alert)} for alert in chosen]
        # One statement compiled once; the rows go as multi-row VALUES, 1,000 a statement.
        found = {
            (key, started): alert_id for alert_id, key, started in connection.execute(_UPSERT, rows)
        }
        missing = [alert for alert in chosen if (alert.key, alert.started_at) not in found]
        if missing:  # stored already, and newer: the rows are locked by the upsert
            found.update(
                {
                    (key, started): alert_id
                    for alert_id, key, started in connection.execute(
                        _IDS_OF_OCCURRENCES,
                        {
                            "keys": [alert.key for alert in missing],
                            "starts": [alert.started_at for alert in missing],
                        },
                    )
                }
            )
        return {alert.occurrence: int(found[(alert.key, alert.started_at)]) for alert in chosen}

    def _add_many(
        self, connection: Connection, told: Sequence[Recorded], ids: dict[str, int]
    ) -> list[OutboxItem]:
        """The notifications of ``told`` in one multi-row insert (an event id stored before
        adds nothing); the alerts whose opening is now on its way marked announced."""
        rows = [
            {
                "alert_id": ids[item.event.alert.occurrence],
                "event_id": item.event.id,
                "kind": item.kind,
                "alert": alert_json(item.event.alert),
                "created_at": item.event.at,
                "state": "pending" if item.decision.send else "suppressed",
                "reason": str(item.decision),
                "attempts": 0,
            }
            for item in told
        ]
        # Ids follow the rows' order; RETURNING's order is not promised: sort by id.
        items = sorted(
            (_item(row) for row in connection.execute(_NOTIFY, rows)), key=lambda i: i.id
        )
        announced = sorted(
            {
                item.alert_id
                for item in items
                if item.state == "pending" and item.kind in _ANNOUNCING
            }
        )
        if announced:
            connection.execute(
                update(alerts_table).where(alerts_table.c.id.in_(announced)).values(announced=True)
            )
        return items

    def _add(
        self,
        connection: Connection,
        *,
        alert_id: int,
        event_id: str,
        kind: str,
        alert: Alert,
        at: datetime,
        state: str,
        reason: str,
    ) -> OutboxItem | None:
        statement = (
            insert(outbox)
            .values(
                alert_id=alert_id,
                event_id=event_id,
                kind=kind,
                alert=alert_json(alert),
                created_at=at,
                state=state,
                reason=reason,
                attempts=0,
            )
            .on_conflict_do_nothing(index_elements=[outbox.c.event_id])
            .returning(*outbox.c)
        )
        row = connection.execute(statement).one_or_none()
        if row is None:
            return None
        if state == "pending" and kind in _ANNOUNCING:
            connection.execute(
                update(alerts_table).where(alerts_table.c.id == alert_id).values(announced=True)
            )
        return _item(row)

    def repeat(self, alert_id: int, event_id: str, at: datetime) -> OutboxItem | None:
        def work(connection: Connection) -> OutboxItem | None:
            # The occurrence first (the order every writer takes), as it stands now.
            row = connection.execute(
                select(alerts_table).where(alerts_table.c.id == alert_id).with_for_update()
            ).one_or_none()
            if row is None:
                return None
            return self._add(
                connection,
                alert_id=alert_id,
                event_id=event_id,
                kind="repeat",
                alert=alert_from_columns(row),
                at=at,
                state="pending",
                reason="send",
            )

        return self._transaction(work)

    def acknowledge(self, alert_id: int, acknowledgement: Acknowledgement) -> StoredAlert:
        statement = (
            update(alerts_table)
            .where(alerts_table.c.id == alert_id)
            .values(
                acknowledged_by=acknowledgement.by,
                acknowledged_at=acknowledgement.at,
                acknowledgement_comment=acknowledgement.comment,
            )
            .returning(*alerts_table.c)
        )
        with self._db.transaction() as connection:
            row = connection.execute(statement).one_or_none()
        if row is None:
            raise KeyError(alert_id)
        return _stored(row)

    def close(self, alert_ids: Sequence[int], at: datetime) -> None:
        if not alert_ids:
            return
        statement = (
            update(alerts_table)
            .where(alerts_table.c.id.in_(list(alert_ids)), alerts_table.c.ended_at.is_(None))
            .values(ended_at=at, updated_at=at)
        )
        self._transaction(lambda connection: connection.execute(statement))

    # --- reading ---------------------------------------------------------------------------
    def open_alerts(self) -> list[StoredAlert]:
        query = (
            select(alerts_table)
            .where(alerts_table.c.ended_at.is_(None))
            .order_by(alerts_table.c.started_at, alerts_table.c.id)
        )
        with self._db.connection() as connection:
            return [_stored(row) for row in connection.execute(query)]

    def alerts(
        self, *, meter_id: str | None = None, open_only: bool = False, limit: int = 100
    ) -> list[StoredAlert]:
        query = select(alerts_table)
        if meter_id is not None:
            query = query.where(alerts_table.c.meter_id == meter_id)
        if open_only:
            query = query.where(alerts_table.c.ended_at.is_(None))
        query = query.order_by(alerts_table.c.started_at.desc(), alerts_table.c.id.desc()).limit(
            max(limit, 0)
        )
        with self._db.connection() as connection:
            return [_stored(row) for row in connection.execute(query)]

    def get(self, alert_id: int) -> StoredAlert | None:
        query = select(alerts_table).where(alerts_table.c.id == alert_id)
        with self._db.connection() as connection:
            row = connection.execute(query).one_or_none()
        return None if row is None else _stored(row)

    # --- the outbox ------------------------------------------------------------------------
    def claim_due(self, now: datetime, limit: int, lease_s: float) -> list[OutboxItem]:
        if limit <= 0:
            return []
        due = (
            select(outbox.c.id)
            .where(
                outbox.c.state.in_(("pending", "sending")),
                or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now),
            )
            .order_by(outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        statement = (
            update(outbox)
            .where(outbox.c.id == due.c.id)
            .values(
                state="sending",
                attempts=outbox.c.attempts + 1,
                next_attempt_at=now + timedelta(seconds=lease_s),
            )
            .returning(*outbox.c)
        )
        with self._db.transaction() as connection:
            rows = connection.execute(statement).all()
        return sorted((_item(row) for row in rows), key=lambda item: item.id)

    def mark_sent(self, notification_id: int, at: datetime) -> None:
        def work(connection: Connection) -> None:
            # The occurrence before the notification: the order ``record`` locks them in.
            alert_of = select(outbox.c.alert_id).where(outbox.c.id == notification_id)
            connection.execute(
                update(alerts_table)
                .where(alerts_table.c.id == alert_of.scalar_subquery())
                .values(last_sent_at=at)
            )
            marked = connection.execute(
                update(outbox)
                .where(outbox.c.id == notification_id)
                .values(state="sent", sent_at=at, next_attempt_at=None, last_error=None)
            )
            if marked.rowcount == 0:
                raise KeyError(notification_id)

        self._confirm(f"marking notification {notification_id} sent", work)

    def mark_failed(
        self,
        notification_id: int,
        error: str,
        retry_at: datetime | None,
        channels: Sequence[str] = (),
    ) -> None:
        statement = (
            update(outbox)
            .where(outbox.c.id == notification_id)
            .values(
                state="pending" if retry_at is not None else "failed",
                next_attempt_at=retry_at,
                last_error=error,
                retry_channels=list(channels),
            )
        )

        def work(connection: Connection) -> None:
            if connection.execute(statement).rowcount == 0:
                raise KeyError(notification_id)

        self._confirm(f"marking notification {notification_id} failed", work)

    def notifications(self, *, alert_id: int | None = None, limit: int = 100) -> list[OutboxItem]:
        query = select(outbox)
        if alert_id is not None:
            query = query.where(outbox.c.alert_id == alert_id)
        query = query.order_by(outbox.c.id.desc()).limit(max(limit, 0))
        with self._db.connection() as connection:
            return [_item(row) for row in connection.execute(query)]
