"""Named HTTP ingest tokens: issuing one, verifying a presented one, and keeping a request to
the meters its token may write.

A token is ``se_`` + 256 random bits (URL-safe base64) and is stored only as its SHA-256: a
high-entropy secret needs no slow hash, and a table dump reveals no usable token. A process
keeps a copy of the active digests for ``max_age_s`` seconds (``ENERGY_TOKEN_CACHE_S``), so
verifying costs no query per request and a token added or revoked in another process is
honoured here within that time. The legacy ``ENERGY_INGEST_TOKEN`` stays valid for every
meter and is checked first, without the store.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from pydantic import SecretStr

from energy_adapters.tokens import ActiveToken, IngestToken, TokenStore
from energy_core import Rejection
from energy_core.telemetry.meter_patterns import allows, check_patterns
from energy_core.telemetry.validation import METER_ID_PATTERN

log = logging.getLogger(__name__)

TOKEN_PREFIX: Final = "se_"
TOKEN_BYTES: Final = 32
MAX_TOKEN_LENGTH: Final = 1024
"""A presented token longer than this is refused without hashing it."""
TOUCH_EVERY_S: Final = 60.0
"""How often a process writes the tokens' last use to the store (seconds)."""
NAME_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
_METER_ID: Final = re.compile(METER_ID_PATTERN)


class IngestClosedError(Exception):
    """Neither ``ENERGY_INGEST_TOKEN`` nor any named token: HTTP ingest is closed."""


class TokenRefusedError(Exception):
    """No token, or one that is not (or no longer) valid."""


@dataclass(frozen=True)
class TokenGrant:
    """Who a verified request is, and which meters it may write."""

    name: str | None
    """The token's name; ``None`` for the legacy ``ENERGY_INGEST_TOKEN``."""
    meter_patterns: tuple[str, ...] = ()
    """Meter-id globs; empty: every meter."""

    @property
    def restricted(self) -> bool:
        return bool(self.meter_patterns)

    def allows(self, meter_id: str) -> bool:
        return allows(self.meter_patterns, meter_id)

    def idempotency_key(self, key: str) -> str:
        """``key`` in this token's own namespace: two gateways choosing the same key never
        answer each other's batches (the legacy token keeps the namespace it always had)."""
        return f"http:{key}" if self.name is None else f"http@{self.name}:{key}"

    def refusal(self, meter_id: str) -> str:
        """Why a reading for ``meter_id`` is refused to this grant."""
        return (
            f"token {self.name!r} may not write meter {meter_id!r} "
            f"(allowed: {', '.join(self.meter_patterns)})"
        )


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """SHA-256 of ``token`` (UTF-8), hexadecimal: what the store keeps."""
    return hashlib.sha256(token.encode("utf-8", errors="surrogatepass")).hexdigest()


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"token name {name!r}: 1 to 64 letters, digits, _ . -, starting with a letter or "
            "digit / nombre de token no válido"
        )
    return name


def issue_token(
    store: TokenStore, name: str, meter_patterns: Iterable[str], *, now: datetime
) -> tuple[str, IngestToken]:
    """A new token named ``name`` limited to ``meter_patterns`` (none: every meter): the
    token, to show once, and what is stored about it. ``ValueError`` for a bad name or
    pattern, ``TokenExistsError`` for a name in use."""
    patterns = check_patterns(meter_patterns)
    token = new_token()
    record = store.add(check_name(name), token_digest(token), patterns, created_at=now)
    return token, record


@dataclass(frozen=True)
class _Snapshot:
    tokens: tuple[tuple[bytes, ActiveToken], ...]
    loaded_at: float


class TokenVerifier:
    """Verifies presented bearer tokens against ``ENERGY_INGEST_TOKEN`` and the store.

    Thread-safe: FastAPI runs the dependency that calls it in its thread pool.
    """

    def __init__(
        self,
        store: TokenStore,
        legacy: SecretStr | None,
        *,
        max_age_s: float = 2.0,
        touch_every_s: float = TOUCH_EVERY_S,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._store = store
        secret = legacy.get_secret_value() if legacy is not None else ""
        self._legacy = secret.encode() if secret else None
        self._max_age_s = max_age_s
        self._touch_every_s = touch_every_s
        self._monotonic = monotonic
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._used: dict[str, datetime] = {}
        self._touched_at: float | None = None

    def verify(self, presented: str | None) -> TokenGrant:
        """The grant of ``presented``; ``TokenRefusedError`` or ``IngestClosedError``.
        The store's errors (e.g. the database being away) pass through."""
        given = (presented or "").encode("utf-8", errors="surrogatepass")
        if self._legacy is not None and hmac.compare_digest(given, self._legacy):
            return TokenGrant(name=None)
        tokens = self._tokens()
        if self._legacy is None and not tokens:
            raise IngestClosedError
        if not given or len(given) > MAX_TOKEN_LENGTH:
            raise TokenRefusedError
        digest = hashlib.sha256(given).digest()
        found: ActiveToken | None = None
        for candidate, token in tokens:  # every one compared, none skipped: constant time
            if hmac.compare_digest(candidate, digest):
                found = token
        if found is None:
            raise TokenRefusedError
        self._record_use(found.digest)
        return TokenGrant(name=found.name, meter_patterns=found.meter_patterns)

    def _tokens(self) -> tuple[tuple[bytes, ActiveToken], ...]:
        with self._lock:
            now = self._monotonic()
            snapshot = self._snapshot
            if snapshot is None or now - snapshot.loaded_at >= self._max_age_s:
                active = self._store.active()
                snapshot = _Snapshot(
                    tokens=tuple((bytes.fromhex(token.digest), token) for token in active),
                    loaded_at=now,
                )
                self._snapshot = snapshot
            return snapshot.tokens

    def _record_use(self, digest: str) -> None:
        with self._lock:
            self._used[digest] = self._clock()
            now = self._monotonic()
            if self._touched_at is not None and now - self._touched_at < self._touch_every_s:
                return
            used, self._used = self._used, {}
            self._touched_at = now
        try:
            self._store.touch(used)
        except Exception:  # last use is a courtesy: never refuse a request for it
            log.warning("could not record the ingest tokens' last use", exc_info=True)
            with self._lock:
                self._used = {**used, **self._used}


def restrict_to_grant(
    items: Sequence[tuple[int, object]], grant: TokenGrant
) -> tuple[list[tuple[int, object]], list[Rejection]]:
    """Split ``(index, raw reading)`` pairs into those ``grant`` may write and a rejection
    (field ``meter_id``) for each of the others. A reading without a well-formed
    ``meter_id`` is kept: validation reports it."""
    if not grant.restricted:
        return list(items), []
    kept: list[tuple[int, object]] = []
    refused: list[Rejection] = []
    for index, raw in items:
        meter_id = raw.get("meter_id") if isinstance(raw, Mapping) else None
        if (
            isinstance(meter_id, str)
            and _METER_ID.fullmatch(meter_id) is not None
            and not grant.allows(meter_id)
        ):
            refused.append(Rejection(index, "meter_id", meter_id, grant.refusal(meter_id)))
        else:
            kept.append((index, raw))
    return kept, refused
