"""PostgreSQL advisory locks: one holder at a time across every process sharing a database."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy.exc
from sqlalchemy import Engine, func, select

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (the same in every process and release)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


@contextmanager
def advisory_lock(engine: Engine, name: str) -> Iterator[bool]:
    """Try once to take the lock called ``name``; yield whether this process holds it.

    Never waits: a second holder gets ``False`` at once (e.g. a second ``auto-train`` loop
    should exit). The lock lives on one dedicated connection in autocommit mode, so no
    transaction stays open while it is held; it is released on exit, and by the server if
    the process or the connection dies.
    """
    key = lock_key(name)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        acquired = bool(connection.execute(select(func.pg_try_advisory_lock(key))).scalar_one())
        try:
            yield acquired
        finally:
            if acquired:
                try:
                    connection.execute(select(func.pg_advisory_unlock(key)))
                except sqlalchemy.exc.DBAPIError:
                    # The connection is gone, and the server released the lock with it.
                    log.warning("advisory lock %r: connection lost before unlocking", name)
                    connection.invalidate()
