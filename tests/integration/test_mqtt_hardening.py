"""MQTT ingest that nothing a message holds can stop, that keeps up with bursts, loses
nothing it acknowledged and lets a broker's access rules protect each meter's identity —
on the real Mosquitto (and throwaway ones for TLS), with topics of each test's own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from energy_adapters.memory import ManualClock
from energy_core import ReadingFilter, Simulator
from energy_core.ports import BatchRefusedError
from energy_ui.api import create_api_router
from energy_ui.bootstrap import Application, DatabaseError, bootstrap
from energy_ui.mqtt import MqttIngestor, default_client_id
from energy_ui.settings import Settings
from tests.integration.test_mqtt import eventually, payload
from tests.postgres_support import truncate_all
from tests.services import free_port, mqtt_test_broker, unavailable
from tests.strategies import BASE

pytestmark = pytest.mark.mqtt

ROOT = Path(__file__).resolve().parents[2]


def make_application(
    host: str, port: int, prefix: str, *, url: str | None = None, **settings: Any
) -> Application:
    """An in-memory application subscribed to ``prefix/+/readings`` with a short-lived
    session (the shared broker forgets it soon after the test)."""
    options: dict[str, Any] = {
        "mqtt_url": url or f"mqtt://{host}:{port}",
        "mqtt_topic": f"{prefix}/+/readings",
        "mqtt_session_expiry_s": 120,
        "max_readings": None,
        "meters": 1,
        **settings,
    }
    return bootstrap(
        Settings(_env_file=None, **options), clock=ManualClock(BASE), simulator=Simulator(seed=2)
    )


def unique(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def running(ingestor: MqttIngestor, *, connect: bool = True) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(ingestor.run())
    try:
        if connect:
            await asyncio.wait_for(ingestor.connected.wait(), 15)
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@asynccontextmanager
async def errors_of(host: str, port: int, *meters: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Collects what the subscriber answers on these meters' errors topics."""
    answers: list[dict[str, Any]] = []
    async with aiomqtt.Client(host, port) as listener:
        for meter in meters:
            await listener.subscribe(f"smartenergy/{meter}/errors", qos=1)

        async def collect() -> None:
            async for message in listener.messages:
                answers.append({"topic": str(message.topic), **json.loads(message.payload)})

        collector = asyncio.create_task(collect())
        try:
            yield answers
        finally:
            collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await collector


def count_of(application: Application, *meters: str) -> int:
    return application.monitor.queries.count(ReadingFilter(meter_ids=meters))


# --- every payload: rejected, counted, answered; the subscriber goes on ---------------------
BAD_PAYLOADS: dict[str, bytes] = {
    "not UTF-8": b'{"voltage": "\xff\xfe"}',
    "not JSON": b"{broken",
    "nested deeper than the interpreter's stack": b"[" * 200_000 + b"]" * 200_000,
    "over 1 MB": b'[{"voltage": 1}' + b', {"voltage": 1}' * 80_000 + b"]",
    "a NUL character in a text field": json.dumps(payload(anomaly_kind="sag\u0000")).encode(),
    "a NUL character as the meter": json.dumps(payload(meter="m\u0000")).encode(),
    "a bool where a number goes": json.dumps(payload(voltage=True)).encode(),
    "a string where a number goes": json.dumps(payload(voltage="230")).encode(),
    "a bare number": b"42",
    "null": b"null",
    "an array of arrays": b"[[1, 2], [3]]",
    "an empty object": b"{}",
}


async def test_no_payload_stops_the_subscriber_and_each_is_answered_on_the_errors_topic():
    host, port = mqtt_test_broker()
    prefix = unique("bad")
    meter = unique("m")
    application = make_application(host, port, prefix)
    ingestor = MqttIngestor(application.monitor, application.settings)
    topic = f"{prefix}/{meter}/readings"
    async with running(ingestor) as task, errors_of(host, port, meter) as answers:
        async with aiomqtt.Client(host, port) as meter_client:
            for body in BAD_PAYLOADS.values():
                await meter_client.publish(topic, body, qos=1)
            await meter_client.publish(topic, json.dumps(payload()), qos=1)
        await eventually(lambda: len(answers) == len(BAD_PAYLOADS), 30)
        await eventually(lambda: count_of(application, meter) == 1)
        assert not task.done()
    assert ingestor.counters.rejected_messages == len(BAD_PAYLOADS)
    assert ingestor.counters.messages == len(BAD_PAYLOADS) + 1
    assert ingestor.counters.failures == 0
    assert all(answer["accepted"] == 0 and answer["rejected"] for answer in answers)
    reasons = " | ".join(r["reason"] for answer in answers for r in answer["rejected"])
    assert "not UTF-8" in reasons
    assert "nested deeper than" in reasons
    assert "over 1048576 bytes" in reasons


def test_an_unexpected_error_while_storing_one_message_is_counted_and_only_it_fails(caplog):
    application = make_application("127.0.0.1", 1883, unique("boom"))
    ingestor = MqttIngestor(application.monitor, application.settings)
    monitor = application.monitor
    real_ingest = monitor.store_parsed

    def ingest(readings, **options):
        if any(reading.meter_id == "boom" for reading in readings):
            raise RuntimeError("a defect")
        return real_ingest(readings, **options)

    monitor.store_parsed = ingest  # type: ignore[method-assign]
    batch = [
        ingestor.receive(f"x/{meter}/readings", json.dumps(payload(seconds=n)).encode())
        for n, meter in enumerate(["good-1", "boom", "good-2"])
    ]
    with caplog.at_level(logging.ERROR, logger="energy_ui.mqtt"):
        ingestor.store(batch)
    verdicts = [incoming.verdict() for incoming in batch]
    assert [verdict.accepted for verdict in verdicts] == [1, 0, 1]
    assert "internal error" in verdicts[1].rejections[0].reason
    assert count_of(application, "good-1", "good-2") == 2
    assert ingestor.counters.failures >= 1
    assert "a defect" in caplog.text


def test_storage_refusing_one_message_of_a_batch_fails_only_that_message():
    application = make_application("127.0.0.1", 1883, unique("refused"))
    ingestor = MqttIngestor(application.monitor, application.settings)
    readings = application.monitor.readings
    real_add = readings.add_many

    def add_many(batch, **options):
        if any(reading.meter_id == "refused" for reading in batch):
            raise BatchRefusedError("batch refused: a value storage cannot hold")
        return real_add(batch, **options)

    readings.add_many = add_many  # type: ignore[method-assign]
    batch = [
        ingestor.receive(
            f"x/{meter}/readings",
            json.dumps([payload(seconds=2 * n), payload(seconds=2 * n + 1)]).encode(),
        )
        for n, meter in enumerate(["ok-1", "refused", "ok-2", "ok-3"])
    ]
    ingestor.store(batch)
    assert [incoming.verdict().accepted for incoming in batch] == [2, 0, 2, 2]
    refused = batch[1].verdict().rejections
    assert [r.reason for r in refused] == ["batch refused: a value storage cannot hold"] * 2
    assert count_of(application, "ok-1", "ok-2", "ok-3") == 6
    assert ingestor.counters.refused == 2
    assert ingestor.counters.stored == 6


def test_a_buffered_batch_refused_after_an_outage_loses_only_its_refused_reading(caplog):
    application = make_application("127.0.0.1", 1883, unique("later"))
    ingestor = MqttIngestor(application.monitor, application.settings)
    readings = application.monitor.readings
    real_add = readings.add_many
    database = {"up": False}

    def add_many(batch, **options):
        if not database["up"]:
            raise DatabaseError("the database is away")
        if any(reading.meter_id == "refused" for reading in batch):
            raise BatchRefusedError("batch refused: a value storage cannot hold")
        return real_add(batch, **options)

    readings.add_many = add_many  # type: ignore[method-assign]
    meters = ["ok-1", "ok-2", "refused", "ok-3", "ok-4", "ok-5"]
    ingestor.store(
        [
            ingestor.receive(f"x/{meter}/readings", json.dumps(payload(seconds=n)).encode())
            for n, meter in enumerate(meters)
        ]
    )
    assert ingestor.buffer.pending == len(meters)  # acknowledged: held until storage is back
    database["up"] = True
    with caplog.at_level(logging.WARNING, logger="energy_ui.mqtt"):
        ingestor.flush()
    assert ingestor.buffer.pending == 0
    assert count_of(application, *meters) == 5
    assert ingestor.counters.refused == 1
    assert "storage refused a buffered reading of refused" in caplog.text


def test_readings_dropped_from_a_full_retry_buffer_are_counted_and_logged(caplog):
    application = make_application("127.0.0.1", 1883, unique("drop"), buffer_max_readings=5)
    ingestor = MqttIngestor(application.monitor, application.settings)

    def away(readings, **options):
        raise DatabaseError("the database is away")

    application.monitor.store_parsed = away  # type: ignore[method-assign]
    with caplog.at_level(logging.WARNING, logger="energy_ui.mqtt"):
        for second in range(8):
            verdict = ingestor.handle(
                "x/m-1/readings", json.dumps(payload(seconds=second)).encode()
            )
            assert verdict.accepted == 1  # held, to be stored when the database is back
    assert ingestor.buffer.pending == 5
    assert ingestor.status()["dropped"] == 3
    assert "dropped" in caplog.text


# --- throughput, acknowledgement and persistence ---------------------------------------------
async def publish_all(host: str, port: int, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(host, port, max_inflight_messages=500) as publisher:
        await asyncio.gather(*(publisher.publish(t, body, qos=1) for t, body in messages))


async def test_the_broker_keeps_messages_while_the_subscriber_is_away_and_they_come_in_batches():
    host, port = mqtt_test_broker()
    prefix = unique("away")
    application = make_application(host, port, prefix)
    monitor = application.monitor
    calls: list[int] = []
    real_ingest = monitor.store_parsed

    def ingest(readings, **options):
        calls.append(len(readings))
        return real_ingest(readings, **options)

    monitor.store_parsed = ingest  # type: ignore[method-assign]
    async with running(MqttIngestor(monitor, application.settings)):
        pass  # the session exists now; the subscriber goes away
    meters = [f"{prefix}-m{n}" for n in range(10)]
    messages = [
        (f"{prefix}/{meter}/readings", json.dumps(payload(meter, seconds=n)).encode())
        for n in range(60)
        for meter in meters
    ]
    await publish_all(host, port, messages)
    ingestor = MqttIngestor(monitor, application.settings)
    async with running(ingestor):
        await eventually(lambda: count_of(application, *meters) == len(messages), 60)
    assert ingestor.counters.stored == len(messages)
    assert len(calls) < len(messages) / 10  # many messages per storage call
    assert max(calls) <= 1_000


async def test_a_message_is_acknowledged_only_once_stored_so_a_crash_before_loses_nothing():
    host, port = mqtt_test_broker()
    prefix = unique("ack")
    meter = f"{prefix}-m"
    first = make_application(host, port, prefix)
    entered, release = threading.Event(), threading.Event()

    def stuck(readings, **options):  # the process dies while this write is under way
        entered.set()
        release.wait(30)
        raise DatabaseError("gone")

    first.monitor.store_parsed = stuck  # type: ignore[method-assign]
    crashed = MqttIngestor(first.monitor, first.settings)
    try:
        async with running(crashed):
            await publish_all(
                host, port, [(f"{prefix}/{meter}/readings", json.dumps(payload()).encode())]
            )
            await eventually(entered.is_set)
        # The same deployment starts again: same settings, so the same session.
        second = make_application(host, port, prefix)
        restarted = MqttIngestor(second.monitor, second.settings)
        assert restarted.client_id == crashed.client_id
        async with running(restarted):
            await eventually(lambda: count_of(second, meter) == 1, 30)
    finally:
        release.set()


def test_the_default_client_id_is_stable_and_differs_by_database_and_topic():
    def client_id(**options: Any) -> str:
        return default_client_id(Settings(_env_file=None, **options))

    one = client_id(database_url="postgresql://u:secret@db:5432/energy")
    assert one == client_id(database_url="postgresql://u:other@db:5432/energy")
    assert one != client_id(database_url="postgresql://u:secret@db:5432/other")
    assert one != client_id(database_url="postgresql://u:secret@db:5432/energy", mqtt_topic="a/+/b")
    assert one.startswith("smartenergy-") and len(one) <= 23 and "secret" not in one
    configured = Settings(_env_file=None, mqtt_client_id="plant-ingest")
    assert MqttIngestor(bootstrap(configured).monitor, configured).client_id == "plant-ingest"


# --- identity: the topic names the meter ---------------------------------------------------
def test_a_reading_naming_another_meter_than_its_topic_is_rejected():
    application = make_application("127.0.0.1", 1883, "site")
    ingestor = MqttIngestor(application.monitor, application.settings)
    verdict = ingestor.handle(
        "site/pump-1/readings",
        json.dumps(
            [payload("pump-1"), payload(seconds=1), payload("pump-2", seconds=2), payload(7)]
        ).encode(),
    )
    assert verdict.accepted == 2
    assert [(r.index, r.field) for r in verdict.rejections] == [(2, "meter_id"), (3, "meter_id")]
    assert "'pump-2'" in verdict.rejections[0].reason
    assert "topic of meter 'pump-1'" in verdict.rejections[0].reason
    assert count_of(application, "pump-1") == 2
    assert count_of(application, "pump-2") == 0


def test_a_gateway_topic_carries_only_the_meters_its_patterns_allow():
    application = make_application(
        "127.0.0.1",
        1883,
        "site",
        mqtt_gateways={"site/gw-north/readings": ["north-*", "spare-?"]},
    )
    ingestor = MqttIngestor(application.monitor, application.settings)
    verdict = ingestor.handle(
        "site/gw-north/readings",
        json.dumps(
            [
                payload("north-1"),
                payload("north-22", seconds=1),
                payload("spare-7", seconds=2),
                payload("south-1", seconds=3),
                payload(seconds=4),  # no meter_id: the gateway itself is no allowed meter
            ]
        ).encode(),
    )
    assert verdict.accepted == 3
    assert [(r.index, r.field) for r in verdict.rejections] == [(3, "meter_id"), (4, "meter_id")]
    assert "north-*, spare-?" in verdict.rejections[0].reason
    assert count_of(application, "north-1", "north-22", "spare-7") == 3
    # Another meter's topic is no gateway.
    other = ingestor.handle("site/pump-1/readings", json.dumps(payload("north-9")).encode())
    assert other.accepted == 0


def test_gateways_come_from_the_environment_as_json(monkeypatch):
    monkeypatch.setenv("ENERGY_MQTT_GATEWAYS", '{"smartenergy/gw-1/readings": ["a-*", "b-*"]}')
    assert Settings(_env_file=None).mqtt_gateways == {"smartenergy/gw-1/readings": ["a-*", "b-*"]}


# --- /healthz ---------------------------------------------------------------------------------
async def test_healthz_reports_the_mqtt_channel_and_is_degraded_while_it_is_down():
    host, port = mqtt_test_broker()
    prefix = unique("health")
    meter = f"{prefix}-m"
    application = make_application(host, port, prefix)
    ingestor = MqttIngestor(application.monitor, application.settings)
    application.channels["mqtt"] = ingestor.status
    api = FastAPI()
    api.include_router(create_api_router(application))
    client = TestClient(api)

    down = client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["status"] == "degraded"
    assert down.json()["channels"]["mqtt"]["connected"] is False

    async with running(ingestor):
        async with aiomqtt.Client(host, port) as publisher:
            topic = f"{prefix}/{meter}/readings"
            await publisher.publish(topic, json.dumps(payload()), qos=1)
            await publisher.publish(topic, b"[[[", qos=1)
        await eventually(lambda: ingestor.counters.rejected_messages == 1)
        await eventually(lambda: count_of(application, meter) == 1)
        up = await asyncio.to_thread(client.get, "/healthz")
    assert up.status_code == 200
    body = up.json()
    assert body["status"] == "ok"
    channel = body["channels"]["mqtt"]
    assert channel["connected"] is True
    assert (channel["messages"], channel["rejected"], channel["dropped"]) == (2, 1, 0)
    assert datetime.fromisoformat(channel["last_message_at"]) > datetime.now(UTC) - timedelta(
        minutes=5
    )


def test_serve_with_mqtt_registers_the_channel_for_healthz(monkeypatch):
    from energy_ui.dashboard import app as dashboard_app

    monkeypatch.setattr(dashboard_app.app, "on_startup", lambda handler: None)
    application = make_application("127.0.0.1", 1883, unique("serve"))
    dashboard_app._ingest_mqtt_while_serving(application)
    assert application.channels["mqtt"]()["connected"] is False


# --- TLS with client certificates, and the documented ACL ---------------------------------------
def openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path, *clients: str) -> None:
    """A throwaway CA, a server certificate for 127.0.0.1 and one client certificate per
    name (its CN: the user name Mosquitto sees)."""
    if not shutil.which("openssl"):
        unavailable("openssl is not installed: cannot make test certificates")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "1",
            "-subj", "/CN=smartenergy-test-ca", cwd=folder)  # fmt: skip
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1\n", encoding="ascii")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n", encoding="ascii")
    for name, extensions in [("server", "server.ext"), *[(c, "client.ext") for c in clients]]:
        subject = "/CN=127.0.0.1" if name == "server" else f"/CN={name}"
        openssl("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject,
                cwd=folder)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", f"{name}.crt", "-days", "1", "-extfile", extensions,
                cwd=folder)  # fmt: skip


ACL = """\
# the subscriber
user ingest
topic read smartenergy/+/readings
topic write smartenergy/+/errors

# every device: only its own topics (%u is the user name: here the certificate's CN)
pattern write smartenergy/%u/readings
pattern read smartenergy/%u/errors
"""


@contextmanager
def tls_broker(folder: Path) -> Iterator[int]:
    """A Mosquitto of this test's own that requires a client certificate signed by the
    test CA, takes the certificate's CN as the user name and applies ``ACL``."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        unavailable("mosquitto is not installed: cannot start a throwaway broker")
    port = free_port()
    (folder / "acl").write_text(ACL, encoding="ascii")
    config = folder / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        f"cafile {folder / 'ca.crt'}\ncertfile {folder / 'server.crt'}\n"
        f"keyfile {folder / 'server.key'}\n"
        "require_certificate true\nuse_identity_as_username true\n"
        f"acl_file {folder / 'acl'}\n" + ("user root\n" if os.geteuid() == 0 else ""),
        encoding="ascii",
    )
    broker = subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if broker.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"mosquitto did not start: {broker.stderr.read()!r}")
            time.sleep(0.05)
        yield port
    finally:
        broker.terminate()
        broker.wait(10)


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def device_tls(folder: Path, name: str) -> aiomqtt.TLSParameters:
    return aiomqtt.TLSParameters(
        ca_certs=str(folder / "ca.crt"),
        certfile=str(folder / f"{name}.crt"),
        keyfile=str(folder / f"{name}.key"),
    )


async def test_tls_with_client_certificates_and_the_acl_keep_each_device_to_its_own_topic(
    tmp_path,
):
    make_certificates(tmp_path, "ingest", "pump-1", "pump-2")
    with tls_broker(tmp_path) as port:
        application = make_application(
            "127.0.0.1",
            port,
            "smartenergy",
            url=f"mqtts://127.0.0.1:{port}",
            mqtt_ca_file=tmp_path / "ca.crt",
            mqtt_cert_file=tmp_path / "ingest.crt",
            mqtt_key_file=tmp_path / "ingest.key",
        )
        ingestor = MqttIngestor(application.monitor, application.settings)
        async with running(ingestor):
            client = aiomqtt.Client(
                "127.0.0.1",
                port,
                tls_params=device_tls(tmp_path, "pump-1"),
                protocol=aiomqtt.ProtocolVersion.V5,
            )
            async with client as pump:
                await pump.subscribe("smartenergy/pump-1/errors", qos=1)
                await pump.publish("smartenergy/pump-1/readings", json.dumps(payload()), qos=1)
                # Denied by the broker: pump-1 may not publish as pump-2.
                await pump.publish(
                    "smartenergy/pump-2/readings", json.dumps(payload(seconds=1)), qos=1
                )
                # Allowed topic, another meter in the payload: refused by the subscriber.
                await pump.publish(
                    "smartenergy/pump-1/readings", json.dumps(payload("pump-2", 2)), qos=1
                )
                async with asyncio.timeout(15):
                    answer = json.loads((await anext(aiter(pump.messages))).payload)
            await eventually(lambda: ingestor.counters.messages == 2)
        assert answer["rejected"][0]["field"] == "meter_id"
        assert count_of(application, "pump-1") == 1
        assert count_of(application, "pump-2") == 0

        # Without a client certificate the broker refuses the subscriber.
        plain = make_application(
            "127.0.0.1",
            port,
            "smartenergy",
            url=f"mqtts://127.0.0.1:{port}",
            mqtt_ca_file=tmp_path / "ca.crt",
        )
        refused = MqttIngestor(plain.monitor, plain.settings)
        async with running(refused, connect=False):
            await eventually(lambda: len(refused.counters.errors) > 0, 15)
            assert not refused.connected.is_set()


def test_a_client_certificate_needs_a_tls_broker_and_readable_files(tmp_path):
    application = make_application("127.0.0.1", 1883, "x", mqtt_cert_file=tmp_path / "c.crt")
    with pytest.raises(ValueError, match="mqtts://"):
        MqttIngestor(application.monitor, application.settings)
    application = make_application(
        "127.0.0.1", 1883, "x", url="mqtts://127.0.0.1:8883", mqtt_cert_file=tmp_path / "no.crt"
    )
    with pytest.raises(ValueError, match="ENERGY_MQTT_CERT_FILE"):
        MqttIngestor(application.monitor, application.settings)


# --- `smartenergy mqtt`, the real command, on PostgreSQL ------------------------------------------
def test_the_mqtt_command_survives_bad_payloads_and_stores_the_good_ones(
    pg_database_url, pg_engine
):
    truncate_all(pg_engine)  # no model left by another test
    host, port = mqtt_test_broker()
    prefix = unique("cli")
    meter = f"{prefix}-m"
    env = {
        key: value
        for key, value in os.environ.items()
        if key != "DATABASE_URL" and not key.startswith("ENERGY_")
    }
    env.update(
        PYTHONPATH=str(ROOT / "src"),
        DATABASE_URL=pg_database_url,
        ENERGY_MQTT_URL=f"mqtt://{host}:{port}",
        ENERGY_MQTT_TOPIC=f"{prefix}/+/readings",
        ENERGY_MQTT_SESSION_EXPIRY_S="120",
        ENERGY_MAX_READINGS="1000000000",
    )
    now = datetime.now(UTC).replace(microsecond=0)

    def good(seconds: int) -> bytes:
        body = payload(meter)
        body["timestamp"] = (now - timedelta(seconds=seconds)).isoformat()
        return json.dumps(body).encode()

    def stored() -> int:
        from energy_adapters.postgres import open_engine

        engine = open_engine(pg_database_url)
        try:
            with engine.connect() as connection:
                return int(
                    connection.execute(
                        text("SELECT count(*) FROM registros WHERE meter_id = :m"), {"m": meter}
                    ).scalar_one()
                )
        finally:
            engine.dispose()

    async def publish(*bodies: bytes) -> None:
        async with aiomqtt.Client(host, port) as publisher:
            for body in bodies:
                await publisher.publish(f"{prefix}/{meter}/readings", body, qos=1)

    nul_text = json.loads(good(100))
    nul_text["anomaly_kind"] = "sag\u0000"
    process = subprocess.Popen(
        [sys.executable, "-m", "energy_ui", "mqtt"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # Subscribed once a first good reading is stored.
        deadline = time.monotonic() + 120  # a loaded CI machine starts slowly
        while stored() == 0:
            assert process.poll() is None, process.stderr.read().decode(errors="replace")
            if time.monotonic() > deadline:
                process.kill()
                _, log = process.communicate(timeout=10)
                pytest.fail(f"the subscriber stored nothing; its log:\n{log.decode()[-3000:]}")
            asyncio.run(publish(good(0)))
            time.sleep(1.0)
        first = stored()
        asyncio.run(
            publish(
                b"[" * 100_000,
                json.dumps(nul_text).encode(),
                b"\xff\xfe\x00 not UTF-8",
                json.dumps(payload(meter, voltage=True)).encode(),
                good(1000),
                good(1001),
            )
        )
        deadline = time.monotonic() + 30
        while stored() < first + 2:
            assert process.poll() is None, process.stderr.read().decode(errors="replace")
            assert time.monotonic() < deadline, "the good readings were not stored"
            time.sleep(0.2)
        time.sleep(1.0)
        assert process.poll() is None
        assert stored() == first + 2
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    log = process.stderr.read().decode(errors="replace")
    assert "Traceback" not in log
    assert log.count("rejected") >= 4
