"""CSV in and CSV/Parquet out, with the same validation as every other entry point."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Literal

import polars as pl

from energy_core.catalogue import VARIABLE_NAMES
from energy_core.monitor import Monitor, Rejection
from energy_core.readings import Reading
from energy_core.validation import parse_readings

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REQUIRED_COLUMNS = ("meter_id", "timestamp", *VARIABLE_NAMES)


class CsvFormatError(ValueError):
    """The file itself cannot be read as readings (not one of its lines)."""


@dataclass
class ImportSummary:
    """How an import went: readings stored, every rejection by line, lines read."""

    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    lines: int = 0

    @property
    def rejected_lines(self) -> int:
        """Lines refused (a line with several bad fields counts once)."""
        return len({rejection.index for rejection in self.rejected})


def import_csv(
    monitor: Monitor,
    stream: IO[str],
    *,
    batch_size: int = 5_000,
    after_batch: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Validate ``stream`` line by line and store the good lines through ``Monitor.ingest``,
    one batch at a time (scored, announced live). ``after_batch`` sees the running summary
    after each batch (progress; it may raise to stop between whole batches).
    ``CsvFormatError`` when the file itself is not readings (e.g. a missing column)."""
    summary = ImportSummary()
    batches = read_csv_batches(stream, batch_size=batch_size, now=monitor.clock.now())
    for accepted, rejected, lines in batches:
        if accepted:
            summary.accepted += len(monitor.ingest(accepted).stored)
        summary.rejected.extend(rejected)
        summary.lines += lines
        if after_batch is not None:
            after_batch(summary)
    return summary


def read_csv_batches(
    stream: IO[str], *, batch_size: int = 5_000, now: datetime | None = None
) -> Iterator[tuple[list[Reading], list[Rejection], int]]:
    """Yield (accepted readings, rejections by line number, lines read) per batch.

    Line numbers count the header as line 1, as a spreadsheet shows them. Empty cells of
    optional columns are taken as absent.
    """
    reader = csv.DictReader(stream)
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise CsvFormatError(f"line 1: malformed header: {error}") from None
    if header is None:
        raise CsvFormatError("the file is empty: expected a header line")
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise CsvFormatError(
            f"line 1: missing column(s) {', '.join(missing)}; "
            f"expected at least {', '.join(REQUIRED_COLUMNS)}"
        )
    pending: list[tuple[int, object]] = []
    malformed: list[Rejection] = []
    lines = 0
    line = 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            # A malformed record may not advance the reader's own count: keep lines distinct.
            line = max(reader.line_num, line + 1)
            lines += 1
            malformed.append(Rejection(line, "line", None, f"malformed CSV: {error}"))
            continue
        line = max(reader.line_num, line + 1)
        lines += 1
        extra = row.pop(None, None)  # type: ignore[call-overload]
        if extra:
            malformed.append(Rejection(line, "line", extra, "more cells than the header has"))
        else:
            # Empty cells of optional columns are absent values, not empty strings.
            cells = {key: value for key, value in row.items() if value not in ("", None)}
            pending.append((line, cells))
        if lines % batch_size == 0:
            accepted, rejected = parse_readings(pending, now=now)
            yield accepted, sorted(malformed + rejected, key=_by_line), lines
            pending, malformed, lines = [], [], 0
    if lines:
        accepted, rejected = parse_readings(pending, now=now)
        yield accepted, sorted(malformed + rejected, key=_by_line), lines


def _by_line(rejection: Rejection) -> int:
    return rejection.index


def neutralise(text: str) -> str:
    """A cell that a spreadsheet would run as a formula, made inert with a leading quote."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def readings_frame(readings: Sequence[Reading]) -> pl.DataFrame:
    """Readings as a table with one column per field, in the catalogue's order."""
    columns: dict[str, list[object]] = {
        "id": [r.id for r in readings],
        "timestamp": [r.timestamp for r in readings],
        "meter_id": [r.meter_id for r in readings],
    }
    for name in VARIABLE_NAMES:
        columns[name] = [r.values[name] for r in readings]
    columns["is_anomaly"] = [r.is_anomaly for r in readings]
    columns["anomaly_kind"] = [r.anomaly_kind for r in readings]
    columns["score"] = [r.score for r in readings]
    columns["is_flagged"] = [r.is_flagged for r in readings]
    columns["top_variables"] = [",".join(r.top_variables) for r in readings]
    schema = {
        "id": pl.Int64,
        "timestamp": pl.Datetime("us", "UTC"),
        "meter_id": pl.String,
        **dict.fromkeys(VARIABLE_NAMES, pl.Float64),
        "is_anomaly": pl.Boolean,
        "anomaly_kind": pl.String,
        "score": pl.Float64,
        "is_flagged": pl.Boolean,
        "top_variables": pl.String,
    }
    return pl.DataFrame(columns, schema=schema)


def safe_for_spreadsheets(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column with formula-like cells neutralised."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.col(name).map_elements(neutralise, return_dtype=pl.String) for name in text_columns
    )


def export_readings(
    readings: Sequence[Reading], path: Path, file_format: Literal["csv", "parquet"]
) -> int:
    """Write readings to ``path``; CSV cells are neutralised for spreadsheets."""
    frame = readings_frame(readings)
    if file_format == "csv":
        safe_for_spreadsheets(frame).write_csv(path)
    else:
        frame.write_parquet(path)
    return frame.height


def csv_text(readings: Sequence[Reading]) -> str:
    """The CSV a download of ``readings`` gives (neutralised for spreadsheets)."""
    return safe_for_spreadsheets(readings_frame(readings)).write_csv()
