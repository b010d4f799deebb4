"""The storage rules at their exact bounds, and the reasons they give (which a user reads)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from energy_core.telemetry.rules import EARLIEST_TIMESTAMP, FUTURE_TOLERANCE, StorageRules

RULES = StorageRules()
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
TICK = timedelta(microseconds=1)


def test_text_of_exactly_the_maximum_length_is_storable_and_one_more_is_not():
    assert RULES.text_problem("x" * RULES.max_text_length) is None
    assert RULES.text_problem("x" * (RULES.max_text_length + 1)) == "is longer than 200 characters"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("ab\x00", "contains a control character (NUL) at position 2"),
        ("\x01", "contains a control character (U+0001) at position 0"),
        ("a\x7f", "contains a control character (U+007F) at position 1"),
        ("x\ud800", "contains a lone surrogate character (U+D800) at position 1"),
        ("\udfff", "contains a lone surrogate character (U+DFFF) at position 0"),
    ],
)
def test_unstorable_characters_are_named_with_their_position(text, reason):
    assert RULES.text_problem(text) == reason


@pytest.mark.parametrize("text", ["tab\tand\nnewline\r", "\ud7ff\ue000", "pérdida é ✓"])
def test_other_text_is_storable(text):
    assert RULES.text_problem(text) is None


def test_the_earliest_instant_is_storable_and_one_microsecond_before_is_not():
    assert RULES.timestamp_problem(EARLIEST_TIMESTAMP, NOW) is None
    assert RULES.timestamp_problem(EARLIEST_TIMESTAMP - TICK, NOW) == (
        "is before 2000-01-01T00:00:00+00:00 (the oldest accepted instant)"
    )


def test_up_to_the_tolerance_ahead_of_the_clock_is_storable_and_beyond_is_not():
    assert RULES.timestamp_problem(NOW + FUTURE_TOLERANCE, NOW) is None
    assert RULES.timestamp_problem(NOW + FUTURE_TOLERANCE + TICK, NOW) == (
        f"is in the future (more than 0:10:00 ahead of {NOW})"
    )


def test_without_a_clock_only_the_earliest_bound_is_checked():
    assert RULES.timestamp_problem(NOW + timedelta(days=3650), None) is None
