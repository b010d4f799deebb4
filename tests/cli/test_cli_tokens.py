"""`smartenergy tokens add|list|revoke` on the test PostgreSQL, and its refusal without one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from energy_ui.api import create_api_router
from energy_ui.bootstrap import bootstrap
from energy_ui.cli import app
from energy_ui.settings import Settings
from tests.api.test_api import reading

runner = CliRunner()


def invoke(*arguments: str, expect: int = 0) -> tuple[str, str]:
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == expect, (result.stdout, result.stderr)
    return result.stdout, result.stderr


@pytest.mark.parametrize(
    "arguments", [["tokens", "add", "gw-1"], ["tokens", "list"], ["tokens", "revoke", "gw-1"]]
)
def test_tokens_refuse_without_database_url(monkeypatch, tmp_path, arguments):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ENERGY_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    _, errors = invoke(*arguments, expect=1)
    assert "DATABASE_URL" in errors


@pytest.mark.parametrize("command", ["tokens", "tokens add", "tokens list", "tokens revoke"])
def test_every_tokens_command_has_help(command):
    result = runner.invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.stdout


def forget_tokens(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM tokens_ingesta"))


@pytest.fixture
def database(pg_engine: Engine, pg_database_url: str, monkeypatch, tmp_path) -> Iterator[str]:
    forget_tokens(pg_engine)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", pg_database_url)
    monkeypatch.delenv("ENERGY_INGEST_TOKEN", raising=False)
    yield pg_database_url
    forget_tokens(pg_engine)  # other tests of this session expect none


def token_rows(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT row_to_json(t)::text FROM tokens_ingesta t"))
        return [row[0] for row in rows]


@pytest.mark.postgres
def test_add_prints_the_token_alone_on_stdout_and_stores_only_its_hash(database, pg_engine):
    token, notice = invoke("tokens", "add", "gw-1", "--meters", "gw1-*", "--meters", "m-7")
    token = token.strip()
    assert len(token) >= 40 and "\n" not in token
    assert "gw-1" in notice
    rows = token_rows(pg_engine)
    assert len(rows) == 1
    assert token not in rows[0]
    assert hashlib.sha256(token.encode()).hexdigest() in rows[0]


@pytest.mark.postgres
def test_list_shows_names_patterns_and_dates_but_never_a_token(database):
    first, _ = invoke("tokens", "add", "gw-1", "--meters", "gw1-*,m-7")
    second, _ = invoke("tokens", "add", "reader")
    listed, _ = invoke("tokens", "list")
    assert "gw-1" in listed and "gw1-*, m-7" in listed and "reader" in listed
    assert first.strip() not in listed and second.strip() not in listed
    as_json = json.loads(invoke("tokens", "list", "--json")[0])
    assert [(item["name"], item["meter_patterns"], item["last_used_at"]) for item in as_json] == [
        ("gw-1", ["gw1-*", "m-7"], None),
        ("reader", [], None),
    ]
    assert all(item["created_at"] for item in as_json)
    assert first.strip() not in json.dumps(as_json)


@pytest.mark.postgres
def test_list_with_no_tokens_says_so(database):
    listed, _ = invoke("tokens", "list")
    assert "tokens add" in listed
    assert json.loads(invoke("tokens", "list", "--json")[0]) == []


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("language", "said"),
    [
        (
            "es",
            [
                "aún no hay tokens",
                "se muestra una sola vez",
                "todos los medidores",
                "revocado 'gw-1'",
                "no existe el token 'gw-1'",
            ],
        ),
        (
            "en",
            [
                "no tokens yet",
                "shown once",
                "every meter",
                "revoked 'gw-1'",
                "no token named 'gw-1'",
            ],
        ),
    ],
)
def test_tokens_speak_the_language_of_the_setting(database, monkeypatch, language, said):
    monkeypatch.setenv("ENERGY_LANGUAGE", language)
    printed = "".join(invoke("tokens", "list"))
    printed += "".join(invoke("tokens", "add", "gw-1"))
    printed += "".join(invoke("tokens", "revoke", "gw-1"))
    printed += "".join(invoke("tokens", "revoke", "gw-1", expect=1))
    assert [text for text in said if text not in printed] == []


@pytest.mark.postgres
def test_add_refuses_a_taken_name_a_bad_name_and_a_bad_pattern(database, pg_engine):
    invoke("tokens", "add", "gw-1")
    _, errors = invoke("tokens", "add", "gw-1", expect=1)
    assert "gw-1" in errors and "revoke" in errors
    _, errors = invoke("tokens", "add", "gw 2", expect=1)
    assert "token name" in errors
    _, errors = invoke("tokens", "add", "gw-3", "--meters", "a b", expect=1)
    assert "'a b'" in errors
    assert len(token_rows(pg_engine)) == 1


@pytest.mark.postgres
def test_revoke_removes_it_and_an_unknown_name_is_an_error(database, pg_engine):
    invoke("tokens", "add", "gw-1")
    out, _ = invoke("tokens", "revoke", "gw-1")
    assert "gw-1" in out
    assert token_rows(pg_engine) == []
    _, errors = invoke("tokens", "revoke", "gw-1", expect=1)
    assert "gw-1" in errors


@pytest.mark.postgres
def test_a_token_added_by_the_cli_opens_ingest_of_a_running_app_and_revoke_closes_it(
    database,
):
    serving = bootstrap(Settings(_env_file=None, database_url=database, token_cache_s=0.0))
    try:
        api = FastAPI()
        api.include_router(create_api_router(serving))
        client = TestClient(api)
        token = invoke("tokens", "add", "gw-1", "--meters", "gw1-*")[0].strip()
        headers = {"Authorization": f"Bearer {token}"}
        response = client.post(
            "/api/v1/readings", json=[reading("gw1-a"), reading("m-1")], headers=headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 1
        invoke("tokens", "revoke", "gw-1")
        assert client.post("/api/v1/readings", json=[reading()], headers=headers).status_code == 403
    finally:
        serving.close()
