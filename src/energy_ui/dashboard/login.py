"""The admin login of one browser: the gate every mutating handler asks, the login dialog
and the login page shown instead of the dashboard under ``ENERGY_READ_ACCESS=login``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from typing import Any

from nicegui import app, ui

from energy_core.telemetry.catalogue import Language
from energy_ui.access import Access
from energy_ui.i18n import text

Session = MutableMapping[str, Any]


def browser_session() -> Session:
    """This browser's server-side storage (NiceGUI's ``app.storage.user``)."""
    return app.storage.user


class Gate:
    """``Access`` applied to the session of the browser in whose context it is asked.

    Handlers ask at the moment they run (server side), so a hidden or disabled button is
    never the only guard.
    """

    def __init__(self, access: Access, session: Callable[[], Session] = browser_session) -> None:
        self.access = access
        self._session = session

    @property
    def protects_actions(self) -> bool:
        return self.access.protects_actions

    # The session is only looked at when a password guards something: without one the app
    # may run without a storage secret (benchmarks, embedding).
    def may_act(self) -> bool:
        return not self.access.protects_actions or self.is_admin()

    def may_read(self) -> bool:
        return not self.access.protects_reading or self.is_admin()

    def is_admin(self) -> bool:
        return self.access.protects_actions and self.access.is_admin(self._session())

    async def log_in(self, password: str) -> bool:
        """Log this browser in when ``password`` is right; a wrong one answers after a delay."""
        if self.access.log_in(self._session(), password):
            return True
        await asyncio.sleep(self.access.failed_login_delay)
        return False

    def log_out(self) -> None:
        self.access.log_out(self._session())


def password_form(language: Language, gate: Gate, on_success: Callable[[], Any]) -> None:
    """A password field and a submit button; ``on_success`` runs after a good login."""

    def t(key: str) -> str:
        return text(key, language)

    async def submit() -> None:
        button.disable()
        try:
            ok = await gate.log_in(str(field.value or ""))
        finally:
            button.enable()
        field.value = ""
        if not ok:
            error.set_text(t("login.wrong"))
            error.set_visibility(True)
            return
        result = on_success()
        if asyncio.iscoroutine(result):
            await result

    field = (
        ui.input(t("login.password"), password=True, password_toggle_button=True)
        .props("outlined dense autofocus")
        .classes("w-full")
        .mark("login-password")
        .on("keydown.enter", submit)
    )
    error = ui.label().classes("text-negative text-sm").mark("login-error")
    error.set_visibility(False)
    button = (
        ui.button(t("login.submit"), icon="login", on_click=submit)
        .props("unelevated no-caps")
        .classes("w-full")
        .mark("login-submit")
    )


async def login_dialog(language: Language, gate: Gate) -> bool:
    """Ask for the admin password in a dialog; whether the browser is now logged in."""
    with ui.dialog() as dialog, ui.card().classes("se-card w-80 gap-3"):
        ui.label(text("login.title", language)).classes("se-section")
        password_form(language, gate, lambda: dialog.submit(True))
    dialog.open()
    logged_in = bool(await dialog)
    dialog.delete()
    return logged_in


def login_page(language: Language, gate: Gate, path: str) -> None:
    """What a browser without a login sees under ``ENERGY_READ_ACCESS=login``: no data."""
    ui.page_title(f"{text('app.title', language)} · {text('login.title', language)}")
    with (
        ui.column().classes("w-full min-h-[80vh] items-center justify-center"),
        ui.card().classes("se-card w-80 gap-3").props("flat"),
    ):
        with ui.row().classes("items-center gap-2 no-wrap"):
            ui.icon("bolt", color="primary").classes("text-2xl")
            ui.label(text("app.title", language)).classes("text-xl font-bold")
        ui.label(text("login.read_required", language)).classes("se-caption").mark("login-required")
        password_form(language, gate, lambda: ui.navigate.to(path))
