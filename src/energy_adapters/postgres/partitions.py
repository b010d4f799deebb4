"""Daily partitions of the readings (``registros``) and of their per-minute rollups
(``registros_por_minuto``): which days exist, creating them ahead and on demand, and
dropping whole days for retention.

Both tables are range-partitioned by time (revision 0011), one partition per UTC day each,
named ``registros_pYYYYMMDD`` and ``registros_por_minuto_pYYYYMMDD``. A day's two partitions
are created together and dropped together: the rollups of a reading sit in the partition of
the reading's own day (days start on whole minutes, so a reading's minute never leaves its
day), and dropping a day removes its readings and their rollups at once, the per-meter
counters settled from the day's rollups.

Each table also has a DEFAULT partition (``registros_default``,
``registros_por_minuto_default``) that takes rows of a day without a partition of its own:
a write never fails for want of a partition, whatever its timestamps. Writers create the
days of every batch before writing it (``Partitions.cover``), so the default partitions stay
empty unless a day is dropped while a late reading for it is in flight, or rows are loaded
without the application; creating a day moves its rows out of the default partitions.

Locks: a day is created by ``ATTACH PARTITION`` (SHARE UPDATE EXCLUSIVE on the parents:
readers and writers go on) after a brief ACCESS EXCLUSIVE lock on the default partitions.
Dropping sums the day's rollups under a SHARE lock on the day alone, then takes ACCESS
EXCLUSIVE on both parents only to settle the counters and drop, waiting at most
``PARENT_LOCK_TIMEOUT`` for it (else retention is postponed to its next call).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter

import sqlalchemy.exc
from sqlalchemy import Connection, func, select, text

from energy_adapters.postgres.locks import lock_key
from energy_adapters.postgres.urls import Database
from energy_core.telemetry.readings import Reading

log = logging.getLogger(__name__)

READINGS = "registros"
ROLLUPS = "registros_por_minuto"
PARENTS: tuple[tuple[str, str], ...] = ((READINGS, "timestamp"), (ROLLUPS, "minute"))
"""Each partitioned table and its partition key, in the order they are locked."""

DAY = timedelta(days=1)
BEHIND_DAYS = 1
AHEAD_DAYS = 3
"""Days kept created around today: yesterday (late readings) to three days ahead."""
LOCK_TIMEOUT = "3s"
"""How long creating a day, or locking a day to drop, waits before giving up for now."""
PARENT_LOCK_TIMEOUT = "500ms"
"""How long dropping a day waits for the whole tables (everyone queued behind it waits as
long): well under PostgreSQL's deadlock check (``deadlock_timeout``, 1 s by default)."""
RETRY_AFTER = 30.0
"""Seconds a writer waits before trying again to create days whose locks were busy."""
CATALOGUE_LIFETIME = 60.0
"""Seconds retention trusts this process's list of days before reading the catalogue again
(another process may have created days meanwhile)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_DAY = _EPOCH.date()
_PARTITION_LOCK = lock_key("smartenergy:partitions")
_NAME = re.compile(r"^(registros|registros_por_minuto)_p(\d{4})(\d{2})(\d{2})$")
_TIMESTAMP = attrgetter("timestamp")
_LOCK_CONFLICTS = ("55P03", "40P01")  # lock_not_available (the timeout), deadlock_detected


# --- days and names -----------------------------------------------------------------------
def day_of(moment: datetime) -> int:
    """The UTC day holding ``moment`` (naive means UTC), as days since 1970-01-01."""
    return (_aware(moment) - _EPOCH) // DAY


def day_start(day: int) -> datetime:
    """The first instant of ``day`` (UTC)."""
    return _EPOCH + day * DAY


def _date(day: int) -> date:
    return _EPOCH_DAY + timedelta(days=day)


def bound_literal(day: int) -> str:
    """SQL literal of the first instant of ``day``; the day after 9999-12-31 too, which
    PostgreSQL holds and Python does not."""
    if day == day_of(datetime.max.replace(tzinfo=UTC)) + 1:
        return "'10000-01-01 00:00:00+00'"
    start = _date(day)
    return f"'{start.year:04d}-{start.month:02d}-{start.day:02d} 00:00:00+00'"


def partition_name(parent: str, day: int) -> str:
    """The partition of ``parent`` (``registros`` or ``registros_por_minuto``) for ``day``."""
    start = _date(day)
    return f"{parent}_p{start.year:04d}{start.month:02d}{start.day:02d}"


def default_name(parent: str) -> str:
    return f"{parent}_default"


def window(today: int) -> set[int]:
    """The days kept created around ``today``."""
    return set(range(today - BEHIND_DAYS, today + AHEAD_DAYS + 1))


def days_of(readings: Sequence[Reading]) -> set[int]:
    """The UTC days ``readings`` fall on."""
    if not readings:
        return set()
    try:
        first = day_of(min(map(_TIMESTAMP, readings)))
        last = day_of(max(map(_TIMESTAMP, readings)))
        if first == last:  # nearly always: a batch within one day
            return {first}
    except TypeError:  # naive and aware timestamps together: compare no further
        pass
    return {day_of(reading.timestamp) for reading in readings}


def time_span(readings: Sequence[Reading]) -> tuple[datetime, datetime]:
    """The earliest and the latest timestamp of ``readings`` (not empty; naive means UTC)."""
    try:
        return min(map(_TIMESTAMP, readings)), max(map(_TIMESTAMP, readings))
    except TypeError:  # naive and aware timestamps together
        moments = [_aware(reading.timestamp) for reading in readings]
        return min(moments), max(moments)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# --- the catalogue ------------------------------------------------------------------------
_PARTITIONS = text(
    """
    SELECT p.relname, c.relname
    FROM pg_inherits i
    JOIN pg_class c ON c.oid = i.inhrelid
    JOIN pg_class p ON p.oid = i.inhparent
    WHERE i.inhparent IN (to_regclass('registros'), to_regclass('registros_por_minuto'))
    """
)


def stored_days(connection: Connection) -> dict[str, set[int]]:
    """The days with a partition, per partitioned table."""
    found: dict[str, set[int]] = {parent: set() for parent, _ in PARENTS}
    for parent, child in connection.execute(_PARTITIONS):
        matched = _NAME.match(child)
        if matched is None or matched.group(1) != parent:
            continue  # the default partition, or one the application did not make
        year, month, day = (int(part) for part in matched.group(2, 3, 4))
        found[parent].add((date(year, month, day) - _EPOCH_DAY).days)
    return found


def complete_days(connection: Connection) -> set[int]:
    """The days whose readings and rollups both have their partition."""
    readings, rollups = (stored_days(connection)[parent] for parent, _ in PARENTS)
    return readings & rollups


def _limit_lock_waits(connection: Connection) -> None:
    connection.execute(select(func.set_config("lock_timeout", LOCK_TIMEOUT, True)))


def is_lock_timeout(error: BaseException) -> bool:
    """Whether ``error`` is a lock wait given up: after ``LOCK_TIMEOUT``, or by PostgreSQL
    to break a deadlock (this transaction was the one chosen to give way)."""
    original = getattr(error, "orig", None)
    return getattr(original, "pgcode", None) in _LOCK_CONFLICTS


# --- creating days --------------------------------------------------------------------------
_PARTITIONED = text("SELECT to_regclass('registros_default') IS NOT NULL")


def create_days(connection: Connection, days: Iterable[int]) -> set[int] | None:
    """Create the partitions ``days`` lack, in the caller's transaction; the complete days
    afterwards (``None`` on a schema older than revision 0011, not partitioned).

    Rows of a new day waiting in a default partition move into the day's partition. One
    process creates at a time (an advisory lock); the default partitions are locked before
    the move so that no row of the new day lands in them between the move and the
    attachment. Raises on a lock wait longer than ``LOCK_TIMEOUT`` (``is_lock_timeout``).
    """
    if not connection.execute(_PARTITIONED).scalar_one():
        return None
    connection.execute(select(func.pg_advisory_xact_lock(_PARTITION_LOCK)))
    present = stored_days(connection)
    wanted = set(days)
    if all(wanted <= present[parent] for parent, _ in PARENTS):
        return present[READINGS] & present[ROLLUPS]
    _limit_lock_waits(connection)
    # The parents first, in the order retention's drop locks them, so that the two queue
    # at the first table instead of each holding what the other waits for.
    parents = ", ".join(parent for parent, _ in PARENTS)
    defaults = ", ".join(default_name(parent) for parent, _ in PARENTS)
    connection.execute(text(f"LOCK TABLE ONLY {parents} IN SHARE UPDATE EXCLUSIVE MODE"))
    connection.execute(text(f"LOCK TABLE {defaults} IN ACCESS EXCLUSIVE MODE"))
    for day in sorted(wanted):
        low, high = bound_literal(day), bound_literal(day + 1)
        for parent, key in PARENTS:
            if day in present[parent]:
                continue
            name = partition_name(parent, day)
            connection.execute(text(f"CREATE TABLE {name} (LIKE {parent} INCLUDING DEFAULTS)"))
            connection.execute(
                text(
                    f"""
                    WITH moved AS (
                        DELETE FROM {default_name(parent)}
                        WHERE {key} >= {low} AND {key} < {high}
                        RETURNING *
                    )
                    INSERT INTO {name} SELECT * FROM moved
                    """
                )
            )
            connection.execute(
                text(
                    f"ALTER TABLE {parent} ATTACH PARTITION {name}"
                    f" FOR VALUES FROM ({low}) TO ({high})"
                )
            )
            present[parent].add(day)
    return present[READINGS] & present[ROLLUPS]


# --- dropping days --------------------------------------------------------------------------
_CREATE_DROPPED_BY_METER = text(
    """
    CREATE TEMP TABLE IF NOT EXISTS dropped_by_meter (
        meter_id text NOT NULL,
        readings bigint NOT NULL,
        flagged bigint NOT NULL
    ) ON COMMIT DELETE ROWS
    """
)
_ANYONE_WAITING = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks"
    " WHERE NOT granted AND relation = ANY(CAST(:tables AS regclass[])))"
)
_SUBTRACT_DROPPED = text(
    """
    UPDATE registros_contadores c
    SET readings = c.readings - d.readings, flagged = c.flagged - d.flagged
    FROM dropped_by_meter d
    WHERE c.meter_id = d.meter_id
    """
)
_DROP_EMPTIED_COUNTERS = text("DELETE FROM registros_contadores WHERE readings <= 0")


class BusyError(RuntimeError):
    """A day could not be dropped now without making someone wait too long, or without
    risking a deadlock: try again later."""


def drop_days(connection: Connection, days: Collection[int]) -> int:
    """Drop both partitions of each of ``days`` (those that have both), the per-meter
    counters settled from the days' rollups, in the caller's transaction (which holds the
    retention lock); how many readings went.

    In two steps, so that the application waits only for the second, whatever a day holds:

    1. The days' partitions are locked in SHARE mode (only a writer of those days, a late
       reading or a rescoring, waits; readers go on; at most ``LOCK_TIMEOUT``) and their
       rollups summed per meter.
    2. Both parents are locked ACCESS EXCLUSIVE, waiting at most ``PARENT_LOCK_TIMEOUT``
       (the readers and writers queued behind this request wait as long), then the
       counters are settled and the partitions dropped.

    A writer waiting for step 1's locks while holding a parent would deadlock with step 2:
    if one waits when step 2 begins, the drop gives way (``BusyError``); one that starts
    waiting later is freed when step 2 gives up, which it does before PostgreSQL's deadlock
    check (1 s by default) would cancel the writer. Raises ``BusyError`` or a lock timeout
    (``is_lock_timeout``) when the day cannot go now.
    """
    gone = sorted(set(days) & complete_days(connection))
    if not gone:
        return 0
    partitions = [partition_name(parent, day) for day in gone for parent, _ in PARENTS]
    _limit_lock_waits(connection)
    connection.execute(text(f"LOCK TABLE {', '.join(partitions)} IN SHARE MODE"))
    connection.execute(_CREATE_DROPPED_BY_METER)
    rollups = " UNION ALL ".join(
        f"SELECT meter_id, readings, flagged FROM {partition_name(ROLLUPS, day)}" for day in gone
    )
    connection.execute(
        text(
            "INSERT INTO dropped_by_meter (meter_id, readings, flagged)"
            f" SELECT meter_id, sum(readings), sum(flagged) FROM ({rollups}) d GROUP BY meter_id"
        )
    )
    if connection.execute(_ANYONE_WAITING, {"tables": partitions}).scalar_one():
        raise BusyError(f"a writer waits for the days {gone} being dropped")
    connection.execute(select(func.set_config("lock_timeout", PARENT_LOCK_TIMEOUT, True)))
    parents = ", ".join(parent for parent, _ in PARENTS)
    connection.execute(text(f"LOCK TABLE {parents} IN ACCESS EXCLUSIVE MODE"))
    # No writer can hold a counter now (writers reach the counters through the readings):
    # no need to lock them in order first, as the row-by-row retention does.
    dropped = int(
        connection.execute(
            text("SELECT coalesce(sum(readings), 0) FROM dropped_by_meter")
        ).scalar_one()
    )
    if dropped:
        connection.execute(_SUBTRACT_DROPPED)
        connection.execute(_DROP_EMPTIED_COUNTERS)
    connection.execute(text(f"DROP TABLE {', '.join(partitions)}"))
    return dropped


# --- this process's view ------------------------------------------------------------------
class Partitions:
    """Which days exist, as this process last saw them, so that writers create a day once
    and retention finds whole days to drop without asking the catalogue at every batch.
    Thread-safe; shared by a repository's writers and its retention."""

    def __init__(
        self,
        database: Database,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = database
        self._now = now
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._known: set[int] = set()
        self._read_at = float("-inf")
        self._window_of: int | None = None
        self._retry_at = float("-inf")

    def known(self) -> set[int]:
        """The complete days as last seen (a copy)."""
        with self._lock:
            return set(self._known)

    def cover(self, readings: Sequence[Reading]) -> None:
        """Make sure the days of ``readings`` (and the days around today) have their
        partitions, before a writer stores them.

        Usually a look at this process's list. A day that cannot be created now (its locks
        were not granted in time) is left to the default partitions, which take its rows,
        and tried again after ``RETRY_AFTER`` seconds.
        """
        wanted = days_of(readings)
        today = day_of(self._now())
        with self._lock:
            if self._window_of != today:
                wanted |= window(today)
            missing = wanted - self._known
            if not missing or self._monotonic() < self._retry_at:
                return
        if self.ensure(missing):
            with self._lock:
                if not (window(today) - self._known):
                    self._window_of = today

    def ensure(self, days: Iterable[int]) -> bool:
        """Create the partitions ``days`` lack (one transaction); whether it could."""
        try:
            with self._db.transaction() as connection:
                complete = create_days(connection, days)
        except sqlalchemy.exc.OperationalError as error:
            if not is_lock_timeout(error):
                raise
            log.warning(
                "partitions not created now (locks busy): rows of new days go to the"
                " default partition until the next try"
            )
            with self._lock:
                self._retry_at = self._monotonic() + RETRY_AFTER
            return False
        if complete is None:  # an older schema (a test filling one): nothing to create
            with self._lock:
                self._retry_at = self._monotonic() + CATALOGUE_LIFETIME
            return False
        self._remember(complete)
        return True

    def keep_ahead(self) -> None:
        """Create the days around today if this process has not yet today."""
        self.cover(())

    def droppable(self, connection: Connection, before: datetime) -> list[int]:
        """Complete days that end at or before ``before``: wholly older than it.

        From this process's list, read again from the catalogue (on ``connection``) when it
        is older than ``CATALOGUE_LIFETIME`` or when it names such days (to be sure of them).
        """
        first_kept = day_of(before)  # a day ends at or before ``before`` iff it is earlier
        with self._lock:
            stale = self._monotonic() - self._read_at > CATALOGUE_LIFETIME
            candidates = any(day < first_kept for day in self._known)
        if not (stale or candidates):
            return []
        complete = complete_days(connection)
        self._remember(complete)
        return sorted(day for day in complete if day < first_kept)

    def forget(self, days: Iterable[int]) -> None:
        """``days`` were dropped."""
        with self._lock:
            self._known -= set(days)

    def _remember(self, complete: set[int]) -> None:
        with self._lock:
            self._known = set(complete)
            self._read_at = self._monotonic()
