"""Meter-id patterns: which meters a credential (an ingest token, a gateway) may write.

A pattern is a shell-style glob over meter ids, case-sensitive like meter ids themselves:
``*`` any run of characters, ``?`` one character, ``[ab]`` one of, ``[!ab]`` none of.
No pattern at all means every meter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import Final

MAX_PATTERN_LENGTH: Final = 128
# The characters of a meter id (see validation.METER_ID_PATTERN) plus the glob operators.
_PATTERN: Final = re.compile(r"[A-Za-z0-9_.:\-*?\[\]!]+")


def check_pattern(pattern: str) -> str:
    """``pattern`` itself if it is a usable meter-id glob, else ``ValueError`` naming it."""
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"meter pattern {pattern!r}: must not be empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(
            f"meter pattern {pattern[:20]!r}…: longer than {MAX_PATTERN_LENGTH} characters"
        )
    if not _PATTERN.fullmatch(pattern):
        raise ValueError(
            f"meter pattern {pattern!r}: only letters, digits, _ . : - and the glob "
            "characters * ? [ ] ! are allowed"
        )
    return pattern


def check_patterns(patterns: Iterable[str]) -> tuple[str, ...]:
    """Every pattern checked, duplicates dropped, in the order given."""
    return tuple(dict.fromkeys(check_pattern(pattern) for pattern in patterns))


def allows(patterns: Sequence[str], meter_id: str) -> bool:
    """Whether a credential limited to ``patterns`` may write ``meter_id`` (none: any)."""
    return not patterns or any(fnmatchcase(meter_id, pattern) for pattern in patterns)
