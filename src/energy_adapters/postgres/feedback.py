"""Users' feedback on PostgreSQL: ``valoraciones`` (revision 0009), newest first by id."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, Row, select
from sqlalchemy.dialects.postgresql import insert

from energy_adapters.postgres.schema import feedback as feedback_table
from energy_adapters.postgres.urls import Database
from energy_core.alerts.store import Feedback


def _feedback(row: Row[Any]) -> Feedback:
    return Feedback(
        meter_id=row.meter_id,
        start=row.starts_at,
        end=row.ends_at,
        verdict=row.verdict,
        by=row.given_by,
        at=row.given_at,
        alert_id=row.alert_id,
        fault_kind=row.fault_kind,
        variables=tuple(row.variables),
        comment=row.comment,
        id=row.id,
    )


class PostgresFeedbackStore:
    """``FeedbackStore`` on PostgreSQL. ``add`` gives each verdict a new id (any id it
    carries is ignored)."""

    def __init__(self, database: Database | Engine) -> None:
        self._db = database if isinstance(database, Database) else Database(database)

    def add(self, feedback: Feedback) -> Feedback:
        statement = (
            insert(feedback_table)
            .values(
                meter_id=feedback.meter_id,
                starts_at=feedback.start,
                ends_at=feedback.end,
                verdict=feedback.verdict,
                given_by=feedback.by,
                given_at=feedback.at,
                alert_id=feedback.alert_id,
                fault_kind=feedback.fault_kind,
                variables=list(feedback.variables),
                comment=feedback.comment,
            )
            .returning(feedback_table.c.id)
        )
        with self._db.transaction() as connection:
            new_id = connection.execute(statement).scalar_one()
        return replace(feedback, id=int(new_id))

    def feedback(self, *, meter_id: str | None = None, limit: int = 1000) -> list[Feedback]:
        query = select(feedback_table)
        if meter_id is not None:
            query = query.where(feedback_table.c.meter_id == meter_id)
        query = query.order_by(feedback_table.c.id.desc()).limit(max(limit, 0))
        with self._db.connection() as connection:
            return [_feedback(row) for row in connection.execute(query)]
