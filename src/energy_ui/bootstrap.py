"""The composition root: settings → adapters → use cases. Nothing else builds adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

from energy_adapters.memory import (
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, Simulator
from energy_core.ports import Clock
from energy_ui.settings import Settings

Mode = Literal["memory", "postgres"]


@dataclass
class Application:
    """What the entry points (dashboard, CLI, API) work with."""

    settings: Settings
    monitor: Monitor
    mode: Mode
    closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        while self.closers:
            self.closers.pop()()


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    simulator: Simulator | None = None,
) -> Application:
    """Build the application: in memory without `DATABASE_URL`, on PostgreSQL with it."""
    settings = settings or Settings()
    simulator = simulator or Simulator(
        meters=settings.meters, anomaly_ratio=settings.anomaly_ratio, seed=settings.seed
    )
    if settings.database_url:
        return _postgres_application(settings, clock, simulator)
    monitor = Monitor(
        readings=MemoryReadingRepository(max_readings=settings.max_readings),
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=clock,
        simulator=simulator,
        settings=settings.monitor_settings(),
    )
    return Application(settings=settings, monitor=monitor, mode="memory")


class DatabaseError(RuntimeError):
    """The database cannot be used; the message is one line naming host and database."""


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the database is unreachable right now" (retry later)."""
    return (DatabaseError,)


def _postgres_application(
    settings: Settings, clock: Clock | None, simulator: Simulator
) -> Application:
    raise DatabaseError("PostgreSQL storage is not available in this build yet")


def prepare_database(url: str) -> str:
    """Apply the schema migrations; return the revision the database is at."""
    raise DatabaseError("PostgreSQL storage is not available in this build yet")


class AlreadyRunningError(RuntimeError):
    """Another process holds the loop this one wanted to run."""


@contextmanager
def single_loop_lock(application: Application, name: str) -> Iterator[None]:
    """Hold the one lock that lets a single ``name`` loop run across processes."""
    raise DatabaseError("PostgreSQL storage is not available in this build yet")
    yield
