"""``ReadingRepository`` on PostgreSQL: batches stored by binary COPY under group commit,
once per idempotency key, with the books kept in the same transaction.

Writes keep ``registros_por_minuto`` (per meter and minute: count, flagged, min/max/sum of
every variable) and ``registros_contadores`` (per meter: count, flagged) true, so counts and
wide downsampling (``reading_queries``) never scan raw rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg2
import sqlalchemy.exc
from sqlalchemy import Connection, Engine, delete, func, insert, select, text

from energy_adapters.postgres import retention, rollups
from energy_adapters.postgres.binary_copy import (
    COLUMNS,
    HEADER,
    TRAILER,
    ChunkReader,
    ReadingEncoder,
    encode_scores,
)
from energy_adapters.postgres.group_commit import GroupCommit, Submission
from energy_adapters.postgres.partitions import Partitions, time_span
from energy_adapters.postgres.reading_rows import SELECTED, to_reading
from energy_adapters.postgres.schema import READINGS_ID_SEQUENCE, ingested_batches
from energy_adapters.postgres.schema import readings as table
from energy_adapters.postgres.urls import Database
from energy_core.ports import IdempotencyConflictError
from energy_core.telemetry.readings import Reading, newest_origins

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
_KNOWN_KEYS = text("SELECT key, first_id, last_id, fingerprint FROM lotes WHERE key = ANY(:keys)")
KEY_LIFETIME = timedelta(days=1)
"""How long a batch key is remembered (a retry comes within seconds or minutes)."""
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


class PostgresReadingRepository:
    """Writes to ``registros``. Thread-safe: every call uses its own pooled connection.

    It announces nothing: the use case that stored a batch announces it, once, after the
    commit (``Monitor`` through the change feed).
    """

    def __init__(self, database: Database | Engine):
        self._db = database if isinstance(database, Database) else Database(database)
        self._group_commit = GroupCommit(self._write)
        self._keys_forgotten_at = float("-inf")
        self.partitions = Partitions(self._db)

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
        return self._group_commit.submit(Submission(batch, key))

    def _write(self, group: list[Submission]) -> list[list[Reading] | Exception]:
        """One transaction: every batch of ``group`` stored, except those whose key was
        stored before (their readings are read back instead, or, when the key came with
        other readings, a conflict); what each batch stored."""
        # The days of the readings get their partitions first, in a transaction of their
        # own (usually a look at this process's list of days).
        for submission in group:
            self.partitions.cover(submission.readings)
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
            fresh: list[Submission] = []
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
            results: list[list[Reading] | Exception] = []
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

    def _store(self, connection: Connection, fresh: list[Submission]) -> dict[int, list[Reading]]:
        """COPY ``fresh`` batches in ``connection``'s transaction, keep the books, record the
        keys and announce each batch; the stored readings per ``id(submission)``."""
        batch = [reading for submission in fresh for reading in submission.readings]
        first, last, scattered = connection.execute(_RESERVE_IDS, {"n": len(batch)}).one()
        ids: Sequence[int] = range(first, last + 1) if scattered is None else scattered
        stored: list[Reading] = []
        _copy_in(connection, _COPY_READINGS, _payload(batch, ids, stored))
        # The batch's time span lets the read-back visit only its days' partitions.
        first_time, last_time = time_span(batch)
        span = {"first_time": first_time, "last_time": last_time}
        if scattered is None:
            added = connection.execute(
                rollups.ADD_TO_MINUTES_FROM_ID_RANGE, {"first_id": first, "last_id": last, **span}
            ).all()
        else:
            added = connection.execute(
                rollups.ADD_TO_MINUTES_FROM_IDS, {"ids": list(scattered), **span}
            ).all()
        meters, counts, flagged = (list(column) for column in zip(*added, strict=True))
        connection.execute(
            rollups.ADD_TO_COUNTERS, {"meters": meters, "readings": counts, "flagged": flagged}
        )
        origins = newest_origins(batch)
        if origins:
            connection.execute(
                rollups.RECORD_ORIGINS,
                {
                    "meters": list(origins),
                    "channels": [origin.channel for origin in origins.values()],
                    "formats": [origin.format for origin in origins.values()],
                },
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
            select(*SELECTED).where(table.c.id >= first, table.c.id <= last).order_by(table.c.id)
        )
        return [to_reading(row) for row in connection.execute(query)]

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
        return retention.delete_oldest(self._db, keep, self.partitions)

    def delete_before(self, cutoff: datetime) -> int:
        return retention.delete_before(self._db, cutoff, self.partitions)

    def clear(self) -> None:
        """Remove every reading. Ids keep increasing afterwards, as live readers expect."""
        retention.clear(self._db)
