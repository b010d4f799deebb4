"""Named ingest tokens on PostgreSQL: table ``tokens_ingesta`` (migration 0005), digests only.

Every process serving the API reads this table (through a short cache), so a token added or
revoked by ``smartenergy tokens`` anywhere is honoured everywhere without a restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy.exc
from sqlalchemy import (
    ARRAY,
    Column,
    DateTime,
    Engine,
    MetaData,
    Row,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from energy_adapters.postgres.urls import Database
from energy_adapters.tokens import ActiveToken, IngestToken, taken

# A MetaData of its own: the table is created by migration 0005, never from here.
tokens_table = Table(
    "tokens_ingesta",
    MetaData(),
    Column("name", Text, primary_key=True),
    Column("token_sha256", Text, nullable=False, unique=True),
    Column("meter_patterns", ARRAY(Text), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used_at", DateTime(timezone=True)),
)
_UNIQUE_VIOLATION = "23505"


def _record(row: Row[Any]) -> IngestToken:
    return IngestToken(
        name=row.name,
        meter_patterns=tuple(row.meter_patterns),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
    )


class PostgresTokenStore:
    """``TokenStore`` on PostgreSQL."""

    def __init__(self, database: Database | Engine) -> None:
        self._db = database if isinstance(database, Database) else Database(database)

    def add(
        self, name: str, digest: str, meter_patterns: Sequence[str], *, created_at: datetime
    ) -> IngestToken:
        statement = (
            insert(tokens_table)
            .values(
                name=name,
                token_sha256=digest,
                meter_patterns=list(meter_patterns),
                created_at=created_at,
            )
            .returning(*tokens_table.c)
        )
        try:
            with self._db.transaction() as connection:
                return _record(connection.execute(statement).one())
        except sqlalchemy.exc.IntegrityError as error:
            if getattr(error.orig, "pgcode", None) == _UNIQUE_VIOLATION:
                raise taken(name) from None
            raise

    def tokens(self) -> list[IngestToken]:
        query = select(tokens_table).order_by(tokens_table.c.name)
        with self._db.connection() as connection:
            return [_record(row) for row in connection.execute(query)]

    def revoke(self, name: str) -> bool:
        statement = delete(tokens_table).where(tokens_table.c.name == name)
        with self._db.transaction() as connection:
            return connection.execute(statement).rowcount > 0

    def active(self) -> list[ActiveToken]:
        query = select(
            tokens_table.c.name, tokens_table.c.token_sha256, tokens_table.c.meter_patterns
        ).order_by(tokens_table.c.name)
        with self._db.connection() as connection:
            return [
                ActiveToken(row.name, row.token_sha256, tuple(row.meter_patterns))
                for row in connection.execute(query)
            ]

    def touch(self, used: Mapping[str, datetime]) -> None:
        if not used:
            return
        # GREATEST ignores NULL: the first use sets it, an older moment never replaces it.
        statement = (
            update(tokens_table)
            .where(tokens_table.c.token_sha256 == bindparam("digest"))
            .values(last_used_at=func.greatest(tokens_table.c.last_used_at, bindparam("at")))
        )
        rows = [{"digest": digest, "at": moment} for digest, moment in used.items()]
        with self._db.transaction() as connection:
            connection.execute(statement, rows)
