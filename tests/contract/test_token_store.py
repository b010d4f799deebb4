"""The token store's contract, the same for memory and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, text

from energy_adapters.tokens import ActiveToken, IngestToken, MemoryTokenStore, TokenExistsError
from tests.strategies import BASE

DIGEST_A = "a" * 64
DIGEST_B = "b" * 64


def _postgres(request: pytest.FixtureRequest) -> Iterator[object]:
    from energy_adapters.postgres.tokens import PostgresTokenStore

    engine: Engine = request.getfixturevalue("pg_engine")
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM tokens_ingesta"))
    yield PostgresTokenStore(engine)
    with engine.begin() as connection:  # other tests of this session expect none
        connection.execute(text("DELETE FROM tokens_ingesta"))


def _memory(request: pytest.FixtureRequest) -> Iterator[object]:
    yield MemoryTokenStore()


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def tokens(request: pytest.FixtureRequest) -> Iterator[object]:
    factory = {"memory": _memory, "postgres": _postgres}[request.param]
    yield from factory(request)


def test_added_tokens_are_listed_by_name_without_their_digest(tokens):
    added = tokens.add("gw-2", DIGEST_B, ("m-*", "x"), created_at=BASE)
    tokens.add("gw-1", DIGEST_A, (), created_at=BASE + timedelta(minutes=1))
    assert IngestToken("gw-2", ("m-*", "x"), BASE, None) == added
    assert [
        IngestToken("gw-1", (), BASE + timedelta(minutes=1), None),
        IngestToken("gw-2", ("m-*", "x"), BASE, None),
    ] == tokens.tokens()
    assert DIGEST_A not in repr(tokens.tokens())


def test_active_tokens_carry_the_digest_for_verification(tokens):
    tokens.add("gw-1", DIGEST_A, ("m-*",), created_at=BASE)
    assert [ActiveToken("gw-1", DIGEST_A, ("m-*",))] == tokens.active()


def test_a_name_is_unique(tokens):
    tokens.add("gw-1", DIGEST_A, (), created_at=BASE)
    with pytest.raises(TokenExistsError, match="gw-1"):
        tokens.add("gw-1", DIGEST_B, (), created_at=BASE)
    assert [entry.digest for entry in tokens.active()] == [DIGEST_A]


def test_a_digest_is_unique(tokens):
    tokens.add("gw-1", DIGEST_A, (), created_at=BASE)
    with pytest.raises(TokenExistsError):
        tokens.add("gw-2", DIGEST_A, (), created_at=BASE)
    assert [entry.name for entry in tokens.tokens()] == ["gw-1"]


def test_revoke_removes_the_token_and_says_whether_there_was_one(tokens):
    tokens.add("gw-1", DIGEST_A, (), created_at=BASE)
    tokens.add("gw-2", DIGEST_B, (), created_at=BASE)
    assert tokens.revoke("gw-1") is True
    assert tokens.revoke("gw-1") is False
    assert [entry.name for entry in tokens.active()] == ["gw-2"]
    tokens.add("gw-1", DIGEST_A, ("again",), created_at=BASE)
    assert tokens.tokens()[0].meter_patterns == ("again",)


def test_touch_records_the_latest_use_by_digest(tokens):
    tokens.add("gw-1", DIGEST_A, (), created_at=BASE)
    tokens.add("gw-2", DIGEST_B, (), created_at=BASE)
    later = BASE + timedelta(hours=1)
    tokens.touch({DIGEST_A: later, "c" * 64: later})
    tokens.touch({DIGEST_A: BASE + timedelta(minutes=1)})  # older: ignored
    assert {"gw-1": later, "gw-2": None} == {t.name: t.last_used_at for t in tokens.tokens()}
    tokens.touch({})
