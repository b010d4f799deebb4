"""Alembic environment: runs on the connection ``upgrade()`` hands over, or on a URL.

With the ``alembic`` command line (``alembic.ini`` at the repository root) the URL comes
from ``-x url=...``, else ``DATABASE_URL``, else the ini file's ``sqlalchemy.url``.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from energy_adapters.postgres.urls import parse_url

config = context.config
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def run_on(connection: Connection) -> None:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        run_on(given)
        return
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or os.environ.get("DATABASE_URL")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise SystemExit("no database URL: pass -x url=... or set DATABASE_URL")
    engine = create_engine(parse_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        run_on(connection)


main()
