"""`smartenergy` / `python -m energy_ui`: every workflow as a subcommand.

Exit codes: `ExitCode` (the README's list of them is generated from `EXIT_CODES`).
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from energy_core import IngestReport, NoModelError, Reading, ReadingFilter, RejectedBatchError
from energy_core.telemetry.catalogue import Language
from energy_core.usecases.retry_buffer import RetryBuffer
from energy_ui import cli_language, csv_io
from energy_ui.bootstrap import (
    AlreadyRunningError,
    Application,
    DatabaseError,
    bootstrap,
    prepare_database,
    unavailable_errors,
)
from energy_ui.cli_alerts import alerts_app
from energy_ui.cli_datasets import datasets_app
from energy_ui.cli_energy import energy, report
from energy_ui.cli_evaluate import drill, evaluate
from energy_ui.cli_language import number, say
from energy_ui.cli_meters import meters
from energy_ui.cli_scale import dev_cluster, ingest, worker
from energy_ui.cli_tokens import tokens_app
from energy_ui.csv_io import CsvFormatError, ImportSummary, export_readings
from energy_ui.settings import Settings

app = typer.Typer(
    name="smartenergy",
    help="SmartEnergy: telemetría eléctrica en vivo con detección de anomalías / "
    "live electrical telemetry with anomaly detection.",
    no_args_is_help=False,
    add_completion=False,
    rich_markup_mode=None,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


class ExitCode(IntEnum):
    """What every command exits with (typer/click itself exits 2 on a usage error)."""

    OK = 0
    ERROR = 1
    USAGE = 2
    INTERRUPTED = 130


EXIT_CODES = {
    ExitCode.OK: "done",
    ExitCode.ERROR: "error: bad input data, an unreachable server, a refused download…",
    ExitCode.USAGE: "usage: an unknown option or data set, a value out of range",
    ExitCode.INTERRUPTED: "interrupted: long work stops between whole batches",
}
"""Each exit code's meaning, as the README states it (scripts/update_docs.py)."""

INTERRUPTED = ExitCode.INTERRUPTED


def _DEFAULT(setting: str) -> str:  # noqa: N802 - reads as the help's own "[default: …]"
    """``[default: ENERGY_X, else N]``: an option whose default comes from the settings."""
    field = Settings.model_fields[setting]
    variable = "DATABASE_URL" if setting == "database_url" else f"ENERGY_{setting.upper()}"
    return f"[default: {variable}, else {field.default}]"


class CommandError(Exception):
    """An error to show as one line and exit 1."""


@contextmanager
def _errors_as_one_line() -> Iterator[None]:
    try:
        yield
    except (
        CommandError,
        DatabaseError,
        AlreadyRunningError,
        NoModelError,
        RejectedBatchError,
        CsvFormatError,
    ) as e:
        err.print(f"[red]{say('cli.error')}[/red] {escape(str(e))}", highlight=False)
        raise typer.Exit(1) from None
    except ValueError as error:
        err.print(f"[red]{say('cli.error')}[/red] {escape(str(error))}", highlight=False)
        raise typer.Exit(1) from None
    except (KeyboardInterrupt, InterruptRequestedError):
        err.print(say("cli.interrupted"), highlight=False, markup=False)
        raise typer.Exit(INTERRUPTED) from None


class InterruptRequestedError(Exception):
    """Ctrl-C was pressed; raised between batches, never inside one."""


@contextmanager
def _stop_between_batches() -> Iterator[Callable[[], None]]:
    """Defer Ctrl-C to the next batch boundary: the first press asks to stop, and the work
    ends after the batch being written (one transaction) is complete; a second press
    interrupts at once. Yields ``check``, to call between batches."""
    asked = threading.Event()

    def on_interrupt(signum: int, frame: object) -> None:
        if asked.is_set():
            raise KeyboardInterrupt
        asked.set()
        err.print(say("cli.stopping"), highlight=False, markup=False)

    def check() -> None:
        if asked.is_set():
            raise InterruptRequestedError

    if threading.current_thread() is not threading.main_thread():
        yield check
        return
    previous = signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield check
    finally:
        signal.signal(signal.SIGINT, previous)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = Settings()
    except ValidationError as error:
        # A bad ENERGY_* value or .env line: which setting, what is wrong; no traceback.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'settings'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        err.print(f"[red]error:[/red] {escape(problems)}", highlight=False)
        raise typer.Exit(ExitCode.ERROR) from None
    overrides.setdefault("language", cli_language.chosen())  # --lang, for `serve` too
    given = {key: value for key, value in overrides.items() if value is not None}
    return settings.model_copy(update=given) if given else settings


@contextmanager
def _application(
    command: str, settings: Settings, *, needs_database: bool = False
) -> Iterator[Application]:
    with _errors_as_one_line():
        if needs_database and not settings.database_url:
            raise CommandError(say("cli.needs_database", command=command))
        application = bootstrap(settings)
        try:
            if application.mode == "memory" and not needs_database:
                err.print(f"[yellow]{say('cli.in_memory')}[/yellow]")
            yield application
        finally:
            application.close()


def _advance(
    progress: Progress, task: TaskID, check: Callable[[], None], *, label: str, total: int
) -> Callable[[int], None]:
    """A progress callback that also stops the work between batches after Ctrl-C. Without
    a terminal (a log, a pipe) it writes a plain line at each tenth of the work instead."""
    shown = [0]

    def advance(done: int) -> None:
        progress.update(task, completed=done)
        tenths = done * 10 // total if total else 10
        if progress.disable and tenths > shown[0]:
            shown[0] = tenths
            percent = done * 100 // total if total else 100
            err.print(
                say(
                    "cli.progress",
                    label=label,
                    done=number(done),
                    total=number(total),
                    percent=percent,
                ),
                highlight=False,
                markup=False,
            )
        check()

    return advance


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
        disable=not err.is_terminal,
    )


@app.callback(invoke_without_command=True)
def _default(
    ctx: typer.Context,
    lang: Annotated[
        Language | None,
        typer.Option("--lang", help=f"language of the messages (es, en) {_DEFAULT('language')}"),
    ] = None,
) -> None:
    """With no command: serve the dashboard."""
    cli_language.choose(lang, ctx)
    if ctx.invoked_subcommand is None:
        serve(host=None, port=None, mqtt=False)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default 8080)")] = None,
    mqtt: Annotated[
        bool, typer.Option("--mqtt", help="also ingest from the MQTT broker (ENERGY_MQTT_URL)")
    ] = False,
) -> None:
    """Serve the live dashboard and the HTTP API (in-memory demo without DATABASE_URL)."""
    from energy_ui.dashboard import serve as serve_dashboard

    settings = _settings()
    with _errors_as_one_line():
        _check_port_free(host or settings.host, port or settings.port)
        serve_dashboard(settings, host=host, port=port, mqtt=mqtt)


def _check_port_free(host: str, port: int) -> None:
    """Refuse, before anything starts, an address another program already listens on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise CommandError(
            say("cli.cannot_serve", host=host, port=port, reason=error.strerror)
        ) from None
    family, kind, _, _, address = infos[0]
    with socket.socket(family, kind) as probe:
        # As uvicorn binds: a port left in TIME_WAIT by a previous run is free to take.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise CommandError(
                say("cli.port_busy", host=host, port=port, reason=error.strerror or error)
            ) from None


@app.command("seed-db")
def seed_db() -> None:
    """Create the tables if missing (apply the schema migrations)."""
    settings = _settings()
    with _errors_as_one_line():
        if not settings.database_url:
            raise CommandError(say("cli.needs_database", command="seed-db"))
        revision = prepare_database(settings.database_url)
    out.print(say("cli.schema_ready", revision=revision), highlight=False, markup=False)


@app.command("reset-db")
def reset_db(
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask to confirm")] = False,
    count: Annotated[int, typer.Option(min=0, help="readings to repopulate")] = 10_000,
) -> None:
    """Empty registros and metricas, then repopulate simulated readings."""
    settings = _settings()
    if not yes and not typer.confirm(say("cli.reset_confirm"), default=False):
        err.print(say("cli.cancelled"))
        raise typer.Exit(1)
    with (
        _application("reset-db", settings) as application,
        _progress() as progress,
        _stop_between_batches() as check,
    ):
        label = say("cli.progress_reset")
        task = progress.add_task(label, total=count)
        stored = application.monitor.reset(
            count, progress=_advance(progress, task, check, label=label, total=count)
        )
    out.print(say("cli.reset_done", count=stored), highlight=False)


@app.command()
def simulate(
    count: Annotated[int, typer.Option(min=1, help="readings to generate")] = 10_000,
    max_registros: Annotated[
        int | None, typer.Option(help=f"retention: most readings kept {_DEFAULT('max_readings')}")
    ] = None,
    meters: Annotated[
        int | None, typer.Option(min=1, help=f"simulated meters {_DEFAULT('meters')}")
    ] = None,
    anomaly_ratio: Annotated[
        float | None,
        typer.Option(min=0.0, max=1.0, help=f"faults per variable {_DEFAULT('anomaly_ratio')}"),
    ] = None,
) -> None:
    """Generate a historical batch of simulated readings ending now."""
    settings = _settings(max_readings=max_registros, meters=meters, anomaly_ratio=anomaly_ratio)
    with (
        _application("simulate", settings) as application,
        _progress() as progress,
        _stop_between_batches() as check,
    ):
        monitor = application.monitor
        before = monitor.queries.count()
        limit = monitor.settings.max_readings
        if limit is not None and before + count > limit:
            ahead = say(
                "cli.retention_ahead",
                limit=number(limit),
                before=number(before),
                count=number(count),
            )
            err.print(f"[yellow]{escape(ahead)}[/yellow]", highlight=False)
        label = say("cli.progress_simulate")
        task = progress.add_task(label, total=count)
        stored = monitor.generate_history(
            count, progress=_advance(progress, task, check, label=label, total=count)
        )
        total = monitor.queries.count()
    out.print(say("cli.simulated", stored=stored, total=total), highlight=False)
    deleted = before + stored - total
    if deleted > 0:
        out.print(
            say("cli.retention_deleted", deleted=number(deleted), rule=_retention_rule(settings)),
            highlight=False,
            markup=False,
        )


def _retention_rule(settings: Settings) -> str:
    """The retention settings in force, as the options and variables that set them."""
    rules = []
    if settings.max_readings is not None:
        rules.append(f"max-registros {number(settings.max_readings)}")
    if settings.max_age_hours is not None:
        rules.append(f"ENERGY_MAX_AGE_HOURS {settings.max_age_hours:g}")
    return ", ".join(rules) or say("cli.retention_none")


@app.command()
def stream(
    interval: Annotated[float, typer.Option(min=0.01, help="seconds between batches")] = 1.0,
    batch_size: Annotated[int, typer.Option(min=1)] = 5,
    anomaly_ratio: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.12,
    max_registros: Annotated[int, typer.Option(min=1, help="hard limit, oldest first")] = 20_000,
    meters: Annotated[
        int | None, typer.Option(min=1, help=f"simulated meters {_DEFAULT('meters')}")
    ] = None,
    batches: Annotated[
        int | None,
        typer.Option(help="stop after this many batches [default: none, until Ctrl-C]"),
    ] = None,
) -> None:
    """Continuous generator: a batch every interval, scored on ingest when a model exists."""
    settings = _settings(max_readings=max_registros, meters=meters, anomaly_ratio=anomaly_ratio)
    step = timedelta(seconds=interval)
    with (
        _application("stream", settings, needs_database=True) as application,
        _stop_between_batches() as check,
    ):
        monitor = application.monitor
        buffer = RetryBuffer(settings.buffer_max_readings)
        reports: list[IngestReport] = []

        def store(batch: list[Reading], key: str) -> None:
            reports.append(monitor.ingest(batch, key=key))

        sent = 0
        next_at = time.monotonic()
        out.print(say("cli.streaming", interval=interval), highlight=False)
        while batches is None or sent < batches:
            check()
            at = monitor.clock.now()
            dropped = buffer.add(monitor.simulator.next_batch(batch_size, at=at, interval=step))
            sent += 1
            buffer.flush(store, unavailable_errors())
            for report in reports:
                flagged = sum(1 for reading in report.stored if reading.is_flagged)
                line = say("cli.batch", batch=sent, stored=len(report.stored), flagged=flagged)
                if not report.scored:
                    line += " " + say("cli.batch_unscored")
                if report.dropped_by_retention:
                    line += ", " + say(
                        "cli.batch_deleted",
                        deleted=report.dropped_by_retention,
                        rule=_retention_rule(settings),
                    )
                out.print(line, highlight=False, markup=False)
            reports.clear()
            if buffer.pending or dropped:
                waiting = say("cli.waiting", pending=buffer.pending, dropped=buffer.dropped)
                err.print(f"[yellow]{escape(waiting)}[/yellow]", highlight=False)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        if buffer.pending:
            err.print(f"[red]{escape(say('cli.not_stored', count=buffer.pending))}[/red]")


@app.command()
def train() -> None:
    """Train the detector on the stored readings and store the model version."""
    with _application("train", _settings()) as application:
        with out.status(say("cli.training")):
            info = application.monitor.train()
        out.print(
            say("cli.trained", version=info.version, detector=info.detector, rows=info.rows),
            highlight=False,
            markup=False,
        )


@app.command()
def detect() -> None:
    """Analyse with the current model and write a row to metricas."""
    with _application("detect", _settings()) as application:
        snapshot = application.monitor.analyse()
    language = cli_language.language()
    table = Table(title=say("cli.metrics_title"))
    table.add_column(say("cli.column_total"))
    table.add_column(say("cli.column_anomalies"))
    table.add_column("%")
    table.add_column(say("cli.column_health"))
    table.add_column(say("cli.column_quality"))
    quality = (
        f"{number(snapshot.precision, 3)} / {number(snapshot.recall, 3)} / {number(snapshot.f1, 3)}"
        if snapshot.precision is not None
        and snapshot.recall is not None
        and snapshot.f1 is not None
        else "—"
    )
    table.add_row(
        str(snapshot.total_readings),
        str(snapshot.anomalies_detected),
        number(snapshot.percentage, 2),
        snapshot.health.label(language),
        quality,
    )
    out.print(table)


@app.command("auto-train")
def auto_train(
    interval: Annotated[float, typer.Option(min=1.0, help="seconds between cycles")] = 300.0,
    cycles: Annotated[
        int | None, typer.Option(help="stop after this many cycles [default: none, until Ctrl-C]")
    ] = None,
) -> None:
    """Retrain and recompute metrics in a loop; only one loop may run at a time."""
    from energy_ui.bootstrap import single_loop_lock

    settings = _settings()
    with (
        _application("auto-train", settings, needs_database=True) as application,
        single_loop_lock(application, "auto-train"),
    ):
        done = 0
        while cycles is None or done < cycles:
            started = time.monotonic()
            info = application.monitor.train()
            snapshot = application.monitor.analyse()
            done += 1
            out.print(
                say(
                    "cli.cycle",
                    cycle=done,
                    version=info.version,
                    percentage=number(snapshot.percentage, 2),
                    health=snapshot.health.label(cli_language.language()),
                ),
                highlight=False,
                markup=False,
            )
            if cycles is not None and done >= cycles:
                break
            time.sleep(max(0.0, interval - (time.monotonic() - started)))


@app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    batch_size: Annotated[int, typer.Option(min=1)] = 5_000,
) -> None:
    """Import real readings from a UTF-8 CSV (meter_id, timestamp and every variable).

    Rejected lines and progress (on a terminal) go to stderr; the summary line to stdout.
    """
    read = ImportSummary()
    with (
        _application("import", _settings(), needs_database=True) as application,
        file.open("rb") as stream,
        _progress() as progress,
        _stop_between_batches() as check,
    ):
        task = progress.add_task(file.name, total=None)

        def advance(done: ImportSummary) -> None:
            nonlocal read
            read = done
            total = max(done.expected_lines or 0, done.lines)
            progress.update(task, completed=done.lines, total=total or None)
            check()

        try:
            summary = csv_io.import_csv(
                application.monitor, stream, batch_size=batch_size, after_batch=advance
            )
        except CsvFormatError as error:
            raise CommandError(f"{file}: {error}") from None
        except unavailable_errors() as error:
            raise CommandError(
                say(
                    "cli.import_stopped",
                    error=error,
                    accepted=read.accepted,
                    lines=read.lines,
                    file=file,
                )
            ) from None
    for rejection in summary.rejected[:50]:
        err.print(csv_io.rejection_text(rejection), highlight=False, markup=False)
    if len(summary.rejected) > 50:
        err.print(say("cli.more_rejections", count=len(summary.rejected) - 50))
    out.print(
        say(
            "cli.imported",
            lines=summary.lines,
            accepted=summary.accepted,
            rejected=summary.rejected_lines,
        )
    )
    if summary.rejected:
        raise typer.Exit(1)


@app.command()
def mqtt() -> None:
    """Subscribe to the MQTT readings topic (ENERGY_MQTT_URL, ENERGY_MQTT_TOPIC) and ingest."""
    import asyncio

    from energy_ui.mqtt import MqttIngestor

    settings = _settings()
    with _application("mqtt", settings, needs_database=True) as application:
        ingestor = MqttIngestor(application.monitor, settings)
        topics = ", ".join(ingestor.topics)
        out.print(
            say("cli.mqtt_listening", broker=ingestor.broker, topics=topics),
            highlight=False,
            markup=False,
        )
        asyncio.run(ingestor.run())


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            say("cli.bad_moment", value=repr(text)), param_hint=option
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


EXPORT_FEEDBACK_LIMIT = 100_000
"""The most recent feedback items (of each meter asked for) an export with labels reads."""


@app.command()
def export(
    output: Annotated[Path, typer.Argument(dir_okay=False, help="file to write")],
    file_format: Annotated[
        Literal["csv", "parquet"] | None,
        typer.Option("--format", help="csv or parquet [default: from the file's extension]"),
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(help="from (ISO 8601, UTC if no zone) [default: the oldest reading]"),
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="until, exclusive [default: after the newest reading]")
    ] = None,
    meter: Annotated[list[str] | None, typer.Option(help="meter id (repeatable)")] = None,
    state: Annotated[
        Literal["normal", "anomalous"] | None,
        typer.Option(help="the model's verdict [default: both]"),
    ] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, help="most recent N [default: every match]")
    ] = None,
    labels: Annotated[
        bool,
        typer.Option(
            "--labels",
            help="add users' feedback as columns feedback (false_alarm, confirmed or empty), "
            "label (1 inside a confirmed fault, else 0) and fault_kind, for `evaluate "
            "--label-column label` (docs/alerts.md)",
        ),
    ] = False,
) -> None:
    """Export the filtered readings to CSV or Parquet."""
    chosen = file_format or ("parquet" if output.suffix == ".parquet" else "csv")
    where = ReadingFilter(
        start=_moment(start, "--start"),
        end=_moment(end, "--end"),
        meter_ids=tuple(meter or ()),
        state=state,
    )
    with _application("export", _settings()) as application:
        feedback = None
        if labels:
            if application.alerting is None:
                raise CommandError(say("cli.export_labels_need_alerts"))
            monitor = application.monitor
            feedback = [
                item
                for meter_id in where.meter_ids or (None,)
                for item in monitor.feedback(meter_id=meter_id, limit=EXPORT_FEEDBACK_LIMIT)
            ]
        readings = application.monitor.queries.window(where, limit=limit)
        written = export_readings(readings, output, chosen, feedback=feedback)
    out.print(say("cli.exported", count=written, path=output), highlight=False, markup=False)


app.command()(evaluate)
app.command()(drill)
app.add_typer(datasets_app, name="datasets")
app.add_typer(tokens_app, name="tokens")
app.add_typer(alerts_app, name="alerts")
app.command()(meters)
app.command()(energy)
app.command()(report)
app.command()(ingest)
app.command()(worker)
app.command("dev-cluster")(dev_cluster)


def main() -> None:
    app()
