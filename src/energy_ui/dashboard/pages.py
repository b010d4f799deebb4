"""The dashboard's routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request
from nicegui import ui

from energy_ui.dashboard.alerts_state import AlertLink
from energy_ui.dashboard.layout import add_head
from energy_ui.dashboard.login import Gate, login_page
from energy_ui.dashboard.page import DashboardPage

if TYPE_CHECKING:
    from energy_ui.dashboard.app import Dashboard

RECONNECT_TIMEOUT_S = 60.0
"""A browser that loses its connection this long keeps its page and catches up on return."""


def register(dashboard: Dashboard, path: str = "/") -> None:
    """Serve the dashboard page at ``path`` (a login page instead while reading needs one).
    A notification's link (``?meter=M&from=D&to=D&alert=ID``) opens it filtered to that
    meter and those days, on the Alerts tab and that alert."""

    @ui.page(path, title="SmartEnergy", reconnect_timeout=RECONNECT_TIMEOUT_S)
    async def dashboard_page(request: Request) -> None:
        gate = Gate(dashboard.access)
        if not gate.may_read():
            add_head()
            # After the login the page opens at the same address, link and all.
            query = request.url.query
            back = f"{path}?{query}" if query else path
            login_page(dashboard.application.settings.language, gate, back)
            return
        link = AlertLink.of(request.query_params)
        await DashboardPage(dashboard, gate=gate, path=path, link=link).open()
