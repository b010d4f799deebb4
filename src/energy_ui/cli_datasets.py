"""``smartenergy datasets list|fetch``: the public labelled data sets, pinned and checked.

Registered on the main typer app as ``app.add_typer(datasets_app, name="datasets")``. Exit codes
as every command: 0 done, 1 a download or check failed (one line on stderr, naming the file and
the URL), 2 a usage error (e.g. an unknown data set), 130 interrupted (no partial file is left).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from energy_ui.cli_language import number, say
from energy_ui.datasets import (
    DATASETS,
    FALLBACK_DATA_DIR,
    DatasetError,
    Fetched,
    dataset,
    fetch,
    states,
)
from energy_ui.settings import Settings

datasets_app = typer.Typer(
    name="datasets",
    help="Datos etiquetados públicos para evaluar detectores / "
    "public labelled data sets to evaluate detectors (SKAB, NAB).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="data folder (default: ENERGY_DATA_DIR, else ./data)"),
]


def _settings() -> Settings:
    try:
        return Settings()
    except ValueError as error:  # pydantic's ValidationError: a bad ENERGY_* value
        err.print(f"[red]{say('cli.error')}[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None


STATES = {
    "complete": "cli.dataset_complete",
    "partial": "cli.dataset_partial",
    "missing": "cli.dataset_missing",
}
"""A data set's state in ``datasets list --json`` → its name in the table."""
OUTCOMES = {"downloaded": "cli.file_downloaded", "replaced": "cli.file_replaced"}


@datasets_app.command("list")
def list_datasets(
    data_dir: DataDirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Show each data set, its source and licence, and what the data folder holds of it."""
    folder = data_dir or _settings().data_dir
    rows: list[dict[str, Any]] = []
    for data in DATASETS.values():
        found = states(folder, data)
        ok = sum(state == "ok" for state in found.values())
        modified = sorted(path for path, state in found.items() if state == "modified")
        fallback = (
            FALLBACK_DATA_DIR / data.name
            if ok < len(found) and all(s == "ok" for s in states(FALLBACK_DATA_DIR, data).values())
            else None
        )
        rows.append(
            {
                "name": data.name,
                "title": data.title,
                "state": "complete" if ok == len(found) else ("partial" if ok else "missing"),
                "files": len(found),
                "verified": ok,
                "modified": modified,
                "bytes": sum(
                    (folder / data.name / path).stat().st_size
                    for path, state in found.items()
                    if state == "ok"
                ),
                "folder": str(folder / data.name),
                "fallback": None if fallback is None else str(fallback),
                "license": data.license,
                "source": data.homepage,
            }
        )
    if as_json:
        typer.echo(json.dumps({"data_dir": str(folder), "datasets": rows}))
        return
    table = Table(title=escape(say("cli.datasets_title", folder=folder)))
    for header in (
        say("cli.column_name"),
        say("cli.column_state"),
        say("cli.column_files_ok"),
        "MB",
        say("cli.column_license"),
        say("cli.column_source"),
    ):
        table.add_column(header)
    for row in rows:
        data = DATASETS[row["name"]]
        table.add_row(
            row["name"],
            say(STATES[row["state"]]),
            f"{row['verified']}/{row['files']}",
            number(row["bytes"] / 1e6, 1),
            row["license"],
            f"{data.repository}@{data.commit[:7]}",
        )
    out.print(table)
    for row in rows:
        if row["modified"]:
            out.print(
                say("cli.dataset_modified", name=row["name"], files=", ".join(row["modified"])),
                highlight=False,
                markup=False,
            )
        if row["fallback"]:
            out.print(
                say("cli.dataset_fallback", name=row["name"], folder=row["fallback"]),
                highlight=False,
                markup=False,
            )
        elif row["state"] != "complete":
            out.print(
                say("cli.dataset_fetch_hint", name=row["name"], source=row["source"]),
                highlight=False,
                markup=False,
            )


@datasets_app.command("fetch")
def fetch_datasets(
    names: Annotated[
        list[str], typer.Argument(metavar="NAME", help=f"data sets: {', '.join(DATASETS)}")
    ],
    data_dir: DataDirOption = None,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="a mirror laid out like the data folder (default: ENERGY_DATASETS_BASE_URL, "
            "else each data set's public source)",
        ),
    ] = None,
) -> None:
    """Download data sets from their public sources, pinned by commit, checking every file's
    SHA-256; files already there and verified are kept."""
    try:
        chosen = [dataset(name) for name in dict.fromkeys(names)]
    except KeyError as error:
        raise typer.BadParameter(str(error.args[0]), param_hint="NAMES") from None
    settings = _settings() if data_dir is None or base_url is None else None
    folder = data_dir or (settings.data_dir if settings else Path("data"))
    mirror = base_url or (settings.datasets_base_url if settings else None)

    def show(item: Fetched) -> None:
        if item.outcome in OUTCOMES:
            err.print(say(OUTCOMES[item.outcome], path=item.path), highlight=False, markup=False)

    for data in chosen:
        try:
            done = fetch(data, folder, base_url=mirror, on_file=show)
        except DatasetError as error:
            err.print(f"[red]{say('cli.error')}[/red] {escape(str(error))}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print(say("cli.interrupted_download"), highlight=False, markup=False)
            raise typer.Exit(130) from None
        fetched = sum(item.outcome != "present" for item in done)
        size = sum(item.size for item in done)
        out.print(
            say(
                "cli.fetched",
                name=data.name,
                files=len(done),
                downloaded=fetched,
                size=number(size / 1e6, 1),
                folder=folder / data.name,
                license=data.license,
                source=data.homepage,
            ),
            highlight=False,
            markup=False,
        )
