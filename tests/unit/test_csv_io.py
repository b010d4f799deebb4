from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl
import pytest

from energy_adapters.memory import (
    ManualClock,
    MemoryChangeFeed,
    MemoryMetricRepository,
    MemoryModelStore,
    MemoryReadingRepository,
)
from energy_core import Simulator
from energy_core.ports import BatchRefusedError
from energy_core.telemetry.readings import Origin, Reading
from energy_core.usecases.monitor import Monitor, Rejection
from energy_ui.csv_io import (
    CsvEncodingError,
    CsvFormatError,
    ImportSummary,
    csv_text,
    import_csv,
    neutralise,
    read_csv_batches,
    readings_frame,
)

HEADER = "meter_id,timestamp,voltage,current,active_power,power_factor,frequency,motor_temperature"
GOOD = "m-1,2025-01-01T00:00:00Z,230,10,2.0,0.9,50,40"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def batches(text: str, **options):
    return list(read_csv_batches(io.StringIO(text, newline=""), now=NOW, **options))


def good(second: int, meter: str = "m-1") -> str:
    return f"{meter},2025-01-01T00:00:{second:02d}Z,230,10,2.0,0.9,50,40"


def memory_monitor(readings: MemoryReadingRepository | None = None) -> Monitor:
    return Monitor(
        readings=(store := readings or MemoryReadingRepository()),
        queries=store,
        metrics=MemoryMetricRepository(),
        models=MemoryModelStore(),
        feed=MemoryChangeFeed(),
        clock=ManualClock(NOW),
    )


def where(rejections: Sequence[Rejection]) -> list[tuple[int, str]]:
    return [(rejection.index, rejection.field) for rejection in rejections]


def test_good_lines_are_accepted_and_bad_ones_reported_by_line_field_and_value():
    text = "\n".join(
        [
            HEADER,
            GOOD,
            "m-1,2025-01-01T00:01:00Z,abc,10,2,0.9,50,40",
            GOOD,
            "m-2,x,230,10,2,0.9,50,-300",
        ]
    )
    [batch] = batches(text)
    assert len(batch.readings) == 2 and batch.lines == 4
    assert batch.line_numbers == [2, 4]
    assert where(batch.rejected) == [(3, "voltage"), (5, "timestamp"), (5, "motor_temperature")]
    assert batch.rejected[0].value == "abc"
    assert "number" in batch.rejected[0].reason


def test_imported_readings_say_they_came_from_a_csv_file():
    [batch] = batches(f"{HEADER}\n{GOOD}\n")
    assert [reading.origin for reading in batch.readings] == [Origin("csv")]


def test_extra_cells_are_a_rejection_of_that_line():
    [batch] = batches(f"{HEADER}\n{GOOD},surplus\n{GOOD}\n")
    assert len(batch.readings) == 1
    assert batch.rejected[0].index == 2 and "more cells" in batch.rejected[0].reason


def test_batches_carry_their_own_line_numbers():
    text = "\n".join([HEADER] + [GOOD] * 4 + ["m-1,2025-01-01T00:00:00Z,-5,1,1,0.9,50,40"])
    found = batches(text, batch_size=2)
    assert [batch.lines for batch in found] == [2, 2, 1]
    assert found[1].line_numbers == [4, 5]
    assert found[-1].rejected[0].index == 6


def test_missing_columns_are_named_on_line_one():
    with pytest.raises(CsvFormatError, match=r"line 1: missing column\(s\) timestamp; expected"):
        batches("meter_id,voltage\nm,230\n")
    with pytest.raises(CsvFormatError, match="empty"):
        batches("")


def test_a_file_needs_at_least_one_variable_column():
    with pytest.raises(
        CsvFormatError, match=r"line 1: no variable column; expected at least one of voltage,"
    ):
        batches("meter_id,timestamp,is_anomaly\nm,2025-01-01,true\n")


def test_a_file_with_only_some_variable_columns_is_read_as_readings_with_only_those():
    [batch] = batches(
        "meter_id,timestamp,voltage,energy_import\n"
        "plug-1,2025-01-01T00:00:00Z,230.5,12.25\n"
        "plug-1,2025-01-01T00:00:01Z,,12.5\n"
    )
    assert batch.rejected == []
    assert [dict(reading.values) for reading in batch.readings] == [
        {"voltage": 230.5, "energy_import": 12.25},
        {"energy_import": 12.5},
    ]


def test_a_line_with_every_variable_cell_empty_is_refused_saying_so():
    [batch] = batches(f"{HEADER}\nm-1,2025-01-01T00:00:00Z,,,,,,\n{good(1)}\n")
    [rejection] = batch.rejected
    assert (rejection.index, rejection.field) == (2, "reading")
    assert rejection.reason.startswith("no known variable")
    assert len(batch.readings) == 1


def test_unknown_or_repeated_columns_are_named_on_line_one():
    with pytest.raises(CsvFormatError, match=r"line 1: unknown column\(s\) score"):
        batches(f"{HEADER},score\n{GOOD},0.5\n")
    with pytest.raises(CsvFormatError, match=r"line 1: column voltage appears twice"):
        batches(f"{HEADER},voltage\n{GOOD},230\n")


def test_bom_crlf_quotes_and_spaces_are_read_like_a_plain_file():
    plain = f"{HEADER}\n{good(0)}\n{good(1)}\n"
    quoted = ",".join(f'"{name}"' for name in HEADER.split(","))
    dressed = (
        "\ufeff"
        + quoted
        + "\r\n"
        + '"m-1","2025-01-01T00:00:00Z",230,10,"2.0",0.9,50,40\r\n'
        + "m-1, 2025-01-01T00:00:01Z, 230, 10, 2.0, 0.9, 50, 40\r\n"
        + "\r\n"
    )
    [expected] = batches(plain)
    [text_batch] = batches(dressed)
    file_summary = import_csv(memory_monitor(), io.BytesIO(dressed.encode("utf-8")))
    assert expected.readings == text_batch.readings
    assert (text_batch.rejected, text_batch.lines) == ([], 2)
    assert (file_summary.accepted, file_summary.rejected, file_summary.lines) == (2, [], 2)


def test_an_unterminated_quote_is_rejected_at_its_line_and_the_next_lines_are_read():
    text = "\n".join(
        [
            HEADER,
            good(0),
            good(1),
            'm-1,"2025-01-01T00:00:02Z,230,10,2.0,0.9,50,40',
            good(3),
            good(4),
        ]
    )
    summary = import_csv(memory_monitor(), io.BytesIO(text.encode()))
    assert (summary.lines, summary.accepted) == (5, 4)
    [rejection] = summary.rejected
    assert (rejection.index, rejection.field) == (4, "line")
    assert "unterminated quote" in rejection.reason


def test_an_unterminated_quote_on_the_last_line_is_rejected_at_that_line():
    [batch] = batches(f'{HEADER}\n{good(0)}\n"m-1,2025')
    assert (batch.lines, len(batch.readings)) == (2, 1)
    assert where(batch.rejected) == [(3, "line")]


def test_a_stray_quote_inside_a_cell_is_rejected_at_its_line():
    [batch] = batches(f'{HEADER}\nm-1,"2025-01-01T00:00:00Z"x,230,10,2.0,0.9,50,40\n{good(1)}\n')
    assert where(batch.rejected) == [(2, "line")]
    assert "malformed CSV" in batch.rejected[0].reason and len(batch.readings) == 1


def test_a_missing_field_is_named_as_missing_not_the_whole_row():
    short = "m-1"
    empty = "m-1,,230,10,2.0,0.9,50,40"
    [batch] = batches(f"{HEADER}\n{short}\n{empty}\n")
    assert where(batch.rejected) == [(2, "timestamp"), (3, "timestamp")]
    assert all(rejection.reason.startswith("missing") for rejection in batch.rejected)
    assert [rejection.value for rejection in batch.rejected] == [None, ""]
    assert "1 cells" in batch.rejected[0].reason


def test_an_empty_or_absent_variable_cell_is_a_variable_not_sent_never_zero():
    short = "m-1,2025-01-01T00:00:00Z,230,10,2.0,0.9"
    empty = "m-1,2025-01-01T00:00:01Z,230,,2.0,0.9,50,40"
    [batch] = batches(f"{HEADER}\n{short}\n{empty}\n")
    assert batch.rejected == []
    first, second = batch.readings
    assert set(first.values) == {"voltage", "current", "active_power", "power_factor"}
    assert "current" not in second.values and second["frequency"] == 50.0


def test_optional_columns_may_be_short_or_empty():
    header = f"{HEADER},is_anomaly,anomaly_kind"
    [batch] = batches(f"{header}\n{good(0)}\n{good(1)},true\n{good(2)},0,\n{good(3)},1,spike\n")
    assert batch.rejected == []
    assert [reading.is_anomaly for reading in batch.readings] == [None, True, False, True]
    assert [reading.anomaly_kind for reading in batch.readings] == [None, None, None, "spike"]


def test_a_file_that_is_not_utf8_is_refused_whole_naming_line_and_byte():
    before = f"{HEADER}\n{good(0)}\r\n{good(1)}\nm-1,caf".encode()
    data = before + b"\xe9,230,10,2.0,0.9,50,40\n" + f"{good(2)}\n".encode()
    monitor = memory_monitor()
    with pytest.raises(CsvEncodingError) as caught:
        import_csv(monitor, io.BytesIO(data))
    error = caught.value
    assert (4, len(before)) == (error.line, error.byte)
    assert f"line 4, byte {len(before)}" in str(error) and "UTF-8" in str(error)
    assert monitor.queries.count() == 0


def test_an_encoded_surrogate_is_an_encoding_error_at_its_line():
    data = f"{HEADER},anomaly_kind\n{good(0)},x\n{good(1)},".encode() + b"\xed\xa0\x80\n"
    with pytest.raises(CsvEncodingError, match="line 3"):
        import_csv(memory_monitor(), io.BytesIO(data))


@pytest.mark.parametrize("text", ["bad\x00kind", "bad\ud800kind"])
def test_nul_or_a_lone_surrogate_in_a_text_field_is_rejected_by_line_and_field(text):
    # Needs the lead's rule in energy_core/telemetry/validation.py (no NUL, no lone surrogates).
    source = f"{HEADER},anomaly_kind\n{good(0)},spike\n{good(1)},{text}\n{good(2)},spike\n"
    monitor = memory_monitor()
    summary = import_csv(monitor, io.StringIO(source, newline=""))
    assert where(summary.rejected) == [(3, "anomaly_kind")]
    assert 2 == summary.accepted == monitor.queries.count()


def test_a_nul_in_a_file_is_rejected_by_line_and_field():
    # Needs the lead's rule in energy_core/telemetry/validation.py (no NUL, no lone surrogates).
    source = f"{HEADER},anomaly_kind\n{good(0)},spike\n{good(1)},a\x00b\n"
    summary = import_csv(memory_monitor(), io.BytesIO(source.encode()))
    assert where(summary.rejected) == [(3, "anomaly_kind")]
    assert summary.accepted == 1


class RefusingRepository(MemoryReadingRepository):
    """Storage that refuses, for its content, any batch holding a meter named ``refused*``."""

    def __init__(self) -> None:
        super().__init__()
        self.offered = 0

    def add_many(self, readings: Sequence[Reading], *, key: str | None = None) -> list[Reading]:
        self.offered += 1
        if any(reading.meter_id.startswith("refused") for reading in readings):
            raise BatchRefusedError("storage refused a reading of this batch for its content")
        return super().add_many(readings, key=key)


def test_lines_storage_refuses_are_reported_and_the_rest_of_the_file_is_stored():
    meters = ["m-1", "refused-1", "m-1", "m-1", "m-1", "m-1", "refused-2", "m-1"]
    text = "\n".join([HEADER] + [good(second, meter) for second, meter in enumerate(meters)])
    repository = RefusingRepository()
    summary = import_csv(memory_monitor(repository), io.BytesIO(text.encode()), batch_size=3)
    assert (summary.lines, summary.accepted) == (8, 6)
    assert repository.count() == 6
    assert where(summary.rejected) == [(3, "line"), (8, "line")]
    assert "storage refused" in summary.rejected[0].reason
    assert {"m-1"} == {reading.meter_id for reading in repository.latest(10)}


def test_progress_sees_every_batch_and_the_expected_line_count():
    text = "\n".join([HEADER] + [good(second) for second in range(7)]) + "\n"
    seen: list[tuple[int, int | None]] = []

    def after(summary: ImportSummary) -> None:
        seen.append((summary.lines, summary.expected_lines))

    import_csv(memory_monitor(), io.BytesIO(text.encode()), batch_size=3, after_batch=after)
    assert seen == [(3, 7), (6, 7), (7, 7)]


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


def test_a_character_split_between_two_reads_is_not_an_encoding_error(monkeypatch):
    import energy_ui.csv_io as csv_io

    monkeypatch.setattr(csv_io, "_CHUNK", 5)  # every "é" (2 bytes) lands across some boundary
    source = f"{HEADER},anomaly_kind\n" + "".join(f"{good(s)},pérdida é\n" for s in range(4))
    summary = import_csv(memory_monitor(), io.BytesIO(source.encode()))
    assert (summary.accepted, summary.rejected, summary.expected_lines) == (4, [], 4)
