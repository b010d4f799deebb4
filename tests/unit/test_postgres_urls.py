"""URL handling and one-line errors; none of these needs a running server."""

from __future__ import annotations

import pytest

from energy_adapters.postgres import DatabaseUnavailableError, connect, describe_url
from tests.postgres_support import free_port


def test_describe_url_masks_the_password_and_names_host_port_and_database():
    described = describe_url("postgresql://energy:s3cret@db.internal:6543/smartenergy")
    assert described == "postgresql://energy:***@db.internal:6543/smartenergy"


def test_describe_url_fills_in_the_default_port_and_keeps_passwordless_users():
    assert describe_url("postgresql://postgres@localhost/energy") == (
        "postgresql://postgres@localhost:5432/energy"
    )


def test_a_malformed_url_is_one_line_without_the_password():
    with pytest.raises(DatabaseUnavailableError) as raised:
        connect("postgresql://energy:s3cret@db.internal:notaport/smartenergy")
    message = str(raised.value)
    assert "\n" not in message
    assert "s3cret" not in message
    assert "db.internal" in message and "smartenergy" in message


def test_a_url_of_another_database_kind_is_refused_clearly():
    with pytest.raises(DatabaseUnavailableError, match="not a PostgreSQL URL"):
        connect("mysql://energy:s3cret@db.internal/smartenergy")


def test_an_unreachable_server_is_one_line_naming_host_and_database():
    port = free_port()  # nothing listens there
    with pytest.raises(DatabaseUnavailableError) as raised:
        connect(f"postgresql://energy:s3cret@127.0.0.1:{port}/smartenergy", connect_timeout=2)
    message = str(raised.value)
    assert "\n" not in message
    assert "s3cret" not in message
    assert f"127.0.0.1:{port}" in message
    assert "'smartenergy'" in message
    assert raised.value.__cause__ is None  # no chained traceback to print
