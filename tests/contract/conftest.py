"""Each contract suite runs against every adapter listed in ``ADAPTERS``.

An adapter module registers a factory here; the suites never change when one is added.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text

from energy_adapters.memory import (
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_adapters.memory_alerts import MemoryAlertStore, MemoryFeedbackStore, MemoryMuteStore
from energy_adapters.memory_fleet import MemoryFleetQueries
from energy_adapters.model_files import FileModelStore

ALERT_TABLES = "alertas, notificaciones, silencios, ventanas_mantenimiento, valoraciones"


@dataclass
class Stores:
    readings: Any
    queries: Any
    metrics: Any
    models: Any
    feed: Any
    fleet: Any = None
    alerts: Any = None
    mutes: Any = None
    feedback: Any = None
    # Called after publishing, for adapters whose delivery is asynchronous.
    settle: Callable[[], None] = lambda: None


@contextmanager
def memory_stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    readings = MemoryReadingRepository()
    yield Stores(
        readings=readings,
        queries=readings,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        fleet=MemoryFleetQueries(readings),
        alerts=MemoryAlertStore(),
        mutes=MemoryMuteStore(),
        feedback=MemoryFeedbackStore(),
    )


@contextmanager
def files_model_stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    """In memory, except models: skops files in a temporary directory."""
    directory = request.getfixturevalue("tmp_path") / "models"
    readings = MemoryReadingRepository()
    yield Stores(
        readings=readings,
        queries=readings,
        metrics=MemoryMetricRepository(),
        models=FileModelStore(directory),
        feed=MemoryChangeFeed(),
        fleet=MemoryFleetQueries(readings),
        alerts=MemoryAlertStore(),
        mutes=MemoryMuteStore(),
        feedback=MemoryFeedbackStore(),
    )


@contextmanager
def postgres_stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    """Every port on PostgreSQL (a session database, emptied before each test)."""
    built = request.getfixturevalue("pg_stores")
    with built.engine.begin() as connection:  # alerting's tables, ids from 1 again
        connection.execute(text(f"TRUNCATE {ALERT_TABLES} RESTART IDENTITY"))
    yield Stores(
        readings=built.readings,
        queries=built.queries,
        metrics=built.metrics,
        models=built.models,
        feed=built.feed,
        fleet=built.fleet,
        alerts=built.alerts,
        mutes=built.mutes,
        feedback=built.feedback,
        settle=built.feed.sync,
    )


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest], Any]] = {
    "memory": memory_stores,
    "files": files_model_stores,
    "postgres": postgres_stores,
}


# Markers by adapter, so that e.g. `-m "not postgres"` deselects the PostgreSQL runs.
ADAPTER_MARKS: dict[str, tuple[pytest.MarkDecorator, ...]] = {"postgres": (pytest.mark.postgres,)}


@pytest.fixture(
    params=[pytest.param(name, marks=ADAPTER_MARKS.get(name, ())) for name in sorted(ADAPTERS)]
)
def stores(request: pytest.FixtureRequest) -> Iterator[Stores]:
    with ADAPTERS[request.param](request) as built:
        yield built
