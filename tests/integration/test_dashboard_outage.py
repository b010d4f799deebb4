"""The dashboard on a real PostgreSQL that stops and starts again: banner, then recovery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from nicegui.testing import User

from energy_core import Simulator
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.dashboard import create_app
from energy_ui.settings import Settings
from tests.postgres_support import ThrowawayServer, throwaway_server
from tests.ui.helpers import eventually, text_of

pytestmark = pytest.mark.postgres


@pytest.fixture
def server() -> Iterator[ThrowawayServer]:
    with throwaway_server() as server:
        yield server


@pytest.fixture
def application(server: ThrowawayServer) -> Iterator[Application]:
    settings = Settings(_env_file=None, database_url=server.url, meters=2, seed=3, language="es")
    application = bootstrap(settings, simulator=Simulator(meters=2, anomaly_ratio=0.03, seed=3))
    application.monitor.generate_history(200)
    yield application
    application.close()


async def test_the_dashboard_shows_the_outage_and_recovers_without_reload(
    user: User, server: ThrowawayServer, application: Application
) -> None:
    dashboard = create_app(application, demo=False)
    await dashboard.start()
    await user.open("/")
    client = user.client
    assert text_of(user, "status-readings") == "200"
    await user.should_not_see(marker="database-banner")

    server.stop()
    await dashboard.producer.pump()
    await user.should_see(marker="database-banner")
    await user.should_see("Base de datos no disponible")

    server.start()
    stored = application.monitor.stream_tick(4, timedelta(seconds=1)).stored
    await dashboard.producer.pump()
    await user.should_not_see(marker="database-banner")
    await eventually(lambda: f"#{stored[-1].id}" in text_of(user, "status-latest"))
    assert text_of(user, "status-readings") == "204"
    assert user.client is client
    await dashboard.stop()
