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
from rich.table import Table

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
        err.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from None


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
    table = Table(title=f"datos / data sets in {folder}")
    for header in ("name", "state", "files ok", "MB", "license", "source"):
        table.add_column(header)
    for row in rows:
        data = DATASETS[row["name"]]
        table.add_row(
            row["name"],
            row["state"],
            f"{row['verified']}/{row['files']}",
            f"{row['bytes'] / 1e6:.1f}",
            row["license"],
            f"{data.repository}@{data.commit[:7]}",
        )
    out.print(table)
    for row in rows:
        if row["modified"]:
            out.print(
                f"{row['name']}: modified: {', '.join(row['modified'])} "
                f"(`smartenergy datasets fetch {row['name']}` replaces them)",
                highlight=False,
            )
        if row["fallback"]:
            out.print(f"{row['name']}: complete in {row['fallback']}", highlight=False)
        elif row["state"] != "complete":
            out.print(
                f"{row['name']}: `smartenergy datasets fetch {row['name']}` ({row['source']})",
                highlight=False,
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
        if item.outcome != "present":
            err.print(f"{item.outcome}: {item.path}", highlight=False)

    for data in chosen:
        try:
            done = fetch(data, folder, base_url=mirror, on_file=show)
        except DatasetError as error:
            err.print(f"[red]error:[/red] {error}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("interrumpido / interrupted (no partial file kept)")
            raise typer.Exit(130) from None
        fetched = sum(item.outcome != "present" for item in done)
        size = sum(item.size for item in done)
        out.print(
            f"{data.name}: {len(done)} ficheros / files verified (SHA-256), {fetched} "
            f"descargados / downloaded, {size / 1e6:.1f} MB → {folder / data.name} "
            f"({data.license}, {data.homepage})",
            highlight=False,
        )
