"""`smartenergy ingest`: the HTTP ingest API (and the MQTT subscriber) without the dashboard.

Without ``ENERGY_NATS_URL`` each process ingests as ``serve`` does (validate, score, store).
With it, each process is a gateway: it validates with the same rules and appends the valid
readings to the log on NATS JetStream, where the worker owning each meter's partition
scores and stores them (``smartenergy worker``). An answer of 200 then means the log holds
the readings (``accepted``); ``flagged`` is 0 and ``model_version`` null, since scoring is
the worker's. While the log is unreachable or full the API answers 503 with Retry-After
and takes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from energy_adapters.nats_log import LogConfig, NatsReadingLog
from energy_core.usecases.gateway import LogGateway
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.settings import Settings


def log_config(settings: Settings) -> LogConfig:
    """The log these settings name (``ENERGY_NATS_*``); ``ValueError`` without a URL."""
    if not settings.nats_url:
        raise ValueError("ENERGY_NATS_URL is not set: no reading log to use")
    return LogConfig(
        url=settings.nats_url,
        prefix=settings.nats_prefix,
        partitions=settings.nats_partitions,
        replicas=settings.nats_replicas,
        max_bytes=settings.nats_max_mb * 1024 * 1024,
        lease_s=settings.nats_lease_s,
    )


def gateway_application(settings: Settings) -> Application:
    """The application as ``bootstrap`` builds it, its ingest ending in the log when
    ``ENERGY_NATS_URL`` is set (the log's state shown in ``/healthz`` as channel ``nats``)."""
    application = bootstrap(settings)
    if settings.nats_url:
        reading_log = NatsReadingLog(log_config(settings))
        application.gateway = LogGateway(application.monitor, reading_log)
        application.channels["nats"] = reading_log.status
        application.closers.append(reading_log.close)
    return application


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ingest server of one process: the API's routes (ingest, reads, health), no
    dashboard. A factory, so that each of ``--workers`` processes builds its own."""
    from energy_ui.api.routes import create_api_router

    application = gateway_application(settings or Settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            application.close()

    app = FastAPI(
        title="SmartEnergy ingest",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.include_router(create_api_router(application))
    app.state.application = application
    return app
