"""The gateway use case: validated once by the monitor's rules, the valid readings appended
to the log, the rejections reported; an unreachable log is the caller's to answer."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Monitor, Origin, Reading
from energy_core.ports import LogUnavailableError
from energy_core.usecases.gateway import LogGateway

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


class ListLog:
    def __init__(self, *, down: bool = False) -> None:
        self.batches: list[list[Reading]] = []
        self.down = down

    def append(self, readings: Sequence[Reading]) -> None:
        if self.down:
            raise LogUnavailableError("nats://127.0.0.1:4222 unreachable")
        self.batches.append(list(readings))


def monitor() -> Monitor:
    readings = MemoryReadingRepository(max_readings=None)
    return Monitor(
        readings=readings,
        queries=readings,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(NOW),
    )


ITEMS = [
    (0, {"meter_id": "press", "timestamp": "2026-03-02T07:59:00Z", "voltage": 231.0}),
    (1, {"meter_id": "press", "timestamp": "2026-03-02T07:59:01Z", "voltage": -5.0}),
    (2, {"meter_id": "kiln", "timestamp": "2026-03-02T07:59:01Z", "active_power": 900.0}),
]


def test_valid_readings_go_to_the_log_and_nothing_is_stored_here():
    the_monitor, log = monitor(), ListLog()
    report = LogGateway(the_monitor, log).receive(ITEMS, origin=Origin("http"))
    [batch] = log.batches
    assert [(r.meter_id, r.origin) for r in batch] == [
        ("press", Origin("http")),
        ("kiln", Origin("http")),
    ]
    assert report.stored == batch and not report.scored
    assert [(rejection.index, rejection.field) for rejection in report.rejections] == [
        (1, "voltage")
    ]
    assert the_monitor.queries.count() == 0


def test_nothing_valid_appends_nothing():
    log = ListLog()
    report = LogGateway(monitor(), log).receive([ITEMS[1]])
    assert log.batches == [] and report.stored == [] and len(report.rejections) == 1


def test_an_unreachable_log_raises_for_the_channel_to_answer_503():
    with pytest.raises(LogUnavailableError):
        LogGateway(monitor(), ListLog(down=True)).receive(ITEMS)
