"""``smartenergy evaluate`` and ``smartenergy drill``: typer command functions.

The lead registers them on the main typer app (``app.command()(evaluate)``). They print a
rich table; with ``--json`` the table goes to stderr and stdout holds one line of JSON only,
so that ``| jq`` works. Exit codes as every command: 0 done, 1 bad data (a file missing or
unreadable, a bad label or window: the message names the file, line and column), 2 a usage
error (an option out of range, an unknown detector).

Paths inside the data folder (``./data``, ``ENERGY_DATA_DIR`` or ``--data-dir``) that are not
there are read from ``../shared/data`` when it has them (see ``energy_ui.datasets.resolve``).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from energy_core.detection.drill import run_drill
from energy_core.detection.evaluation import (
    EvaluationError,
    EvaluationOptions,
    Figures,
    evaluate_files,
    load_windows,
)
from energy_core.detection.registry import DEFAULT_DETECTOR, DETECTORS
from energy_ui import datasets
from energy_ui.cli_language import number, say


def _pct(value: float | None) -> str:
    return "—" if value is None else number(100 * value, 1)


def _num(value: float | None) -> str:
    return "—" if value is None else number(value, 3)


def _delay(value: float | None, unit: str) -> str:
    """A median delay in its unit: seconds (``s``) or rows, the latter in the user's language."""
    if value is None:
        return "—"
    return f"{value:g} {say('cli.unit_rows') if unit == 'rows' else unit}"


def _row(name: str, fig: Figures) -> list[str]:
    delay = fig.median_delay
    return [
        name,
        str(fig.rows),
        _pct(fig.anomalous_rows / fig.rows if fig.rows else None),
        _num(fig.roc_auc),
        _num(fig.average_precision),
        _num(fig.precision),
        _num(fig.recall),
        _num(fig.f1),
        _pct(fig.false_alarm_rate),
        _pct(fig.missed_alarm_rate),
        f"{fig.detected_segments}/{fig.segments}",
        _delay(delay, fig.delay_unit),
    ]


def _bad_data(message: object) -> NoReturn:
    typer.echo(f"{say('cli.error')} {message}", err=True)
    raise typer.Exit(code=1)


def _known_detector(name: str) -> str:
    if name not in DETECTORS:
        raise typer.BadParameter(
            say("cli.unknown_detector", name=repr(name), known=", ".join(sorted(DETECTORS))),
            param_hint="--detector",
        )
    return name


def _data_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    from energy_ui.settings import Settings

    try:
        return Settings().data_dir
    except ValueError as error:  # pydantic's ValidationError: a bad ENERGY_* value
        _bad_data(error)


def _existing(paths: list[Path], data_dir: Path | None) -> list[Path]:
    """``paths`` with those missing from the data folder found in the fallback folder; a path
    still missing is bad data, reported with how to fetch its data set."""
    if all(path.exists() for path in paths):
        return paths
    folder = _data_dir(data_dir)
    found = [match for path in paths for match in datasets.resolve(path, folder)]
    for path in found:
        if not path.exists():
            hint = datasets.missing_hint(path, folder)
            _bad_data(say("cli.no_such_file", path=path) + (f"; {hint}" if hint else ""))
    return found


def evaluate(
    files: Annotated[list[Path], typer.Argument(help="Labelled CSV files.")],
    sep: Annotated[str, typer.Option("--sep", help="Column separator.")] = ",",
    time_column: Annotated[
        str | None,
        typer.Option(
            "--time-column",
            help="Time column (default: timestamp, datetime, time or "
            "date, the first present; none: row order).",
        ),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(
            "--label-column", help="0/1 label column (default: anomaly, unless --windows)."
        ),
    ] = None,
    features: Annotated[
        str | None,
        typer.Option(
            "--features",
            help="Comma-separated feature columns (default: every numeric column but the "
            "label, changepoint, time and group columns).",
        ),
    ] = None,
    group_column: Annotated[
        str | None,
        typer.Option(
            "--group-column", help="Column naming a series within a file (default: none)."
        ),
    ] = None,
    train_rows: Annotated[
        int | None,
        typer.Option("--train-rows", help="Rows each file's fit takes (default: by fraction)."),
    ] = None,
    train_fraction: Annotated[
        float | None,
        typer.Option(
            "--train-fraction",
            help="Share of each file the fit takes (default: the probation fraction, else 0.15).",
        ),
    ] = None,
    windows: Annotated[
        Path | None,
        typer.Option(
            "--windows",
            help="Label windows JSON keyed by file name (default: none, labels in a column).",
        ),
    ] = None,
    probation_fraction: Annotated[
        float | None,
        typer.Option(
            "--probation-fraction",
            help="Leading share learnt and never scored, as NAB's (default: none).",
        ),
    ] = None,
    detector: Annotated[str, typer.Option("--detector")] = DEFAULT_DETECTOR,
    holidays: Annotated[
        str | None,
        typer.Option(
            "--holidays",
            help="Country code of the public-holiday calendar (ES, US-CA…): temporal "
            "detectors compare holidays with Sundays (default: none).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only one JSON line on stdout (table on stderr).")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Data folder (default: ENERGY_DATA_DIR, else ./data)."),
    ] = None,
) -> None:
    """Fit on each file's leading part, score the rest, report at the detector's own threshold."""
    console = Console(width=160, stderr=as_json)
    try:
        options = EvaluationOptions(
            sep=sep,
            time_column=time_column,
            label_column=label_column,
            features=tuple(f.strip() for f in features.split(",") if f.strip())
            if features
            else None,
            group_column=group_column,
            train_rows=train_rows,
            train_fraction=train_fraction,
            probation_fraction=probation_fraction,
            detector=_known_detector(detector),
            holidays=holidays,
        )
    except EvaluationError as error:
        raise typer.BadParameter(str(error)) from None
    try:
        if windows is not None:
            [windows_file] = _existing([windows], data_dir)
            options = replace(options, windows=load_windows(windows_file))
        report = evaluate_files(_existing(files, data_dir), options)
    except (EvaluationError, ValueError) as error:
        _bad_data(error)
    table = Table(title=say("cli.evaluate_title", detector=report.detector))
    for header in (
        say("cli.column_file"),
        say("cli.column_rows"),
        say("cli.column_anomalous_share"),
        "ROC-AUC",
        "AP",
        say("cli.column_precision"),
        say("cli.column_recall"),
        "F1",
        "FAR %",
        "MAR %",
        say("cli.column_segments"),
        say("cli.column_delay"),
    ):
        table.add_column(header)
    for name, fig in report.files.items():
        table.add_row(*_row(Path(name).name, fig))
    table.add_row(*_row(say("cli.pooled"), report.pooled), style="bold")
    console.print(table)
    if as_json:
        typer.echo(report.to_json())


def drill(
    detector: Annotated[str, typer.Option("--detector")] = DEFAULT_DETECTOR,
    meters: Annotated[int, typer.Option("--meters", min=1)] = 2,
    plugs: Annotated[
        int,
        typer.Option(
            "--plugs", min=0, help="Add simulated smart plugs (no motor temperature) to the meters."
        ),
    ] = 0,
    training_readings: Annotated[int, typer.Option("--training-readings", min=2)] = 4_000,
    drill_readings: Annotated[int, typer.Option("--drill-readings", min=1)] = 2_000,
    anomaly_ratio: Annotated[float, typer.Option("--anomaly-ratio", min=0.0, max=1.0)] = 0.02,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only one JSON line on stdout (table on stderr).")
    ] = False,
) -> None:
    """Inject each simulated fault kind alone and report recall, false alarms and delay."""
    try:
        report = run_drill(
            detector=_known_detector(detector),
            meters=meters,
            plugs=plugs,
            training_readings=training_readings,
            drill_readings=drill_readings,
            anomaly_ratio=anomaly_ratio,
            seed=seed,
        )
    except ValueError as error:  # every input of the drill is an option
        raise typer.BadParameter(str(error)) from None
    table = Table(title=say("cli.drill_title", detector=report.detector))
    for header in (
        say("cli.column_fault"),
        say("cli.column_anomalous"),
        say("cli.column_recall"),
        say("cli.column_false_alarms"),
        "FAR %",
        say("cli.column_delay_s"),
    ):
        table.add_column(header)
    for result in report.results:
        table.add_row(
            result.kind,
            str(result.anomalous),
            _num(result.recall),
            str(result.false_alarms),
            _pct(result.false_alarm_rate),
            "—" if result.median_delay_s is None else f"{result.median_delay_s:g}",
        )
    Console(width=120, stderr=as_json).print(table)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), separators=(",", ":")))
