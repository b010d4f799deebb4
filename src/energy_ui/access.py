"""Who may do what: the dashboard's admin login, and reads under ``ENERGY_READ_ACCESS=login``.

No web framework here: a *session* is any mutable mapping (the dashboard passes NiceGUI's
``app.storage.user``, which lives on the server and is found by a signed cookie).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from collections.abc import Callable, Mapping, MutableMapping
from functools import lru_cache
from typing import Any, Final

from energy_ui.settings import Settings

SESSION_KEY: Final = "smartenergy_admin"
SESSION_MAX_AGE_S: Final = 12 * 3600.0
"""A login lasts this long (seconds), then the admin logs in again."""
FAILED_LOGIN_DELAY_S: Final = 1.0
"""Seconds a wrong password waits before its answer (slows guessing)."""
_KDF_ITERATIONS: Final = 200_000


@lru_cache(maxsize=8)
def _derived_key(password: str, purpose: bytes) -> bytes:
    # A slow hash: what is derived from the password (the cookie's signing key, the stored
    # session marker) must not make guessing the password cheap.
    return hashlib.pbkdf2_hmac(
        "sha256", password.encode(), b"smartenergy:" + purpose, _KDF_ITERATIONS
    )


def storage_secret(settings: Settings) -> str:
    """The key that signs the dashboard's session cookie: ``ENERGY_STORAGE_SECRET``, else
    derived from ``ENERGY_ADMIN_PASSWORD``; without either nobody logs in, so a random key of
    this process will do."""
    if settings.storage_secret is not None:
        return settings.storage_secret.get_secret_value()
    if settings.admin_password is not None:
        return _derived_key(settings.admin_password.get_secret_value(), b"storage").hex()
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the app reachable from this machine only."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def exposure_warning(settings: Settings, host: str) -> str | None:
    """The warning to print when ``host`` exposes the dashboard with its actions open."""
    if is_loopback(host) or settings.admin_password is not None:
        return None
    return (
        f"ATENCIÓN: el panel escucha en {host} sin ENERGY_ADMIN_PASSWORD: cualquiera que lo "
        "alcance puede entrenar, cargar datos o reiniciar la base de datos.\n"
        f"WARNING: the dashboard listens on {host} without ENERGY_ADMIN_PASSWORD: anyone who "
        "reaches it can train, upload data or reset the database. See docs/security.md."
    )


class Access:
    """The admin password and what it guards.

    Without a password every action is open (the local demo). With one, the actions need
    a login; with ``read_access="login"`` reading needs it too.
    """

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        password = settings.admin_password
        self._password = password.get_secret_value().encode() if password else None
        self.read_access = settings.read_access
        self.clock = clock
        self.failed_login_delay = FAILED_LOGIN_DELAY_S
        # Stored in the session instead of a mere flag, so that a new password ends every
        # earlier login (even one kept on disk across restarts).
        self._marker = (
            hmac.new(
                _derived_key(password.get_secret_value(), b"session"), b"admin", "sha256"
            ).hexdigest()
            if password
            else ""
        )

    @property
    def protects_actions(self) -> bool:
        return self._password is not None

    @property
    def protects_reading(self) -> bool:
        return self._password is not None and self.read_access == "login"

    def check(self, password: str) -> bool:
        """Whether ``password`` is the admin password (constant-time comparison)."""
        if self._password is None:
            return False
        return hmac.compare_digest(password.encode(), self._password)

    def log_in(self, session: MutableMapping[str, Any], password: str) -> bool:
        """Record a login in ``session`` when ``password`` is right; whether it was."""
        if not self.check(password):
            return False
        session[SESSION_KEY] = {"marker": self._marker, "at": self.clock()}
        return True

    def log_out(self, session: MutableMapping[str, Any]) -> None:
        session.pop(SESSION_KEY, None)

    def is_admin(self, session: Mapping[str, Any]) -> bool:
        """Whether ``session`` holds a current login."""
        if self._password is None:
            return False
        login = session.get(SESSION_KEY)
        if not isinstance(login, Mapping):
            return False
        marker, at = login.get("marker"), login.get("at")
        if not isinstance(marker, str) or not isinstance(at, int | float):
            return False
        fresh = 0 <= self.clock() - at <= SESSION_MAX_AGE_S
        return fresh and hmac.compare_digest(marker, self._marker)

    def may_act(self, session: Mapping[str, Any]) -> bool:
        """Whether ``session`` may train, recalculate, generate, reset or upload."""
        return not self.protects_actions or self.is_admin(session)

    def may_read(self, session: Mapping[str, Any]) -> bool:
        """Whether ``session`` may see the readings."""
        return not self.protects_reading or self.is_admin(session)
