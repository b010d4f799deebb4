"""Actions and maintenance: train, recalculate, generate a history, reset the database.

Each runs in a worker thread through the one ``JobRunner``: the page stays responsive, a
spinner shows progress, a second task is refused while one runs, a notification says how
it ended. Maintenance asks for confirmation first. With an admin password each handler
asks the ``Gate`` first and refuses without a login, whatever the buttons show.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from nicegui import Client, ui

from energy_core.health.analysis import MetricSnapshot
from energy_core.ports import ModelInfo
from energy_core.telemetry.catalogue import Language
from energy_core.usecases.monitor import Monitor, NoModelError
from energy_ui.bootstrap import unavailable_errors
from energy_ui.dashboard.jobs import JOB_NAMES, JobBusyError, JobRunner
from energy_ui.dashboard.login import Gate
from energy_ui.i18n import number, text

log = logging.getLogger(__name__)

T = TypeVar("T")


class ActionPanel:
    """The action buttons, the progress line and the maintenance expansion."""

    def __init__(
        self,
        language: Language,
        monitor: Monitor,
        jobs: JobRunner,
        gate: Gate,
        *,
        login: Callable[[], Awaitable[None]],
        on_trained: Callable[[ModelInfo], None] | None = None,
    ) -> None:
        self.language = language
        self.monitor = monitor
        self.jobs = jobs
        self.gate = gate
        self.on_trained = on_trained
        self.client: Client = ui.context.client
        # What the buttons show; every handler still asks the gate when it runs.
        self.allowed = gate.may_act()
        t = self._t
        ui.label(t("actions.title")).classes("se-section")
        if not self.allowed:
            with ui.row().classes("w-full items-center gap-2 no-wrap").mark("login-hint"):
                ui.icon("lock", color="grey-7")
                ui.label(t("login.actions_hint")).classes("se-caption")
            ui.button(t("login.button"), icon="login", on_click=login).props(
                "outline no-caps"
            ).classes("w-full").mark("login-open-actions")
        with ui.column().classes("w-full gap-2"):
            self.train_button = (
                ui.button(t("actions.train"), icon="model_training", on_click=self.train)
                .props("unelevated no-caps")
                .classes("w-full")
                .mark("action-train")
            )
            self.recalculate_button = (
                ui.button(t("actions.recalculate"), icon="calculate", on_click=self.recalculate)
                .props("unelevated no-caps color=indigo")
                .classes("w-full")
                .mark("action-recalculate")
            )
        with ui.row().classes("items-center gap-2 no-wrap") as self.progress:
            ui.spinner(size="1.4em").mark("action-spinner")
            self.progress_label = ui.label().classes("se-caption").mark("action-progress")
        with (
            ui.expansion(t("maintenance.title"), icon="build")
            .classes("w-full se-maintenance")
            .props("dense")
            .mark("maintenance")
        ):
            self.generate_button = (
                ui.button(t("maintenance.generate"), icon="dataset", on_click=self.generate)
                .props("outline no-caps")
                .classes("w-full")
                .mark("maintenance-generate")
            )
            self.reset_button = (
                ui.button(t("maintenance.reset"), icon="restart_alt", on_click=self.reset)
                .props("outline no-caps color=negative")
                .classes("w-full")
                .mark("maintenance-reset")
            )
        self.buttons = [
            self.train_button,
            self.recalculate_button,
            self.generate_button,
            self.reset_button,
        ]
        self.show_jobs()

    def _t(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    def _job(self, job: str | None) -> str:
        return self._t(JOB_NAMES.get(job or "", "actions.title"))

    def show_jobs(self) -> None:
        """Reflect whether a task runs (here or in another browser)."""
        current = self.jobs.current
        for button in self.buttons:
            button.set_enabled(current is None and self.allowed)
        self.progress.set_visibility(current is not None)
        if current is not None:
            self.progress_label.set_text(self._t("actions.running", job=self._job(current)))

    # --- actions --------------------------------------------------------------------------
    async def train(self) -> None:
        def done(info: ModelInfo) -> str:
            return self._t(
                "actions.trained", version=info.version, rows=number(info.rows, self.language)
            )

        info = await self._run("train", self.monitor.train, done)
        if info is not None and self.on_trained is not None:
            self.on_trained(info)

    async def recalculate(self) -> None:
        def done(snapshot: MetricSnapshot) -> str:
            return self._t(
                "actions.recalculated",
                percentage=number(snapshot.percentage, self.language, 1),
                health=snapshot.health.label(self.language),
            )

        await self._run("recalculate", self.monitor.analyse, done)

    async def generate(self) -> None:
        count = self.monitor.settings.reset_count
        if not self._allowed():
            return
        if not await self._confirm(
            self._t("maintenance.generate_confirm", count=number(count, self.language))
        ):
            return
        await self._run(
            "generate",
            lambda: self.monitor.generate_history(count),
            lambda stored: self._t("maintenance.generated", count=number(stored, self.language)),
        )

    async def reset(self) -> None:
        count = self.monitor.settings.reset_count
        if not self._allowed():
            return
        if not await self._confirm(
            self._t("maintenance.reset_confirm", count=number(count, self.language))
        ):
            return
        await self._run(
            "reset",
            lambda: self.monitor.reset(count),
            lambda stored: self._t("maintenance.reset_done", count=number(stored, self.language)),
        )

    async def _confirm(self, message: str) -> bool:
        with self.client, ui.dialog() as dialog, ui.card().classes("se-card max-w-md"):
            ui.label(message).classes("text-base").mark("dialog-message")
            with ui.row().classes("w-full justify-end gap-2"):
                ui.button(self._t("dialog.cancel"), on_click=lambda: dialog.submit(False)).props(
                    "flat no-caps"
                ).mark("dialog-cancel")
                ui.button(self._t("dialog.confirm"), on_click=lambda: dialog.submit(True)).props(
                    "unelevated no-caps color=negative"
                ).mark("dialog-confirm")
        dialog.open()
        confirmed = bool(await dialog)
        dialog.delete()
        return confirmed

    def _allowed(self) -> bool:
        """Whether this browser may act now; says why not when it may not."""
        if self.gate.may_act():
            return True
        log.warning("refused a dashboard action without an admin login")
        self._notify(self._t("login.required"), "warning")
        return False

    async def _run(self, job: str, work: Callable[[], T], done: Callable[[T], str]) -> T | None:
        """Run ``work`` as ``job`` when allowed; its result, or ``None`` when it did not run."""
        if not self._allowed():
            return None
        if self.jobs.current is not None:
            self._notify(self._t("actions.busy", job=self._job(self.jobs.current)), "warning")
            return None
        try:
            result = await self.jobs.run(job, work)
        except JobBusyError as busy:
            self._notify(self._t("actions.busy", job=self._job(busy.running)), "warning")
        except NoModelError:
            self._notify(self._t("actions.need_model"), "warning")
        except unavailable_errors():
            log.warning("%s failed: database unavailable", job, exc_info=True)
            self._notify(self._t("actions.unavailable"), "warning")
        except Exception as error:
            log.warning("%s failed", job, exc_info=True)
            self._notify(self._t("actions.failed", error=error), "negative")
        else:
            if result is not None:
                self._notify(done(result), "positive")
            return result
        return None

    def _notify(self, message: str, kind: str, **options: Any) -> None:
        if self.client.is_deleted:
            return
        with self.client:
            ui.notify(message, type=kind, position="top-right", **options)  # type: ignore[arg-type]
