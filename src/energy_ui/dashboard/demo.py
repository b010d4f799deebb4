"""The self-contained demo: seed a history, stream, train and analyse on a schedule.

It only writes through the ``Monitor``; the pages learn about it the same way they learn
about readings written by any other process: through the change feed and the producer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from nicegui import background_tasks, run

from energy_core.usecases.monitor import Monitor
from energy_ui.dashboard.drill import DrillRunner
from energy_ui.dashboard.jobs import JobRunner
from energy_ui.settings import Settings

log = logging.getLogger(__name__)


class DemoDriver:
    """Keeps an in-memory installation alive: history, live stream, retrain, analysis."""

    def __init__(
        self,
        monitor: Monitor,
        settings: Settings,
        jobs: JobRunner,
        *,
        drill: DrillRunner | None = None,
    ) -> None:
        self.monitor = monitor
        self.settings = settings
        self.jobs = jobs
        self.drill = drill
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = background_tasks.create(self.run(), name="demo driver")

    async def stop(self) -> None:
        # A flag as well as cancellation: NiceGUI's run.io_bound turns a cancel into a
        # ``None`` result instead of raising, so the loop must see that it should end.
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def prepare(self) -> None:
        """Seed the history when storage is empty, train when there is no model, analyse,
        then run the fire drill once."""
        monitor = self.monitor
        if monitor.queries.count() == 0 and self.settings.demo_history:
            await run.io_bound(monitor.generate_history, self.settings.demo_history)
        if self._stopping:
            return
        if monitor.current_model() is None and monitor.queries.count() >= 10:
            await run.io_bound(monitor.train)
        if monitor.current_model() is not None and not self._stopping:
            await run.io_bound(monitor.analyse)
        if self.drill is not None and not self._stopping:
            self.drill.start(monitor.model_version())  # beside the stream, not before

    async def run(self) -> None:
        settings = self.settings
        loop = asyncio.get_running_loop()
        await self._guarded(self.prepare)
        next_analysis = loop.time() + settings.analysis_interval_s
        next_training = loop.time() + settings.train_interval_s
        interval = timedelta(seconds=settings.stream_interval_s)
        while not self._stopping:
            await asyncio.sleep(settings.stream_interval_s)
            if self._stopping:
                return
            await self._guarded(
                lambda: run.io_bound(self.monitor.stream_tick, settings.stream_batch_size, interval)
            )
            now = loop.time()
            if now >= next_training and not self.jobs.busy:
                next_training = now + settings.train_interval_s
                await self._guarded(lambda: run.io_bound(self.monitor.train))
            if now >= next_analysis and not self.jobs.busy:
                next_analysis = now + settings.analysis_interval_s
                if self.monitor.current_model() is not None:
                    await self._guarded(lambda: run.io_bound(self.monitor.analyse))

    async def _guarded(self, step: Callable[[], Awaitable[object]]) -> None:
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            # A failed step (e.g. too few readings to train) must not stop the demo.
            log.warning("demo step failed", exc_info=True)
