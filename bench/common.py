"""What the benchmark scripts share (not part of the product): the scratch database, a
process of their own to measure, readings of /proc, medians and the report (a table, then
one JSON object as the last line)."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg2
from sqlalchemy import make_url, text

if TYPE_CHECKING:
    from sqlalchemy import Engine

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SEEDED_READINGS = 10_000


# --- figures and the report -----------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    """The median of ``values``, as a float."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], fraction: float) -> float:
    """The value at ``fraction`` (0–1) of ``values`` in order (nearest rank, no interpolation)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return float(ordered[index])


def timed(run: Callable[[], Any], repeats: int) -> tuple[float, float, Any]:
    """Median and 90th percentile in ms of ``repeats`` calls of ``run`` (after one call to
    warm up), and what the last call returned."""
    result = run()
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        durations.append((time.perf_counter() - started) * 1000)
    durations.sort()
    return statistics.median(durations), durations[int(0.9 * (len(durations) - 1))], result


def print_table(title: str, rows: Sequence[Sequence[Any]], header: Sequence[str]) -> None:
    """``title``, then ``header`` and ``rows`` in columns as wide as their widest cell."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    print(title)
    for line in (header, ["-" * width for width in widths], *rows):
        cells = (str(cell).ljust(width) for cell, width in zip(line, widths, strict=False))
        print("  ".join(cells).rstrip())


def emit_json(figures: Mapping[str, Any]) -> None:
    """The last line of every benchmark: ``figures`` as one JSON object, keys sorted."""
    print(json.dumps(figures, sort_keys=True), flush=True)


# --- PostgreSQL -------------------------------------------------------------------------------
def server_url() -> str:
    """The server the benchmarks use: ``DATABASE_URL``, or the local one."""
    return os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL


def connect(url: str, **options: Any) -> Any:
    """A psycopg2 connection to the database of ``url`` (``options`` passed on)."""
    parsed = make_url(url)
    return psycopg2.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or None,
        dbname=parsed.database or "postgres",
        **options,
    )


def postgres_reachable(url: str) -> bool:
    """Whether the server of ``url`` accepts a connection within 3 s."""
    try:
        connect(url, connect_timeout=3).close()
    except psycopg2.Error:
        return False
    return True


@contextmanager
def scratch_database(url: str, prefix: str) -> Iterator[str]:
    """The URL of a new, empty database beside ``url``'s; dropped (forcibly) at the end."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = connect(url)
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@contextmanager
def scratch_engine(url: str, prefix: str) -> Iterator[Engine]:
    """An engine on a scratch database beside ``url``'s (``scratch_database``) with the
    product's schema; disposed, and the database dropped, at the end."""
    from energy_adapters.postgres import open_engine, upgrade

    with scratch_database(url, prefix) as database_url:
        upgrade(database_url)
        engine = open_engine(database_url)
        try:
            yield engine
        finally:
            engine.dispose()


def seed(database_url: str, *, train: bool = True) -> None:
    """Schema, 10,000 simulated readings and (with ``train``) a trained model, as
    ``reset-db`` + ``train`` leave a database; retention out of reach."""
    from energy_ui.bootstrap import bootstrap
    from energy_ui.settings import Settings

    settings = Settings(_env_file=None, database_url=database_url, max_readings=1_000_000_000)
    application = bootstrap(settings)
    try:
        application.monitor.generate_history(SEEDED_READINGS)
        if train:
            application.monitor.train()
    finally:
        application.close()


def stored_readings(engine: Engine, prefix: str) -> int:
    """Readings stored for the meters whose id starts with ``prefix``."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM registros WHERE meter_id LIKE :p"), {"p": f"{prefix}%"}
            ).scalar_one()
        )


def stored_twice(engine: Engine, prefix: str) -> int:
    """(meter, timestamp) pairs stored more than once for meters starting with ``prefix``."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT meter_id, timestamp FROM registros"
                    " WHERE meter_id LIKE :p GROUP BY 1, 2 HAVING count(*) > 1) twice"
                ),
                {"p": f"{prefix}%"},
            ).scalar_one()
        )


# --- the process under measurement -----------------------------------------------------------
def free_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of asking."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serve_command(port: int) -> list[str]:
    """``python -m energy_ui serve`` on 127.0.0.1:``port``, with this interpreter."""
    return [sys.executable, "-m", "energy_ui", "serve", "--host", "127.0.0.1", "--port", str(port)]


def bench_env(database_url: str | None = None, **settings: str) -> dict[str, str]:
    """This environment for a served process, without the caller's ``DATABASE_URL`` and
    ``ENERGY_*``: this checkout's ``src/`` on ``PYTHONPATH``, then ``settings``, and
    ``DATABASE_URL`` set to ``database_url`` unless it is None (then: in memory)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "DATABASE_URL" and not key.startswith("ENERGY_")
    }
    env.update(PYTHONPATH=str(ROOT / "src"), **settings)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


@contextmanager
def running(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    log: Path,
    pipe_stdout: bool = False,
) -> Iterator[subprocess.Popen[bytes]]:
    """``command`` as a process of its own, its output written to ``log`` (its stdout piped
    to the caller instead with ``pipe_stdout``); interrupted (SIGINT) at the end and killed
    if it has not stopped 20 s later."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=dict(env),
            stdout=subprocess.PIPE if pipe_stdout else output,
            stderr=output,
        )
        try:
            yield process
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def wait_until_answers(
    url: str,
    *,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    timeout: float = 60.0,
) -> None:
    """Poll ``url`` until it answers 200; raises if ``timeout`` seconds pass first or
    ``process`` exits (with the end of its ``log``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            said = log.read_text(errors="replace")[-3000:] if log is not None else ""
            raise RuntimeError(f"the server exited:\n{said}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux /proc), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | None = None) -> float:
    """Resident memory of process ``pid`` (default: this one) in MB (Linux /proc)."""
    with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not found")


# --- what the meters send ---------------------------------------------------------------------
def value_pool(size: int) -> list[str]:
    """``size`` JSON fragments (``"name":value,…``) of plausible readings' values: the
    simulator's, a few of them faulty."""
    from energy_core import Simulator

    history = Simulator(meters=10, seed=11, anomaly_ratio=0.005).history(size)
    return [
        ",".join(f'"{name}":{value!r}' for name, value in reading.values.items())
        for reading in history
    ]
