"""`smartenergy serve` started as a real process on a free port, reached over real HTTP.

Two servers per test session: the in-memory demo with ``ENERGY_READ_ACCESS=login``, and one
on the session's scratch PostgreSQL database with open reads and a trusted proxy that is not
this machine. Both have an ingest token and an admin password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.services import free_port

TOKEN = "served-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN_PASSWORD = "served-admin-password"
STARTUP_TIMEOUT_S = 90.0


def command() -> list[str]:
    """The installed console script, as a user runs it (the module when it is missing)."""
    script = Path(sys.executable).with_name("smartenergy")
    if script.exists():
        return [str(script), "serve"]
    return [sys.executable, "-m", "energy_ui", "serve"]


class ServedApp:
    """One ``smartenergy serve`` process; its output goes to files in its work folder."""

    def __init__(self, name: str, **environment: str) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"smartenergy-served-{name}-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("ENERGY_", "NICEGUI_", "PYTEST_")) and key != "DATABASE_URL"
        }
        env.update(
            PYTHONUNBUFFERED="1",
            ENERGY_PORT=str(self.port),
            ENERGY_INGEST_TOKEN=TOKEN,
            ENERGY_ADMIN_PASSWORD=ADMIN_PASSWORD,
            ENERGY_LANGUAGE="en",
            **environment,
        )
        self.stdout = (self.workdir / "stdout.txt").open("w")
        self.stderr = (self.workdir / "stderr.txt").open("w")
        self.process = subprocess.Popen(
            command(), cwd=self.workdir, env=env, stdout=self.stdout, stderr=self.stderr
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        self.stdout.flush()
        self.stderr.flush()
        out = (self.workdir / "stdout.txt").read_text(errors="replace")
        err = (self.workdir / "stderr.txt").read_text(errors="replace")
        return f"--- stdout ---\n{out[-3000:]}\n--- stderr ---\n{err[-3000:]}"

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"serve exited with {self.process.returncode}\n{self.output()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        pytest.fail(f"serve did not answer /healthz in {STARTUP_TIMEOUT_S} s\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.stdout.close()
        self.stderr.close()

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=60)


@pytest.fixture(scope="session")
def memory_server() -> Iterator[ServedApp]:
    """The in-memory demo (a small history, trained at start); reads need a login."""
    server = ServedApp("memory", ENERGY_READ_ACCESS="login", ENERGY_DEMO_HISTORY="600")
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(pg_database_url: str) -> Iterator[ServedApp]:
    """On the session's scratch PostgreSQL database; reads open; the only trusted proxy is
    an address this machine is not (so its X-Forwarded-Proto is ignored)."""
    server = ServedApp(
        "postgres",
        DATABASE_URL=pg_database_url,
        ENERGY_TRUSTED_PROXIES="192.0.2.1",
        ENERGY_MAX_READINGS="1000000",
    )
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest) -> ServedApp:
    """Each served app in turn."""
    return request.getfixturevalue(f"{request.param}_server")
