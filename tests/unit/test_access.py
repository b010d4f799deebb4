"""Who may act and read: the admin password, sessions, the storage secret, exposure."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from energy_ui.access import (
    SESSION_KEY,
    SESSION_MAX_AGE_S,
    Access,
    exposure_warning,
    is_loopback,
    storage_secret,
)
from energy_ui.settings import Settings

PASSWORD = "correct horse battery staple"


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_without_a_password_everything_is_open_and_nobody_logs_in():
    access = Access(settings())
    session: dict[str, object] = {}
    assert (access.protects_actions, access.protects_reading) == (False, False)
    assert access.may_act(session) and access.may_read(session)
    assert not access.log_in(session, "")
    assert not access.is_admin(session)


def test_with_a_password_actions_need_a_login_and_reading_stays_open():
    access = Access(settings(admin_password=PASSWORD))
    session: dict[str, object] = {}
    assert not access.may_act(session)
    assert access.may_read(session)
    assert not access.log_in(session, "wrong")
    assert session == {}
    assert access.log_in(session, PASSWORD)
    assert access.may_act(session) and access.is_admin(session)
    access.log_out(session)
    assert not access.may_act(session)


def test_read_access_login_guards_reading_too():
    access = Access(settings(admin_password=PASSWORD, read_access="login"))
    session: dict[str, object] = {}
    assert not access.may_read(session)
    access.log_in(session, PASSWORD)
    assert access.may_read(session)


def test_read_access_login_without_a_password_is_refused_at_start():
    with pytest.raises(ValidationError, match="ENERGY_ADMIN_PASSWORD"):
        settings(read_access="login")


def test_a_login_expires():
    clock = Clock()
    access = Access(settings(admin_password=PASSWORD), clock=clock)
    session: dict[str, object] = {}
    access.log_in(session, PASSWORD)
    clock.now += SESSION_MAX_AGE_S - 1
    assert access.is_admin(session)
    clock.now += 2
    assert not access.is_admin(session)


def test_a_new_password_ends_earlier_logins_and_forged_sessions_fail():
    session: dict[str, object] = {}
    Access(settings(admin_password="old password")).log_in(session, "old password")
    assert not Access(settings(admin_password=PASSWORD)).is_admin(session)
    access = Access(settings(admin_password=PASSWORD))
    for forged in (True, {"marker": "x", "at": 0}, {"at": 1e12}, "admin"):
        assert not access.is_admin({SESSION_KEY: forged})


def test_the_stored_session_holds_no_password():
    access = Access(settings(admin_password=PASSWORD))
    session: dict[str, object] = {}
    access.log_in(session, PASSWORD)
    assert PASSWORD not in repr(session)


def test_the_storage_secret_comes_from_the_settings_never_a_constant():
    assert storage_secret(settings(storage_secret="explicit")) == "explicit"
    derived = storage_secret(settings(admin_password=PASSWORD))
    assert derived == storage_secret(settings(admin_password=PASSWORD))
    assert derived != storage_secret(settings(admin_password="another"))
    assert PASSWORD not in derived
    assert storage_secret(settings()) != storage_secret(settings())  # random per process


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host):
    assert is_loopback(host)
    assert exposure_warning(settings(), host) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "energy.example.org"])
def test_exposing_without_a_password_warns_in_both_languages(host):
    warning = exposure_warning(settings(), host)
    assert warning is not None
    assert "ATENCIÓN" in warning and "WARNING" in warning and host in warning
    assert exposure_warning(settings(admin_password=PASSWORD), host) is None


def test_blank_secrets_count_as_unset():
    values = settings(admin_password=" ", storage_secret="", ingest_token="")
    assert (values.admin_password, values.storage_secret, values.ingest_token) == (None,) * 3
