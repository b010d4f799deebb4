"""Every port of ``energy_core`` on PostgreSQL (SQLAlchemy 2 + psycopg2).

Start with :func:`connect`, which returns a :class:`PostgresStores`. The schema lives in
Alembic migrations shipped with this package (:func:`upgrade`); see ``docs/storage.md``.
"""

from energy_adapters.postgres.energy import PostgresEnergyQueries
from energy_adapters.postgres.feed import DEFAULT_CHANNEL, PostgresChangeFeed
from energy_adapters.postgres.locks import advisory_lock, lock_key
from energy_adapters.postgres.metrics import PostgresMetricRepository
from energy_adapters.postgres.migrations import current_revision, head_revision, upgrade
from energy_adapters.postgres.model_store import PostgresModelStore
from energy_adapters.postgres.reading_queries import PostgresReadingQueries
from energy_adapters.postgres.readings import PostgresReadingRepository
from energy_adapters.postgres.stores import PostgresStores, build_stores, connect
from energy_adapters.postgres.urls import (
    DEFAULT_URL,
    DatabaseUnavailableError,
    describe_url,
    open_engine,
)

__all__ = [
    "DEFAULT_CHANNEL",
    "DEFAULT_URL",
    "DatabaseUnavailableError",
    "PostgresChangeFeed",
    "PostgresEnergyQueries",
    "PostgresMetricRepository",
    "PostgresModelStore",
    "PostgresReadingQueries",
    "PostgresReadingRepository",
    "PostgresStores",
    "advisory_lock",
    "build_stores",
    "connect",
    "current_revision",
    "describe_url",
    "head_revision",
    "lock_key",
    "open_engine",
    "upgrade",
]
