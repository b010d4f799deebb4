"""Load on the HTTP ingest API: ``POST /api/v1/readings`` from a second process.

    python bench/api_load.py              # 60 s of load per server on PostgreSQL
    python bench/api_load.py --quick      # 15 s per server
    python bench/api_load.py --profile /tmp/spy   # also py-spy: CPU per reading by stage
    python bench/api_load.py --memory     # also the in-memory server (no count check there)

The servers, each on a free port with ``ENERGY_INGEST_TOKEN`` set, on one scratch database
of the server named by ``DATABASE_URL`` (default the local one): ``smartenergy ingest
--workers N`` (``--workers``, default 2: the HTTP ingest API without the dashboard, storing
directly from N processes), and before it, as a same-run baseline, ``serve`` (one process
with the dashboard; ``--no-serve`` skips it). Retention is out of reach
(``ENERGY_MAX_READINGS=10⁹``) so that every accepted reading can be counted.

The meters: ``--clients`` concurrent keep-alive clients (default 8), each a gateway of
``--batch`` simulated meters (default 100, each with a profile of its own) posting one
reading per meter per request, 1 s apart per meter, back to back. Before the load the
database holds ``SEED_STEPS`` seconds of those same meters' history and a model trained on
it, so every request is validated, scored with each meter's own context and stored as in
production, and only what the model finds unusual is flagged (figures before this bench
trained its model on 3 demo meters and sent values drawn at random from 10 others: most
readings were flagged, and alerting weighed on every request).

Per server: ``GET /healthz`` first, then the warm-up and the measured load on the same
keep-alive connections (a gateway keeps its connection, so its meters stay with one of
``ingest``'s processes, as in production).

Same-run baselines:

- ``GET /healthz`` with the same clients, per server: its rate for a trivial request that
  touches the database (two small queries): its HTTP ceiling;
- ``Monitor.ingest`` called from ``--clients`` threads in this process, the same meters
  going on, on the same database: the storage path (score + COPY + rollups + retention
  check) without HTTP, JSON or validation.

The count check: the sum of ``accepted`` over every 200 answer (every server, warm-up and
load) must equal the readings the database holds for the load's meters beyond their seeded
history, with no (meter, timestamp) stored twice. CPU: the server's processes (``ingest``'s
supervisor and workers), the scratch database's PostgreSQL backends, the load, the machine.
``--profile`` runs ``py-spy record --nonblocking --gil`` on the servers during the load and
splits their CPU by stage (``STAGES``: each sample's stack put in the first stage it
matches; the share of samples times the server's CPU per reading). After the load,
``postgres_stages`` runs the product's own statements for a batch, one backend, and reads
that backend's CPU per statement (``/proc/<pid>/schedstat``). Prints tables, then one JSON line:
readings_per_s, latency_p50_ms, latency_p99_ms, accepted, stored, lost (and more).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import make_url

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import (
    bench_env,
    connect,
    cpu_seconds,
    emit_json,
    free_port,
    median,
    percentile,
    print_table,
    running,
    scratch_database,
    serve_command,
    server_url,
    stored_readings,
    stored_twice,
    wait_until_answers,
)

from energy_adapters.postgres import open_engine
from energy_core import Reading, Simulator
from energy_ui.api.routes import MAX_READINGS_PER_REQUEST, NATIVE_ORIGIN
from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings

TOKEN = "bench-token"
TARGET_READINGS_PER_S = 20_000
PREFIX = "gwp"
SECOND = timedelta(seconds=1)
MICROSECOND = timedelta(microseconds=1)


# --- what the meters send --------------------------------------------------------------
SEED_STEPS = 75
"""Seconds of history stored per load meter before the load: the model trains on the
meters it then scores (the product's ``train_limit`` keeps the newest 50,000 readings, 62
per meter for 8 × 100 meters) and each meter's context holds its own past."""
POOL_STEPS = 240
"""Seconds of each meter's series simulated ahead for the load (played forth and back)."""


class Gateway:
    """One client: ``meters`` simulated meters (``Simulator``, each a profile of its own),
    one reading per meter per request, stamped with the instant it is sent (so that no
    meter looks silent while the load runs). Their series is simulated once, 1 s a step,
    ending ``POOL_STEPS`` s after ``start``: the ``SEED_STEPS`` s before ``start`` are their
    history (stored and trained on before the load), the rest a pool of values that requests
    play forwards, then backwards, and so on (no jump in any meter's values, whatever the
    load's length; the simulator itself would cost the load ~100 µs a reading)."""

    def __init__(self, name: str, meters: int, start: datetime) -> None:
        simulator = Simulator(
            meters=meters, seed=zlib.crc32(name.encode()), meter_prefix=name, anomaly_ratio=0.005
        )
        self.meters = list(simulator.meter_ids)
        steps = SEED_STEPS + POOL_STEPS
        series = simulator.history(
            steps * meters, end=start + timedelta(seconds=POOL_STEPS - 1), cadence=SECOND
        )
        self.history = series[: SEED_STEPS * meters]
        self.pool = [
            [
                ",".join(f'"{name}":{value!r}' for name, value in reading.values.items())
                for reading in series[
                    (SEED_STEPS + step) * meters : (SEED_STEPS + step + 1) * meters
                ]
            ]
            for step in range(POOL_STEPS)
        ]
        self.moment = start
        self.step = 0

    def _next(self) -> tuple[datetime, list[str]]:
        period = 2 * (POOL_STEPS - 1)
        phase = self.step % period
        values = self.pool[phase if phase < POOL_STEPS else period - phase]
        # Now, and after the previous request's instant (a clock that steps back).
        self.moment = max(datetime.now(UTC), self.moment + MICROSECOND)
        self.step += 1
        return self.moment, values

    def body(self) -> bytes:
        moment, values = self._next()
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return (
            "["
            + ",".join(
                f'{{"meter_id":"{meter}","timestamp":"{stamp}",{fields}}}'
                for meter, fields in zip(self.meters, values, strict=True)
            )
            + "]"
        ).encode()

    def readings(self) -> list[Reading]:
        """The next request's readings as ``Reading`` objects (the in-process baseline)."""
        moment, values = self._next()
        return [
            Reading(moment, meter, json.loads("{" + fields + "}"), origin=NATIVE_ORIGIN)
            for meter, fields in zip(self.meters, values, strict=True)
        ]


@dataclass
class Phase:
    """What the clients saw during one phase."""

    name: str
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: int = 0
    flagged: int = 0
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    machine_busy_pct: float = 0.0
    sessions: int = 0
    """PostgreSQL sessions the server opened during the phase (pools beyond their size)."""

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    def rate(self, value: float) -> float:
        return value / self.seconds if self.seconds else 0.0


async def drive(
    base: str,
    gateways: list[Gateway] | None,
    clients: int,
    phases: list[Measured],
) -> None:
    """``clients`` keep-alive connections, each sending requests back to back through the
    ``phases`` one after the other (each its ``seconds``), POSTing a gateway's batch each
    time, or GET /healthz. The connections stay open from one phase to the next, as a
    gateway's would; a request counts for the phase in which its answer came."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    current = 0
    ends = list(itertools.accumulate(measured.phase_seconds for measured in phases))
    began = time.monotonic()
    deadline = began + ends[-1]

    async def switch() -> None:
        nonlocal current
        phases[0].begin()
        for index, end in enumerate(ends[:-1]):
            await asyncio.sleep(max(0.0, began + end - time.monotonic()))
            phases[index].end()
            current = index + 1
            phases[current].begin()

    async def client(index: int) -> None:
        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                accepted = flagged = 0
                error_text = None
                try:
                    if gateways is None:
                        async with session.get(f"{base}/healthz") as answer:
                            await answer.read()
                            status = answer.status
                    else:
                        body = gateways[index].body()
                        async with session.post(
                            f"{base}/api/v1/readings", data=body, headers=headers
                        ) as answer:
                            payload = await answer.read()
                            status = answer.status
                            if status == 200:
                                answered = json.loads(payload)
                                accepted = int(answered["accepted"])
                                flagged = int(answered["flagged"])
                            else:
                                error_text = f"{status}: {payload[:200]!r}"
                except aiohttp.ClientError as error:
                    status = 0
                    error_text = repr(error)
                phase = phases[current].phase
                phase.accepted += accepted
                phase.flagged += flagged
                if error_text is not None and len(phase.errors) < 5:
                    phase.errors.append(error_text)
                phase.latencies_ms.append((time.perf_counter() - started) * 1000)
                phase.statuses[status] = phase.statuses.get(status, 0) + 1

    switching = asyncio.create_task(switch())
    await asyncio.gather(*(client(index) for index in range(clients)))
    await switching
    phases[-1].end()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (``smartenergy ingest --workers N``: the supervisor and
    its N processes)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    queue.extend(int(child) for child in children.read().split())
            except OSError:
                continue
    return found


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of ``pid`` and each of its descendants, by pid."""
    spent = {}
    for member in process_tree(pid):
        try:
            spent[member] = cpu_seconds(member)
        except OSError:
            continue
    return spent


def tree_cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def postgres_cpu_ticks(database: str | None) -> dict[str, int]:
    """CPU ticks of the PostgreSQL processes serving ``database`` (their command line names
    it: its backends, and autovacuum while it works there), by pid. The server's own
    background processes (WAL writer, checkpointer…) are shared with the server's other
    users and left out; so are backends that exited meanwhile (a pool closing what it
    opened beyond its size: "sessions opened/s" says how many)."""
    ticks: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
            if text[text.find("(") + 1 : text.rfind(")")] != "postgres":
                continue
            if database is not None:
                with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                    if f" {database}".encode() not in cmdline.read():
                        continue
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        ticks[entry] = int(fields[11]) + int(fields[12])
    return ticks


def postgres_cpu_between(before: dict[str, int], after: dict[str, int]) -> float:
    """CPU seconds of those processes between two ``postgres_cpu_ticks`` (one that started
    meanwhile counts from 0)."""
    spent = sum(after[pid] - before.get(pid, 0) for pid in after)
    return spent / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(value) for value in stat.readline().split()[1:9]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


class Measured:
    """One phase of a drive and what is measured around it: the server's CPU (its process
    tree), the load's, the scratch database's backends', the machine's, the sessions
    opened; with ``profile``, py-spy on the server meanwhile."""

    def __init__(
        self, server: Server, name: str, seconds: float, profile: Path | None = None
    ) -> None:
        self.server = server
        self.phase = Phase(name)
        self.phase_seconds = seconds
        self.profile = profile
        self._spy: subprocess.Popen[bytes] | None = None

    def begin(self) -> None:
        server = self.server
        self._started = time.monotonic()
        self._server, self._client = tree_cpu(server.pid), time.process_time()
        self._postgres = postgres_cpu_ticks(server.database)
        self._busy, self._total = machine_busy_seconds()
        self._sessions = sessions_opened(server.database_url)
        if self.profile is not None:
            self._spy = start_profiling(server.pid, self.phase_seconds, self.profile)

    def end(self) -> None:
        server, phase = self.server, self.phase
        phase.seconds = time.monotonic() - self._started
        phase.server_cpu_s = tree_cpu_between(self._server, tree_cpu(server.pid))
        phase.client_cpu_s = time.process_time() - self._client
        phase.postgres_cpu_s = postgres_cpu_between(
            self._postgres, postgres_cpu_ticks(server.database)
        )
        phase.sessions = sessions_opened(server.database_url) - self._sessions - 1
        busy, total = machine_busy_seconds()
        phase.machine_busy_pct = 100 * (busy - self._busy) / (total - self._total)

    def finish(self) -> Phase:
        """The phase, once py-spy (if any) has written its samples."""
        if self._spy is not None:
            self._spy.wait(self.phase_seconds + 30)
        return self.phase


def run_phases(
    server: Server, gateways: list[Gateway] | None, clients: int, phases: list[Measured]
) -> list[Phase]:
    asyncio.run(drive(server.base, gateways, clients, phases))
    return [measured.finish() for measured in phases]


# --- where the server's time goes (py-spy) -------------------------------------------------
STAGES: list[tuple[str, tuple[str, ...]]] = [
    # (stage, frames that put a sample in it); the first stage any frame of a stack
    # matches wins, so the more specific come first.
    ("alerts: recording (store)", ("energy_adapters/postgres/alerts.py", "memory_alerts.py")),
    ("alerts: rules", ("energy_core/alerts/", "usecases/alerting.py")),
    ("retention", ("apply_retention",)),
    ("change feed", ("energy_adapters/postgres/feed.py", "publish (")),
    ("rollups", ("energy_adapters/postgres/rollups.py",)),
    ("COPY (binary encoding, send)", ("energy_adapters/postgres/binary_copy.py",)),
    (
        "storage: other (transaction, counters, ids)",
        ("energy_adapters/postgres/readings.py", "energy_adapters/postgres/group_commit.py"),
    ),
    ("scoring: context (recent readings)", ("energy_core/detection/context.py",)),
    ("scoring: detector", ("energy_core/detection/",)),
    ("scoring: other (feature matrix, verdicts)", ("score_with (", "_score_or_keep (")),
    ("validation (parse_readings)", ("energy_core/telemetry/validation.py",)),
    ("JSON decode", ("_parse_body (",)),
    ("tokens, response", ("energy_ui/api/",)),
    ("HTTP (uvicorn, starlette, fastapi)", ("uvicorn/", "starlette/", "fastapi/", "h11/")),
    ("asyncio, threads", ("asyncio/", "threading.py", "concurrent/")),
]
OTHER_STAGE = "other"


def start_profiling(pid: int, seconds: float, output: Path) -> subprocess.Popen[bytes]:
    """``py-spy record`` of ``pid`` and its children for ``seconds`` (raw stacks in
    ``output``), sampling the threads holding the GIL without stopping the processes."""
    spy = Path(sys.executable).with_name("py-spy")
    command = [
        str(spy if spy.exists() else "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--subprocesses",
        "--nonblocking",
        "--gil",
        "--rate",
        "250",
        "--format",
        "raw",
        "--duration",
        str(max(1, int(seconds))),
        "--output",
        str(output),
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stage_of(stack: str) -> str:
    for stage, needles in STAGES:
        if any(needle in stack for needle in needles):
            return stage
    return OTHER_STAGE


def stage_shares(raw: Path) -> dict[str, float]:
    """Each stage's share (0–1) of the samples in a py-spy raw (collapsed) file."""
    counts: dict[str, int] = {}
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        stage = stage_of(stack)
        counts[stage] = counts.get(stage, 0) + int(count)
    total = sum(counts.values()) or 1
    return {stage: count / total for stage, count in counts.items()}


# --- the server ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Server:
    base: str
    pid: int
    database: str | None
    """The scratch database's name (its backends' CPU is counted), None in memory."""
    database_url: str | None = None


def sessions_opened(database_url: str | None) -> int:
    """Sessions the server has opened on the database so far (``pg_stat_database``)."""
    if database_url is None:
        return 0
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            )
            row = cursor.fetchone()
        return int(row[0]) if row else 0
    finally:
        connection.close()


def server_command(kind: str, port: int, workers: int) -> list[str]:
    if kind == "serve":
        return serve_command(port)
    return [
        sys.executable,
        "-m",
        "energy_ui",
        "ingest",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


@contextmanager
def served(
    database_url: str | None, extra_env: dict[str, str], command: list[str], port: int
) -> Iterator[Server]:
    """``command`` serving on ``port``; yields the server once it answers."""
    env = bench_env(
        database_url,
        ENERGY_INGEST_TOKEN=TOKEN,
        ENERGY_MAX_READINGS="1000000000",
        **extra_env,
    )
    database = make_url(database_url).database if database_url else None
    with tempfile.TemporaryDirectory(prefix="smartenergy-api-load-") as workdir:
        log = Path(workdir) / "server.log"
        with running(command, cwd=Path(workdir), env=env, log=log) as server:
            base = f"http://127.0.0.1:{port}"
            wait_until_answers(f"{base}/healthz", process=server, log=log)
            yield Server(base, server.pid, database, database_url)


# --- the database: the load's meters, their history and a model trained on it --------------
def seed_load_meters(database_url: str, gateways: list[Gateway], *, train: bool) -> None:
    """Schema, ``SEED_STEPS`` seconds of history of every load meter (what each gateway
    simulated before its pool) and (with ``train``) a model trained on it."""
    settings = Settings(_env_file=None, database_url=database_url, max_readings=1_000_000_000)
    application = bootstrap(settings)
    try:
        history = sorted(
            (reading for gateway in gateways for reading in gateway.history),
            key=lambda reading: reading.timestamp,
        )
        for first in range(0, len(history), 10_000):
            application.monitor.ingest(history[first : first + 10_000])
        if train:
            application.monitor.train()
    finally:
        application.close()


# --- the in-process storage baseline -------------------------------------------------------
def storage_baseline(database_url: str, gateways: list[Gateway], seconds: float) -> float:
    """Readings/s through ``Monitor.ingest`` from one thread per gateway, each going on
    with its gateway's meters and series (the next seconds after the load's), after a
    warm-up of 3 s in which every meter is seen once."""
    settings = Settings(_env_file=None, database_url=database_url, max_readings=1_000_000_000)
    application = bootstrap(settings)
    monitor = application.monitor
    stored = [0] * len(gateways)
    warm_until = time.monotonic() + 3.0
    deadline = warm_until + seconds

    def work(index: int) -> None:
        gateway = gateways[index]
        while (now := time.monotonic()) < deadline:
            count = len(monitor.ingest(gateway.readings()).stored)
            if now >= warm_until:
                stored[index] += count

    try:
        monitor.current_model()  # loaded once, as the server has it
        threads = [threading.Thread(target=work, args=(index,)) for index in range(len(gateways))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(stored) / seconds
    finally:
        application.close()


# --- where PostgreSQL's time goes -----------------------------------------------------------
def backend_cpu_ns(pid: int) -> int:
    """Nanoseconds a PostgreSQL backend has run on a CPU (``/proc/<pid>/schedstat``)."""
    with open(f"/proc/{pid}/schedstat", encoding="ascii") as stat:
        return int(stat.read().split()[0])


def postgres_stages(database_url: str, gateways: list[Gateway], batches: int) -> dict[str, float]:
    """PostgreSQL CPU µs per reading of each statement a batch of the load costs, measured
    on one backend (its ``schedstat``) running the product's own statements for ``batches``
    batches of the gateways' next readings (one gateway's request a batch, as when group
    commit finds one waiting): the writers' lock and ids, the binary COPY, the per-minute
    rollups, the per-meter counters, the meters' origins, the commit; and the questions an
    ingest asks around it (the model's version, the scoring context's last id, retention's
    total, the change feed's NOTIFY, the pool's pre-ping)."""
    from sqlalchemy import func, select, text

    from energy_adapters.postgres import rollups
    from energy_adapters.postgres.partitions import Partitions, time_span
    from energy_adapters.postgres.readings import (
        _COPY_READINGS,
        _RESERVE_IDS,
        _SERIALISE_WRITERS,
        _copy_in,
        _payload,
    )
    from energy_adapters.postgres.retention import stored_total
    from energy_adapters.postgres.schema import readings as readings_table
    from energy_adapters.postgres.urls import Database
    from energy_core.telemetry.readings import newest_origins

    engine = open_engine(database_url, pool_size=1)
    spent: dict[str, int] = {}
    stored = 0
    try:
        partitions = Partitions(Database(engine))
        with engine.connect() as connection:
            pid = int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())
            connection.commit()

            @contextmanager
            def stage(name: str) -> Iterator[None]:
                before = backend_cpu_ns(pid)
                yield
                spent[name] = spent.get(name, 0) + backend_cpu_ns(pid) - before

            for index in range(batches):
                batch = gateways[index % len(gateways)].readings()
                partitions.cover(batch)
                with stage("pool pre-pings (SELECT 1) ×4"):
                    for _ in range(4):
                        connection.execute(text("SELECT 1"))
                connection.commit()
                with stage("model version (max)"):
                    connection.execute(text("SELECT max(version) FROM modelos")).all()
                with stage("context: last id (max over partitions)"):
                    connection.execute(select(func.coalesce(func.max(readings_table.c.id), 0)))
                connection.commit()
                with stage("writers' lock"):
                    connection.execute(_SERIALISE_WRITERS)
                with stage("ids (nextval × n)"):
                    first, last, scattered = connection.execute(
                        _RESERVE_IDS, {"n": len(batch)}
                    ).one()
                ids = range(first, last + 1) if scattered is None else scattered
                rows: list[Reading] = []
                with stage("COPY into registros (rows, indexes)"):
                    _copy_in(connection, _COPY_READINGS, _payload(batch, ids, rows))
                first_time, last_time = time_span(batch)
                span = {"first_time": first_time, "last_time": last_time}
                with stage("per-minute rollups (upsert)"):
                    added = connection.execute(
                        rollups.ADD_TO_MINUTES_FROM_ID_RANGE,
                        {"first_id": first, "last_id": last, **span},
                    ).all()
                meters, counts, flagged = (list(column) for column in zip(*added, strict=True))
                with stage("per-meter counters (upsert)"):
                    connection.execute(
                        rollups.ADD_TO_COUNTERS,
                        {"meters": meters, "readings": counts, "flagged": flagged},
                    )
                origins = newest_origins(batch)
                with stage("meters' origins (unchanged: no write)"):
                    connection.execute(
                        rollups.RECORD_ORIGINS,
                        {
                            "meters": list(origins),
                            "channels": [origin.channel for origin in origins.values()],
                            "formats": [origin.format for origin in origins.values()],
                        },
                    )
                with stage("commit (WAL flush)"):
                    connection.commit()
                with stage("retention: total from the counters"):
                    stored_total(connection)
                with stage("change feed: NOTIFY"):
                    connection.execute(text("SELECT pg_notify('bench_api_load', 'x')"))
                connection.commit()
                stored += len(batch)
    finally:
        engine.dispose()
    return {stage: ns / 1000 / stored for stage, ns in spent.items()}


# --- one run ----------------------------------------------------------------------------
@dataclass
class ServerRun:
    """One server under the load: its phases and, with --profile, its stages."""

    label: str
    health: Phase
    warm: Phase
    load: Phase
    stages: dict[str, float] | None = None

    @property
    def accepted(self) -> int:
        return self.warm.accepted + self.load.accepted


@dataclass
class Run:
    storage: str
    servers: list[ServerRun]
    storage_baseline: float | None = None
    stored: int | None = None
    duplicates: int | None = None
    postgres_stages: dict[str, float] | None = None

    @property
    def accepted(self) -> int:
        return sum(server.accepted for server in self.servers)


def measure_server(
    label: str,
    command_of: Callable[[int], list[str]],
    database_url: str | None,
    gateways: list[Gateway],
    args: argparse.Namespace,
    profile: Path | None,
) -> ServerRun:
    extra = {"ENERGY_DEMO_HISTORY": "10000"} if database_url is None else {}
    port = free_port()
    with served(database_url, extra, command_of(port), port) as server:
        if database_url is None:
            time.sleep(5)  # the demo seeds its history and trains first
        [health] = run_phases(
            server, None, args.clients, [Measured(server, "GET /healthz", args.baseline)]
        )
        warm, load = run_phases(
            server,
            gateways,
            args.clients,
            [
                Measured(server, "warm-up", args.warmup),
                Measured(server, "POST", args.duration, profile),
            ],
        )
    stages = stage_shares(profile) if profile is not None and profile.exists() else None
    return ServerRun(label, health, warm, load, stages)


def run(
    storage: str,
    database_url: str | None,
    args: argparse.Namespace,
    gateways: list[Gateway],
) -> Run:
    serve = ("serve (1 process)", lambda port: server_command("serve", port, 1))
    ingest = (
        f"ingest --workers {args.workers}",
        lambda port: server_command("ingest", port, args.workers),
    )
    servers: list[tuple[str, Callable[[int], list[str]]]] = (
        [serve]  # in memory, a process holds the data: no --workers
        if database_url is None
        else [serve, ingest]
        if args.serve
        else [ingest]
    )
    measured = []
    for label, command_of in servers:
        profile = (
            args.profile / f"{storage}-{label.split()[0]}.raw" if args.profile is not None else None
        )
        measured.append(measure_server(label, command_of, database_url, gateways, args, profile))
    result = Run(storage, measured)
    if database_url is not None:
        engine = open_engine(database_url)
        try:
            result.stored = stored_readings(engine, PREFIX)
            result.duplicates = stored_twice(engine, PREFIX)
        finally:
            engine.dispose()
        result.storage_baseline = storage_baseline(database_url, gateways, args.baseline)
        result.postgres_stages = postgres_stages(database_url, gateways, args.stage_batches)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 s of load instead of 60")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--batch", type=int, default=100, help="readings per request")
    parser.add_argument("--duration", type=float, help="seconds of load")
    parser.add_argument(
        "--workers", type=int, default=2, help="processes of `smartenergy ingest` (default 2)"
    )
    parser.add_argument(
        "--no-serve",
        dest="serve",
        action="store_false",
        help="skip the same-run baseline of `serve` (one process, with the dashboard)",
    )
    parser.add_argument("--memory", action="store_true", help="also load the in-memory server")
    parser.add_argument(
        "--no-model", action="store_true", help="no trained model: readings stored unscored"
    )
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="py-spy the servers during the load (raw stacks kept in DIR): CPU by stage",
    )
    args = parser.parse_args()
    if not 1 <= args.batch <= MAX_READINGS_PER_REQUEST:
        parser.error(f"--batch must be within 1..{MAX_READINGS_PER_REQUEST}")
    args.duration = args.duration or (15.0 if args.quick else 60.0)
    args.warmup = 3.0 if args.quick else 5.0
    args.baseline = 5.0 if args.quick else 15.0
    args.stage_batches = 100 if args.quick else 300

    runs: list[Run] = []
    url = server_url()
    start = datetime.now(UTC)
    gateways = [Gateway(f"{PREFIX}{index}", args.batch, start) for index in range(args.clients)]
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    with scratch_database(url, "smartenergy_bench_api") as database_url:
        seed_load_meters(database_url, gateways, train=not args.no_model)
        result = run("postgres", database_url, args, gateways)
        seeded = sum(len(gateway.history) for gateway in gateways)
        result.stored = None if result.stored is None else result.stored - seeded
        runs.append(result)
        if args.memory:
            strangers = [Gateway(f"gwm{index}", args.batch, start) for index in range(args.clients)]
            runs.append(run("memory", None, args, strangers))
    report(runs, args)


def report(runs: list[Run], args: argparse.Namespace) -> None:
    rows = []
    for result in runs:
        for server in result.servers:
            load, health = server.load, server.health
            rows.append(
                [
                    result.storage,
                    server.label,
                    f"{load.rate(load.accepted):,.0f}",
                    f"{load.rate(load.requests):,.0f}",
                    f"{median(load.latencies_ms):.1f}",
                    f"{percentile(load.latencies_ms, 0.99):.1f}",
                    f"{100 * load.flagged / max(load.accepted, 1):.1f} %",
                    f"{100 * load.server_cpu_s / load.seconds:.0f} %",
                    f"{1e6 * load.server_cpu_s / max(load.accepted, 1):.0f}",
                    f"{1e6 * load.postgres_cpu_s / max(load.accepted, 1):.0f}",
                    f"{health.rate(health.requests):,.0f}",
                    f"{median(health.latencies_ms):.1f}",
                ]
            )
    print_table(
        f"api_load: {args.clients} clients, {args.batch} readings per request, "
        f"{args.duration:.0f} s of load per server (after {args.warmup:.0f} s of warm-up)",
        rows,
        [
            "storage",
            "server",
            "readings/s",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "flagged",
            "server CPU",
            "server µs/reading",
            "PostgreSQL µs/reading",
            "healthz req/s",
            "healthz p50 ms",
        ],
    )
    for result in runs:
        if result.storage_baseline is not None:
            print(
                f"same-run baseline, Monitor.ingest from {args.clients} threads in the bench "
                f"process (no HTTP, JSON or validation), {result.storage}: "
                f"{result.storage_baseline:,.0f} readings/s"
            )
    print()
    check_rows = []
    for result in runs:
        statuses: dict[int, int] = {}
        for server in result.servers:
            for phase in (server.warm, server.load):
                for status, count in phase.statuses.items():
                    statuses[status] = statuses.get(status, 0) + count
                for error in phase.errors:
                    print(f"  {result.storage}, {server.label}: {error}")
        stored = "—" if result.stored is None else f"{result.stored:,}"
        lost = "—" if result.stored is None else f"{result.accepted - result.stored:,}"
        check_rows.append(
            [
                result.storage,
                f"{result.accepted:,}",
                stored,
                lost,
                "—" if result.duplicates is None else str(result.duplicates),
                " ".join(f"{status}×{count}" for status, count in sorted(statuses.items())),
            ]
        )
    print_table(
        "count check (every server, warm-up + load): every accepted reading stored exactly once?",
        check_rows,
        ["storage", "accepted", "stored", "lost", "duplicated", "answers"],
    )
    print()
    print_table(
        f"CPU during the load (% of one core; the machine has {os.cpu_count()} cores, shared; "
        "PostgreSQL: the scratch database's backends)",
        [
            [
                result.storage,
                server.label,
                f"{100 * server.load.server_cpu_s / server.load.seconds:.0f} %",
                f"{100 * server.load.postgres_cpu_s / server.load.seconds:.0f} %",
                f"{100 * server.load.client_cpu_s / server.load.seconds:.0f} %",
                f"{server.load.machine_busy_pct * (os.cpu_count() or 1):.0f} %",
                f"{server.load.rate(server.load.sessions):.1f}",
            ]
            for result in runs
            for server in result.servers
        ],
        [
            "storage",
            "server",
            "server",
            "PostgreSQL (≥)",
            "load clients",
            "machine (all)",
            "sessions opened/s",
        ],
    )
    profiled = [
        (result.storage, server) for result in runs for server in result.servers if server.stages
    ]
    if profiled:
        print()
        names = [stage for stage, _ in STAGES] + [OTHER_STAGE]
        stage_rows = []
        for name in names:
            cells = [name]
            for _, server in profiled:
                assert server.stages is not None
                share = server.stages.get(name, 0.0)
                per_reading = 1e6 * share * server.load.server_cpu_s / max(server.load.accepted, 1)
                cells.append(f"{per_reading:.1f} ({100 * share:.0f} %)")
            stage_rows.append(cells)
        stage_rows.append(
            [
                "PostgreSQL backends (/proc)",
                *(
                    f"{1e6 * server.load.postgres_cpu_s / max(server.load.accepted, 1):.1f}"
                    for _, server in profiled
                ),
            ]
        )
        print_table(
            "server CPU µs per reading by stage (py-spy samples' shares × the server's CPU)",
            stage_rows,
            ["stage", *(f"{storage}: {server.label}" for storage, server in profiled)],
        )
    for result in runs:
        if result.postgres_stages:
            print()
            total = sum(result.postgres_stages.values())
            print_table(
                f"PostgreSQL CPU µs per reading by statement ({args.stage_batches} batches of "
                f"{args.batch} through one backend, its /proc schedstat; the product's statements)",
                [
                    [stage, f"{micros:.1f}", f"{100 * micros / total:.0f} %"]
                    for stage, micros in result.postgres_stages.items()
                ]
                + [["total", f"{total:.1f}", "100 %"]],
                ["statement", "µs per reading", "share"],
            )
    main_run = runs[0]
    main_server = main_run.servers[-1]
    load = main_server.load
    readings_per_s = load.rate(load.accepted)
    lost = main_run.accepted - (main_run.stored or 0)
    met = readings_per_s >= TARGET_READINGS_PER_S and lost == 0 and main_run.duplicates == 0
    print(
        f"\ntarget ≥ {TARGET_READINGS_PER_S:,} readings/s accepted ({main_server.label}), "
        f"none lost: {'met' if met else 'MISSED'}"
    )
    figures: dict[str, Any] = {
        "readings_per_s": round(readings_per_s),
        "requests_per_s": round(load.rate(load.requests), 1),
        "latency_p50_ms": round(median(load.latencies_ms), 2),
        "latency_p99_ms": round(percentile(load.latencies_ms, 0.99), 2),
        "flagged_pct": round(100 * load.flagged / max(load.accepted, 1), 2),
        "server_us_per_reading": round(1e6 * load.server_cpu_s / max(load.accepted, 1), 1),
        "postgres_us_per_reading": round(1e6 * load.postgres_cpu_s / max(load.accepted, 1), 1),
        "accepted": main_run.accepted,
        "stored": main_run.stored,
        "lost": lost,
        "duplicated": main_run.duplicates,
        "healthz_requests_per_s": round(main_server.health.rate(main_server.health.requests), 1),
        "storage_baseline_readings_per_s": round(main_run.storage_baseline or 0),
        "server_cpu_pct": round(100 * load.server_cpu_s / load.seconds),
        "clients": args.clients,
        "batch": args.batch,
        "workers": args.workers,
        "duration_s": round(load.seconds, 1),
        "target_met": met,
    }
    if len(main_run.servers) > 1:
        serve = main_run.servers[0].load
        figures["serve_readings_per_s"] = round(serve.rate(serve.accepted))
        figures["serve_latency_p50_ms"] = round(median(serve.latencies_ms), 2)
        figures["serve_latency_p99_ms"] = round(percentile(serve.latencies_ms, 0.99), 2)
        figures["serve_us_per_reading"] = round(
            1e6 * serve.server_cpu_s / max(serve.accepted, 1), 1
        )
    if main_run.postgres_stages:
        figures["postgres_stages_us_per_reading"] = {
            stage: round(micros, 1) for stage, micros in main_run.postgres_stages.items()
        }
    if main_server.stages:
        figures["stages_us_per_reading"] = {
            stage: round(1e6 * share * load.server_cpu_s / max(load.accepted, 1), 1)
            for stage, share in sorted(main_server.stages.items())
        }
    if args.memory:
        memory = runs[-1].servers[-1].load
        figures["memory_readings_per_s"] = round(memory.rate(memory.accepted))
        figures["memory_latency_p50_ms"] = round(median(memory.latencies_ms), 2)
    emit_json(figures)


if __name__ == "__main__":
    main()
