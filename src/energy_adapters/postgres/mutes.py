"""Silences and maintenance windows on PostgreSQL: ``silencios`` and
``ventanas_mantenimiento`` (revision 0009). Every process reads them (the alerting use case
caches them a few seconds), so a silence added anywhere holds everywhere."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, Row, Table, delete, select
from sqlalchemy.dialects.postgresql import insert

from energy_adapters.postgres.schema import maintenance_windows, silences
from energy_adapters.postgres.urls import Database
from energy_core.alerts.policy import MaintenanceWindow, Silence


def _silence(row: Row[Any]) -> Silence:
    return Silence(
        id=row.id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        meters=tuple(row.meters),
        rule_ids=tuple(row.rule_ids),
        created_by=row.created_by,
        comment=row.comment,
    )


def _window(row: Row[Any]) -> MaintenanceWindow:
    return MaintenanceWindow(
        id=row.id,
        days=frozenset(row.days),
        start=row.start_time,
        end=row.end_time,
        timezone=row.timezone,
        meters=tuple(row.meters),
        rule_ids=tuple(row.rule_ids),
        comment=row.comment,
    )


class PostgresMuteStore:
    """``MuteStore`` on PostgreSQL. Adding with an id that exists replaces it."""

    def __init__(self, database: Database | Engine) -> None:
        self._db = database if isinstance(database, Database) else Database(database)

    def _put(self, table: Table, values: dict[str, Any]) -> None:
        statement = insert(table).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[table.c.id],
            set_={name: statement.excluded[name] for name in values if name != "id"},
        )
        with self._db.transaction() as connection:
            connection.execute(statement)

    def _remove(self, table: Table, identifier: str) -> bool:
        with self._db.transaction() as connection:
            return connection.execute(delete(table).where(table.c.id == identifier)).rowcount > 0

    def add_silence(self, silence: Silence) -> None:
        self._put(
            silences,
            {
                "id": silence.id,
                "starts_at": silence.starts_at,
                "ends_at": silence.ends_at,
                "meters": list(silence.meters),
                "rule_ids": list(silence.rule_ids),
                "created_by": silence.created_by,
                "comment": silence.comment,
            },
        )

    def remove_silence(self, silence_id: str) -> bool:
        return self._remove(silences, silence_id)

    def silences(self) -> list[Silence]:
        query = select(silences).order_by(silences.c.starts_at, silences.c.id)
        with self._db.connection() as connection:
            return [_silence(row) for row in connection.execute(query)]

    def add_window(self, window: MaintenanceWindow) -> None:
        self._put(
            maintenance_windows,
            {
                "id": window.id,
                "days": sorted(window.days),
                "start_time": window.start,
                "end_time": window.end,
                "timezone": window.timezone,
                "meters": list(window.meters),
                "rule_ids": list(window.rule_ids),
                "comment": window.comment,
            },
        )

    def remove_window(self, window_id: str) -> bool:
        return self._remove(maintenance_windows, window_id)

    def windows(self) -> list[MaintenanceWindow]:
        query = select(maintenance_windows).order_by(maintenance_windows.c.id)
        with self._db.connection() as connection:
            return [_window(row) for row in connection.execute(query)]
