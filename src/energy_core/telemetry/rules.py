"""What can be stored: the one rule every way in applies before anything is written.

Text must be free of what PostgreSQL refuses (NUL) or cannot encode (lone surrogates) and
of other control characters, and within its length; instants must lie in a sane range (far
from the calendar's edges, where time-zone arithmetic and databases overflow, and not
ahead of our clock by more than a meter's drift). Each check returns the reason a value is
refused, or ``None``: callers word where (index, line, field) in their own terms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EARLIEST_TIMESTAMP = datetime(2000, 1, 1, tzinfo=UTC)
"""The oldest instant a reading may carry by default: older than any meter's data."""

FUTURE_TOLERANCE = timedelta(minutes=10)
"""How far ahead of our clock a meter's timestamp may be (meter clocks drift)."""

MAX_TEXT_LENGTH = 200
"""Longest free text (an anomaly kind) a reading may carry."""

_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class StorageRules:
    """The bounds of what is accepted; settings may widen or narrow them."""

    earliest: datetime = EARLIEST_TIMESTAMP
    future_tolerance: timedelta = FUTURE_TOLERANCE
    max_text_length: int = MAX_TEXT_LENGTH

    def timestamp_problem(self, moment: datetime, now: datetime | None) -> str | None:
        """Why ``moment`` (aware) cannot be stored, or ``None`` (how far ahead of ``now`` it
        may be is only checked when ``now`` is known)."""
        if moment < self.earliest:
            return f"is before {self.earliest.isoformat()} (the oldest accepted instant)"
        if now is not None and moment > now + self.future_tolerance:
            return f"is in the future (more than {self.future_tolerance} ahead of {now})"
        return None

    def text_problem(self, text: str) -> str | None:
        """Why ``text`` cannot be stored, or ``None``."""
        if len(text) > self.max_text_length:
            return f"is longer than {self.max_text_length} characters"
        found = _UNSTORABLE.search(text)
        if found is not None:
            character = found.group()
            kind = "NUL" if character == "\x00" else f"U+{ord(character):04X}"
            what = "a lone surrogate" if 0xD800 <= ord(character) <= 0xDFFF else "a control"
            return f"contains {what} character ({kind}) at position {found.start()}"
        return None


DEFAULT_RULES = StorageRules()
