"""A bounded buffer for readings that could not be stored yet (the database is away)."""

from __future__ import annotations

import threading
import uuid
from collections import deque
from collections.abc import Callable, Sequence

from energy_core.telemetry.readings import Reading


class RetryBuffer:
    """Readings wait here in arrival order until ``flush`` stores them.

    Bounded to ``max_readings``: when full, the oldest waiting readings are dropped and
    counted in ``dropped`` (a live monitor prefers recent data). Batches are stored whole,
    in order; a batch is removed only after its write succeeded. Each batch gets a key of
    its own when it is added, passed to every attempt to write it: a write that failed
    after storage committed it (the answer was lost) is retried under the same key, which
    the store recognises (``ReadingRepository.add_many(..., key=)``), so it is stored once.
    """

    def __init__(self, max_readings: int = 100_000) -> None:
        if max_readings < 1:
            raise ValueError(f"max_readings must be at least 1, got {max_readings}")
        self.max_readings = max_readings
        self.dropped = 0
        self._batches: deque[tuple[str, list[Reading]]] = deque()
        self._size = 0
        self._lock = threading.Lock()
        self._flushing = threading.Lock()

    @property
    def pending(self) -> int:
        with self._lock:
            return self._size

    def add(self, batch: Sequence[Reading]) -> int:
        """Queue ``batch``; return how many old readings had to be dropped to make room."""
        with self._lock:
            if not batch:
                return 0
            self._batches.append((uuid.uuid4().hex, list(batch)))
            self._size += len(batch)
            dropped = 0
            while self._size > self.max_readings:
                oldest = self._batches[0][1]
                excess = self._size - self.max_readings
                if len(oldest) <= excess:
                    self._batches.popleft()
                    removed = len(oldest)
                else:
                    del oldest[:excess]
                    removed = excess
                self._size -= removed
                dropped += removed
            self.dropped += dropped
            return dropped

    def flush(
        self,
        write: Callable[[list[Reading], str], object],
        retryable: tuple[type[BaseException], ...],
    ) -> int:
        """Write waiting batches in order, each as ``write(readings, key)``, until done or the
        store fails with a ``retryable`` error (then they stay queued, keys kept). Returns
        how many readings were written. One flush at a time: a second waits for the first."""
        written = 0
        with self._flushing:
            while True:
                with self._lock:
                    if not self._batches:
                        return written
                    entry = self._batches[0]
                    key, batch = entry[0], list(entry[1])  # ``add`` may trim the original
                try:
                    write(batch, key)
                except retryable:
                    return written
                with self._lock:
                    if self._batches and self._batches[0] is entry:
                        self._batches.popleft()
                        self._size -= len(entry[1])
                written += len(batch)
