"""Devices' own payloads end in PostgreSQL: Tasmota and Shelly Gen2 messages published to the
real Mosquitto, emonhub's single values joined per node, an Emoncms-shape POST; and a device
message in no known shape answered on its errors topic. Topics of each test's own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from energy_core import ReadingFilter
from energy_ui.bootstrap import Application, bootstrap
from energy_ui.mqtt import MqttIngestor
from energy_ui.settings import Settings
from tests.api.helpers import AUTH, TOKEN, api_app
from tests.integration.test_mqtt import eventually
from tests.postgres_support import truncate_all
from tests.services import mqtt_test_broker
from tests.unit.decoders import samples

pytestmark = pytest.mark.mqtt

# An emonhub node whose inputs carry every catalogue variable (named in the mapping file).
KEYS = """
[emon.keys]
V = { variable = "voltage" }
I = { variable = "current" }
P = { variable = "active_power", scale = 0.001 }
PF = { variable = "power_factor" }
F = { variable = "frequency" }
T = { variable = "motor_temperature" }
"""


@pytest.fixture
def prefix() -> str:
    return f"dev-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def application(
    pg_database_url: str, pg_engine: Engine, tmp_path: Path, prefix: str
) -> Iterator[Application]:
    truncate_all(pg_engine)
    host, port = mqtt_test_broker()
    mappings = tmp_path / "devices.toml"
    mappings.write_text(KEYS, encoding="utf-8")
    settings = Settings(
        _env_file=None,
        database_url=pg_database_url,
        ingest_token=TOKEN,
        mqtt_url=f"mqtt://{host}:{port}",
        # Every family under the test's own prefix: nothing else on the shared broker mixes in.
        mqtt_topic=f"{prefix}/+/readings",
        mqtt_tasmota_prefix=f"{prefix}/tele",
        mqtt_shelly_prefix=prefix,
        mqtt_emonhub=True,
        mqtt_emonhub_prefix=f"{prefix}/emon",
        mqtt_session_expiry_s=120,
        device_mappings=mappings,
        max_readings=None,
    )
    app = bootstrap(settings)
    yield app
    app.close()


@asynccontextmanager
async def subscribed(application: Application) -> AsyncIterator[MqttIngestor]:
    ingestor = MqttIngestor(application.monitor, application.settings)
    task = asyncio.create_task(ingestor.run())
    try:
        await asyncio.wait_for(ingestor.connected.wait(), 15)
        yield ingestor
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(*messages: tuple[str, bytes]) -> None:
    host, port = mqtt_test_broker()
    async with aiomqtt.Client(host, port) as publisher:
        for topic, payload in messages:
            await publisher.publish(topic, payload, qos=1)


def rows(engine: Engine, meter: str) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        result = connection.execute(
            text("SELECT * FROM registros WHERE meter_id = :m ORDER BY timestamp"), {"m": meter}
        )
        return [dict(row._mapping) for row in result]


def origins(engine: Engine, *meters: str) -> dict[str, tuple[str, str]]:
    """What ``medidores`` says each meter came by: (channel, format)."""
    with engine.connect() as connection:
        result = connection.execute(
            text("SELECT meter_id, channel, format FROM medidores WHERE meter_id = ANY(:m)"),
            {"m": list(meters)},
        )
        return {meter: (channel, shape) for meter, channel, shape in result}


async def test_tasmota_and_shelly_messages_end_in_postgresql_with_nulls_where_nothing_was_sent(
    application: Application, pg_engine: Engine, prefix: str
):
    plug, meter3 = f"{prefix}-plug", f"{prefix}-3em"
    async with subscribed(application) as ingestor:
        await publish(
            (f"{prefix}/tele/{plug}/SENSOR", samples.TASMOTA_POW_R2),
            (f"{prefix}/{meter3}/status/em:0", samples.SHELLY_PRO3EM),
            (f"{prefix}/{meter3}/events/rpc", samples.SHELLY_NOTIFY_POWER),
        )
        await eventually(lambda: ingestor.counters.stored >= 6, timeout=20)
    [tasmota] = rows(pg_engine, plug)
    assert tasmota["voltage"] == 227.0
    assert tasmota["active_power"] == pytest.approx(2.635)
    assert tasmota["motor_temperature"] is None  # a plug has no motor: NULL, never 0
    [phase_c] = rows(pg_engine, f"{meter3}.L3")
    assert phase_c["frequency"] == 50.0
    assert [row["frequency"] for row in rows(pg_engine, f"{meter3}.L1")] == [None]
    notified = rows(pg_engine, f"{meter3}.2")
    assert [row["timestamp"] for row in notified] == [datetime.fromtimestamp(1631186545.04, tz=UTC)]
    [read_back] = application.monitor.queries.window(ReadingFilter(meter_ids=(plug,)))
    assert "motor_temperature" not in read_back.values
    assert origins(pg_engine, plug, f"{meter3}.L3") == {
        plug: ("mqtt", "tasmota"),
        f"{meter3}.L3": ("mqtt", "shelly"),
    }


async def test_a_device_message_in_no_known_shape_is_answered_on_its_errors_topic(
    application: Application, pg_engine: Engine, prefix: str
):
    probe = f"{prefix}-probe"
    host, port = mqtt_test_broker()
    async with subscribed(application) as ingestor:
        async with aiomqtt.Client(host, port) as listener:
            await listener.subscribe(f"smartenergy/{probe}/errors")
            await publish((f"{prefix}/tele/{probe}/SENSOR", samples.TASMOTA_DS18B20))
            async with asyncio.timeout(10):
                message = await anext(aiter(listener.messages))
        await eventually(lambda: ingestor.counters.rejected_messages == 1)
    answer = json.loads(message.payload)
    assert answer["accepted"] == 0
    [rejection] = answer["rejected"]
    assert rejection["field"] == "payload"
    assert rejection["reason"].startswith(
        f"{prefix}/tele/{probe}/SENSOR: expected Tasmota energy telemetry"
    )
    assert rows(pg_engine, probe) == []


async def test_emonhub_single_values_are_joined_into_one_reading_and_stored(
    application: Application, pg_engine: Engine, prefix: str
):
    node = f"{prefix}-pump"
    values = {"V": b"231.5", "I": b"4.2", "P": b"880", "PF": b"0.91", "F": b"49.98", "T": b"52"}
    before = datetime.now(UTC) - timedelta(seconds=1)
    async with subscribed(application) as ingestor:
        await publish(*((f"{prefix}/emon/{node}/{key}", value) for key, value in values.items()))
        await eventually(lambda: ingestor.counters.stored == 1, timeout=15)
        assert ingestor.assembler.pending == 0
    [row] = rows(pg_engine, node)
    assert (row["voltage"], row["current"], row["motor_temperature"]) == (231.5, 4.2, 52.0)
    assert row["active_power"] == pytest.approx(0.88)
    assert before <= row["timestamp"] <= datetime.now(UTC)
    assert origins(pg_engine, node) == {node: ("mqtt", "emonhub")}


def test_an_emoncms_bulk_post_ends_in_postgresql(application: Application, pg_engine: Engine):
    node = f"emontx-{uuid.uuid4().hex[:6]}"
    now = int(datetime.now(UTC).timestamp())
    inputs = {"V": 240.1, "I": 2.5, "P": 540, "PF": 0.9, "F": 50.0, "T": 30.0}
    data = json.dumps([[now - 10, node, inputs], [now, node, {**inputs, "P": 560}]])
    response = TestClient(api_app(application)).post(
        f"/api/v1/emoncms/input/bulk.json?sentat={now}&cb=1",
        content=zlib.compress(data.encode()),
        headers=AUTH,
    )
    assert (response.status_code, response.text) == (200, "ok")
    stored = rows(pg_engine, node)
    assert [row["active_power"] for row in stored] == pytest.approx([0.54, 0.56])
