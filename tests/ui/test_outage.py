"""The database goes away and comes back: a banner, no crash, recovery without reload."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from nicegui.testing import User

from energy_adapters.postgres import DatabaseUnavailableError
from energy_ui.dashboard import Dashboard
from tests.ui.conftest import HISTORY
from tests.ui.helpers import eventually, text_of


class Outage:
    """Makes every storage call of a monitor fail as an unreachable PostgreSQL does."""

    def __init__(self) -> None:
        self.down = False

    def wrap(self, store: Any) -> Any:
        return Flaky(store, self)


class Flaky:
    def __init__(self, inner: Any, outage: Outage) -> None:
        self._inner = inner
        self._outage = outage

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._outage.down:
                raise DatabaseUnavailableError("cannot use PostgreSQL (simulated outage)")
            return attribute(*args, **kwargs)

        return call


@pytest.fixture
def outage(dashboard: Dashboard) -> Iterator[Outage]:
    outage = Outage()
    monitor = dashboard.application.monitor
    monitor.readings = outage.wrap(monitor.readings)
    monitor.metrics = outage.wrap(monitor.metrics)
    monitor.models = outage.wrap(monitor.models)
    yield outage
    outage.down = False


async def test_the_page_shows_a_banner_while_the_database_is_away_and_recovers(
    user: User, dashboard: Dashboard, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    monitor = dashboard.application.monitor
    await user.open("/")
    client = user.client
    await user.should_not_see(marker="database-banner")
    outage.down = True
    await dashboard.producer.pump()
    await user.should_see(marker="database-banner")
    await user.should_see("Base de datos no disponible")
    assert not dashboard.producer.available
    assert any(
        record.levelno == logging.WARNING and "database unavailable" in record.getMessage()
        for record in caplog.records
    )
    # While it is away nothing breaks: a filter change (a re-query) keeps the page.
    user.find(marker="live-switch").click()
    user.find(marker="live-switch").click()
    await dashboard.producer.pump()
    await user.should_see(marker="database-banner")

    outage.down = False
    monitor.clock.advance(timedelta(seconds=5))  # type: ignore[attr-defined]
    stored = monitor.stream_tick(3, timedelta(seconds=1)).stored
    await dashboard.producer.pump()
    await user.should_not_see(marker="database-banner")
    await user.should_see("Base de datos disponible de nuevo")
    await eventually(lambda: f"#{stored[-1].id}" in text_of(user, "status-latest"))
    assert text_of(user, "status-readings") == str(HISTORY + 3)
    assert user.client is client  # the same page all along, never reloaded


async def test_a_page_opened_while_the_database_is_away_opens_empty_with_the_banner(
    user: User, dashboard: Dashboard, outage: Outage
) -> None:
    outage.down = True
    await user.open("/")
    await user.should_see(marker="database-banner")
    assert text_of(user, "status-readings") == "0"
    outage.down = False
    await dashboard.producer.pump()
    await eventually(lambda: text_of(user, "status-readings") == str(HISTORY))
    await user.should_not_see(marker="database-banner")


async def test_an_action_while_the_database_is_away_says_so(
    user: User, dashboard: Dashboard, outage: Outage
) -> None:
    await user.open("/")
    outage.down = True
    user.find(marker="action-recalculate").click()
    await user.should_see("Base de datos no disponible; inténtelo más tarde.")
