"""The newest stored readings of each meter, kept in memory: the context for scoring.

A contextual detector scores a meter's new readings after that meter's previous ones
(``Detector.context_rows`` of them). Reading them back from storage for every
meter of every batch costs a query per meter and tens of rows per reading ingested; this
keeps each meter's tail instead and stays true to storage:

- what this process stores is added as it is stored (``stored``);
- before each use, one question to storage (``last_id``) tells whether anybody else stored
  readings meanwhile; if so, those of the meters kept here are read once (``since``) and
  added;
- a meter seen for the first time is read from storage once (``latest``).

Ids grow in commit order (every adapter guarantees it: the live feed relies on it), so
"every reading up to id N" is a well-defined point to be synchronised to. When ids go
backwards (storage emptied) or too much was written elsewhere, everything is forgotten and
read again as needed. Readings deleted by retention may still serve as context for a while:
the tail of a meter that keeps reporting always holds its newest readings.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from energy_core.ports import ReadingFilter, ReadingQueries
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.readings import Reading

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_COLUMN = {name: index for index, name in enumerate(VARIABLE_NAMES)}


def _microseconds(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return (aware - _EPOCH) // _MICROSECOND


class _Tail:
    """One meter's newest readings in (timestamp, id) order: keys ``(n, 2)`` (microseconds,
    id) and values ``(n, variables)``. ``whole``: storage holds nothing of the meter older
    than the oldest kept (so fewer rows than asked for is the whole answer)."""

    __slots__ = ("keys", "values", "whole")

    def __init__(self, keys: IntArray, values: FloatArray, whole: bool) -> None:
        self.keys = keys
        self.values = values
        self.whole = whole

    def merge(self, keys: IntArray, values: FloatArray, keep: int) -> None:
        """Add readings (any order; ids already kept are skipped), keeping the newest ``keep``."""
        if not len(self.keys) or _ordered_after(self.keys[-1], keys):
            # The usual case: newer than everything kept (so none of them is kept already).
            self._set(
                np.concatenate([self.keys, keys]), np.concatenate([self.values, values]), keep
            )
            return
        fresh = ~np.isin(keys[:, 1], self.keys[:, 1])
        if len(self.keys) and not self.whole:
            # Older than the oldest kept: storage holds readings between them that are not
            # kept here, so they cannot join the tail.
            oldest = (self.keys[0, 0], self.keys[0, 1])
            fresh &= (keys[:, 0] > oldest[0]) | (
                (keys[:, 0] == oldest[0]) & (keys[:, 1] > oldest[1])
            )
        if not fresh.any():
            return
        keys, values = keys[fresh], values[fresh]
        merged_keys = np.concatenate([self.keys, keys])
        order = np.lexsort((merged_keys[:, 1], merged_keys[:, 0]))
        self._set(merged_keys[order], np.concatenate([self.values, values])[order], keep)

    def _set(self, keys: IntArray, values: FloatArray, keep: int) -> None:
        if len(keys) > keep:
            keys, values = keys[-keep:], values[-keep:]
            self.whole = False
        self.keys, self.values = keys, values

    def before(self, moment: int, rows: int) -> FloatArray | None:
        """The newest ``rows`` values strictly before ``moment``, or ``None`` when this tail
        cannot tell (fewer kept and older ones may exist in storage)."""
        count = int(np.searchsorted(self.keys[:, 0], moment, side="left"))
        if count < rows and not self.whole:
            return None
        return self.values[max(0, count - rows) : count]


def _ordered_after(last: IntArray, keys: IntArray) -> bool:
    """Whether ``keys`` are in order and all after ``last``."""
    stamp, key_id = int(keys[0, 0]), int(keys[0, 1])
    if stamp < last[0] or (stamp == last[0] and key_id <= last[1]):
        return False
    if len(keys) == 1:
        return True
    steps_in_time = np.diff(keys[:, 0])
    return bool(np.all((steps_in_time > 0) | ((steps_in_time == 0) & (np.diff(keys[:, 1]) > 0))))


def _arrays(readings: Sequence[Reading]) -> tuple[IntArray, FloatArray]:
    keys = np.array(
        [(_microseconds(reading.timestamp), reading.id or 0) for reading in readings],
        dtype=np.int64,
    ).reshape(-1, 2)
    missing = math.nan  # a variable the reading does not carry
    values = np.array(
        [[reading.values.get(name, missing) for name in VARIABLE_NAMES] for reading in readings],
        dtype=np.float64,
    ).reshape(-1, len(VARIABLE_NAMES))
    return keys, values


class RecentReadings:
    """Each meter's newest stored readings, for the context of the next batch.

    ``max_meters``: tails kept (least recently used dropped). ``catch_up``: when more than
    this many ids were stored elsewhere since the last look, everything is forgotten rather
    than read. ``filter_meters``: with at most this many tails, what others stored is read
    for those meters only. Thread-safe.
    """

    def __init__(
        self,
        repository: ReadingQueries,
        *,
        max_meters: int = 20_000,
        catch_up: int = 20_000,
        slack: int = 64,
        filter_meters: int = 2_000,
    ) -> None:
        self.repository = repository
        self.max_meters = max_meters
        self.catch_up = catch_up
        self.slack = slack
        self.filter_meters = filter_meters
        self.reads = 0
        """Times storage was read for readings (a meter's tail, or what others stored)."""
        self._lock = threading.Lock()
        self._tails: OrderedDict[str, _Tail] = OrderedDict()
        self._synced: int | None = None
        self._pending: dict[int, list[Reading]] = {}
        self._keep = 0

    def forget(self) -> None:
        """Drop every tail (storage was emptied or rewritten)."""
        with self._lock:
            self._forget(self._synced)

    def _forget(self, synced: int | None) -> None:
        self._tails.clear()
        self._pending.clear()
        self._synced = synced

    # --- what gets stored -----------------------------------------------------------------
    def stored(self, readings: Sequence[Reading]) -> None:
        """Readings this process just stored (with their ids, in id order)."""
        if not readings or readings[0].id is None:
            return
        with self._lock:
            if self._synced is None:
                return
            first = readings[0].id
            if (readings[-1].id or 0) <= self._synced:
                return
            self._pending[first] = list(readings)
            self._drain()
            if len(self._pending) > 1_000:  # never contiguous: the next sync reads them
                self._pending.clear()

    def _drain(self) -> None:
        assert self._synced is not None
        while (batch := self._pending.pop(self._synced + 1, None)) is not None:
            self._apply(batch)
            self._synced = batch[-1].id or self._synced

    def _apply(self, readings: Sequence[Reading]) -> None:
        """Add stored readings to the tails of the meters that have one."""
        mine = [reading for reading in readings if reading.meter_id in self._tails]
        if not mine:
            return
        keys, values = _arrays(mine)
        rows_of: dict[str, list[int]] = {}
        for row, reading in enumerate(mine):
            rows_of.setdefault(reading.meter_id, []).append(row)
        for meter, rows in rows_of.items():
            self._tails[meter].merge(keys[rows], values[rows], self._keep)

    def _sync(self) -> None:
        """Catch up with what was stored elsewhere since the last look."""
        newest = self.repository.last_id()
        if self._synced is None or newest < self._synced:
            self._forget(newest)
            return
        if newest == self._synced:
            return
        if newest - self._synced > self.catch_up:
            self._forget(newest)
            return
        # Only the meters with a tail matter: asked for by name while they are few (several
        # ingest processes each keep their own clients' meters), so that what the others
        # stored for their meters is neither sent nor decoded here.
        meters = list(self._tails) if len(self._tails) <= self.filter_meters else None
        while self._synced < newest:
            found = self.repository.since(self._synced, limit=self.catch_up, meter_ids=meters)
            self.reads += 1
            if not found:
                break
            self._apply(found)
            self._synced = max(self._synced, found[-1].id or self._synced)
        self._synced = max(self._synced, newest)
        self._pending = {
            first: batch
            for first, batch in self._pending.items()
            if (batch[-1].id or 0) > self._synced
        }
        self._drain()

    # --- the context of a batch -------------------------------------------------------------
    def context(
        self, readings: Sequence[Reading], rows: int, features: Sequence[str]
    ) -> dict[str, FloatArray]:
        """Per meter of ``readings``: its ``rows`` newest stored readings before its first
        one in the batch, oldest first, as a matrix of ``features`` (NaN where a reading
        lacks one)."""
        first_seen: dict[str, datetime] = {}
        for reading in readings:
            earliest = first_seen.get(reading.meter_id, reading.timestamp)
            first_seen[reading.meter_id] = min(earliest, reading.timestamp)
        columns = [_COLUMN[name] for name in features]
        context: dict[str, FloatArray] = {}
        with self._lock:
            self._keep = max(self._keep, rows + self.slack)
            self._sync()
            for meter, first in first_seen.items():
                moment = _microseconds(first)
                tail = self._tail(meter, rows)
                found = tail.before(moment, rows) if tail is not None else None
                if found is None:
                    # Older than what is kept: ask storage, as without this cache.
                    where = ReadingFilter(end=first, meter_ids=(meter,))
                    previous = list(reversed(self.repository.latest(rows, where)))
                    self.reads += 1
                    _, found = _arrays(previous)
                context[meter] = found[:, columns]
        return context

    def _tail(self, meter: str, rows: int) -> _Tail | None:
        tail = self._tails.get(meter)
        if tail is not None:
            self._tails.move_to_end(meter)
            if len(tail.keys) >= rows or tail.whole:
                return tail
        mine = ReadingFilter(meter_ids=(meter,))
        # A meter storage has never seen (counted per meter: cheap) needs no search for
        # its newest readings, which without an index by meter would read the whole table.
        newest = (
            list(reversed(self.repository.latest(self._keep, mine)))
            if self.repository.count(mine)
            else []
        )
        self.reads += 1
        keys, values = _arrays(newest)
        tail = _Tail(keys, values, whole=len(newest) < self._keep)
        self._tails[meter] = tail
        self._tails.move_to_end(meter)
        while len(self._tails) > self.max_meters:
            self._tails.popitem(last=False)
        return tail
