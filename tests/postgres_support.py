"""PostgreSQL for the tests: which server, scratch databases, and throwaway servers.

The server is ``ENERGY_TEST_DATABASE_URL`` (default: the local one). Without a reachable
server the PostgreSQL tests skip with the reason, except under ``CI=true``, where they fail:
CI must never go green by skipping them.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import psycopg2.extensions
from sqlalchemy import Engine, make_url, text

from tests.services import free_port, unavailable

SERVER_URL_VARIABLE = "ENERGY_TEST_DATABASE_URL"
DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ALL_TABLES = ", ".join(
    [
        "registros",
        "registros_por_minuto",
        "registros_contadores",
        "metricas",
        "modelos",
        "lotes",
        "tokens_ingesta",
        "medidores",
        "alertas",
        "notificaciones",
        "silencios",
        "ventanas_mantenimiento",
        "valoraciones",
    ]
)


def server_url() -> str:
    return os.environ.get(SERVER_URL_VARIABLE) or DEFAULT_SERVER_URL


def admin_connection(url: str) -> psycopg2.extensions.connection:
    """An autocommit psycopg2 connection to ``url`` (for CREATE/DROP DATABASE)."""
    parsed = make_url(url)
    connection = psycopg2.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or None,
        dbname=parsed.database or "postgres",
        connect_timeout=3,
    )
    connection.autocommit = True
    return connection


def check_server(url: str) -> str | None:
    """``None`` when ``url`` answers, else why not (one line)."""
    try:
        admin_connection(url).close()
    except psycopg2.Error as error:
        shown = make_url(url).render_as_string(hide_password=True)
        reason = " ".join(str(error).split())
        return f"no PostgreSQL at {shown} ({reason}); set {SERVER_URL_VARIABLE}"
    return None


@contextmanager
def scratch_database(url: str, prefix: str = "smartenergy_test") -> Iterator[str]:
    """A new, uniquely named, empty database on the server of ``url``; dropped afterwards."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = admin_connection(url)
    try:
        with admin.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def truncate_all(engine: Engine) -> None:
    """Empty every table, ids restarting at 1, so each test starts from a fresh store."""
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {ALL_TABLES} RESTART IDENTITY"))


# --- throwaway servers -------------------------------------------------------------------
def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl live: ``ENERGY_PG_BINDIR``, the PATH, or Debian's layout."""
    configured = os.environ.get("ENERGY_PG_BINDIR")
    if configured:
        return Path(configured)
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda path: int(path.split("/")[-2])
    )
    return Path(candidates[-1]) if candidates else None


class ThrowawayServer:
    """A PostgreSQL cluster of its own in a temporary directory, on a free port.

    PostgreSQL refuses to run as root, so as root every command runs as the ``postgres``
    user (``runuser``). Durability is off (fsync): nothing here outlives the test.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="smartenergy-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_root = os.geteuid() == 0
        if self._as_root:
            shutil.chown(self.root, user="postgres", group="postgres")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    def _pg_ctl(self, *arguments: str) -> None:
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), *arguments)

    def initialise(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
            " -c fsync=off -c full_page_writes=off"
        )
        self._pg_ctl("-o", options, "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-w", "-t", "60", "stop")

    def restart(self, down_for: float = 0.5) -> None:
        """Stop (closing every connection), stay down ``down_for`` seconds, start again."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):  # not running
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def throwaway_server() -> Iterator[ThrowawayServer]:
    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        unavailable("no PostgreSQL server binaries (initdb, pg_ctl); set ENERGY_PG_BINDIR")
    server = ThrowawayServer(bin_dir)
    try:
        server.initialise()
        server.start()
        yield server
    finally:
        server.remove()


# --- checking the maintained rollups and counters against the raw rows ------------------
def _rollup_check_sql() -> str:
    from energy_core.telemetry.catalogue import VARIABLE_NAMES

    aggregates = ", ".join(
        f"min({name}) AS {name}_min, max({name}) AS {name}_max, sum({name}) AS {name}_sum,"
        f" count({name}) AS {name}_count"
        for name in VARIABLE_NAMES
    )
    differences = " OR ".join(
        f"m.{name}_min IS DISTINCT FROM raw.{name}_min"
        f" OR m.{name}_max IS DISTINCT FROM raw.{name}_max"
        f" OR m.{name}_count IS DISTINCT FROM raw.{name}_count"
        f" OR (m.{name}_sum IS NULL) <> (raw.{name}_sum IS NULL)"
        # Sums are added up in another order than a fresh aggregate: allow rounding.
        f" OR abs(m.{name}_sum - raw.{name}_sum) > 1e-9 * greatest(1, abs(raw.{name}_sum))"
        for name in VARIABLE_NAMES
    )
    return f"""
        WITH raw AS (
            SELECT date_bin('1 minute', timestamp, timestamptz '1970-01-01+00') AS minute,
                   meter_id, count(*) AS readings, count(*) FILTER (WHERE is_flagged) AS flagged,
                   {aggregates}
            FROM registros GROUP BY 1, 2
        )
        SELECT coalesce(m.minute, raw.minute), coalesce(m.meter_id, raw.meter_id),
               m.readings, raw.readings, m.flagged, raw.flagged
        FROM registros_por_minuto m FULL JOIN raw USING (minute, meter_id)
        WHERE m.readings IS DISTINCT FROM raw.readings
           OR m.flagged IS DISTINCT FROM raw.flagged
           OR {differences}
        ORDER BY 1, 2
        LIMIT 20
    """


_COUNTER_CHECK_SQL = """
    WITH raw AS (
        SELECT meter_id, count(*) AS readings, count(*) FILTER (WHERE is_flagged) AS flagged
        FROM registros GROUP BY meter_id
    )
    SELECT coalesce(c.meter_id, raw.meter_id), c.readings, raw.readings, c.flagged, raw.flagged
    FROM registros_contadores c FULL JOIN raw USING (meter_id)
    WHERE c.readings IS DISTINCT FROM raw.readings OR c.flagged IS DISTINCT FROM raw.flagged
    ORDER BY 1
"""


def bookkeeping_errors(engine: Engine) -> list[tuple[object, ...]]:
    """Every per-minute rollup or per-meter counter that differs from a fresh count of
    ``registros`` (empty when they are all true)."""
    with engine.connect() as connection:
        rollups = connection.execute(text(_rollup_check_sql())).all()
        counters = connection.execute(text(_COUNTER_CHECK_SQL)).all()
    return [("rollup", *row) for row in rollups] + [("counter", *row) for row in counters]


def newest_migration_file() -> str:
    """The revision of the newest migration file (``NNNN_name.py``), read from the folder
    itself, so that a test comparing with ``head_revision()`` checks what Alembic found."""
    import energy_adapters.postgres

    folder = Path(energy_adapters.postgres.__file__).parent / "migrations" / "versions"
    return max(path.name.split("_", 1)[0] for path in folder.glob("[0-9]*_*.py"))


READING_COLUMNS_ADDED_SINCE: dict[str, tuple[str, str]] = {"flagged_by": ("0012", "text")}
"""Columns of ``registros`` that today's reading code writes and reads, by the revision that
added each and its type."""


@contextmanager
def todays_reading_columns(engine: Engine) -> Iterator[None]:
    """Today's reading code (repositories, queries) on a database left at an older revision.

    That code writes and reads every column of ``registros`` of today: those the database's
    revision lacks are lent for the duration and dropped after, so that the migrations run
    next meet the schema they were written for, and the rows keep what a writer of that
    revision stored (no value in them). Only for the tests of migrations; the application
    always runs at the newest revision.
    """
    with engine.begin() as connection:
        present = {
            name
            for (name,) in connection.execute(
                text(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND table_name = 'registros'"
                )
            )
        }
        lent = [name for name in READING_COLUMNS_ADDED_SINCE if name not in present]
        for name in lent:
            kind = READING_COLUMNS_ADDED_SINCE[name][1]
            connection.execute(text(f"ALTER TABLE registros ADD COLUMN {name} {kind}"))
    try:
        yield
    finally:
        with engine.begin() as connection:
            for name in lent:
                connection.execute(text(f"ALTER TABLE registros DROP COLUMN {name}"))
