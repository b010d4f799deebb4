"""The records table as CSV, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence

from energy_core.alerts.store import Feedback
from energy_core.detection.feedback import verdicts
from energy_core.telemetry.catalogue import VARIABLE_NAMES
from energy_core.telemetry.readings import Reading

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula: one starting with ``= + - @`` (or a
    tab/CR) gets a single quote in front (OWASP's CSV-injection advice). Plain numbers such
    as ``-12.5`` stay numbers: a spreadsheet reads them as values, never as formulas."""
    if cell.startswith(FORMULA_PREFIXES) and not _plain_number(cell):
        return "'" + cell
    return cell


def _plain_number(cell: str) -> bool:
    return _NUMBER.fullmatch(cell) is not None


def csv_columns(variables: Sequence[str] = VARIABLE_NAMES) -> list[str]:
    return [
        "id",
        "timestamp",
        "meter_id",
        *variables,
        "is_flagged",
        "score",
        "top_variables",
        "flagged_by",
        "is_anomaly",
        "anomaly_kind",
    ]


def _cells(reading: Reading, variables: Sequence[str]) -> list[str]:
    def optional(value: object) -> str:
        return "" if value is None else str(value)

    return [
        optional(reading.id),
        reading.timestamp.isoformat(),
        reading.meter_id,
        *(
            repr(float(reading.values[name])) if name in reading.values else ""
            for name in variables
        ),
        optional(reading.is_flagged),
        optional(reading.score),
        "|".join(reading.top_variables),
        optional(reading.flagged_by),
        optional(reading.is_anomaly),
        optional(reading.anomaly_kind),
    ]


LABEL_COLUMNS = ("feedback", "label", "fault_kind")
"""Added when users gave feedback: as ``smartenergy export --labels`` writes them."""


def _labels(said: Feedback | None) -> list[str]:
    confirmed = said is not None and said.verdict == "confirmed"
    kind = said.fault_kind if confirmed and said is not None else None
    return ["" if said is None else said.verdict, "1" if confirmed else "0", kind or ""]


def readings_csv(
    readings: Iterable[Reading],
    variables: Sequence[str] = VARIABLE_NAMES,
    feedback: Sequence[Feedback] = (),
) -> str:
    """``readings`` as CSV (UTF-8 text, header first), every cell neutralised; with
    ``feedback`` (users' verdicts), the ``LABEL_COLUMNS`` after the others."""
    rows = list(readings)
    said = verdicts(rows, feedback) if feedback else None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(csv_columns(variables) + (list(LABEL_COLUMNS) if said is not None else []))
    for index, reading in enumerate(rows):
        cells = _cells(reading, variables)
        if said is not None:
            cells += _labels(said[index])
        writer.writerow([neutralise(cell) for cell in cells])
    return buffer.getvalue()
