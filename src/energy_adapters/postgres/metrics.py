"""``MetricRepository`` on PostgreSQL: one row of ``metricas`` per analysis."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select

from energy_adapters.postgres.schema import metric_snapshots as table
from energy_adapters.postgres.urls import Database
from energy_core.health.analysis import HealthState, MetricSnapshot

_FIELDS = (
    "computed_at",
    "window_start",
    "window_end",
    "total_readings",
    "anomalies_detected",
    "percentage",
    "health",
    "precision",
    "recall",
    "f1",
    "model_version",
    "delta_percentage",
)


def _to_snapshot(row: Row[Any]) -> MetricSnapshot:
    values = row._mapping
    return MetricSnapshot(
        **{field: values[field] for field in _FIELDS if field != "health"},
        health=HealthState(values["health"]),
        id=values["id"],
    )


class PostgresMetricRepository:
    def __init__(self, database: Database | Engine) -> None:
        self._db = database if isinstance(database, Database) else Database(database)

    def add(self, snapshot: MetricSnapshot) -> MetricSnapshot:
        values = {field: getattr(snapshot, field) for field in _FIELDS}
        values["health"] = HealthState(snapshot.health).value
        with self._db.transaction() as connection:
            new_id = connection.execute(insert(table).values(values).returning(table.c.id))
            return replace(snapshot, id=int(new_id.scalar_one()))

    def latest(self, n: int = 1) -> list[MetricSnapshot]:
        if n <= 0:
            return []
        query = select(table).order_by(table.c.id.desc()).limit(n)
        with self._db.connection() as connection:
            return [_to_snapshot(row) for row in connection.execute(query)]

    def clear(self) -> None:
        with self._db.transaction() as connection:
            connection.execute(delete(table))
