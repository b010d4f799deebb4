"""Long tasks (train, recalculate, generate, reset): one at a time, off the event loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from nicegui import Event, run

T = TypeVar("T")

JOB_NAMES = {
    "train": "actions.train",
    "recalculate": "actions.recalculate",
    "generate": "maintenance.generate",
    "reset": "maintenance.reset",
    "upload": "upload.job",
}
"""Each task's name in the text catalogue (what the spinner and refusals say)."""


class JobBusyError(RuntimeError):
    """A task was asked for while another one runs."""

    def __init__(self, running: str) -> None:
        self.running = running
        super().__init__(f"a task is already running: {running}")


class JobRunner:
    """Runs one task at a time in a worker thread; ``changed`` fires when one starts or ends.

    One runner serves every browser, so two operators cannot train at the same time.
    """

    def __init__(self) -> None:
        self.current: str | None = None
        self.changed: Event[[]] = Event()

    @property
    def busy(self) -> bool:
        return self.current is not None

    async def run(self, job: str, work: Callable[[], T]) -> T | None:
        """Run ``work`` in a thread as ``job``; ``JobBusyError`` if another task runs.

        Returns ``None`` only when the application is shutting down meanwhile.
        """
        if self.current is not None:
            raise JobBusyError(self.current)
        self.current = job
        self.changed.emit()
        try:
            return await run.io_bound(work)
        finally:
            self.current = None
            self.changed.emit()
