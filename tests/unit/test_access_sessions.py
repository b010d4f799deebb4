"""A login's edges: valid from its very instant to exactly its maximum age, malformed sessions
refused without an error, logging out always harmless."""

from __future__ import annotations

import pytest

from energy_ui.access import FAILED_LOGIN_DELAY_S, SESSION_KEY, SESSION_MAX_AGE_S, Access
from energy_ui.settings import Settings

PASSWORD = "correct horse battery staple"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def guarded(clock: Clock) -> Access:
    return Access(Settings(_env_file=None, admin_password=PASSWORD), clock=clock)


def test_a_login_holds_from_its_instant_to_exactly_its_maximum_age():
    clock = Clock()
    access = guarded(clock)
    session: dict[str, object] = {}
    assert access.log_in(session, PASSWORD)
    assert access.is_admin(session)  # at the very instant of logging in
    clock.now += SESSION_MAX_AGE_S
    assert access.is_admin(session)
    clock.now += 0.001
    assert not access.is_admin(session)


def test_a_login_stamped_in_the_future_is_refused():
    clock = Clock()
    access = guarded(clock)
    session: dict[str, object] = {}
    access.log_in(session, PASSWORD)
    clock.now -= 1
    assert not access.is_admin(session)


@pytest.mark.parametrize(
    "login",
    [
        {"marker": "m", "at": "yesterday"},
        {"marker": 7, "at": 1_000_000.0},
        {"marker": None, "at": None},
        {"at": "1"},
    ],
)
def test_a_malformed_login_is_refused_not_an_error(login):
    access = guarded(Clock())
    valid: dict[str, object] = {}
    access.log_in(valid, PASSWORD)
    forged = {**valid[SESSION_KEY], **login}  # type: ignore[dict-item]
    assert not access.is_admin({SESSION_KEY: forged})


def test_logging_out_is_harmless_whether_or_not_logged_in():
    access = guarded(Clock())
    session: dict[str, object] = {"other": 1}
    access.log_out(session)
    assert session == {"other": 1}
    access.log_in(session, PASSWORD)
    access.log_out(session)
    assert session == {"other": 1} and not access.is_admin(session)


def test_a_wrong_password_is_slowed_down_by_default():
    assert guarded(Clock()).failed_login_delay == FAILED_LOGIN_DELAY_S > 0
