"""The composition of every PostgreSQL adapter over one engine: ``connect(url)``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import URL, Engine

from energy_adapters.model_files import FileModelStore
from energy_adapters.postgres.alerts import (
    PostgresAlertStore,
    PostgresFeedbackStore,
    PostgresMuteStore,
)
from energy_adapters.postgres.feed import DEFAULT_CHANNEL, PostgresChangeFeed
from energy_adapters.postgres.fleet import PostgresFleetQueries
from energy_adapters.postgres.metrics import PostgresMetricRepository
from energy_adapters.postgres.migrations import upgrade
from energy_adapters.postgres.model_store import PostgresModelStore
from energy_adapters.postgres.reading_queries import PostgresReadingQueries
from energy_adapters.postgres.readings import PostgresReadingRepository
from energy_adapters.postgres.urls import Database, describe_url, open_engine


@dataclass
class PostgresStores:
    """Every port on one PostgreSQL database. ``close()`` stops the feed and the pool."""

    engine: Engine
    readings: PostgresReadingRepository
    queries: PostgresReadingQueries
    metrics: PostgresMetricRepository
    models: PostgresModelStore | FileModelStore
    feed: PostgresChangeFeed
    fleet: PostgresFleetQueries
    alerts: PostgresAlertStore
    mutes: PostgresMuteStore
    feedback: PostgresFeedbackStore
    url: str = field(default="")
    owns_engine: bool = True

    def close(self) -> None:
        self.feed.close()
        if self.owns_engine:
            self.engine.dispose()

    def __enter__(self) -> PostgresStores:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def connect(
    url: str | URL,
    *,
    migrate: bool = True,
    model_directory: str | os.PathLike[str] | None = None,
    channel: str = DEFAULT_CHANNEL,
    pool_size: int = 5,
    connect_timeout: int = 5,
    application_name: str = "smartenergy",
) -> PostgresStores:
    """Open ``url``, bring its schema up to date (``migrate``) and build every adapter.

    Models go to the table ``modelos``, or to ``model_directory`` when one is given.
    Raises ``DatabaseUnavailableError`` (one line, password masked) for a malformed URL or
    a server that does not answer within ``connect_timeout`` seconds.
    """
    engine = open_engine(
        url,
        pool_size=pool_size,
        connect_timeout=connect_timeout,
        application_name=application_name,
    )
    try:
        if migrate:
            upgrade(engine)
        return build_stores(
            engine,
            model_directory=model_directory,
            channel=channel,
            connect_timeout=connect_timeout,
        )
    except BaseException:
        engine.dispose()
        raise


def build_stores(
    engine: Engine,
    *,
    model_directory: str | os.PathLike[str] | None = None,
    channel: str = DEFAULT_CHANNEL,
    connect_timeout: int = 5,
    owns_engine: bool = True,
) -> PostgresStores:
    """Every adapter over an engine that is already open and migrated."""
    database = Database(engine)
    feed = PostgresChangeFeed(database, channel=channel, connect_timeout=connect_timeout)
    models: PostgresModelStore | FileModelStore = (
        FileModelStore(Path(model_directory))
        if model_directory is not None
        else PostgresModelStore(database)
    )
    return PostgresStores(
        engine=engine,
        readings=PostgresReadingRepository(database),
        queries=PostgresReadingQueries(database),
        metrics=PostgresMetricRepository(database),
        models=models,
        feed=feed,
        fleet=PostgresFleetQueries(database),
        alerts=PostgresAlertStore(database),
        mutes=PostgresMuteStore(database),
        feedback=PostgresFeedbackStore(database),
        url=describe_url(engine.url),
        owns_engine=owns_engine,
    )
