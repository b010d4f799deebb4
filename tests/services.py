"""Reaching the real services the integration tests need, or skipping visibly.

Where a service is unreachable, its tests skip with the reason — except under CI=true,
where they fail: CI must never silently skip what it is meant to check.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn
from urllib.parse import urlsplit

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable(reason: str) -> NoReturn:
    """Skip the test with ``reason``, or fail it under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: this test must run)", pytrace=False)
    pytest.skip(reason)


def mqtt_test_broker() -> tuple[str, int]:
    url = os.environ.get("ENERGY_TEST_MQTT_URL", "mqtt://127.0.0.1:1883")
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    if not reachable(host, port):
        unavailable(f"no MQTT broker at {host}:{port} (set ENERGY_TEST_MQTT_URL)")
    return host, port


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
