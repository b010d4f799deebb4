"""A database restart under every writer at once: the `stream` command (another process),
the HTTP API and MQTT ingest. Nothing accepted is lost, nothing is stored twice.

- `stream` keeps a bounded buffer while the database is away, reports what it had to drop,
  and writes the rest once it is back;
- the API answers 503 with Retry-After meanwhile; what it accepted before and after is
  stored (the client retries a 503 with the same Idempotency-Key, as documented);
- MQTT readings published during the outage wait in the ingestor's buffer and are stored
  once the database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from energy_adapters.postgres import open_engine
from energy_core import Simulator
from energy_ui.api import create_api_router
from energy_ui.bootstrap import Application, bootstrap, prepare_database
from energy_ui.mqtt import MqttIngestor
from energy_ui.settings import Settings
from tests.postgres_support import bookkeeping_errors, throwaway_server
from tests.services import mqtt_test_broker

pytestmark = [pytest.mark.postgres, pytest.mark.mqtt]

SOURCES = Path(__file__).resolve().parents[2] / "src"
TOKEN = "fault-token"
STREAM_BATCHES = 140
STREAM_BATCH_SIZE = 4
STREAM_BUFFER = 60
DOWN_FOR_S = 3.0


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def reading(meter: str, moment: datetime, **values: float) -> dict[str, object]:
    return {
        "meter_id": meter,
        "timestamp": moment.isoformat(),
        "voltage": 230.0,
        "current": 10.0,
        "active_power": 2.0,
        "power_factor": 0.9,
        "frequency": 50.0,
        "motor_temperature": 40.0,
        **values,
    }


class StreamProcess:
    """`python -m energy_ui stream` with its output collected line by line."""

    # The command speaks English here (ENERGY_LANGUAGE below).
    REPORT = re.compile(r"batch \d+: (\d+) readings")
    WAITING = re.compile(r"(\d+) waiting, (\d+) dropped")

    def __init__(self, url: str, workdir: Path) -> None:
        environment = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("ENERGY_") and key != "DATABASE_URL"
        }
        environment.update(
            DATABASE_URL=url,
            PYTHONPATH=os.pathsep.join([str(SOURCES), os.environ.get("PYTHONPATH", "")]),
            PYTHONUNBUFFERED="1",
            ENERGY_BUFFER_MAX_READINGS=str(STREAM_BUFFER),
            ENERGY_LANGUAGE="en",
        )
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "energy_ui",
                "stream",
                "--interval",
                "0.1",
                "--batch-size",
                str(STREAM_BATCH_SIZE),
                "--meters",
                "2",
                "--max-registros",
                "100000000",
                "--batches",
                str(STREAM_BATCHES),
            ],
            cwd=workdir,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._collect, args=(self.process.stdout, self.stdout)),
            threading.Thread(target=self._collect, args=(self.process.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _collect(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line.rstrip("\n"))

    @property
    def stored(self) -> int:
        return sum(int(m.group(1)) for line in self.stdout if (m := self.REPORT.search(line)))

    @property
    def outage_reports(self) -> list[tuple[int, int]]:
        """(waiting, dropped so far) each time it told the database was unavailable."""
        return [
            (int(m.group(1)), int(m.group(2)))
            for line in self.stderr
            if (m := self.WAITING.search(line))
        ]

    def finish(self, timeout: float) -> int:
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class ApiClient(threading.Thread):
    """Posts a batch of readings every 50 ms; a 503 is retried with the same
    Idempotency-Key after a short pause (the answer's Retry-After is 5 s; a test waits less)."""

    def __init__(self, application: Application) -> None:
        super().__init__(daemon=True)
        api = FastAPI()
        api.include_router(create_api_router(application))
        self.client = TestClient(api)
        self.stop = threading.Event()
        self.accepted = 0
        self.unavailable: list[str | None] = []  # Retry-After of each 503
        self.other: list[str] = []
        self.start_at = datetime.now(UTC) - timedelta(hours=1)

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        number = 0
        while not self.stop.is_set():
            moment = self.start_at + timedelta(seconds=number)
            batch = [reading("api-1", moment + timedelta(milliseconds=i)) for i in range(5)]
            key = uuid.uuid4().hex
            number += 1
            while True:
                answer = self.client.post(
                    "/api/v1/readings", json=batch, headers={**headers, "Idempotency-Key": key}
                )
                if answer.status_code == 200:
                    self.accepted += answer.json()["accepted"]
                    break
                if answer.status_code == 503:
                    self.unavailable.append(answer.headers.get("Retry-After"))
                    time.sleep(0.2)
                    continue
                self.other.append(f"{answer.status_code}: {answer.text[:200]}")
                return
            time.sleep(0.05)


class MqttSide(threading.Thread):
    """An MqttIngestor subscribed to a topic of this test's own, and a meter publishing a
    message of 3 readings every 100 ms, in an event loop of their own."""

    def __init__(self, application: Application, prefix: str, host: str, port: int) -> None:
        super().__init__(daemon=True)
        self.prefix = prefix
        self.host, self.port = host, port
        self.ingestor = MqttIngestor(application.monitor, application.settings)
        self.published = 0
        self.publishing = threading.Event()
        self.stop = threading.Event()
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            self.failure = error

    async def _main(self) -> None:
        task = asyncio.create_task(self.ingestor.run())
        try:
            await asyncio.wait_for(self.ingestor.connected.wait(), 15)
            start = datetime.now(UTC) - timedelta(hours=2)
            async with aiomqtt.Client(self.host, self.port) as publisher:
                self.publishing.set()
                number = 0
                while not self.stop.is_set():
                    moment = start + timedelta(seconds=number)
                    message = [
                        reading("mq-1", moment + timedelta(milliseconds=i)) for i in range(3)
                    ]
                    topic = f"{self.prefix}/mq-1/readings"
                    await publisher.publish(topic, json.dumps(message), qos=1)
                    self.published += 3
                    number += 1
                    await asyncio.sleep(0.1)
            # Every published message has arrived and is stored (after the outage too).
            deadline = asyncio.get_running_loop().time() + 30
            while self.ingestor.counters.accepted < self.published or self.ingestor.buffer.pending:
                assert asyncio.get_running_loop().time() < deadline, "MQTT readings not stored"
                await asyncio.sleep(0.1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def stored_per_prefix(url: str) -> dict[str, int]:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT split_part(meter_id, '-', 1), count(*) FROM registros GROUP BY 1")
            ).all()
    finally:
        engine.dispose()
    return {prefix: int(count) for prefix, count in rows}


def test_a_database_restart_under_stream_api_and_mqtt_loses_nothing_accepted(tmp_path):
    host, port = mqtt_test_broker()
    with throwaway_server() as server:
        url = server.url
        prepare_database(url)
        settings = Settings(
            _env_file=None,
            database_url=url,
            ingest_token=TOKEN,
            max_readings=None,
            meters=2,
            mqtt_url=f"mqtt://{host}:{port}",
        )
        # A trained model, so every batch is scored on the way in (with each meter's context).
        seeding = bootstrap(settings, simulator=Simulator(meters=2, seed=3, meter_prefix="seed"))
        try:
            seeding.monitor.generate_history(600)
            seeding.monitor.train()
        finally:
            seeding.close()

        prefix = f"fault-{uuid.uuid4().hex[:8]}"  # this test's own MQTT topics
        api_application = bootstrap(settings)
        mqtt_application = bootstrap(
            settings.model_copy(update={"mqtt_topic": f"{prefix}/+/readings"})
        )
        api = ApiClient(api_application)
        mqtt = MqttSide(mqtt_application, prefix, host, port)
        stream: StreamProcess | None = None
        try:
            api.start()
            mqtt.start()
            wait_for(
                lambda: api.accepted > 0 and mqtt.ingestor.counters.stored > 0,
                30,
                "the API and MQTT to store something",
            )
            stream = StreamProcess(url, tmp_path)
            wait_for(lambda: stream.stored > 0, 30, "the stream to store something")

            server.stop()
            time.sleep(DOWN_FOR_S)
            during = (api.accepted, mqtt.published)
            server.start()

            wait_for(lambda: api.accepted > during[0] + 50, 30, "the API to store again")
            wait_for(lambda: mqtt.published > during[1] + 30, 30, "more MQTT messages")
            api.stop.set()
            mqtt.stop.set()
            api.join(30)
            mqtt.join(60)
            assert stream.finish(60) == 0, "\n".join(stream.stderr[-20:])
        finally:
            api.stop.set()
            mqtt.stop.set()
            if stream is not None:
                stream.kill()
            api_application.close()
            mqtt_application.close()

        # --- what each writer says it did -------------------------------------------------
        assert mqtt.failure is None, repr(mqtt.failure)
        assert api.other == []
        assert api.unavailable and all(retry == "5" for retry in api.unavailable)
        reports = stream.outage_reports
        assert reports, "the stream never saw the database away"
        waiting = max(pending for pending, _ in reports)
        dropped = max(dropped for _, dropped in reports)
        assert waiting <= STREAM_BUFFER  # bounded
        assert dropped > 0  # the outage outlasted the buffer: the oldest were dropped, told
        assert not any("sin guardar" in line for line in stream.stderr)
        assert stream.stored + dropped == STREAM_BATCHES * STREAM_BATCH_SIZE
        counters = mqtt.ingestor.counters
        assert counters.accepted == counters.stored == mqtt.published
        assert mqtt.ingestor.buffer.dropped == 0

        # --- what the database holds: every accepted reading, once ----------------------
        stored = stored_per_prefix(url)
        assert stored.get("meter") == stream.stored
        assert stored.get("api") == api.accepted
        assert stored.get("mq") == mqtt.published
        engine = open_engine(url)
        try:
            with engine.connect() as connection:
                twice = connection.execute(
                    text(
                        "SELECT meter_id, timestamp, count(*) FROM registros"
                        " GROUP BY 1, 2 HAVING count(*) > 1"
                    )
                ).all()
            assert twice == []
            assert bookkeeping_errors(engine) == []
        finally:
            engine.dispose()
        print(
            f"stream: {stream.stored} stored, {dropped} dropped (buffer {STREAM_BUFFER});"
            f" API: {api.accepted} accepted, {len(api.unavailable)} answers 503;"
            f" MQTT: {mqtt.published} published = stored"
        )
