from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from tests.postgres_support import (
    check_server,
    scratch_database,
    server_url,
    truncate_all,
    unavailable,
)

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=30, deadline=None)
settings.load_profile("ci")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """The PostgreSQL server the tests may use (skip, or fail under CI, without one)."""
    url = server_url()
    problem = check_server(url)
    if problem is not None:
        unavailable(problem)
    return url


@pytest.fixture(scope="session")
def pg_database_url(pg_server_url: str) -> Iterator[str]:
    """A database of this test session's own, migrated to the newest revision."""
    from energy_adapters.postgres import upgrade

    with scratch_database(pg_server_url) as url:
        upgrade(url)
        yield url


@pytest.fixture(scope="session")
def pg_engine(pg_database_url: str) -> Iterator[Engine]:
    from energy_adapters.postgres import open_engine

    engine = open_engine(pg_database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_stores(pg_engine: Engine) -> Iterator[object]:
    """Every PostgreSQL adapter on emptied tables, with a change feed of the test's own."""
    from energy_adapters.postgres import build_stores

    truncate_all(pg_engine)
    stores = build_stores(pg_engine, owns_engine=False)
    yield stores
    stores.close()
