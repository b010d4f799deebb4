"""CSV upload: the same reader and validation as ``smartenergy import``, off the event loop.

Good lines are stored (scored, announced live) batch by batch through ``Monitor.ingest``;
bad ones, and ones storage refuses for their content, are listed by line number, field and
reason in a dialog (the first ``SHOWN_REJECTIONS``); a notification sums it up. Errors of
the database itself are never shown: a translated message, the details in the log.
Admin-only when a password is set: the handler asks the ``Gate`` when the file arrives,
whatever the page shows.
"""

from __future__ import annotations

import io
import logging
from typing import Any, Final

from nicegui import Client, events, ui

from energy_core import Rejection
from energy_core.telemetry.catalogue import Language
from energy_core.usecases.monitor import Monitor
from energy_ui.bootstrap import unavailable_errors
from energy_ui.csv_io import CsvEncodingError, CsvFormatError, ImportSummary, import_csv
from energy_ui.dashboard.jobs import JOB_NAMES, JobBusyError, JobRunner
from energy_ui.dashboard.layout import table_texts
from energy_ui.dashboard.login import Gate
from energy_ui.i18n import number, text

log = logging.getLogger(__name__)

MAX_UPLOAD_BYTES: Final = 50 * 1024 * 1024
SHOWN_REJECTIONS: Final = 50
VALUE_CHARS: Final = 80
"""A rejected value is shown cut to this many characters."""


def import_bytes(monitor: Monitor, data: bytes) -> ImportSummary:
    """Import an uploaded CSV exactly as ``smartenergy import`` reads a file (UTF-8, with or
    without a byte-order mark; ``CsvEncodingError`` before anything is stored if not)."""
    return import_csv(monitor, io.BytesIO(data))


class UploadPanel:
    """An uploader in the side panel; one file at a time, through the ``JobRunner``."""

    def __init__(
        self, language: Language, monitor: Monitor, jobs: JobRunner, gate: Gate, *, allowed: bool
    ) -> None:
        self.language = language
        self.monitor = monitor
        self.jobs = jobs
        self.gate = gate
        self.allowed = allowed
        self.client: Client = ui.context.client
        t = self._t
        ui.label(t("upload.title")).classes("se-section")
        ui.label(t("upload.hint")).classes("se-caption")
        self.upload = (
            ui.upload(
                on_upload=self.receive,
                auto_upload=True,
                max_file_size=MAX_UPLOAD_BYTES,
                label=t("upload.job"),
            )
            .props('accept=".csv,text/csv" flat bordered color=indigo')
            .classes("w-full se-upload")
            .mark("upload")
        )
        self.show_jobs()

    def _t(self, key: str, **values: object) -> str:
        return text(key, self.language, **values)

    def show_jobs(self) -> None:
        self.upload.set_enabled(self.allowed and self.jobs.current is None)

    async def receive(self, event: events.UploadEventArguments) -> None:
        """Handle one uploaded file (called from the upload's HTTP request)."""
        name = event.file.name
        try:
            if not self.gate.may_act():
                log.warning("refused a CSV upload without an admin login")
                self._notify(self._t("login.required"), "warning")
                return
            if event.file.size() > MAX_UPLOAD_BYTES:
                self._notify(
                    self._t("upload.bad_file", file=name, error=f"> {MAX_UPLOAD_BYTES} bytes"),
                    "negative",
                )
                return
            data = await event.file.read()
            summary = await self.jobs.run("upload", lambda: import_bytes(self.monitor, data))
        except JobBusyError as busy:
            job = self._t(JOB_NAMES.get(busy.running, "actions.title"))
            self._notify(self._t("actions.busy", job=job), "warning")
        except CsvEncodingError as error:
            self._notify(
                self._t("upload.not_text", file=name, line=error.line, byte=error.byte),
                "negative",
            )
        except CsvFormatError as error:
            self._notify(self._t("upload.bad_file", file=name, error=error), "negative")
        except unavailable_errors():
            log.warning("CSV upload failed: database unavailable", exc_info=True)
            self._notify(self._t("actions.unavailable"), "warning")
        except Exception:
            # The error's own text may be the database's (SQL, table names): log it only.
            log.warning("CSV upload of %r failed", name, exc_info=True)
            self._notify(self._t("upload.failed", file=name), "negative")
        else:
            if summary is not None:
                self._report(name, summary)
        finally:
            if not self.client.is_deleted:
                self.upload.reset()

    def _report(self, name: str, summary: ImportSummary) -> None:
        language = self.language
        self._notify(
            self._t(
                "upload.done",
                file=name,
                lines=number(summary.lines, language),
                accepted=number(summary.accepted, language),
                rejected=number(summary.rejected_lines, language),
            ),
            "warning" if summary.rejected else "positive",
            timeout=10_000,
        )
        if summary.rejected and not self.client.is_deleted:
            with self.client:
                self._rejections_dialog(name, summary.rejected)

    def _rejections_dialog(self, name: str, rejections: list[Rejection]) -> None:
        t = self._t
        with (
            ui.dialog() as dialog,
            ui.card().classes("se-card w-full max-w-3xl gap-2").mark("upload-rejections"),
        ):
            ui.label(t("upload.rejected_title", file=name)).classes("se-section")
            if len(rejections) > SHOWN_REJECTIONS:
                ui.label(
                    t(
                        "upload.more",
                        shown=SHOWN_REJECTIONS,
                        count=number(len(rejections), self.language),
                    )
                ).classes("se-caption").mark("upload-more")
            columns: list[dict[str, Any]] = [
                {"name": key, "label": t(f"column.{key}"), "field": key, "align": "left"}
                for key in ("line", "field", "value", "reason")
            ]
            table = (
                ui.table(
                    columns=columns,
                    rows=[
                        _row(key, rejection)
                        for key, rejection in enumerate(rejections[:SHOWN_REJECTIONS])
                    ],
                    row_key="key",
                    pagination=10,
                )
                .props("flat dense wrap-cells")
                .classes("w-full")
                .mark("upload-rejections-table")
            )
            table_texts(table, t("table.rows_per_page"), t("view.empty"))
            with ui.row().classes("w-full justify-end"):
                ui.button(t("dialog.close"), on_click=dialog.close).props("flat no-caps").mark(
                    "upload-rejections-close"
                )
        dialog.on("hide", dialog.delete)
        dialog.open()

    def _notify(self, message: str, kind: str, **options: Any) -> None:
        if self.client.is_deleted:
            return
        with self.client:
            ui.notify(message, type=kind, position="top-right", **options)  # type: ignore[arg-type]


def _row(key: int, rejection: Rejection) -> dict[str, Any]:
    value = "" if rejection.value is None else str(rejection.value)
    if len(value) > VALUE_CHARS:
        value = value[: VALUE_CHARS - 1] + "…"
    return {
        "key": key,
        "line": rejection.index,
        "field": rejection.field,
        "value": value,
        "reason": rejection.reason,
    }
