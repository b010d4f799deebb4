"""A bounded buffer for readings that could not be stored yet (the database is away)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence

from energy_core.readings import Reading


class RetryBuffer:
    """Readings wait here in arrival order until ``flush`` stores them.

    Bounded to ``max_readings``: when full, the oldest waiting readings are dropped and
    counted in ``dropped`` (a live monitor prefers recent data). Batches are stored whole,
    in order; a batch is removed only after its write succeeded.
    """

    def __init__(self, max_readings: int = 100_000) -> None:
        if max_readings < 1:
            raise ValueError(f"max_readings must be at least 1, got {max_readings}")
        self.max_readings = max_readings
        self.dropped = 0
        self._batches: deque[list[Reading]] = deque()
        self._size = 0
        self._lock = threading.Lock()

    @property
    def pending(self) -> int:
        with self._lock:
            return self._size

    def add(self, batch: Sequence[Reading]) -> int:
        """Queue ``batch``; return how many old readings had to be dropped to make room."""
        with self._lock:
            if not batch:
                return 0
            self._batches.append(list(batch))
            self._size += len(batch)
            dropped = 0
            while self._size > self.max_readings:
                oldest = self._batches[0]
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
        write: Callable[[list[Reading]], object],
        retryable: tuple[type[BaseException], ...],
    ) -> int:
        """Write waiting batches in order until done or the store fails with a ``retryable``
        error (then they stay queued). Returns how many readings were written."""
        written = 0
        while True:
            with self._lock:
                if not self._batches:
                    return written
                batch = self._batches[0]
            try:
                write(batch)
            except retryable:
                return written
            with self._lock:
                if self._batches and self._batches[0] is batch:
                    self._batches.popleft()
                    self._size -= len(batch)
            written += len(batch)
