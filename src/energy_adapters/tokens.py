"""Named HTTP ingest tokens: what is stored about them, the store's protocol, and the store
in memory (the PostgreSQL one is ``energy_adapters.postgres.tokens``).

A store never sees a token: only its SHA-256 digest (64 hex characters), computed by the
caller. The core does not need tokens, so this protocol lives with its adapters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class IngestToken:
    """What may be shown about a token: never the token nor its digest."""

    name: str
    meter_patterns: tuple[str, ...]
    """Meter-id globs the token may write; empty: every meter."""
    created_at: datetime
    last_used_at: datetime | None = None
    """Recorded by the verifying processes, to within about a minute; ``None``: never."""


@dataclass(frozen=True)
class ActiveToken:
    """What verifying a presented token needs."""

    name: str
    digest: str
    """SHA-256 of the token, hexadecimal."""
    meter_patterns: tuple[str, ...]


class TokenExistsError(ValueError):
    """A token of that name (or, by a one in 2²⁵⁶ chance, that digest) is already stored."""


class TokenStore(Protocol):
    def add(
        self, name: str, digest: str, meter_patterns: Sequence[str], *, created_at: datetime
    ) -> IngestToken:
        """Store a token by its digest; ``TokenExistsError`` when the name is taken."""
        ...

    def tokens(self) -> list[IngestToken]:
        """Every token, by name."""
        ...

    def revoke(self, name: str) -> bool:
        """Forget the token ``name``; whether there was one."""
        ...

    def active(self) -> list[ActiveToken]:
        """Every token with its digest, for verification."""
        ...

    def touch(self, used: Mapping[str, datetime]) -> None:
        """Record that the tokens of these digests were used at these moments (a later
        moment already recorded is kept; unknown digests are ignored)."""
        ...


def taken(name: str) -> TokenExistsError:
    return TokenExistsError(
        f"a token named {name!r} already exists; revoke it first (smartenergy tokens revoke "
        f"{name}) or choose another name / ya existe un token con ese nombre"
    )


class MemoryTokenStore:
    """Tokens in this process only: the demo and the tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, IngestToken] = {}
        self._digests: dict[str, str] = {}  # name → digest

    def add(
        self, name: str, digest: str, meter_patterns: Sequence[str], *, created_at: datetime
    ) -> IngestToken:
        record = IngestToken(name, tuple(meter_patterns), created_at)
        with self._lock:
            if name in self._records or digest in self._digests.values():
                raise taken(name)
            self._records[name] = record
            self._digests[name] = digest
        return record

    def tokens(self) -> list[IngestToken]:
        with self._lock:
            return [self._records[name] for name in sorted(self._records)]

    def revoke(self, name: str) -> bool:
        with self._lock:
            self._digests.pop(name, None)
            return self._records.pop(name, None) is not None

    def active(self) -> list[ActiveToken]:
        with self._lock:
            return [
                ActiveToken(name, self._digests[name], record.meter_patterns)
                for name, record in sorted(self._records.items())
            ]

    def touch(self, used: Mapping[str, datetime]) -> None:
        with self._lock:
            names = {digest: name for name, digest in self._digests.items()}
            for digest, moment in used.items():
                name = names.get(digest)
                if name is None:
                    continue
                record = self._records[name]
                if record.last_used_at is None or record.last_used_at < moment:
                    self._records[name] = replace(record, last_used_at=moment)
