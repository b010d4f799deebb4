"""Alerting's clock and its dispatcher, in one background thread per process.

Every few seconds (and at once when a notification is queued) it checks what depends on
time (silent meters, the model's age, repeats) and sends the outbox through the notifier.
It runs apart from ingest: a channel that is slow or down delays only this thread.
"""

from __future__ import annotations

import logging
import threading

from energy_core.alerts.delivery import Notifier
from energy_core.alerts.detector_health import DetectorStatus
from energy_core.alerts.store import OutboxItem
from energy_core.usecases.alerting import Alerting
from energy_core.usecases.monitor import Monitor
from energy_ui.alert_messages import render
from energy_ui.settings import Settings

log = logging.getLogger(__name__)
CHECK_EVERY_S = 2.0
"""How often the clock's rules run when nothing wakes the thread."""


class AlertRunner:
    """Checks and delivers in a daemon thread; ``start``/``stop`` are idempotent."""

    def __init__(
        self,
        monitor: Monitor,
        alerting: Alerting,
        notifier: Notifier | None,
        settings: Settings,
        *,
        check_every_s: float = CHECK_EVERY_S,
    ) -> None:
        self.monitor = monitor
        self.alerting = alerting
        self.notifier = notifier
        self.settings = settings
        self.check_every_s = check_every_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        alerting.on_queued(lambda _items: self._wake.set())

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alerts", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        self._wake.set()
        thread.join(timeout)

    def step(self) -> None:
        """One round: the clock's rules, then what is due in the outbox."""
        try:
            self.alerting.check(detector=self._detector_status())
            if self.notifier is not None:
                self.alerting.deliver(self._send)
        except Exception:
            # Storage away or a defect: logged once per streak, tried again next round.
            if not self._failing:
                log.exception("alerts: checking or delivering failed; retrying")
            self._failing = True
        else:
            self._failing = False

    def _run(self) -> None:
        while not self._stop.is_set():
            self.step()
            self._wake.wait(self.check_every_s)
            self._wake.clear()

    def _send(self, item: OutboxItem) -> None:
        assert self.notifier is not None
        language = self.settings.language
        message = render(item, language, self.settings.dashboard_url)
        self.notifier.send(message, only=item.retry_channels or None)

    def _detector_status(self) -> DetectorStatus | None:
        """The model in use; ``None`` before one is trained (a fresh install is not an
        alarm: the dashboard says so)."""
        info = self.monitor.model_info()
        return None if info is None else DetectorStatus(trained_at=info.trained_at)
