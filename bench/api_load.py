"""Load on the HTTP ingest API: ``POST /api/v1/readings`` from a second process.

    python bench/api_load.py            # 60 s of load on PostgreSQL
    python bench/api_load.py --quick    # 15 s, under a minute in all
    python bench/api_load.py --memory   # also the in-memory server (no count check there)

Starts the real server (``python -m energy_ui serve`` on a free port, ``ENERGY_INGEST_TOKEN``
set) on a scratch database of the server named by ``DATABASE_URL`` (default the local one),
seeded with 10,000 readings and a trained model, so every request is validated, scored and
stored as in production (retention is set out of reach, ``ENERGY_MAX_READINGS=10⁹``, so
that every accepted reading can be counted). This process is the load: ``--clients``
concurrent keep-alive clients (default 8), each a gateway of 100 meters posting one reading
per meter per request (a JSON array of ``--batch`` readings, default 100), back to back.

Same-run baselines:

- ``GET /healthz`` with the same clients: the server's rate for a trivial request that
  touches the database (two small queries): its HTTP ceiling;
- ``Monitor.ingest`` called from ``--clients`` threads in this process, batches of the same
  size, on the same database: the storage path (score + COPY + rollups + retention
  check) without HTTP, JSON or validation.

The count check: the sum of ``accepted`` over every 200 answer must equal the readings the
database holds for the load's meters, with no (meter, timestamp) stored twice.
Prints a table, then one JSON line: readings_per_s, latency_p50_ms, latency_p99_ms,
accepted, stored, lost (and more).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import (
    bench_env,
    cpu_seconds,
    emit_json,
    free_port,
    median,
    percentile,
    print_table,
    running,
    scratch_database,
    seed,
    serve_command,
    server_url,
    stored_readings,
    stored_twice,
    value_pool,
    wait_until_answers,
)

from energy_adapters.postgres import open_engine
from energy_core import Reading, Simulator
from energy_ui.api.routes import MAX_READINGS_PER_REQUEST
from energy_ui.bootstrap import bootstrap
from energy_ui.settings import Settings

TOKEN = "bench-token"
TARGET_READINGS_PER_S = 20_000


# --- what the meters send --------------------------------------------------------------
class Gateway:
    """One client: ``meters`` meters, one reading each per request, 1 s apart."""

    def __init__(self, name: str, meters: int, start: datetime, pool: list[str]) -> None:
        self.meters = [f"{name}-m{index:03d}" for index in range(meters)]
        self.moment = start
        self.pool = pool
        self.random = random.Random(name)

    def body(self) -> bytes:
        stamp = self.moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        self.moment += timedelta(seconds=1)
        pick = self.random.choice
        pool = self.pool
        return (
            "["
            + ",".join(
                f'{{"meter_id":"{meter}","timestamp":"{stamp}",{pick(pool)}}}'
                for meter in self.meters
            )
            + "]"
        ).encode()


@dataclass
class Phase:
    """What the clients saw during one phase."""

    name: str
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    accepted: int = 0
    errors: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    machine_busy_pct: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    def rate(self, value: float) -> float:
        return value / self.seconds if self.seconds else 0.0


async def drive(
    base: str,
    gateways: list[Gateway] | None,
    clients: int,
    seconds: float,
    phase: Phase,
) -> None:
    """``clients`` keep-alive connections, each sending requests back to back until
    ``seconds`` have passed; POST a gateway's batch each time, or GET /healthz."""
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    deadline = time.monotonic() + seconds

    async def client(index: int) -> None:
        connector = aiohttp.TCPConnector(limit=1, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
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
                                phase.accepted += int(json.loads(payload)["accepted"])
                            elif len(phase.errors) < 5:
                                phase.errors.append(f"{status}: {payload[:200]!r}")
                except aiohttp.ClientError as error:
                    status = 0
                    if len(phase.errors) < 5:
                        phase.errors.append(repr(error))
                phase.latencies_ms.append((time.perf_counter() - started) * 1000)
                phase.statuses[status] = phase.statuses.get(status, 0) + 1

    started = time.monotonic()
    await asyncio.gather(*(client(index) for index in range(clients)))
    phase.seconds = time.monotonic() - started


def postgres_cpu_ticks() -> dict[str, int]:
    """CPU ticks of every process named ``postgres`` on this machine, by pid (the server
    and its backends; other users' work on the same server included)."""
    ticks: dict[str, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                text = stat.read()
        except OSError:
            continue
        if text[text.find("(") + 1 : text.rfind(")")] == "postgres":
            fields = text.rsplit(")", 1)[1].split()
            ticks[entry] = int(fields[11]) + int(fields[12])
    return ticks


def postgres_cpu_between(before: dict[str, int], after: dict[str, int]) -> float:
    """CPU seconds of the postgres processes alive at both ends (backends that came and
    went meanwhile are not seen: a lower bound)."""
    spent = sum(after[pid] - before.get(pid, 0) for pid in after if pid in before)
    return spent / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, all cores (/proc/stat)."""
    with open("/proc/stat", encoding="ascii") as stat:
        values = [int(value) for value in stat.readline().split()[1:9]]
    idle = values[3] + values[4]
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(values) - idle) / tick, sum(values) / tick


def run_phase(
    base: str, pid: int, gateways: list[Gateway] | None, clients: int, seconds: float, name: str
) -> Phase:
    phase = Phase(name)
    server_before, client_before = cpu_seconds(pid), time.process_time()
    postgres_before, (busy_before, total_before) = postgres_cpu_ticks(), machine_busy_seconds()
    asyncio.run(drive(base, gateways, clients, seconds, phase))
    phase.server_cpu_s = cpu_seconds(pid) - server_before
    phase.client_cpu_s = time.process_time() - client_before
    phase.postgres_cpu_s = postgres_cpu_between(postgres_before, postgres_cpu_ticks())
    busy_after, total_after = machine_busy_seconds()
    phase.machine_busy_pct = 100 * (busy_after - busy_before) / (total_after - total_before)
    return phase


# --- the server ---------------------------------------------------------------------------
@contextmanager
def served(database_url: str | None, extra_env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``python -m energy_ui serve`` on a free port; yields (base URL, pid)."""
    port = free_port()
    env = bench_env(
        database_url,
        ENERGY_INGEST_TOKEN=TOKEN,
        ENERGY_MAX_READINGS="1000000000",
        **extra_env,
    )
    with tempfile.TemporaryDirectory(prefix="smartenergy-api-load-") as workdir:
        log = Path(workdir) / "server.log"
        with running(serve_command(port), cwd=Path(workdir), env=env, log=log) as server:
            base = f"http://127.0.0.1:{port}"
            wait_until_answers(f"{base}/healthz", process=server, log=log)
            yield base, server.pid


# --- the in-process storage baseline -------------------------------------------------------
def storage_baseline(database_url: str, clients: int, batch: int, seconds: float) -> float:
    """Readings/s through ``Monitor.ingest`` from ``clients`` threads in batches of ``batch``
    readings, one per meter (gateways like the load's), after a warm-up of 3 s in which
    every meter is seen once."""
    settings = Settings(_env_file=None, database_url=database_url, max_readings=1_000_000_000)
    application = bootstrap(settings)
    monitor = application.monitor
    values = [reading.values for reading in Simulator(meters=10, seed=3).history(4_000)]
    start = datetime.now(UTC) - timedelta(days=20)
    stored = [0] * clients
    warm_until = time.monotonic() + 3.0
    deadline = warm_until + seconds

    def work(index: int) -> None:
        meters = [f"base{index}-m{meter:03d}" for meter in range(batch)]
        moment = start + timedelta(days=index)
        pick = random.Random(index).choice
        while (now := time.monotonic()) < deadline:
            readings = [Reading(moment, meter, pick(values)) for meter in meters]
            count = len(monitor.ingest(readings).stored)
            if now >= warm_until:
                stored[index] += count
            moment += timedelta(seconds=1)

    try:
        monitor.current_model()  # loaded once, as the server has it
        threads = [threading.Thread(target=work, args=(index,)) for index in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sum(stored) / seconds
    finally:
        application.close()


# --- one run ----------------------------------------------------------------------------
@dataclass
class Run:
    storage: str
    health: Phase
    warm: Phase
    load: Phase
    storage_baseline: float | None = None
    stored: int | None = None
    duplicates: int | None = None

    @property
    def accepted(self) -> int:
        return self.warm.accepted + self.load.accepted


def run(storage: str, database_url: str | None, args: argparse.Namespace, pool: list[str]) -> Run:
    prefix = f"gw{storage[0]}"
    start = datetime.now(UTC) - timedelta(days=2)
    gateways = [
        Gateway(f"{prefix}{index}", args.batch, start + timedelta(hours=index), pool)
        for index in range(args.clients)
    ]
    extra = {"ENERGY_DEMO_HISTORY": "10000"} if database_url is None else {}
    with served(database_url, extra) as (base, pid):
        if database_url is None:
            time.sleep(5)  # the demo seeds its history and trains first
        warm = run_phase(base, pid, gateways, args.clients, args.warmup, "warm-up")
        health = run_phase(base, pid, None, args.clients, args.baseline, "GET /healthz")
        load = run_phase(base, pid, gateways, args.clients, args.duration, "POST readings")
    result = Run(storage, health, warm, load)
    if database_url is not None:
        engine = open_engine(database_url)
        try:
            result.stored = stored_readings(engine, prefix)
            result.duplicates = stored_twice(engine, prefix)
        finally:
            engine.dispose()
        result.storage_baseline = storage_baseline(
            database_url, args.clients, args.batch, args.baseline
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 s of load instead of 60")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    parser.add_argument("--batch", type=int, default=100, help="readings per request")
    parser.add_argument("--duration", type=float, help="seconds of load")
    parser.add_argument("--memory", action="store_true", help="also load the in-memory server")
    parser.add_argument(
        "--no-model", action="store_true", help="no trained model: readings stored unscored"
    )
    args = parser.parse_args()
    if not 1 <= args.batch <= MAX_READINGS_PER_REQUEST:
        parser.error(f"--batch must be within 1..{MAX_READINGS_PER_REQUEST}")
    args.duration = args.duration or (15.0 if args.quick else 60.0)
    args.warmup = 3.0 if args.quick else 5.0
    args.baseline = 5.0 if args.quick else 15.0
    pool = value_pool(4_000)

    runs: list[Run] = []
    url = server_url()
    with scratch_database(url, "smartenergy_bench_api") as database_url:
        seed(database_url, train=not args.no_model)
        runs.append(run("postgres", database_url, args, pool))
    if args.memory:
        runs.append(run("memory", None, args, pool))

    rows = []
    for result in runs:
        load, health = result.load, result.health
        rows.append(
            [
                result.storage,
                f"{load.rate(load.accepted):,.0f}",
                f"{load.rate(load.requests):,.0f}",
                f"{median(load.latencies_ms):.1f}",
                f"{percentile(load.latencies_ms, 0.99):.1f}",
                f"{100 * load.server_cpu_s / load.seconds:.0f} %",
                f"{health.rate(health.requests):,.0f}",
                f"{median(health.latencies_ms):.1f}",
                "—" if result.storage_baseline is None else f"{result.storage_baseline:,.0f}",
            ]
        )
    print_table(
        f"api_load: {args.clients} clients, {args.batch} readings per request, "
        f"{args.duration:.0f} s of load (after {args.warmup:.0f} s of warm-up)",
        rows,
        [
            "storage",
            "readings/s",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "server CPU",
            "healthz req/s",
            "healthz p50 ms",
            "Monitor.ingest readings/s (no HTTP)",
        ],
    )
    print()
    check_rows = []
    for result in runs:
        statuses = {**result.warm.statuses}
        for status, count in result.load.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
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
        for error in result.warm.errors + result.load.errors:
            print(f"  {result.storage}: {error}")
    print_table(
        "count check (warm-up + load): every accepted reading stored exactly once?",
        check_rows,
        ["storage", "accepted", "stored", "lost", "duplicated", "answers"],
    )
    print()
    print_table(
        f"CPU during the load (% of one core; the machine has {os.cpu_count()} cores, shared)",
        [
            [
                result.storage,
                f"{100 * result.load.server_cpu_s / result.load.seconds:.0f} %",
                f"{100 * result.load.postgres_cpu_s / result.load.seconds:.0f} %",
                f"{100 * result.load.client_cpu_s / result.load.seconds:.0f} %",
                f"{result.load.machine_busy_pct * (os.cpu_count() or 1):.0f} %",
            ]
            for result in runs
        ],
        ["storage", "server", "PostgreSQL (≥)", "load clients", "machine (all processes)"],
    )
    main_run = runs[0]
    load = main_run.load
    readings_per_s = load.rate(load.accepted)
    lost = main_run.accepted - (main_run.stored or 0)
    met = readings_per_s >= TARGET_READINGS_PER_S and lost == 0 and main_run.duplicates == 0
    print(
        f"\ntarget ≥ {TARGET_READINGS_PER_S:,} readings/s accepted, none lost: "
        f"{'met' if met else 'MISSED'}"
    )
    figures: dict[str, Any] = {
        "readings_per_s": round(readings_per_s),
        "requests_per_s": round(load.rate(load.requests), 1),
        "latency_p50_ms": round(median(load.latencies_ms), 2),
        "latency_p99_ms": round(percentile(load.latencies_ms, 0.99), 2),
        "accepted": main_run.accepted,
        "stored": main_run.stored,
        "lost": lost,
        "duplicated": main_run.duplicates,
        "healthz_requests_per_s": round(main_run.health.rate(main_run.health.requests), 1),
        "storage_baseline_readings_per_s": round(main_run.storage_baseline or 0),
        "server_cpu_pct": round(100 * load.server_cpu_s / load.seconds),
        "clients": args.clients,
        "batch": args.batch,
        "duration_s": round(load.seconds, 1),
        "target_met": met,
    }
    if args.memory:
        memory = runs[-1].load
        figures["memory_readings_per_s"] = round(memory.rate(memory.accepted))
        figures["memory_latency_p50_ms"] = round(median(memory.latencies_ms), 2)
    emit_json(figures)


if __name__ == "__main__":
    main()
