"""The fire drill behind "what this model catches": run off the event loop, keep the last.

``energy_core.detection.drill.run_drill`` fits the configured detector on clean simulated
readings at the live cadence, injects each fault kind alone and measures recall, false
alarms and delay.
It runs after each training started from the dashboard (and once when the demo starts);
the last report lives in this process's memory.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from nicegui import Event, background_tasks, run

from energy_core.detection.drill import DrillReport, run_drill
from energy_core.usecases.monitor import Monitor

log = logging.getLogger(__name__)

CAUGHT_RECALL: Final = 0.9
"""A fault kind counts as caught when at least this share of its readings is flagged."""


@dataclass(frozen=True, slots=True)
class DrillParameters:
    """How big a drill the dashboard runs (reading counts are over all meters)."""

    kinds: tuple[str, ...] | None = None
    """Fault kinds to drill; ``None``: every kind the simulator knows."""
    meters: int = 2
    training_readings: int = 4_000
    drill_readings: int = 2_000
    anomaly_ratio: float = 0.02
    seed: int = 0


@dataclass(frozen=True, slots=True)
class DrillOutcome:
    """A finished drill and which model it stands next to."""

    report: DrillReport
    model_version: int | None
    finished_at: datetime

    @property
    def caught(self) -> int:
        """Fault kinds caught (recall of at least ``CAUGHT_RECALL``)."""
        return sum(1 for result in self.report.results if result.recall >= CAUGHT_RECALL)


class DrillRunner:
    """One drill at a time in a worker thread; ``changed`` fires when one starts or ends."""

    def __init__(self, monitor: Monitor, parameters: DrillParameters | None = None) -> None:
        self.monitor = monitor
        self.parameters = parameters or DrillParameters()
        self.latest: DrillOutcome | None = None
        self.running = False
        self.error: str | None = None
        self.changed: Event[[]] = Event()

    def start(self, model_version: int | None) -> None:
        """Run a drill in the background (skipped while one runs)."""
        if not self.running:
            background_tasks.create(self.run(model_version), name="fire drill")

    async def run(self, model_version: int | None) -> DrillOutcome | None:
        """Run a drill now; the outcome, or ``None`` if skipped, failed or shut down."""
        if self.running:
            return None
        self.running = True
        self.error = None
        self.changed.emit()
        try:
            report = await run.io_bound(self._drill)
            if report is not None:
                self.latest = DrillOutcome(report, model_version, self.monitor.clock.now())
            return self.latest if report is not None else None
        except Exception as error:
            log.warning("fire drill failed", exc_info=True)
            self.error = str(error)
            return None
        finally:
            self.running = False
            self.changed.emit()

    def _drill(self) -> DrillReport:
        settings, parameters = self.monitor.settings, self.parameters
        return run_drill(
            kinds=parameters.kinds,
            detector=settings.detector,
            meters=parameters.meters,
            training_readings=parameters.training_readings,
            drill_readings=parameters.drill_readings,
            anomaly_ratio=parameters.anomaly_ratio,
            cadence=settings.history_cadence,
            seed=parameters.seed,
        )
