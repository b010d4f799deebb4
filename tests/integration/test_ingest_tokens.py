"""Named ingest tokens on real PostgreSQL: two app instances (two processes' worth of state)
share one database; a token added or revoked through one is honoured by the other without a
restart, and the table keeps no token in clear."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from energy_ui.api import create_api_router
from energy_ui.api.tokens import issue_token
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.settings import Settings
from tests.api.test_api import reading
from tests.cli.test_cli_tokens import forget_tokens
from tests.postgres_support import truncate_all

pytestmark = pytest.mark.postgres
LEGACY = "legacy-shared-token"
REVOKE_DEADLINE_S = 15.0
"""Generous: the cache is 2 s; this only bounds a hung test."""


@pytest.fixture
def instances(pg_engine: Engine, pg_database_url: str) -> Iterator[tuple[Application, ...]]:
    truncate_all(pg_engine)
    forget_tokens(pg_engine)
    settings = Settings(_env_file=None, database_url=pg_database_url, ingest_token=LEGACY)
    admin, serving = bootstrap(settings), bootstrap(settings)  # default 2 s token cache
    yield admin, serving
    admin.close()
    serving.close()
    forget_tokens(pg_engine)  # other tests of this session expect none


def client_of(application: Application) -> TestClient:
    api = FastAPI()
    api.include_router(create_api_router(application))
    return TestClient(api)


def post(client: TestClient, token: str, batch: list[dict]) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    return client.post("/api/v1/readings", json=batch, headers=headers).status_code


def wait_for_status(client: TestClient, token: str, expected: int) -> int:
    """Post until the answer is ``expected`` (the other instance's cache expiring)."""
    deadline = time.monotonic() + REVOKE_DEADLINE_S
    seconds = 100
    while True:
        seconds += 1
        status = post(client, token, [reading("gw1-a", seconds=seconds)])
        if status == expected or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


def test_add_use_and_revoke_across_instances_without_restart(instances, pg_engine):
    admin, serving = instances
    client = client_of(serving)
    assert post(client, LEGACY, [reading("m-0", seconds=1)]) == 200  # the cache is now warm

    token, _ = issue_token(admin.ingest_tokens, "gw-1", ["gw1-*"], now=admin.monitor.clock.now())
    assert wait_for_status(client, token, 200) == 200

    batch = [reading("gw1-b", seconds=2), reading("m-9", seconds=3)]
    response = client.post(
        "/api/v1/readings", json=batch, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert [(r["index"], r["field"], r["value"]) for r in response.json()["rejected"]] == [
        (1, "meter_id", "m-9")
    ]
    stored = {r.meter_id for r in admin.monitor.queries.latest(100, None)}
    assert "m-9" not in stored and "gw1-b" in stored

    assert admin.ingest_tokens.revoke("gw-1")
    assert wait_for_status(client, token, 401) == 401
    assert post(client, LEGACY, [reading("m-0", seconds=4)]) == 200  # still open to it


def test_the_table_holds_only_the_hash_of_each_token(instances, pg_engine):
    admin, _ = instances
    tokens = [
        issue_token(admin.ingest_tokens, f"gw-{n}", [], now=admin.monitor.clock.now())[0]
        for n in range(3)
    ]
    with pg_engine.connect() as connection:
        rows = [
            row[0]
            for row in connection.execute(text("SELECT row_to_json(t)::text FROM tokens_ingesta t"))
        ]
        digests = set(connection.execute(text("SELECT token_sha256 FROM tokens_ingesta")).scalars())
    assert len(rows) == 3
    dump = "\n".join(rows)
    for token in tokens:
        assert token not in dump
        assert token[3:20] not in dump  # not even a recognisable piece of it
    assert {hashlib.sha256(token.encode()).hexdigest() for token in tokens} == digests


def test_last_use_reaches_the_database(instances, pg_engine):
    admin, serving = instances
    token, _ = issue_token(admin.ingest_tokens, "gw-1", [], now=admin.monitor.clock.now())
    assert wait_for_status(client_of(serving), token, 200) == 200
    [record] = admin.ingest_tokens.tokens()
    assert record.last_used_at is not None
