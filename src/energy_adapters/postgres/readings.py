"""``ReadingRepository`` on PostgreSQL: COPY ingest, rollup-backed counts and downsampling.

Writes keep ``registros_por_minuto`` (per meter and minute: count, flagged, min/max/sum of
every variable) and ``registros_contadores`` (per meter: count, flagged) true in the same
transaction, so ``count()`` and wide ``downsample()`` never scan raw rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import re
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg2
import sqlalchemy.exc
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Engine,
    Integer,
    Select,
    and_,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
    text,
    true,
    union_all,
)

from energy_adapters.postgres import rollups
from energy_adapters.postgres.binary_copy import (
    COLUMNS,
    HEADER,
    TRAILER,
    ChunkReader,
    ReadingEncoder,
    encode_scores,
)
from energy_adapters.postgres.filters import (
    meter_and_state_conditions,
    normalised,
    reading_conditions,
    split_by_minute,
    time_conditions,
)
from energy_adapters.postgres.locks import lock_key
from energy_adapters.postgres.schema import (
    EPOCH,
    READINGS_ID_SEQUENCE,
    ROLLUP_WIDTH,
    ingested_batches,
    meter_counters,
    minute_rollups,
    rollup_columns,
    rollup_count_column,
)
from energy_adapters.postgres.schema import readings as table
from energy_adapters.postgres.urls import Database
from energy_core.ports import (
    BatchRefusedError,
    Bucket,
    IdempotencyConflictError,
    ReadingFilter,
)
from energy_core.telemetry.buckets import bucket_width
from energy_core.telemetry.catalogue import VARIABLE_NAMES, variable
from energy_core.telemetry.readings import Reading, batch_fingerprint, utc

_SELECTED = (
    table.c.id,
    table.c.meter_id,
    table.c.timestamp,
    *(table.c[name] for name in VARIABLE_NAMES),
    table.c.is_anomaly,
    table.c.anomaly_kind,
    table.c.score,
    table.c.is_flagged,
    table.c.top_variables,
)
_FIRST_VALUE = 3
_AFTER_VALUES = _FIRST_VALUE + len(VARIABLE_NAMES)
_ORDER = (table.c.timestamp, table.c.id)
_NEWEST_FIRST = (table.c.timestamp.desc(), table.c.id.desc())

# Ids come from the table's own sequence, taken before the COPY so the payload carries
# them. Usually they are one contiguous range (two numbers come back); when another writer
# took some in between, the whole list comes back.
_RESERVE_IDS = text(
    f"""
    SELECT min(id), max(id),
           CASE WHEN max(id) - min(id) + 1 = count(*) THEN NULL
                ELSE array_agg(id ORDER BY id) END
    FROM (SELECT nextval('{READINGS_ID_SEQUENCE}') AS id FROM generate_series(1, :n)) reserved
    """
)
_SERIALISE_WRITERS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('smartenergy.registros.ids', 0))"
)
_COPY_READINGS = f"COPY registros ({', '.join(COLUMNS)}) FROM STDIN WITH (FORMAT binary)"
_SCORE_COLUMNS = ", ".join(rollups.SCORE_UPDATE_COLUMNS)
_COPY_SCORES = f"COPY score_updates ({_SCORE_COLUMNS}) FROM STDIN WITH (FORMAT binary)"
_COPY_CHUNK = 1 << 16
# Buckets from rollups read a few thousand rows: starting parallel workers costs more than
# the work (bench/query.py, 1 M readings: the ragged 24 h window took 55-70 ms in a parallel
# plan, 10-20 ms serial). Local to the read's transaction, which ends with the read.
_SERIAL_PLAN = text("SET LOCAL max_parallel_workers_per_gather = 0")
_TRUNCATE = text("TRUNCATE registros, registros_por_minuto, registros_contadores, lotes")
_KNOWN_KEYS = text("SELECT key, first_id, last_id, fingerprint FROM lotes WHERE key = ANY(:keys)")
KEY_LIFETIME = timedelta(days=1)
"""How long a batch key is remembered (a retry comes within seconds or minutes)."""
# Retention from several processes at once would each see the same excess; take turns.
_RETENTION_LOCK = lock_key("smartenergy:retention")


_STAMPED_FIELDS = tuple(field.name for field in dataclasses.fields(Reading) if field.name != "id")
_ROWS_PER_CHUNK = 1_000


def _with_ids(readings: Sequence[Reading], ids: Sequence[int]) -> list[Reading]:
    """Copies of ``readings`` carrying ``ids``.

    Equivalent to ``reading.with_id(id)``, which goes through ``dataclasses.replace`` and
    costs about as much client time as storing the reading; this copies the fields as they are.
    """
    stamped = []
    new, assign = object.__new__, object.__setattr__
    for reading, reading_id in zip(readings, ids, strict=True):
        copy = new(Reading)
        for name in _STAMPED_FIELDS:
            assign(copy, name, getattr(reading, name))
        assign(copy, "id", reading_id)
        stamped.append(copy)
    return stamped


def _payload(
    batch: Sequence[Reading], ids: Sequence[int], stored: list[Reading]
) -> Iterator[bytes]:
    """The binary COPY payload of ``batch``, chunk by chunk; after sending each chunk, and
    so while the server stores it, the chunk's readings get their ids into ``stored``."""
    encoder = ReadingEncoder()
    yield HEADER
    for start in range(0, len(batch), _ROWS_PER_CHUNK):
        chunk, chunk_ids = (
            batch[start : start + _ROWS_PER_CHUNK],
            ids[start : start + _ROWS_PER_CHUNK],
        )
        yield encoder.rows(chunk, chunk_ids)
        stored.extend(_with_ids(chunk, chunk_ids))
    yield TRAILER


def _to_reading(row: Sequence[Any]) -> Reading:
    return Reading(
        timestamp=row[2],
        meter_id=row[1],
        values={
            name: value
            for name, value in zip(VARIABLE_NAMES, row[_FIRST_VALUE:_AFTER_VALUES], strict=True)
            if value is not None  # NULL: the meter did not send it
        },
        is_anomaly=row[_AFTER_VALUES],
        anomaly_kind=row[_AFTER_VALUES + 1],
        score=row[_AFTER_VALUES + 2],
        is_flagged=row[_AFTER_VALUES + 3],
        top_variables=tuple(row[_AFTER_VALUES + 4]),
        id=row[0],
    )


def _or_nan(value: float | None) -> float:
    """A bucket's statistic: NaN when no reading of the bucket carries the variable."""
    return math.nan if value is None else float(value)


def _copy_in(connection: Connection, statement: str, payload: bytes | Iterable[bytes]) -> None:
    """Run ``COPY … FROM STDIN`` with ``payload`` on ``connection``'s open transaction.

    An iterable payload is encoded while it is sent: the server stores the first chunks
    while the client encodes the next.
    """
    source = io.BytesIO(payload) if isinstance(payload, bytes) else ChunkReader(payload)
    cursor = connection.connection.cursor()
    try:
        cursor.copy_expert(statement, source, size=_COPY_CHUNK)
    except psycopg2.Error as error:
        # COPY runs on the driver's cursor, out of SQLAlchemy's sight: tell the pool when
        # the connection may be dead, and raise what SQLAlchemy would have raised.
        if isinstance(error, psycopg2.OperationalError | psycopg2.InterfaceError):
            connection.invalidate()
        raise sqlalchemy.exc.DBAPIError.instance(statement, None, error, psycopg2.Error) from error
    finally:
        with contextlib.suppress(psycopg2.Error):  # the connection may be gone
            cursor.close()


GROUP_MAX_READINGS = 50_000
"""At most this many readings of concurrent ``add_many`` calls share one transaction (a
single larger batch is written alone, whole)."""


_REFUSED_CONTENT = {
    "22021": "text with a character the database cannot store (NUL)",
    "22P05": "text the database cannot store",
    "22008": "timestamp out of the database's range",
    "22003": "number out of the database's range",
    "22001": "text longer than the database accepts",
}


def refusal_of(error: BaseException) -> BatchRefusedError | None:
    """A ``BatchRefusedError`` when PostgreSQL refused the data itself (SQLSTATE class 22,
    data exception, or 23, integrity), else ``None`` (an outage, a bug: not the batch's
    fault). Its message names the reading and the field, never the server's own text."""
    original = getattr(error, "orig", None) or error
    if not isinstance(original, psycopg2.Error):
        return None
    code = str(original.pgcode or "")
    if not code.startswith(("22", "23")):
        return None
    reason = _REFUSED_CONTENT.get(code, f"refused by the database (SQLSTATE {code})")
    where = ""
    context = getattr(getattr(original, "diag", None), "context", None) or ""
    found = re.search(r"COPY \w+, line (\d+)(?:, column (\w+))?", context)
    if found:
        where = f" (reading {int(found.group(1)) - 1}"
        where += f", field {found.group(2)})" if found.group(2) else ")"
    return BatchRefusedError(f"batch refused: {reason}{where}")


@dataclasses.dataclass(eq=False)
class _Submission:
    """One ``add_many`` call waiting for, or settled by, a group transaction."""

    readings: list[Reading]
    key: str | None = None
    stored: list[Reading] | None = None
    error: BaseException | None = None
    fingerprint: str | None = None

    def __post_init__(self) -> None:
        if self.key is not None:
            self.fingerprint = batch_fingerprint(self.readings)

    @property
    def finished(self) -> bool:
        return self.stored is not None or self.error is not None

    def result(self) -> list[Reading]:
        if self.error is not None:
            raise self.error
        assert self.stored is not None
        return self.stored


def _take_group(waiting: deque[_Submission], max_readings: int) -> list[_Submission]:
    """The oldest waiting submissions, as many as fit in ``max_readings`` (at least one)."""
    group = [waiting.popleft()]
    size = len(group[0].readings)
    while waiting and size + len(waiting[0].readings) <= max_readings:
        size += len(waiting[0].readings)
        group.append(waiting.popleft())
    return group


class PostgresReadingRepository:
    """Readings in ``registros``. Thread-safe: every call uses its own pooled connection.

    It announces nothing: the use case that stored a batch announces it, once, after the
    commit (``Monitor`` through the change feed).
    """

    def __init__(self, database: Database | Engine):
        self._db = database if isinstance(database, Database) else Database(database)
        # Group commit of concurrent add_many calls (see there).
        self._group = threading.Condition()
        self._waiting: deque[_Submission] = deque()
        self._writing = False
        self._keys_forgotten_at = float("-inf")

    # --- writes ---------------------------------------------------------------------------
    def add_many(self, readings: Sequence[Reading], *, key: str | None = None) -> list[Reading]:
        """Store ``readings`` with one binary COPY in one transaction; return them with ids.

        ``key``: a batch already stored under this key (within a day) is not stored again:
        the readings it stored are returned (those retention kept). A writer that does not
        know whether its batch was stored (the connection dropped at commit) retries with
        the same key and so stores it once.

        Concurrent calls from several threads of this process share transactions (group
        commit): the thread that finds no write under way writes every batch waiting at
        that moment (up to ``GROUP_MAX_READINGS``) in one transaction, then the batches
        that arrived meanwhile, until its own is written. Each call returns once the
        transaction holding its batch committed, or raises what that transaction raised
        (then none of it is stored). Batches keep their order and stay contiguous.
        """
        batch = list(readings)
        if not batch:
            return []
        mine = _Submission(batch, key)
        with self._group:
            self._waiting.append(mine)
            try:
                while self._writing and not mine.finished:
                    self._group.wait()
            except BaseException:  # interrupted while waiting: withdraw the batch
                self._withdraw(mine)
                raise
            if mine.finished:
                return mine.result()
            self._writing = True
        try:
            while not mine.finished:
                with self._group:
                    group = _take_group(self._waiting, GROUP_MAX_READINGS)
                self._write_group(group)
                with self._group:
                    self._group.notify_all()
        except BaseException:
            with self._group:
                self._withdraw(mine)
            raise
        finally:
            with self._group:
                self._writing = False
                self._group.notify_all()
        return mine.result()

    def _withdraw(self, submission: _Submission) -> None:
        """Take ``submission`` out of the queue if it is still waiting (lock held)."""
        if submission in self._waiting:
            self._waiting.remove(submission)

    def _write_group(self, group: list[_Submission]) -> None:
        """Write ``group`` in one transaction and settle every submission of it: with its
        stored readings, or with the error (an interruption is raised on as well).

        A batch can only fail itself: when PostgreSQL refuses the group for what one batch
        holds (not an outage), each batch is written again alone, so that only the culprit
        fails, with a ``BatchRefusedError`` that names the reading and the field.
        """
        try:
            stored = self._write(group)
        except BaseException as error:
            refusal = refusal_of(error)
            if refusal is not None and len(group) > 1:
                for submission in group:
                    self._write_group([submission])
                return
            failure = refusal if refusal is not None else error
            for submission in group:
                submission.error = failure
            if not isinstance(error, Exception):
                raise
            return
        for submission, readings in zip(group, stored, strict=True):
            if isinstance(readings, BaseException):
                submission.error = readings
            else:
                submission.stored = readings

    def _write(self, group: list[_Submission]) -> list[list[Reading] | IdempotencyConflictError]:
        """One transaction: every batch of ``group`` stored, except those whose key was
        stored before (their readings are read back instead, or, when the key came with
        other readings, a conflict); what each batch stored."""
        with self._db.transaction() as connection:
            # Writers take turns from id reservation to commit, so ids become visible in
            # order and a reader following ``since(last_id)`` never skips a slower batch.
            # Under this lock a key is also checked and claimed by one writer at a time.
            connection.execute(_SERIALISE_WRITERS)
            keys = [submission.key for submission in group if submission.key is not None]
            known: dict[str, tuple[int, int, str | None]] = {}
            if keys:
                known = {
                    key: (first, last, fingerprint)
                    for key, first, last, fingerprint in connection.execute(
                        _KNOWN_KEYS, {"keys": keys}
                    )
                }
            fresh: list[_Submission] = []
            for submission in group:
                if submission.key is None or submission.key not in known:
                    fresh.append(submission)
                    if submission.key is not None:
                        # Claimed by this transaction.
                        known[submission.key] = (0, -1, submission.fingerprint)
            by_submission = self._store(connection, fresh) if fresh else {}
            claimed = {
                submission.key: by_submission[id(submission)]
                for submission in fresh
                if submission.key is not None
            }
            results: list[list[Reading] | IdempotencyConflictError] = []
            for submission in group:
                if submission.key is None:
                    results.append(by_submission[id(submission)])
                    continue
                first, last, fingerprint = known[submission.key]
                if fingerprint is not None and fingerprint != submission.fingerprint:
                    results.append(IdempotencyConflictError(submission.key))
                elif submission.key in claimed:  # stored now (a key twice: the same answer)
                    results.append(claimed[submission.key])
                else:  # stored before: what it stored then
                    results.append(self._stored_between(connection, first, last))
            self._forget_old_keys(connection)
        return results

    def _store(self, connection: Connection, fresh: list[_Submission]) -> dict[int, list[Reading]]:
        """COPY ``fresh`` batches in ``connection``'s transaction, keep the books, record the
        keys and announce each batch; the stored readings per ``id(submission)``."""
        batch = [reading for submission in fresh for reading in submission.readings]
        first, last, scattered = connection.execute(_RESERVE_IDS, {"n": len(batch)}).one()
        ids: Sequence[int] = range(first, last + 1) if scattered is None else scattered
        stored: list[Reading] = []
        _copy_in(connection, _COPY_READINGS, _payload(batch, ids, stored))
        if scattered is None:
            added = connection.execute(
                rollups.ADD_TO_MINUTES_FROM_ID_RANGE, {"first_id": first, "last_id": last}
            ).all()
        else:
            added = connection.execute(
                rollups.ADD_TO_MINUTES_FROM_IDS, {"ids": list(scattered)}
            ).all()
        meters, counts, flagged = (list(column) for column in zip(*added, strict=True))
        connection.execute(
            rollups.ADD_TO_COUNTERS, {"meters": meters, "readings": counts, "flagged": flagged}
        )
        by_submission: dict[int, list[Reading]] = {}
        keyed: list[dict[str, Any]] = []
        end = 0
        for submission in fresh:
            start, end = end, end + len(submission.readings)
            by_submission[id(submission)] = stored[start:end]
            if submission.key is not None:
                keyed.append(
                    {
                        "key": submission.key,
                        "first_id": ids[start],
                        "last_id": ids[end - 1],
                        "fingerprint": submission.fingerprint,
                    }
                )
        if keyed:
            connection.execute(insert(ingested_batches), keyed)
        return by_submission

    def _stored_between(self, connection: Connection, first: int, last: int) -> list[Reading]:
        """The readings a batch stored earlier (ids ``first`` … ``last``) still stored."""
        query = (
            select(*_SELECTED).where(table.c.id >= first, table.c.id <= last).order_by(table.c.id)
        )
        return [_to_reading(row) for row in connection.execute(query)]

    def _forget_old_keys(self, connection: Connection) -> None:
        """Now and then, drop the keys of batches stored more than ``KEY_LIFETIME`` ago."""
        now = time.monotonic()
        if now - self._keys_forgotten_at < 600:
            return
        self._keys_forgotten_at = now
        connection.execute(
            delete(ingested_batches).where(ingested_batches.c.stored_at < func.now() - KEY_LIFETIME)
        )

    def update_scores(self, readings: Sequence[Reading]) -> None:
        """Rewrite score, flag and top variables by id; unknown ids are ignored."""
        # The last verdict for an id wins, as if they were applied one after the other.
        by_id = {reading.id: reading for reading in readings if reading.id is not None}
        if not by_id:
            return
        with self._db.transaction() as connection:
            connection.execute(rollups.CREATE_SCORE_UPDATES)
            _copy_in(connection, _COPY_SCORES, encode_scores(by_id.values()))
            for statement in (
                rollups.LOCK_SCORED_READINGS,
                rollups.READ_PREVIOUS_FLAGS,
                rollups.WRITE_SCORES,
                rollups.LOCK_RESCORED_MINUTES,
                rollups.APPLY_FLAG_CHANGES_TO_MINUTES,
                rollups.LOCK_COUNTERS_OF_RESCORED,
                rollups.APPLY_FLAG_CHANGES_TO_COUNTERS,
            ):
                connection.execute(statement)

    def delete_oldest(self, keep: int) -> int:
        """Keep the ``keep`` most recent readings (time order, ties by id)."""
        # Below the limit (usually, when the limit is large) there is nothing to delete:
        # answer from the counters without taking the retention lock, so concurrent
        # writers do not queue for it. Only writers add readings meanwhile, and each of
        # them calls this after its own batch.
        with self._db.connection() as connection:
            if self._total(connection) <= max(keep, 0):
                return 0
        with self._db.transaction() as connection:
            connection.execute(select(func.pg_advisory_xact_lock(_RETENTION_LOCK)))
            stored = self._total(connection)
            excess = stored - max(keep, 0)
            if excess <= 0:
                return 0
            # Walk the (timestamp, id) index to the last reading to drop: no sort, and only
            # as far as the excess, which at every batch is about the batch's size.
            cut_time, cut_id = connection.execute(
                select(table.c.timestamp, table.c.id).order_by(*_ORDER).offset(excess - 1).limit(1)
            ).one()
            return self._delete(
                connection,
                "(timestamp, id) <= (:cut_time, :cut_id)",
                {"cut_time": cut_time, "cut_id": cut_id},
            )

    def delete_before(self, cutoff: datetime) -> int:
        with self._db.transaction() as connection:
            connection.execute(select(func.pg_advisory_xact_lock(_RETENTION_LOCK)))
            return self._delete(connection, "timestamp < :cutoff", {"cutoff": utc(cutoff)})

    def _delete(self, connection: Connection, condition: str, parameters: dict[str, Any]) -> int:
        """Delete the readings matching ``condition``, settle rollups and counters, and
        return how many went. The caller holds the retention lock."""
        connection.execute(rollups.CREATE_REMOVED_BY_MINUTE)
        connection.execute(rollups.lock_readings_where(condition), parameters)
        connection.execute(rollups.delete_readings_where(condition), parameters)
        removed = int(connection.execute(rollups.REMOVED_COUNT).scalar_one())
        if removed:
            for statement in (
                rollups.LOCK_REMOVED_MINUTES,
                rollups.DROP_EMPTIED_MINUTES,
                rollups.RECOUNT_PARTLY_REMOVED_MINUTES,
                rollups.LOCK_COUNTERS_OF_REMOVED,
                rollups.RECOUNT_REMOVED_FROM_COUNTERS,
                rollups.DROP_EMPTIED_COUNTERS,
            ):
                connection.execute(statement)
        return removed

    def clear(self) -> None:
        """Remove every reading. Ids keep increasing afterwards, as live readers expect."""
        with self._db.transaction() as connection:
            connection.execute(_TRUNCATE)

    # --- counts ---------------------------------------------------------------------------
    @staticmethod
    def _total(connection: Connection) -> int:
        total = select(func.coalesce(func.sum(meter_counters.c.readings), 0))
        return int(connection.execute(total).scalar_one())

    def count(self, where: ReadingFilter | None = None) -> int:
        """How many readings match, from the counters and rollups (raw rows only for the
        partial minutes at the edges of a time filter)."""
        where = normalised(where)
        with self._db.connection() as connection:
            if where.start is None and where.end is None:
                return int(connection.execute(self._count_from_counters(where)).scalar_one())
            split = split_by_minute(where.start, where.end)
            parts = [
                self._count_raw(where, start, end).scalar_subquery() for start, end in split.edges
            ]
            if split.whole is not None:
                parts.append(self._count_from_rollups(where, *split.whole).scalar_subquery())
            total: ColumnElement[Any] = parts[0]
            for part in parts[1:]:
                total = total + part
            return int(connection.execute(select(total)).scalar_one())

    @staticmethod
    def _counted(state: str | None, readings: Any, flagged: Any) -> Any:
        if state == "anomalous":
            return flagged
        if state == "normal":
            return readings - flagged
        return readings

    def _count_from_counters(self, where: ReadingFilter) -> Select[Any]:
        counted = self._counted(where.state, meter_counters.c.readings, meter_counters.c.flagged)
        query = select(func.coalesce(func.sum(counted), 0))
        if where.meter_ids:
            query = query.where(meter_counters.c.meter_id.in_(where.meter_ids))
        return query

    def _count_from_rollups(
        self, where: ReadingFilter, start: datetime | None, end: datetime | None
    ) -> Select[Any]:
        counted = self._counted(where.state, minute_rollups.c.readings, minute_rollups.c.flagged)
        query = select(func.coalesce(func.sum(counted), 0)).where(
            *self._rollup_conditions(where, start, end)
        )
        return query

    @staticmethod
    def _rollup_conditions(
        where: ReadingFilter, start: datetime | None, end: datetime | None
    ) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if start is not None:
            conditions.append(minute_rollups.c.minute >= start)
        if end is not None:
            conditions.append(minute_rollups.c.minute < end)
        if where.meter_ids:
            conditions.append(minute_rollups.c.meter_id.in_(where.meter_ids))
        return conditions

    @staticmethod
    def _count_raw(
        where: ReadingFilter, start: datetime | None, end: datetime | None
    ) -> Select[Any]:
        condition = reading_conditions(where, start, end, override_time=True)
        return select(func.count()).select_from(table).where(condition)

    # --- reading rows back ----------------------------------------------------------------
    def _rows(self, query: Select[Any]) -> list[Reading]:
        with self._db.connection() as connection:
            return [_to_reading(row) for row in connection.execute(query)]

    def latest(self, n: int, where: ReadingFilter | None = None) -> list[Reading]:
        if n <= 0:
            return []
        condition = reading_conditions(normalised(where))
        return self._rows(select(*_SELECTED).where(condition).order_by(*_NEWEST_FIRST).limit(n))

    def window(self, where: ReadingFilter, limit: int | None = None) -> list[Reading]:
        condition = reading_conditions(normalised(where))
        if limit is None:
            return self._rows(select(*_SELECTED).where(condition).order_by(*_ORDER))
        if limit <= 0:
            return []
        query = select(*_SELECTED).where(condition).order_by(*_NEWEST_FIRST).limit(limit)
        newest = self._rows(query)
        newest.reverse()
        return newest

    def sample(self, where: ReadingFilter, limit: int) -> list[Reading]:
        """At most ``limit`` matching readings at evenly spaced ranks (first and last
        included), chosen in SQL: only the picked rows leave the server."""
        if limit <= 0:
            return []
        condition = reading_conditions(normalised(where))
        ranked = (
            select(
                table.c.id,
                (func.row_number().over(order_by=_ORDER) - 1).label("position"),
                func.count().over().label("total"),
            )
            .where(condition)
            .cte("ranked")
        )
        # Rank i*(total-1)/(limit-1) rounded, for i = 0 … limit-1, is picked; a rank is one
        # of those exactly when rounding it back and forth gives itself.
        position, total = ranked.c.position, ranked.c.total
        steps = literal(max(limit - 1, 1))
        double_gaps = func.greatest(2 * (total - 1), 1, type_=BigInteger)
        nearest_step = (2 * position * steps + (total - 1)) // double_gaps
        picked_rank = (2 * nearest_step * (total - 1) + steps) // (2 * steps)
        keep: ColumnElement[bool] = (total <= limit) | (position == picked_rank)
        if limit == 1:
            keep = position == 0
        chosen = select(ranked.c.id).where(keep).subquery()
        query = (
            select(*_SELECTED).join_from(table, chosen, table.c.id == chosen.c.id).order_by(*_ORDER)
        )
        return self._rows(query)

    def since(self, last_id: int, limit: int = 10_000) -> list[Reading]:
        if limit <= 0:
            return []
        query = select(*_SELECTED).where(table.c.id > last_id).order_by(table.c.id).limit(limit)
        return self._rows(query)

    def meters(self) -> list[str]:
        query = (
            select(meter_counters.c.meter_id)
            .where(meter_counters.c.readings > 0)
            .order_by(meter_counters.c.meter_id)
        )
        with self._db.connection() as connection:
            return list(connection.execute(query).scalars())

    def time_range(self) -> tuple[datetime, datetime] | None:
        query = select(func.min(table.c.timestamp), func.max(table.c.timestamp))
        with self._db.connection() as connection:
            first, last = connection.execute(query).one()
        return None if first is None else (first, last)

    def last_id(self) -> int:
        query = select(func.coalesce(func.max(table.c.id), 0))
        with self._db.connection() as connection:
            return int(connection.execute(query).scalar_one())

    # --- downsampling ---------------------------------------------------------------------
    def downsample(self, variable_name: str, where: ReadingFilter, buckets: int) -> list[Bucket]:
        """``variable_name`` in epoch-aligned buckets (see ``energy_core.telemetry.buckets``).

        From the per-minute rollups when the bucket width is a whole number of minutes and
        no state is asked for (raw rows only at a filter's partial edge minutes); otherwise
        from raw rows. Means are sums over counts, computed in the database. ``count`` is how
        many readings of the bucket carry the variable: a bucket whose readings all lack it
        has count 0 and NaN minimum, maximum and mean (a gap, not a zero).
        """
        variable(variable_name)  # unknown names fail here, with the known ones listed
        where = normalised(where)
        with self._db.connection() as connection:
            start, end = where.start, where.end
            if start is None or end is None:
                first, last = connection.execute(
                    select(func.min(table.c.timestamp), func.max(table.c.timestamp)).where(
                        reading_conditions(where)
                    )
                ).one()
                if first is None:
                    return []
                start = start if start is not None else first
                end = end if end is not None else last + timedelta(microseconds=1)
            width = bucket_width(start, end, buckets)
            if where.state is None and width % ROLLUP_WIDTH == timedelta(0):
                query = self._buckets_from_rollups(variable_name, where, width)
                connection.execute(_SERIAL_PLAN)
            else:
                query = self._buckets_from_rows(variable_name, where, width)
            rows = connection.execute(query).all()
        return [
            Bucket(
                start=row.bucket,
                count=int(row.readings),
                minimum=_or_nan(row.minimum),
                maximum=_or_nan(row.maximum),
                mean=float(row.total) / int(row.readings) if row.readings else math.nan,
                flagged=int(row.flagged),
            )
            for row in rows
        ]

    @staticmethod
    def _bucket_of(column: Any, width: timedelta) -> Any:
        return func.date_bin(width, column, literal(EPOCH))

    def _buckets_from_rows(self, name: str, where: ReadingFilter, width: timedelta) -> Select[Any]:
        value = table.c[name]
        bucket = self._bucket_of(table.c.timestamp, width).label("bucket")
        return (
            select(
                bucket,
                func.count(value).label("readings"),
                func.min(value).label("minimum"),
                func.max(value).label("maximum"),
                func.sum(value).label("total"),
                func.count().filter(table.c.is_flagged).label("flagged"),
            )
            .where(reading_conditions(where))
            .group_by(bucket)
            .order_by(bucket)
        )

    def _buckets_from_rollups(
        self, name: str, where: ReadingFilter, width: timedelta
    ) -> Select[Any]:
        low, high, total = (minute_rollups.c[column] for column in rollup_columns(name))
        count = minute_rollups.c[rollup_count_column(name)]
        split = split_by_minute(where.start, where.end)
        parts: list[Select[Any]] = []
        if split.whole is not None:
            parts.append(
                select(
                    self._bucket_of(minute_rollups.c.minute, width).label("bucket"),
                    count.label("readings"),
                    low.label("minimum"),
                    high.label("maximum"),
                    total.label("total"),
                    minute_rollups.c.flagged.label("flagged"),
                ).where(true(), *self._rollup_conditions(where, *split.whole))
            )
        value = table.c[name]
        for start, end in split.edges:
            parts.append(
                select(
                    self._bucket_of(table.c.timestamp, width).label("bucket"),
                    cast(value.is_not(None), Integer).label("readings"),
                    value.label("minimum"),
                    value.label("maximum"),
                    value.label("total"),
                    cast(func.coalesce(table.c.is_flagged, False), Integer).label("flagged"),
                ).where(and_(*time_conditions(start, end), *meter_and_state_conditions(where)))
            )
        combined = (parts[0] if len(parts) == 1 else union_all(*parts)).subquery("parts")
        return (
            select(
                combined.c.bucket,
                func.sum(combined.c.readings).label("readings"),
                func.min(combined.c.minimum).label("minimum"),
                func.max(combined.c.maximum).label("maximum"),
                func.sum(combined.c.total).label("total"),
                func.sum(combined.c.flagged).label("flagged"),
            )
            .group_by(combined.c.bucket)
            .order_by(combined.c.bucket)
        )
