"""Every port in memory: the demo's storage and the unit tests' fakes.

All methods are thread-safe (one lock per store) and quick, so they can also be called
from the asyncio event loop.
"""

from __future__ import annotations

import bisect
import copy
import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from energy_core.detection.protocol import Detector
from energy_core.health.analysis import MetricSnapshot
from energy_core.ports import (
    Bucket,
    ChangeEvent,
    IdempotencyConflictError,
    Listener,
    ModelInfo,
    ReadingFilter,
)
from energy_core.telemetry.buckets import bucket_start, bucket_width
from energy_core.telemetry.readings import Reading, batch_fingerprint
from energy_core.telemetry.sampling import sample_ranks

log = logging.getLogger(__name__)

_Key = tuple[datetime, int]
MAX_KEYS = 10_000
"""Batch keys remembered (``add_many(..., key=)``), the oldest forgotten first."""


def matches(reading: Reading, where: ReadingFilter) -> bool:
    """Whether ``reading`` is one that ``where`` asks for."""
    if where.start is not None and reading.timestamp < where.start:
        return False
    if where.end is not None and reading.timestamp >= where.end:
        return False
    if where.meter_ids and reading.meter_id not in where.meter_ids:
        return False
    if where.state == "anomalous":
        return bool(reading.is_flagged)
    if where.state == "normal":
        return not reading.is_flagged
    return True


class MemoryReadingRepository:
    """Readings kept in time order; optionally bounded to ``max_readings`` (oldest dropped)."""

    def __init__(self, max_readings: int | None = None) -> None:
        self._lock = threading.RLock()
        self._by_id: dict[int, Reading] = {}
        self._order: list[_Key] = []  # (timestamp, id), ascending
        self._next_id = 1
        self.max_readings = max_readings
        self._keys: OrderedDict[str, tuple[str, list[int]]] = OrderedDict()

    def add_many(self, readings: Sequence[Reading], *, key: str | None = None) -> list[Reading]:
        with self._lock:
            fingerprint = batch_fingerprint(readings) if key is not None else ""
            if key is not None and key in self._keys:
                known, ids = self._keys[key]
                if known != fingerprint:
                    raise IdempotencyConflictError(key)
                return [self._by_id[reading_id] for reading_id in ids if reading_id in self._by_id]
            stored = []
            for reading in readings:
                item = reading.with_id(self._next_id)
                self._next_id += 1
                self._by_id[item.id or 0] = item
                position = (item.timestamp, item.id or 0)
                if not self._order or position > self._order[-1]:
                    self._order.append(position)
                else:
                    bisect.insort(self._order, position)
                stored.append(item)
            if key is not None:
                self._keys[key] = (fingerprint, [item.id or 0 for item in stored])
                while len(self._keys) > MAX_KEYS:
                    self._keys.popitem(last=False)
            if self.max_readings is not None:
                self.delete_oldest(self.max_readings)
            return stored

    def _ascending(self, where: ReadingFilter | None) -> Iterator[Reading]:
        keys = self._order
        low = 0
        if where is not None and where.start is not None:
            low = bisect.bisect_left(keys, (where.start, 0))
        high = len(keys)
        if where is not None and where.end is not None:
            high = bisect.bisect_left(keys, (where.end, 0))
        for _, reading_id in keys[low:high]:
            reading = self._by_id[reading_id]
            if where is None or matches(reading, where):
                yield reading

    def count(self, where: ReadingFilter | None = None) -> int:
        with self._lock:
            if where is None or where == ReadingFilter():
                return len(self._order)
            return sum(1 for _ in self._ascending(where))

    def latest(self, n: int, where: ReadingFilter | None = None) -> list[Reading]:
        with self._lock:
            result: list[Reading] = []
            for _, reading_id in reversed(self._order):
                if len(result) >= n:
                    break
                reading = self._by_id[reading_id]
                if where is None or matches(reading, where):
                    result.append(reading)
            return result

    def window(self, where: ReadingFilter, limit: int | None = None) -> list[Reading]:
        with self._lock:
            found = list(self._ascending(where))
        return found[-limit:] if limit is not None and limit < len(found) else found

    def sample(self, where: ReadingFilter, limit: int) -> list[Reading]:
        found = self.window(where)
        return [found[rank] for rank in sample_ranks(len(found), limit)]

    def since(
        self, last_id: int, limit: int = 10_000, meter_ids: Sequence[str] | None = None
    ) -> list[Reading]:
        with self._lock:
            newer: list[Reading] = []
            for reading_id in reversed(self._by_id):
                if reading_id <= last_id:
                    break
                newer.append(self._by_id[reading_id])
        newer.reverse()
        if meter_ids is not None:
            chosen = set(meter_ids)
            newer = [reading for reading in newer if reading.meter_id in chosen]
        return newer[:limit]

    def downsample(self, variable: str, where: ReadingFilter, buckets: int) -> list[Bucket]:
        return self.downsample_many((variable,), where, buckets)[variable]

    def downsample_many(
        self, variables: Sequence[str], where: ReadingFilter, buckets: int
    ) -> dict[str, list[Bucket]]:
        with self._lock:
            found = list(self._ascending(where))
        if not found:
            return {name: [] for name in variables}
        start = where.start or found[0].timestamp
        end = where.end or found[-1].timestamp + timedelta(microseconds=1)
        width = bucket_width(start, end, buckets)
        groups: dict[datetime, list[Reading]] = {}
        for reading in found:
            groups.setdefault(bucket_start(reading.timestamp, width), []).append(reading)
        moments = sorted(groups)
        flagged = [sum(1 for reading in groups[moment] if reading.is_flagged) for moment in moments]
        result: dict[str, list[Bucket]] = {}
        for variable in variables:
            result[variable] = []
            for moment, bucket_flagged in zip(moments, flagged, strict=True):
                # Readings that lack the variable count for the bucket's flags, not its values.
                values = [
                    reading.values[variable]
                    for reading in groups[moment]
                    if variable in reading.values
                ]
                result[variable].append(
                    Bucket(
                        start=moment,
                        count=len(values),
                        minimum=min(values, default=math.nan),
                        maximum=max(values, default=math.nan),
                        mean=sum(values) / len(values) if values else math.nan,
                        flagged=bucket_flagged,
                    )
                )
        return result

    def update_scores(self, readings: Sequence[Reading]) -> None:
        with self._lock:
            for reading in readings:
                if reading.id is None or reading.id not in self._by_id:
                    continue
                current = self._by_id[reading.id]
                self._by_id[reading.id] = replace(
                    current,
                    score=reading.score,
                    is_flagged=reading.is_flagged,
                    top_variables=reading.top_variables,
                    flagged_by=reading.flagged_by,
                )

    def meters(self) -> list[str]:
        with self._lock:
            return sorted({reading.meter_id for reading in self._by_id.values()})

    def time_range(self) -> tuple[datetime, datetime] | None:
        with self._lock:
            if not self._order:
                return None
            return self._order[0][0], self._order[-1][0]

    def last_id(self) -> int:
        with self._lock:
            return next(reversed(self._by_id), 0) if self._by_id else 0

    def delete_oldest(self, keep: int) -> int:
        with self._lock:
            excess = len(self._order) - max(keep, 0)
            if excess <= 0:
                return 0
            for _, reading_id in self._order[:excess]:
                del self._by_id[reading_id]
            del self._order[:excess]
            return excess

    def delete_before(self, cutoff: datetime) -> int:
        with self._lock:
            cut = bisect.bisect_left(self._order, (cutoff, 0))
            for _, reading_id in self._order[:cut]:
                del self._by_id[reading_id]
            del self._order[:cut]
            return cut

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()
            self._order.clear()
            self._keys.clear()


class MemoryMetricRepository:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: list[MetricSnapshot] = []
        self._next_id = 1

    def add(self, snapshot: MetricSnapshot) -> MetricSnapshot:
        with self._lock:
            stored = replace(snapshot, id=self._next_id)
            self._next_id += 1
            self._rows.append(stored)
            return stored

    def latest(self, n: int = 1) -> list[MetricSnapshot]:
        with self._lock:
            return list(reversed(self._rows[-n:])) if n > 0 else []

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()


class MemoryModelStore:
    """Detectors kept as independent copies, so a later fit cannot change a stored version."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[int, tuple[Detector, ModelInfo]] = {}

    def save(self, detector: Detector, info: ModelInfo) -> ModelInfo:
        with self._lock:
            version = max(self._models, default=0) + 1
            stored = replace(info, version=version)
            self._models[version] = (copy.deepcopy(detector), stored)
            return stored

    def latest_version(self) -> int | None:
        with self._lock:
            return max(self._models, default=None)

    def info(self, version: int | None = None) -> ModelInfo | None:
        found = self._get(version)
        return found[1] if found else None

    def load(self, version: int | None = None) -> tuple[Detector, ModelInfo] | None:
        found = self._get(version)
        return (copy.deepcopy(found[0]), found[1]) if found else None

    def _get(self, version: int | None) -> tuple[Detector, ModelInfo] | None:
        with self._lock:
            if version is None:
                version = max(self._models, default=None)
            return self._models.get(version) if version is not None else None

    def versions(self) -> list[ModelInfo]:
        with self._lock:
            return [self._models[version][1] for version in sorted(self._models)]


class MemoryChangeFeed:
    """In-process publish/subscribe; a failing listener is logged and does not stop others."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def publish(self, event: ChangeEvent) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("change listener failed on %s", event)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe


class ManualClock:
    """A clock that moves only when told: deterministic tests and simulations."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 1, 1, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, step: timedelta) -> datetime:
        with self._lock:
            self._now += step
            return self._now
