from __future__ import annotations

import io
from datetime import UTC, datetime

import polars as pl
import pytest

from energy_core import Simulator
from energy_ui.csv_io import (
    CsvFormatError,
    csv_text,
    neutralise,
    read_csv_batches,
    readings_frame,
)

HEADER = "meter_id,timestamp,voltage,current,active_power,power_factor,frequency,motor_temperature"
GOOD = "m-1,2025-01-01T00:00:00Z,230,10,2.0,0.9,50,40"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def batches(text: str, **options):
    return list(read_csv_batches(io.StringIO(text), now=NOW, **options))


def test_good_lines_are_accepted_and_bad_ones_reported_by_line_field_and_value():
    text = "\n".join(
        [HEADER, GOOD, "m-1,2025-01-01T00:01:00Z,abc,10,2,0.9,50,40", GOOD, "m-2,x,230,10,2,0.9,50"]
    )
    [(accepted, rejected, lines)] = batches(text)
    assert len(accepted) == 2 and lines == 4
    assert [(r.index, r.field) for r in rejected] == [
        (3, "voltage"),
        (5, "timestamp"),
        (5, "motor_temperature"),
    ]
    assert rejected[0].value == "abc"


def test_extra_cells_are_a_rejection_of_that_line():
    [(accepted, rejected, _)] = batches(f"{HEADER}\n{GOOD},surplus\n{GOOD}\n")
    assert len(accepted) == 1
    assert rejected[0].index == 2 and "more cells" in rejected[0].reason


def test_batches_carry_their_own_line_numbers():
    text = "\n".join([HEADER] + [GOOD] * 4 + ["m-1,2025-01-01T00:00:00Z,-5,1,1,0.9,50,40"])
    found = batches(text, batch_size=2)
    assert [lines for _, _, lines in found] == [2, 2, 1]
    assert found[-1][1][0].index == 6


def test_missing_columns_are_named_on_line_one():
    with pytest.raises(CsvFormatError, match=r"line 1: missing column.*frequency"):
        batches("meter_id,timestamp,voltage\nm,2025-01-01,230\n")
    with pytest.raises(CsvFormatError, match="empty"):
        batches("")


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-cmd", "@SUM(A1)"])
def test_formula_cells_are_neutralised(cell):
    assert neutralise(cell) == "'" + cell
    assert neutralise("meter-01") == "meter-01"


def test_exported_csv_neutralises_text_but_keeps_negative_numbers():
    reading = Simulator(seed=1).history(1)[0]
    hostile = type(reading)(
        timestamp=reading.timestamp,
        meter_id="=HYPERLINK(1)",
        values={**reading.values, "active_power": -1.5},
    )
    text = csv_text([hostile])
    frame = pl.read_csv(io.StringIO(text))
    assert frame["meter_id"][0] == "'=HYPERLINK(1)"
    assert frame["active_power"][0] == -1.5
    assert readings_frame([hostile]).columns[:3] == ["id", "timestamp", "meter_id"]
