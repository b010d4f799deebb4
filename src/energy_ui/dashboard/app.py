"""Wiring the dashboard onto NiceGUI's app, and serving it."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from nicegui import app, background_tasks, run, ui

from energy_core.health.alarm import HealthAlarm
from energy_ui.access import Access, exposure_warning, storage_secret
from energy_ui.alert_runner import AlertRunner
from energy_ui.api import create_api_router
from energy_ui.bootstrap import Application, bootstrap, unavailable_errors
from energy_ui.dashboard import pages
from energy_ui.dashboard.alerts_state import AlertFeed
from energy_ui.dashboard.demo import DemoDriver
from energy_ui.dashboard.drill import DrillParameters, DrillRunner
from energy_ui.dashboard.jobs import JobRunner
from energy_ui.dashboard.live import LiveProducer
from energy_ui.proxy import install_http_middleware
from energy_ui.settings import Settings


@dataclass
class Dashboard:
    """What every page shares: the application, the live producer, the task runner and who
    may act."""

    application: Application
    producer: LiveProducer
    jobs: JobRunner
    access: Access
    drill: DrillRunner
    demo: DemoDriver | None = None
    alerts: AlertRunner | None = None
    alert_feed: AlertFeed | None = None
    """Tells every page when alerts changed (``None`` with alerts off)."""

    async def start(self) -> None:
        """Start the producer (the demo, the alerts' clock and dispatcher, the alerts'
        feed); safe to call more than once."""
        await self.producer.start()
        if self.alert_feed is not None:
            await self.alert_feed.start()
        if self.demo is not None:
            self.demo.start()
        if self.alerts is not None:
            self.alerts.start()

    async def stop(self) -> None:
        if self.alert_feed is not None:
            await self.alert_feed.stop()
        if self.alerts is not None:
            await run.io_bound(self.alerts.stop)
        if self.demo is not None:
            await self.demo.stop()
        await self.producer.stop()


def create_app(
    application: Application,
    *,
    demo: bool | None = None,
    path: str = "/",
    drill: DrillParameters | None = None,
) -> Dashboard:
    """Register the dashboard for ``application`` on NiceGUI's app.

    ``demo``: drive the in-memory demo (history, stream, retrain, analyses); by default only
    in memory mode. ``drill``: the size of the fire drill run after each training from the
    dashboard. The producer and the demo start with the app (at once if it runs).
    """
    settings = application.settings
    jobs = JobRunner()
    producer = LiveProducer(
        application.monitor,
        HealthAlarm(settings.thresholds),
        read_in_thread=application.mode == "postgres",
        unavailable=unavailable_errors(),
    )
    run_demo = application.mode == "memory" if demo is None else demo
    drill_runner = DrillRunner(application.monitor, drill)
    dashboard = Dashboard(
        application=application,
        producer=producer,
        jobs=jobs,
        access=Access(settings),
        drill=drill_runner,
        demo=DemoDriver(application.monitor, settings, jobs, drill=drill_runner)
        if run_demo
        else None,
        alerts=AlertRunner(
            application.monitor, application.alerting, application.notifier, settings
        )
        if application.alerting is not None
        else None,
        alert_feed=AlertFeed(
            application.alerting,
            producer.updates,
            read_in_thread=application.mode == "postgres",
            unavailable=unavailable_errors(),
        )
        if application.alerting is not None
        else None,
    )
    pages.register(dashboard, path)
    if app.is_started:
        background_tasks.create(dashboard.start(), name="dashboard start")
    else:
        app.on_startup(dashboard.start)
    app.on_shutdown(dashboard.stop)
    return dashboard


def serve(
    settings: Settings | None = None,
    *,
    host: str | None = None,
    port: int | None = None,
    mqtt: bool = False,
) -> None:
    """Serve the dashboard and the HTTP API (blocking) at http://host:port; settings from
    the environment by default. Without ``DATABASE_URL`` it runs the in-memory demo.
    ``mqtt``: also subscribe to the meters' MQTT topic and ingest what they publish."""
    settings = settings or Settings()
    host = host or settings.host
    warning = exposure_warning(settings, host)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    application = bootstrap(settings)
    app.on_shutdown(application.close)
    app.include_router(create_api_router(application))
    create_app(application)
    if mqtt:
        _ingest_mqtt_while_serving(application)
    secret = storage_secret(settings)
    install_http_middleware(app, secret=secret, trusted_proxies=settings.trusted_proxies)
    ui.run(
        host=host,
        port=port or settings.port,
        storage_secret=secret,
        # ENERGY_TRUSTED_PROXIES decides whose X-Forwarded-* to believe, not uvicorn's list.
        proxy_headers=False,
        title="SmartEnergy",
        favicon="⚡",
        reload=False,
        show=False,
        language="es" if settings.language == "es" else "en-GB",
        reconnect_timeout=pages.RECONNECT_TIMEOUT_S,
    )


def _ingest_mqtt_while_serving(application: Application) -> None:
    from energy_ui.mqtt import MqttIngestor

    ingestor = MqttIngestor(application.monitor, application.settings)
    application.channels["mqtt"] = ingestor.status  # for /healthz

    def start() -> None:
        task = background_tasks.create(ingestor.run(), name="mqtt ingest")
        app.on_shutdown(task.cancel)

    app.on_startup(start)
