"""The dashboard's routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nicegui import ui

from energy_ui.dashboard.layout import add_head
from energy_ui.dashboard.login import Gate, login_page
from energy_ui.dashboard.page import DashboardPage

if TYPE_CHECKING:
    from energy_ui.dashboard.app import Dashboard

RECONNECT_TIMEOUT_S = 60.0
"""A browser that loses its connection this long keeps its page and catches up on return."""


def register(dashboard: Dashboard, path: str = "/") -> None:
    """Serve the dashboard page at ``path`` (a login page instead while reading needs one)."""

    @ui.page(path, title="SmartEnergy", reconnect_timeout=RECONNECT_TIMEOUT_S)
    async def dashboard_page() -> None:
        gate = Gate(dashboard.access)
        if not gate.may_read():
            add_head()
            login_page(dashboard.application.settings.language, gate, path)
            return
        await DashboardPage(dashboard, gate=gate, path=path).open()
