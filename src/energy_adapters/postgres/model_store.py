"""``ModelStore`` on PostgreSQL: table ``modelos``, the skops bytes beside their metadata."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Engine, func, insert, select

from energy_adapters.model_codec import FORMAT, dump_detector, load_detector
from energy_adapters.postgres.locks import lock_key
from energy_adapters.postgres.schema import models as table
from energy_adapters.postgres.urls import Database
from energy_core.detection.protocol import Detector
from energy_core.ports import ModelInfo

_LATEST_VERSION = select(func.max(table.c.version))
"""Asked before every ingest batch is scored: built once (building it cost more than
running it)."""
_INFO_COLUMNS = (
    table.c.version,
    table.c.trained_at,
    table.c.rows,
    table.c.features,
    table.c.contamination,
    table.c.threshold,
    table.c.detector,
    table.c.evaluation,
    table.c.meter_factors,
)
# Versions are max + 1 so that they start at 1 and have no gaps; savers take turns.
_VERSION_LOCK = lock_key("smartenergy:model-version")


def _to_info(row: Any) -> ModelInfo:
    return ModelInfo(
        trained_at=row.trained_at,
        rows=row.rows,
        features=tuple(row.features),
        contamination=row.contamination,
        threshold=row.threshold,
        detector=row.detector,
        evaluation={str(key): float(value) for key, value in row.evaluation.items()},
        version=row.version,
        meter_factors={str(meter): float(factor) for meter, factor in row.meter_factors.items()},
    )


class PostgresModelStore:
    def __init__(self, database: Database | Engine) -> None:
        self._db = database if isinstance(database, Database) else Database(database)

    def save(self, detector: Detector, info: ModelInfo) -> ModelInfo:
        payload = dump_detector(detector)
        with self._db.transaction() as connection:
            connection.execute(select(func.pg_advisory_xact_lock(_VERSION_LOCK)))
            version = connection.execute(
                select(func.coalesce(func.max(table.c.version), 0) + 1)
            ).scalar_one()
            connection.execute(
                insert(table).values(
                    version=version,
                    trained_at=info.trained_at,
                    rows=info.rows,
                    features=list(info.features),
                    contamination=info.contamination,
                    threshold=info.threshold,
                    detector=info.detector,
                    evaluation=dict(info.evaluation),
                    meter_factors=dict(info.meter_factors),
                    format=FORMAT,
                    payload=payload,
                    stored_at=func.now(),
                )
            )
        return replace(
            info,
            features=tuple(info.features),
            evaluation=dict(info.evaluation),
            meter_factors=dict(info.meter_factors),
            version=int(version),
        )

    def latest_version(self) -> int | None:
        with self._db.connection() as connection:
            found = connection.execute(_LATEST_VERSION).scalar_one()
        return None if found is None else int(found)

    def info(self, version: int | None = None) -> ModelInfo | None:
        query = select(*_INFO_COLUMNS)
        if version is None:
            query = query.order_by(table.c.version.desc()).limit(1)
        else:
            query = query.where(table.c.version == version)
        with self._db.connection() as connection:
            row = connection.execute(query).first()
        return None if row is None else _to_info(row)

    def load(self, version: int | None = None) -> tuple[Detector, ModelInfo] | None:
        query = select(*_INFO_COLUMNS, table.c.payload)
        if version is None:
            query = query.order_by(table.c.version.desc()).limit(1)
        else:
            query = query.where(table.c.version == version)
        with self._db.connection() as connection:
            row = connection.execute(query).first()
        if row is None:
            return None
        source = f"model version {row.version} (table modelos)"
        return load_detector(bytes(row.payload), source=source), _to_info(row)

    def versions(self) -> list[ModelInfo]:
        query = select(*_INFO_COLUMNS).order_by(table.c.version)
        with self._db.connection() as connection:
            return [_to_info(row) for row in connection.execute(query)]
