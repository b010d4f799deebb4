"""``smartenergy evaluate`` and ``smartenergy drill``: typer command functions.

The lead registers them on the main typer app (``app.command()(evaluate)``); they print a
rich table and, with ``--json``, end with one line holding one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from energy_core.detectors import DEFAULT_DETECTOR
from energy_core.drill import run_drill
from energy_core.evaluation import (
    EvaluationError,
    EvaluationOptions,
    Figures,
    evaluate_files,
    load_windows,
)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


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
        "—" if delay is None else f"{delay:g} {fig.delay_unit}",
    ]


def evaluate(
    files: Annotated[list[Path], typer.Argument(help="Labelled CSV files.")],
    sep: Annotated[str, typer.Option("--sep", help="Column separator.")] = ",",
    time_column: Annotated[str | None, typer.Option("--time-column")] = None,
    label_column: Annotated[str | None, typer.Option("--label-column")] = None,
    features: Annotated[
        str | None, typer.Option("--features", help="Comma-separated feature columns.")
    ] = None,
    group_column: Annotated[str | None, typer.Option("--group-column")] = None,
    train_rows: Annotated[int | None, typer.Option("--train-rows")] = None,
    train_fraction: Annotated[float | None, typer.Option("--train-fraction")] = None,
    windows: Annotated[
        Path | None, typer.Option("--windows", help="Label windows JSON keyed by file name.")
    ] = None,
    probation_fraction: Annotated[float | None, typer.Option("--probation-fraction")] = None,
    detector: Annotated[str, typer.Option("--detector")] = DEFAULT_DETECTOR,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Fit on each file's leading part, score the rest, report at the detector's own threshold."""
    console = Console(width=160)
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
            windows=load_windows(windows) if windows else None,
            probation_fraction=probation_fraction,
            detector=detector,
        )
        report = evaluate_files(files, options)
    except (EvaluationError, ValueError) as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    table = Table(title=f"Detector {report.detector}: scored rows at its own threshold")
    for header in (
        "file",
        "rows",
        "anomalous %",
        "ROC-AUC",
        "AP",
        "precision",
        "recall",
        "F1",
        "FAR %",
        "MAR %",
        "segments found",
        "median delay",
    ):
        table.add_column(header)
    for name, fig in report.files.items():
        table.add_row(*_row(Path(name).name, fig))
    table.add_row(*_row("pooled", report.pooled), style="bold")
    console.print(table)
    if as_json:
        typer.echo(report.to_json())


def drill(
    detector: Annotated[str, typer.Option("--detector")] = DEFAULT_DETECTOR,
    meters: Annotated[int, typer.Option("--meters")] = 2,
    training_readings: Annotated[int, typer.Option("--training-readings")] = 4_000,
    drill_readings: Annotated[int, typer.Option("--drill-readings")] = 2_000,
    anomaly_ratio: Annotated[float, typer.Option("--anomaly-ratio")] = 0.02,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """Inject each simulated fault kind alone and report recall, false alarms and delay."""
    try:
        report = run_drill(
            detector=detector,
            meters=meters,
            training_readings=training_readings,
            drill_readings=drill_readings,
            anomaly_ratio=anomaly_ratio,
            seed=seed,
        )
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=2) from None
    table = Table(title=f"Fire drill, detector {report.detector}")
    for header in ("kind", "anomalous", "recall", "false alarms", "FAR %", "median delay s"):
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
    Console(width=120).print(table)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), separators=(",", ":")))
