"""The composition root: settings → adapters → use cases. Nothing else builds adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from energy_adapters.energy_memory import MemoryEnergyQueries
from energy_adapters.memory import (
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_adapters.memory_alerts import MemoryAlertStore, MemoryFeedbackStore, MemoryMuteStore
from energy_adapters.memory_fleet import MemoryFleetQueries
from energy_adapters.tokens import MemoryTokenStore, TokenStore
from energy_core import Monitor, Simulator
from energy_core.alerts.delivery import Notifier
from energy_core.energy import EnergyInsight, EnergyQueries
from energy_core.ports import Clock, FleetPage, FleetQueries, FleetQuery, LogUnavailableError
from energy_core.usecases.alerting import Alerting
from energy_core.usecases.gateway import Ingest
from energy_core.usecases.monitor import SystemClock
from energy_ui.settings import Settings

Mode = Literal["memory", "postgres"]


@dataclass
class Application:
    """What the entry points (dashboard, CLI, API) work with."""

    settings: Settings
    monitor: Monitor
    mode: Mode
    closers: list[Callable[[], None]] = field(default_factory=list)
    engine: Any = None
    """The SQLAlchemy engine on PostgreSQL (for advisory locks), else ``None``."""
    ingest_tokens: TokenStore = field(default_factory=MemoryTokenStore)
    """Named HTTP ingest tokens (``smartenergy tokens``): this process's only in memory."""
    channels: dict[str, Callable[[], dict[str, Any]]] = field(default_factory=dict)
    """Ingest channels running in this process (``"mqtt"`` under ``serve --mqtt``), each
    answering its state for ``/healthz``: ``up`` (bool) and its counters."""
    fleet: FleetQueries | None = None
    """The fleet view's reads (one row per meter); by default computed from the readings."""
    notifier: Notifier | None = None
    """Where alerts are sent (``ENERGY_NOTIFY_URLS``); ``None``: recorded, not sent."""
    energy: EnergyInsight | None = None
    """Energy figures (consumption, demand, cost, what anomalies cost) in
    ``ENERGY_TIMEZONE`` at the tariffs of ``ENERGY_TARIFFS``; by default computed from the
    readings."""

    gateway: Ingest | None = None
    """Where the ingest channels hand readings instead of the monitor: the reading log under
    `smartenergy ingest` with ENERGY_NATS_URL (energy_ui.gateway); ``None``: stored here."""

    @property
    def ingest(self) -> Ingest:
        """What the ingest channels (HTTP, MQTT) call: the gateway, else the monitor."""
        return self.gateway or self.monitor

    @property
    def alerting(self) -> Alerting | None:
        """The alert use cases (``None`` with ``ENERGY_ALERTS=false``)."""
        return self.monitor.alerting

    def __post_init__(self) -> None:
        if self.fleet is None:
            self.fleet = MemoryFleetQueries(self.monitor.queries)
        if self.energy is None:
            self.energy = energy_of(self.settings, MemoryEnergyQueries(self.monitor.queries))

    def meters_overview(self, query: FleetQuery) -> FleetPage:
        """One page of the fleet as it stands now (the monitor's clock), each meter's health
        against the configured thresholds."""
        assert self.fleet is not None
        query = replace(query, thresholds=self.settings.thresholds)
        return self.fleet.meters_overview(query, self.monitor.clock.now())

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
        meters=settings.meters,
        plugs=settings.plugs,
        anomaly_ratio=settings.anomaly_ratio,
        seed=settings.seed,
    )
    if settings.database_url:
        return _postgres_application(settings, clock, simulator)
    readings = MemoryReadingRepository(max_readings=settings.max_readings)
    clock = clock or SystemClock()
    alerting = (
        Alerting(
            store=MemoryAlertStore(),
            mutes=MemoryMuteStore(),
            feedback=MemoryFeedbackStore(),
            clock=clock,
            settings=settings.alert_settings(),
        )
        if settings.alerts
        else None
    )
    monitor = Monitor(
        readings=readings,
        queries=readings,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=clock,
        simulator=simulator,
        settings=settings.monitor_settings(),
        alerting=alerting,
    )
    return Application(
        settings=settings, monitor=monitor, mode="memory", notifier=notifier_of(settings)
    )


def energy_of(settings: Settings, queries: EnergyQueries) -> EnergyInsight:
    """Energy figures over ``queries`` in the settings' time zone, at their tariffs."""
    return EnergyInsight(
        queries, settings=settings.energy_settings(), tariffs=settings.tariff_schedule()
    )


def notifier_of(settings: Settings) -> Notifier | None:
    """The channels of ``ENERGY_NOTIFY_URLS`` (``None`` when it is empty)."""
    if not settings.notify_urls.strip():
        return None
    from energy_adapters.notify import AppriseNotifier

    return AppriseNotifier(settings.notify_urls)


class DatabaseError(RuntimeError):
    """The database cannot be used; the message is one line naming host and database."""


def unavailable_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the database (or the reading log) is unreachable right now"
    (retry later)."""
    from energy_adapters.postgres import DatabaseUnavailableError

    return (DatabaseError, DatabaseUnavailableError, LogUnavailableError)


def _postgres_application(
    settings: Settings, clock: Clock | None, simulator: Simulator
) -> Application:
    from energy_adapters.postgres import DatabaseUnavailableError, PostgresEnergyQueries, connect
    from energy_adapters.postgres.tokens import PostgresTokenStore

    assert settings.database_url is not None
    try:
        stores = connect(settings.database_url)
    except DatabaseUnavailableError as error:
        raise DatabaseError(str(error)) from None
    clock = clock or SystemClock()
    monitor = Monitor(
        readings=stores.readings,
        queries=stores.queries,
        metrics=stores.metrics,
        models=stores.models,
        feed=stores.feed,
        clock=clock,
        simulator=simulator,
        settings=settings.monitor_settings(),
        alerting=Alerting(
            store=stores.alerts,
            mutes=stores.mutes,
            feedback=stores.feedback,
            clock=clock,
            settings=settings.alert_settings(),
        )
        if settings.alerts
        else None,
    )
    return Application(
        settings=settings,
        monitor=monitor,
        mode="postgres",
        closers=[stores.close],
        engine=stores.engine,
        ingest_tokens=PostgresTokenStore(stores.engine),
        fleet=stores.fleet,
        notifier=notifier_of(settings),
        energy=energy_of(settings, PostgresEnergyQueries(stores.engine)),
    )


def prepare_database(url: str) -> str:
    """Apply the schema migrations; return the revision the database is at."""
    from energy_adapters.postgres import (
        DatabaseUnavailableError,
        current_revision,
        open_engine,
        upgrade,
    )

    try:
        engine = open_engine(url)
        try:
            upgrade(engine)
            return str(current_revision(engine))
        finally:
            engine.dispose()
    except DatabaseUnavailableError as error:
        raise DatabaseError(str(error)) from None


class AlreadyRunningError(RuntimeError):
    """Another process holds the loop this one wanted to run."""


@contextmanager
def single_loop_lock(application: Application, name: str) -> Iterator[None]:
    """Hold the one lock that lets a single ``name`` loop run across processes sharing the
    database; ``AlreadyRunningError`` when another process holds it."""
    from energy_adapters.postgres import advisory_lock, describe_url

    if application.engine is None:
        raise DatabaseError(f"`{name}` needs a shared database (DATABASE_URL)")
    with advisory_lock(application.engine, name) as acquired:
        if not acquired:
            raise AlreadyRunningError(
                f"another `{name}` loop is already running on "
                f"{describe_url(application.engine.url)}; only one may run at a time / "
                f"ya hay otro bucle `{name}` en marcha"
            )
        yield
