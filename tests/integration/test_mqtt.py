"""MQTT ingest against a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import uuid
from collections.abc import Callable
from datetime import timedelta

import aiomqtt
import pytest

from energy_adapters.memory import ManualClock
from energy_core import ReadingFilter, Simulator
from energy_ui.bootstrap import bootstrap
from energy_ui.mqtt import MqttIngestor, meter_from_topic
from energy_ui.settings import Settings
from tests.services import free_port, mqtt_test_broker, unavailable
from tests.strategies import BASE

pytestmark = pytest.mark.mqtt


def payload(meter: str | None = None, seconds: int = 0, **values: object) -> dict[str, object]:
    body: dict[str, object] = {
        "timestamp": (BASE - timedelta(seconds=seconds)).isoformat(),
        "voltage": 230.0,
        "current": 10.0,
        "active_power": 2.0,
        "power_factor": 0.9,
        "frequency": 50.0,
        "motor_temperature": 40.0,
        **values,
    }
    if meter:
        body["meter_id"] = meter
    return body


def make_application(host: str, port: int, prefix: str):
    settings = Settings(
        _env_file=None,
        mqtt_url=f"mqtt://{host}:{port}",
        mqtt_topic=f"{prefix}/+/readings",
        mqtt_session_expiry_s=120,
        max_readings=None,
        meters=1,
    )
    return bootstrap(settings, clock=ManualClock(BASE), simulator=Simulator(seed=2))


async def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_meter_comes_from_the_plus_segment_of_the_filter():
    assert meter_from_topic("smartenergy/+/readings", "smartenergy/pump-3/readings") == "pump-3"
    assert meter_from_topic("site/a/#", "site/a/b") is None


async def test_published_readings_land_scored_in_storage_and_on_the_feed():
    host, port = mqtt_test_broker()
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    application = make_application(host, port, prefix)
    monitor = application.monitor
    monitor.generate_history(600)
    monitor.train()
    events = []
    monitor.feed.subscribe(events.append)
    ingestor = MqttIngestor(monitor, application.settings)
    task = asyncio.create_task(ingestor.run())
    meter = f"m-{uuid.uuid4().hex[:6]}"
    try:
        await asyncio.wait_for(ingestor.connected.wait(), 10)
        async with aiomqtt.Client(host, port) as publisher:
            await publisher.subscribe(f"smartenergy/{meter}/errors")
            topic = f"{prefix}/{meter}/readings"
            await publisher.publish(topic, json.dumps(payload(voltage=120.0)), qos=1)
            await publisher.publish(
                topic, json.dumps([payload(seconds=1), payload(meter="other", seconds=2)]), qos=1
            )
            await publisher.publish(topic, json.dumps(payload(frequency=999)), qos=1)
            await publisher.publish(topic, b"{broken", qos=1)
            errors = []
            async with asyncio.timeout(10):
                async for message in publisher.messages:
                    errors.append(json.loads(message.payload))
                    if len(errors) == 3:
                        break
        await eventually(lambda: ingestor.counters.stored == 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    stored = monitor.queries.window(ReadingFilter(meter_ids=(meter,)))
    assert len(stored) == 2
    assert all(reading.is_scored for reading in stored)
    sag = next(r for r in stored if r["voltage"] == 120.0)
    assert sag.is_flagged and "voltage" in sag.top_variables
    # The topic names the meter: a reading naming another one is refused, not stored as it.
    assert monitor.queries.count(ReadingFilter(meter_ids=("other",))) == 0
    assert errors[0]["accepted"] == 1
    assert errors[0]["rejected"][0]["index"] == 1
    assert errors[0]["rejected"][0]["field"] == "meter_id"
    assert "'other'" in errors[0]["rejected"][0]["reason"]
    assert errors[1]["rejected"][0]["field"] == "frequency"
    assert errors[2]["rejected"][0]["field"] == "payload"
    assert ingestor.counters.rejected_messages == 3
    assert sum(event.count for event in events if event.topic == "readings") == 2


async def test_the_subscriber_reconnects_after_the_broker_restarts(tmp_path):
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not shutil.which(binary):
        unavailable("mosquitto is not installed: cannot start a throwaway broker")
    port = free_port()
    config = tmp_path / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n", encoding="utf-8")

    def start_broker() -> subprocess.Popen[bytes]:
        return subprocess.Popen([binary, "-c", str(config)], stderr=subprocess.DEVNULL)

    broker = start_broker()
    application = make_application("127.0.0.1", port, "restart")
    ingestor = MqttIngestor(application.monitor, application.settings)
    task = asyncio.create_task(ingestor.run())
    try:
        await asyncio.wait_for(ingestor.connected.wait(), 10)
        broker.terminate()
        broker.wait(10)
        await eventually(lambda: not ingestor.connected.is_set())
        broker = start_broker()
        await asyncio.wait_for(ingestor.connected.wait(), 20)
        async with aiomqtt.Client("127.0.0.1", port) as publisher:
            await publisher.publish("restart/m-1/readings", json.dumps(payload()), qos=1)
        await eventually(lambda: ingestor.counters.accepted == 1)
        assert ingestor.counters.connections == 2
        assert application.monitor.queries.count() == 1
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        broker.terminate()
        broker.wait(10)
