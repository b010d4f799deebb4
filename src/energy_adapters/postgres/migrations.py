"""Run the schema migrations shipped inside this package, from code or the alembic CLI."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import URL, Engine, func, select

from energy_adapters.postgres.locks import lock_key
from energy_adapters.postgres.urls import open_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
HEAD = "head"
# Several processes may start at once; one migrates while the others wait, then find
# nothing left to do.
_MIGRATION_LOCK = lock_key("smartenergy:migrations")


def alembic_config() -> Config:
    """An Alembic configuration pointing at the migrations inside the installed package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(target: Engine | str | URL, revision: str = HEAD) -> None:
    """Bring the database to ``revision`` (the newest by default). Safe to run at every start."""
    engine = target if isinstance(target, Engine) else open_engine(target)
    try:
        with engine.connect() as connection:
            connection.execute(select(func.pg_advisory_lock(_MIGRATION_LOCK)))
            connection.commit()
            try:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                connection.commit()
            finally:
                connection.rollback()
                connection.execute(select(func.pg_advisory_unlock(_MIGRATION_LOCK)))
                connection.commit()
    finally:
        if engine is not target:
            engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; ``None`` before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """The newest revision shipped with this package."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
