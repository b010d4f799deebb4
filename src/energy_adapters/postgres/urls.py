"""Database URLs: parse, describe without the password, open an engine, explain failures.

Every failure to reach the server becomes a :class:`DatabaseUnavailableError` whose text is
one line naming the host and the database, so a CLI or a dashboard can show it as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import sqlalchemy.exc
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
_MASK = "***"
# SQLSTATE classes and codes that mean "the server is gone or not ready", not "your query failed".
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")


class DatabaseUnavailableError(ConnectionError):
    """The database cannot be used: a malformed URL or a server that does not answer.

    ``str()`` is one line naming the host and the database, the password masked.
    """

    def __init__(self, message: str) -> None:
        super().__init__(_one_line(message))


def _one_line(message: str) -> str:
    return " ".join(message.split())


def mask_password(raw: str) -> str:
    """``raw`` with whatever sits between ``user:`` and ``@`` replaced by ``***``."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", rf"\g<1>{_MASK}@", raw)


def parse_url(url: str | URL) -> URL:
    """``url`` as a SQLAlchemy URL for the psycopg2 driver; ``postgres://`` is accepted too."""
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError) as error:
        shown = mask_password(str(url))
        raise DatabaseUnavailableError(f"malformed database URL {shown!r}: {error}") from None
    if parsed.get_backend_name() not in ("postgresql", "postgres"):
        raise DatabaseUnavailableError(
            f"not a PostgreSQL URL: {describe_url(parsed)}"
            " (expected postgresql://user:password@host:port/database)"
        )
    return parsed.set(drivername="postgresql+psycopg2")


def describe_url(url: str | URL) -> str:
    """``postgresql://user:***@host:port/database``: safe to log and to show to people."""
    try:
        parsed = make_url(url)
    except (sqlalchemy.exc.ArgumentError, ValueError):
        return mask_password(str(url))
    user = parsed.username or ""
    credentials = f"{user}:{_MASK}@" if parsed.password else (f"{user}@" if user else "")
    host = parsed.host or "localhost"
    port = parsed.port or 5432
    return f"postgresql://{credentials}{host}:{port}/{parsed.database or ''}"


def _where(url: URL) -> str:
    return f"database {url.database or '?'!r} on {url.host or 'localhost'}:{url.port or 5432}"


def is_unavailability(error: BaseException) -> bool:
    """Whether ``error`` says the server cannot be reached (rather than a query failing).

    Understands SQLAlchemy's wrapped errors and psycopg2's own (raised by COPY, which runs
    on the raw driver connection).
    """
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
    if isinstance(error, psycopg2.InterfaceError):
        return True  # "connection already closed"
    if not isinstance(error, psycopg2.OperationalError):
        return False
    code = error.pgcode
    return code is None or str(code).startswith(_UNAVAILABLE_SQLSTATES)


def unavailable(url: URL, error: BaseException) -> DatabaseUnavailableError:
    """The one-line error for ``error`` met while talking to ``url``."""
    reason = str(getattr(error, "orig", None) or error)
    return DatabaseUnavailableError(
        f"cannot use PostgreSQL {_where(url)} ({describe_url(url)}): {reason}"
    )


def _set_utc(dbapi_connection: object, _record: object) -> None:
    # Timestamps come back as aware UTC datetimes and date_bin/date_trunc never depend on
    # the server's or the client's time zone.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("SET TIME ZONE 'UTC'")
    cursor.close()


def open_engine(
    url: str | URL,
    *,
    pool_size: int = 5,
    connect_timeout: int = 5,
    application_name: str = "smartenergy",
    check: bool = True,
) -> Engine:
    """An engine for ``url`` whose sessions run in UTC; with ``check``, one round trip first.

    Raises :class:`DatabaseUnavailableError` for a malformed URL or a server that cannot be
    reached within ``connect_timeout`` seconds.
    """
    parsed = parse_url(url)
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=pool_size,
        # After a server restart pooled connections are dead; test them on checkout.
        pool_pre_ping=True,
        connect_args={
            "connect_timeout": connect_timeout,
            "application_name": application_name,
            "keepalives": 1,
            "keepalives_idle": 30,
        },
    )
    event.listen(engine, "connect", _set_utc)
    if check:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except sqlalchemy.exc.DBAPIError as error:
            engine.dispose()
            raise unavailable(parsed, error) from None
    return engine


class Database:
    """An engine plus one-line errors: every adapter talks to PostgreSQL through this."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction, committed on success, rolled back on error."""
        with self._translated(), self.engine.begin() as connection:
            yield connection

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A connection for reads (its implicit transaction is rolled back at the end)."""
        with self._translated(), self.engine.connect() as connection:
            yield connection

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (sqlalchemy.exc.DBAPIError, psycopg2.Error) as error:
            if is_unavailability(error):
                raise unavailable(self.engine.url, error) from error
            raise
