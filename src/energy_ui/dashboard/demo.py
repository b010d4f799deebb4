"""The self-contained demo: seed a history, stream, train and analyse on a schedule.

It only writes through the ``Monitor``; the pages learn about it the same way they learn
about readings written by any other process: through the change feed and the producer.

The demo's simulator runs as a plant (``run_as_plant``): healthy most of the time, with an
incident of one of the simulator's fault kinds every few minutes across the plant (a sag of
seconds, overheating building over minutes, a stuck sensor…) and a first one soon after the
stream starts, so that a visitor sees Normal → incident → recovery without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from nicegui import background_tasks, run

from energy_core.telemetry.simulator import AnomalyKind, Episode, IncidentSchedule, Simulator
from energy_core.usecases.monitor import Monitor
from energy_ui.dashboard.drill import DrillRunner
from energy_ui.dashboard.jobs import JobRunner
from energy_ui.settings import Settings

log = logging.getLogger(__name__)

PLANT_INCIDENT_GAP = timedelta(minutes=8)
"""Mean time between two incidents anywhere in the demo plant. The detector keeps flagging
a meter for about its long window (60 readings) after an incident ends; one incident every
8 minutes keeps the flagged share of the stored hour below Precaución's 5 % most of the
time, one every 4 minutes did not."""
FIRST_INCIDENT_AFTER = timedelta(seconds=20)
"""How soon after the live stream starts the demo's first incident comes."""
_FIRST_INCIDENT_LASTS = timedelta(seconds=6)


def run_as_plant(simulator: Simulator, settings: Settings) -> None:
    """Make ``simulator`` a plant: incident episodes every ``PLANT_INCIDENT_GAP`` on average
    across its meters, normal readings otherwise, in the seeded history as in the stream (a
    detector calibrated on a past with incidents in it lets go of a fault soon after it
    ends). Per-reading faults stay only when ``ENERGY_ANOMALY_RATIO`` was set explicitly (in
    the environment or the ``.env`` file)."""
    if "anomaly_ratio" not in settings.model_fields_set:
        simulator.anomaly_ratio = 0.0
    simulator.incidents = IncidentSchedule(mean_gap=PLANT_INCIDENT_GAP)


def pin_first_incident(simulator: Simulator, at: datetime) -> Episode | None:
    """Pin a voltage sag of a few seconds at ``at`` on the first meter free then (no
    incident of the plant's going on), or as soon after as one is; ``None`` when the
    simulator runs no incident schedule."""
    schedule = simulator.incidents
    if schedule is None:
        return None
    while True:
        busy = simulator.episodes(at, at + _FIRST_INCIDENT_LASTS)
        taken = {episode.meter_id for episode in busy}
        free = [meter for meter in simulator.meter_ids if meter not in taken]
        if free:
            break
        at = min(episode.end for episode in busy)
    episode = Episode(
        meter_id=free[0],
        kind=AnomalyKind.VOLTAGE_SAG,
        start=at,
        duration=_FIRST_INCIDENT_LASTS,
        variable="voltage",
    )
    simulator.incidents = schedule.with_episode(episode)
    return episode


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
        """Run the simulator as a plant, seed the history when storage is empty, train when
        there is no model, analyse, then run the fire drill once; the first incident is
        pinned shortly after."""
        monitor = self.monitor
        run_as_plant(monitor.simulator, self.settings)
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
        pin_first_incident(monitor.simulator, monitor.clock.now() + FIRST_INCIDENT_AFTER)

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
