"""``smartenergy tokens add|list|revoke``: named HTTP ingest tokens, one per gateway or device.

Tokens live in the shared database (table ``tokens_ingesta``, SHA-256 digests only), so every
process serving the API honours an added or revoked token within ``ENERGY_TOKEN_CACHE_S``
seconds, without a restart. Without ``DATABASE_URL`` the commands refuse: a token kept in
this command's memory would vanish with it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from energy_adapters.tokens import TokenStore
from energy_ui.api.tokens import issue_token
from energy_ui.bootstrap import Application, DatabaseError, bootstrap
from energy_ui.cli_language import say
from energy_ui.settings import Settings

tokens_app = typer.Typer(
    name="tokens",
    help="Named HTTP ingest tokens, one per gateway or device / tokens de ingesta con nombre.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@contextmanager
def _store() -> Iterator[tuple[TokenStore, Application]]:
    """The token store of the shared database; errors as one line and exit 1."""
    try:
        settings = Settings()
        if not settings.database_url:
            raise DatabaseError(say("cli.needs_database", command="tokens"))
        application = bootstrap(settings)
    except (DatabaseError, ValueError) as error:
        err.print(f"[red]{say('cli.error')}[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    try:
        yield application.ingest_tokens, application
    except (DatabaseError, ValueError) as error:  # TokenExistsError is a ValueError
        err.print(f"[red]{say('cli.error')}[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        application.close()


def _when(moment: datetime | None) -> str:
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


@tokens_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="the gateway's or device's name, e.g. gw-north")],
    meters: Annotated[
        list[str] | None,
        typer.Option(
            "--meters",
            help="meter-id glob this token may write, e.g. 'gw1-*' (quote it); repeatable or "
            "comma-separated; none: every meter",
        ),
    ] = None,
) -> None:
    """Create a token and print it once (on stdout, alone); only its SHA-256 is stored."""
    patterns = [part.strip() for given in meters or () for part in given.split(",")]
    with _store() as (store, application):
        token, record = issue_token(store, name, patterns, now=application.monitor.clock.now())
    scope = ", ".join(record.meter_patterns) or say("cli.token_every_meter")
    err.print(
        say("cli.token_added", name=repr(record.name), scope=scope), highlight=False, markup=False
    )
    out.print(token, highlight=False, markup=False)


@tokens_app.command("list")
def list_tokens(
    as_json: Annotated[bool, typer.Option("--json", help="one JSON array on stdout")] = False,
) -> None:
    """Every token: name, meter patterns, created, last used (never the token)."""
    with _store() as (store, _):
        records = store.tokens()
    if as_json:
        rows = [
            {
                "name": record.name,
                "meter_patterns": list(record.meter_patterns),
                "created_at": record.created_at.isoformat(),
                "last_used_at": record.last_used_at and record.last_used_at.isoformat(),
            }
            for record in records
        ]
        out.print(json.dumps(rows), highlight=False, markup=False)
        return
    if not records:
        out.print(say("cli.no_tokens"), highlight=False, markup=False)
        return
    table = Table(title=say("cli.tokens_title"))
    for column in (
        "cli.column_name",
        "cli.column_meters",
        "cli.column_created",
        "cli.column_last_used",
    ):
        table.add_column(say(column))
    for record in records:
        table.add_row(
            escape(record.name),
            escape(", ".join(record.meter_patterns)) or escape(say("cli.token_all_meters")),
            _when(record.created_at),
            _when(record.last_used_at),
        )
    out.print(table)


@tokens_app.command("revoke")
def revoke(name: Annotated[str, typer.Argument(help="the token's name")]) -> None:
    """Revoke a token: every process refuses it within ENERGY_TOKEN_CACHE_S seconds."""
    with _store() as (store, application):
        revoked = store.revoke(name)
        seconds = application.settings.token_cache_s
    if not revoked:
        unknown = say("cli.token_unknown", name=repr(name))
        err.print(f"[red]{say('cli.error')}[/red] {escape(unknown)}", highlight=False)
        raise typer.Exit(1)
    out.print(
        say("cli.token_revoked", name=repr(name), seconds=f"{seconds:g}"),
        highlight=False,
        markup=False,
    )
