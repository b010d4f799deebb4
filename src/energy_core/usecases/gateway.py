"""The way in at scale: a gateway validates once and appends to the reading log.

A gateway (the HTTP ingest API or the MQTT subscriber of ``smartenergy ingest`` with a log
configured) does what ``Monitor.receive`` does up to validation, with the same parser,
clock and storage rules, and hands the valid readings to a ``ReadingLog`` instead of
storing them. The worker owning each reading's partition then scores and stores it through
``Monitor.store_parsed``: every reading is validated once, scored once, stored once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from energy_core.ports import ReadingLog
from energy_core.telemetry.readings import Origin, Reading
from energy_core.telemetry.validation import Rejection
from energy_core.usecases.monitor import IngestReport, Monitor


class Ingest(Protocol):
    """What a channel hands raw items or parsed readings to: a ``Monitor`` (store here) or
    a ``LogGateway`` (append to the log; a worker stores)."""

    def receive(
        self,
        items: Iterable[tuple[int, object]],
        *,
        key: str | None = None,
        from_text: bool = False,
        refused: Sequence[Rejection] = (),
        origin: Origin | None = None,
    ) -> IngestReport: ...

    def store_parsed(
        self, readings: Sequence[Reading], *, key: str | None = None
    ) -> IngestReport: ...


class LogGateway:
    """``Monitor``'s ingest entry points, ending in the log: ``receive`` parses and
    validates with ``monitor.parse`` and appends the valid readings; ``store_parsed``
    appends readings ``parse`` returned. The report's ``stored`` are the readings the log
    holds now (not yet scored: ``scored`` is false, ``flagged`` 0).

    ``key`` is not needed: the log recognises a retried batch by its content (within its
    duplicate window), and the worker stores what the log redelivers once.
    Raises ``LogUnavailableError`` when the log cannot take the readings.
    """

    def __init__(self, monitor: Monitor, log: ReadingLog) -> None:
        self.monitor = monitor
        self.log = log

    def receive(
        self,
        items: Iterable[tuple[int, object]],
        *,
        key: str | None = None,
        from_text: bool = False,
        refused: Sequence[Rejection] = (),
        origin: Origin | None = None,
    ) -> IngestReport:
        accepted, rejections = self.monitor.parse(items, from_text=from_text, origin=origin)
        rejections = sorted([*refused, *rejections], key=lambda rejection: rejection.index)
        return replace(self.store_parsed(accepted, key=key), rejections=rejections)

    def store_parsed(self, readings: Sequence[Reading], *, key: str | None = None) -> IngestReport:
        if readings:
            self.log.append(readings)
        return IngestReport(stored=list(readings), scored=False, dropped_by_retention=0)
