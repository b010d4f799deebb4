"""CSV in and CSV/Parquet out, with the same validation as every other entry point.

One reader serves ``smartenergy import`` and the dashboard's upload: UTF-8 with or without a
byte-order mark, any line ends (LF, CRLF, CR), quoted cells as the standard ``csv`` module
reads them. One record is one line: a quote left open is refused at its line instead of
swallowing the lines after it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Final, Literal, cast

import polars as pl
from pydantic import ValidationError

from energy_core import Rejection
from energy_core.alerts.store import Feedback
from energy_core.detection.feedback import verdicts
from energy_core.ports import BatchRefusedError
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.readings import Origin, Reading
from energy_core.telemetry.rules import DEFAULT_RULES, StorageRules
from energy_core.telemetry.validation import parse_reading, rejections_of
from energy_core.usecases.monitor import Monitor

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
REQUIRED_COLUMNS = ("meter_id", "timestamp")
"""Every file has these, and at least one variable column (``VARIABLE_NAMES``)."""
OPTIONAL_COLUMNS = ("is_anomaly", "anomaly_kind")
LABEL_COLUMNS = ("feedback", "label", "fault_kind")
"""What an export with labels adds: users' verdict on the reading (``false_alarm``,
``confirmed`` or empty), ``label`` 1 inside a span they confirmed as a fault (else 0) and
the fault's kind when they named it."""
SHOWN_LINE: Final = 80
"""A malformed line is echoed in its rejection cut to this many characters."""
_CHUNK: Final = 1 << 20
_LINE_ENDS = re.compile(rb"\r\n|\r|\n")

CSV_ORIGIN = Origin("csv")
"""Readings imported from a CSV file (the CLI's import and the dashboard's upload)."""


class CsvFormatError(ValueError):
    """The file itself cannot be read as readings (not one of its lines)."""


class CsvEncodingError(CsvFormatError):
    """The file is not UTF-8 text; ``line`` (1-based) and ``byte`` (0-based offset in the
    file) say where the first bad byte is. Nothing of the file was stored."""

    def __init__(self, line: int, byte: int, found: bytes) -> None:
        self.line = line
        self.byte = byte
        super().__init__(
            f"not UTF-8 text at line {line}, byte {byte} (0x{found.hex()}); "
            "save the file as UTF-8 and import it again"
        )


@dataclass
class ImportSummary:
    """How an import went: readings stored, every rejection by line, lines read."""

    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    lines: int = 0
    """Data lines read (the header and blank lines not counted)."""
    expected_lines: int | None = None
    """Data lines the file holds, counted before the import (``None``: not known)."""

    @property
    def rejected_lines(self) -> int:
        """Lines refused (a line with several bad fields counts once)."""
        return len({rejection.index for rejection in self.rejected})


@dataclass
class CsvBatch:
    """Up to ``batch_size`` data lines of a file, validated: the readings with the line each
    came from, the rejections by line, and how many data lines it covers."""

    readings: list[Reading]
    line_numbers: list[int]
    rejected: list[Rejection]
    lines: int


def import_csv(
    monitor: Monitor,
    stream: IO[bytes] | IO[str],
    *,
    batch_size: int = 5_000,
    after_batch: Callable[[ImportSummary], None] | None = None,
) -> ImportSummary:
    """Validate ``stream`` line by line and store the good lines through ``Monitor.ingest``,
    one batch at a time (scored, announced live). ``after_batch`` sees the running summary
    after each batch (progress; it may raise to stop between whole batches).

    A binary stream must be UTF-8: it is checked whole first, so a file with a bad byte is
    refused (``CsvEncodingError``) before anything is stored. Lines that validation or
    storage refuse (``RejectedBatchError``, ``BatchRefusedError``) are reported by line and
    the rest of the file is stored. ``CsvFormatError`` when the file itself is not readings
    (e.g. a missing column). Storage being unreachable propagates (only whole batches were
    stored).
    """
    summary = ImportSummary()
    if isinstance(stream, io.TextIOBase):
        text: Iterable[str] = cast(IO[str], stream)
        wrapper = None
    else:
        binary = cast(IO[bytes], stream)
        if not binary.seekable():
            binary = io.BytesIO(binary.read())
        start = binary.tell()
        summary.expected_lines = _check_utf8(binary)
        binary.seek(start)
        wrapper = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        text = wrapper
    try:
        batches = read_csv_batches(
            text, batch_size=batch_size, now=monitor.clock.now(), rules=monitor.settings.rules
        )
        for batch in batches:
            stored, refused = _store(
                monitor, list(zip(batch.line_numbers, batch.readings, strict=True))
            )
            summary.accepted += stored
            summary.rejected.extend(sorted(batch.rejected + refused, key=_by_line))
            summary.lines += batch.lines
            if after_batch is not None:
                after_batch(summary)
    finally:
        if wrapper is not None:
            wrapper.detach()  # the caller's stream stays open
    return summary


def _store(monitor: Monitor, items: list[tuple[int, Reading]]) -> tuple[int, list[Rejection]]:
    """Store ``(line, reading)`` pairs validation accepted; what storage refuses is returned
    as rejections by line and the others are stored (a refused batch is split until the
    refused readings are alone)."""
    if not items:
        return 0, []
    try:
        return len(monitor.store_parsed([reading for _, reading in items]).stored), []
    except BatchRefusedError as error:
        if len(items) == 1:
            return 0, [Rejection(items[0][0], "line", None, str(error))]
        half = len(items) // 2
        first, first_refused = _store(monitor, items[:half])
        second, second_refused = _store(monitor, items[half:])
        return first + second, first_refused + second_refused


def _check_utf8(binary: IO[bytes]) -> int:
    """Read ``binary`` to its end checking it is UTF-8; return how many data lines it holds
    (lines after the header). ``CsvEncodingError`` at the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    start = binary.tell()
    line_ends = 0
    last = b""
    while chunk := binary.read(_CHUNK):
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError:
            _raise_encoding_error(binary, start)
        line_ends += chunk.count(b"\n")
        last = chunk
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        _raise_encoding_error(binary, start)
    lines = line_ends + (1 if last and not last.endswith(b"\n") else 0)
    return max(lines - 1, 0)


def _raise_encoding_error(binary: IO[bytes], start: int) -> None:
    """Find the first byte that is not UTF-8 (line by line: a multi-byte character never
    holds a line feed) and raise ``CsvEncodingError`` naming its line and offset."""
    binary.seek(start)
    offset = 0
    for raw in binary:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as error:
            bad = offset + error.start
            binary.seek(start)
            before = binary.read(bad)
            line = len(_LINE_ENDS.findall(before)) + 1
            raise CsvEncodingError(line, bad, raw[error.start : error.end]) from None
        offset += len(raw)
    raise CsvEncodingError(1, offset, b"")  # pragma: no cover - the decoder saw a bad byte


class _OpenQuoteError(Exception):
    """The csv reader asked for a second line to finish one record: a quote left open."""


class _OneLinePerRecord:
    """The lines of a text, numbered, refusing to hand the csv reader a second line for the
    same record (that would swallow the lines after an unterminated quote)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self.number = 0
        self.text = ""
        self.in_record = False

    def __iter__(self) -> _OneLinePerRecord:
        return self

    def __next__(self) -> str:
        if self.in_record:
            raise _OpenQuoteError
        self.text = next(self._lines)
        if self.number == 0:  # a byte-order mark is not part of the first column's name
            self.text = self.text.removeprefix("\ufeff")
        self.number += 1
        self.in_record = True
        return self.text


def read_csv_batches(
    stream: Iterable[str],
    *,
    batch_size: int = 5_000,
    now: datetime | None = None,
    rules: StorageRules = DEFAULT_RULES,
) -> Iterator[CsvBatch]:
    """Yield the file's data lines validated, ``batch_size`` lines at a time.

    ``stream``: text lines with their line ends (a file opened with ``newline=""``). Line
    numbers count the header as line 1, as a spreadsheet shows them. Blank lines are
    skipped. Cells are stripped of surrounding spaces; an empty cell of an optional column
    (a variable the meter did not send, ground truth) is absent, of a required one missing;
    so are the cells a line is short of. A line with no variable at all is refused.
    """
    lines = _OneLinePerRecord(stream)
    header = _header(lines)
    width = len(header)
    readings: list[Reading] = []
    numbers: list[int] = []
    rejected: list[Rejection] = []
    count = 0
    reader = csv.reader(lines, strict=True)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except (_OpenQuoteError, csv.Error) as error:
            # A fresh reader: the line after an open quote was not consumed and comes next.
            reader = csv.reader(lines, strict=True)
            rejected.append(_malformed(lines, error))
        else:
            lines.in_record = False
            if not any(cell.strip() for cell in cells):
                continue
            problems, raw = _cells(header, width, cells, lines.number)
            if problems:
                rejected.extend(problems)
            else:
                try:
                    reading = parse_reading(
                        raw, now=now, rules=rules, from_text=True, origin=CSV_ORIGIN
                    )
                except ValidationError as error:
                    rejected.extend(rejections_of(error, lines.number, raw))
                else:
                    readings.append(reading)
                    numbers.append(lines.number)
        lines.in_record = False
        count += 1
        if count == batch_size:
            yield CsvBatch(readings, numbers, rejected, count)
            readings, numbers, rejected, count = [], [], [], 0
    if count:
        yield CsvBatch(readings, numbers, rejected, count)


def _header(lines: _OneLinePerRecord) -> list[str]:
    try:
        cells = next(csv.reader(lines, strict=True))
    except StopIteration:
        raise CsvFormatError("the file is empty: expected a header line") from None
    except (_OpenQuoteError, csv.Error) as error:
        raise CsvFormatError(f"line 1: malformed header: {_reason(error)}") from None
    lines.in_record = False
    header = [cell.strip() for cell in cells]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise CsvFormatError(f"line 1: column {name} appears twice")
        seen.add(name)
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        raise CsvFormatError(
            f"line 1: missing column(s) {', '.join(missing)}; "
            f"expected {', '.join(REQUIRED_COLUMNS)} and at least one variable"
            f" ({', '.join(VARIABLE_NAMES)})"
        )
    known = (*REQUIRED_COLUMNS, *VARIABLE_NAMES, *OPTIONAL_COLUMNS)
    unknown = [name for name in header if name not in known]
    if unknown:
        raise CsvFormatError(
            f"line 1: unknown column(s) {', '.join(unknown)}; the variables are"
            f" {', '.join(VARIABLE_NAMES)} and the other optional columns"
            f" {', '.join(OPTIONAL_COLUMNS)}"
        )
    if not seen.intersection(VARIABLE_NAMES):
        raise CsvFormatError(
            f"line 1: no variable column; expected at least one of {', '.join(VARIABLE_NAMES)}"
        )
    return header


def _cells(
    header: list[str], width: int, cells: list[str], line: int
) -> tuple[list[Rejection], dict[str, str]]:
    """The line's cells by column, or why the line cannot be a reading (wrong cell count,
    required cells missing or empty)."""
    if len(cells) > width:
        extra = cells[width:]
        reason = f"more cells than the header has ({len(cells)}, the header {width})"
        return [Rejection(line, "line", extra, reason)], {}
    raw: dict[str, str] = {}
    problems: list[Rejection] = []
    for position, name in enumerate(header):
        if position >= len(cells):
            if name in REQUIRED_COLUMNS:
                reason = f"missing: the line has {len(cells)} cells, the header {width}"
                problems.append(Rejection(line, name, None, reason))
            continue
        cell = cells[position].strip()
        if cell:
            raw[name] = cell
        elif name in REQUIRED_COLUMNS:
            problems.append(Rejection(line, name, "", "missing: the cell is empty"))
    return problems, raw


def _malformed(lines: _OneLinePerRecord, error: Exception) -> Rejection:
    shown = lines.text.rstrip("\r\n")
    if len(shown) > SHOWN_LINE:
        shown = shown[: SHOWN_LINE - 1] + "…"
    return Rejection(lines.number, "line", shown, _reason(error))


def _reason(error: Exception) -> str:
    if isinstance(error, _OpenQuoteError) or "unexpected end of data" in str(error):
        return "unterminated quote: a quoted cell must end on the same line"
    return f"malformed CSV: {error}"


def _by_line(rejection: Rejection) -> int:
    return rejection.index


def rejection_text(rejection: Rejection) -> str:
    """One rejected line as the command line prints it: ``line N: field=value: reason``
    (no value when there is none; a malformed line's text after its reason)."""
    if rejection.field == "line":
        shown = "" if rejection.value is None else f": {rejection.value!r}"
        return f"line {rejection.index}: {rejection.reason}{shown}"
    if rejection.value is None:
        return f"line {rejection.index}: {rejection.field}: {rejection.reason}"
    return f"line {rejection.index}: {rejection.field}={rejection.value!r}: {rejection.reason}"


def neutralise(text: str) -> str:
    """A cell that a spreadsheet would run as a formula, made inert with a leading quote."""
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def readings_frame(
    readings: Sequence[Reading], feedback: Sequence[Feedback] | None = None
) -> pl.DataFrame:
    """Readings as a table with one column per field, in the catalogue's order; with
    ``feedback`` (users' verdicts), the ``LABEL_COLUMNS`` after them."""
    columns: dict[str, list[object]] = {
        "id": [r.id for r in readings],
        "timestamp": [r.timestamp for r in readings],
        "meter_id": [r.meter_id for r in readings],
    }
    for name in VARIABLE_NAMES:  # None (an empty cell, a null) where a reading lacks it
        columns[name] = [r.values.get(name) for r in readings]
    columns["is_anomaly"] = [r.is_anomaly for r in readings]
    columns["anomaly_kind"] = [r.anomaly_kind for r in readings]
    columns["score"] = [r.score for r in readings]
    columns["is_flagged"] = [r.is_flagged for r in readings]
    columns["top_variables"] = [",".join(r.top_variables) for r in readings]
    columns["flagged_by"] = [r.flagged_by for r in readings]
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "id": pl.Int64,
        "timestamp": pl.Datetime("us", "UTC"),
        "meter_id": pl.String,
        **dict.fromkeys(VARIABLE_NAMES, pl.Float64),
        "is_anomaly": pl.Boolean,
        "anomaly_kind": pl.String,
        "score": pl.Float64,
        "is_flagged": pl.Boolean,
        "top_variables": pl.String,
        "flagged_by": pl.String,
    }
    if feedback is not None:
        said = verdicts(readings, feedback)
        columns["feedback"] = [item.verdict if item else None for item in said]
        columns["label"] = [int(item is not None and item.verdict == "confirmed") for item in said]
        columns["fault_kind"] = [
            item.fault_kind if item and item.verdict == "confirmed" else None for item in said
        ]
        schema |= {"feedback": pl.String, "label": pl.Int8, "fault_kind": pl.String}
    return pl.DataFrame(columns, schema=schema)


def safe_for_spreadsheets(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column with formula-like cells neutralised."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    return frame.with_columns(
        pl.col(name).map_elements(neutralise, return_dtype=pl.String) for name in text_columns
    )


def export_readings(
    readings: Sequence[Reading],
    path: Path,
    file_format: Literal["csv", "parquet"],
    *,
    feedback: Sequence[Feedback] | None = None,
) -> int:
    """Write readings to ``path``; CSV cells are neutralised for spreadsheets. With
    ``feedback``, users' verdicts as labels (``LABEL_COLUMNS``)."""
    frame = readings_frame(readings, feedback)
    if file_format == "csv":
        safe_for_spreadsheets(frame).write_csv(path)
    else:
        frame.write_parquet(path)
    return frame.height


def csv_text(readings: Sequence[Reading]) -> str:
    """The CSV a download of ``readings`` gives (neutralised for spreadsheets)."""
    return safe_for_spreadsheets(readings_frame(readings)).write_csv()
