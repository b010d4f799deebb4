"""MQTT ingest: meters publish readings, we validate, score, store and push them live.

Payload: one reading or an array of readings in JSON, validated exactly like the HTTP API.
When a reading has no `meter_id`, the topic's `+` segment names the meter
(`smartenergy/<meter>/readings`). A rejected message is counted, logged with its reason and
published to `smartenergy/<meter>/errors`. The subscriber reconnects by itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import aiomqtt

from energy_core import Monitor
from energy_core.buffer import RetryBuffer
from energy_core.monitor import Rejection
from energy_core.validation import parse_readings
from energy_ui.bootstrap import unavailable_errors
from energy_ui.settings import Settings

log = logging.getLogger(__name__)

ERRORS_TOPIC = "smartenergy/{meter}/errors"
MAX_PAYLOAD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Broker:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> Broker:
        parts = urlsplit(settings.mqtt_url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(
                f"ENERGY_MQTT_URL={settings.mqtt_url!r}: expected mqtt://host[:port] or mqtts://…"
            )
        tls = parts.scheme == "mqtts"
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=settings.mqtt_username
            or (unquote(parts.username) if parts.username else None),
            password=password or (unquote(parts.password) if parts.password else None),
            tls=tls,
        )

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


@dataclass
class MqttCounters:
    messages: int = 0
    accepted: int = 0
    stored: int = 0
    rejected_messages: int = 0
    connections: int = 0
    errors: list[str] = field(default_factory=list)


def meter_from_topic(topic_filter: str, topic: str) -> str | None:
    """The topic segment where the filter has its first `+` (the meter id), if any."""
    wanted = topic_filter.split("/")
    levels = topic.split("/")
    for position, level in enumerate(wanted):
        if level == "+" and position < len(levels):
            return levels[position] or None
    return None


@dataclass(frozen=True)
class Verdict:
    meter: str
    accepted: int
    rejections: list[Rejection]

    def error_payload(self) -> bytes:
        return json.dumps(
            {
                "accepted": self.accepted,
                "rejected": [
                    {"index": r.index, "field": r.field, "reason": r.reason}
                    for r in self.rejections
                ],
            }
        ).encode()


class MqttIngestor:
    """Subscribes to the readings topic and ingests every valid reading through ``Monitor``."""

    def __init__(self, monitor: Monitor, settings: Settings) -> None:
        self.monitor = monitor
        self.settings = settings
        self.broker = Broker.from_settings(settings)
        self.counters = MqttCounters()
        self.buffer = RetryBuffer(settings.buffer_max_readings)
        self.connected = asyncio.Event()

    def handle(self, topic: str, payload: bytes) -> Verdict:
        """Validate and ingest one message (blocking: storage may be a database)."""
        meter = meter_from_topic(self.settings.mqtt_topic, topic) or "unknown"
        self.counters.messages += 1
        rejections: list[Rejection] = []
        items: list[tuple[int, object]] = []
        if len(payload) > MAX_PAYLOAD_BYTES:
            rejections.append(Rejection(0, "payload", None, f"over {MAX_PAYLOAD_BYTES} bytes"))
        else:
            try:
                decoded = json.loads(payload)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                rejections.append(Rejection(0, "payload", None, f"not JSON: {error}"))
            else:
                entries = decoded if isinstance(decoded, list) else [decoded]
                for index, entry in enumerate(entries):
                    if isinstance(entry, dict) and "meter_id" not in entry and meter != "unknown":
                        entry = {**entry, "meter_id": meter}
                    items.append((index, entry))
        accepted, invalid = parse_readings(items, now=self.monitor.clock.now())
        rejections.extend(invalid)
        if accepted:
            self.counters.accepted += len(accepted)
            self.buffer.add(accepted)
        self.flush()
        if rejections:
            self.counters.rejected_messages += 1
            log.warning(
                "MQTT %s: %d rejected: %s", topic, len(rejections), "; ".join(map(str, rejections))
            )
        return Verdict(meter=meter, accepted=len(accepted), rejections=rejections)

    def flush(self) -> int:
        """Store what waits in the buffer; keeps it when the database is away."""
        written = self.buffer.flush(
            lambda batch, key: self.monitor.ingest(batch, key=key), unavailable_errors()
        )
        self.counters.stored += written
        return written

    def _client(self) -> aiomqtt.Client:
        context = None
        if self.broker.tls:
            ca = str(self.settings.mqtt_ca_file) if self.settings.mqtt_ca_file else None
            context = ssl.create_default_context(cafile=ca)
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.settings.mqtt_client_id,
            tls_context=context,
            timeout=10,
        )

    async def run(self) -> None:
        """Subscribe and ingest until cancelled; reconnect with backoff when the broker goes.
        Readings that arrive while the database is away wait in a bounded buffer."""
        retry = asyncio.create_task(self._retry_pending())
        try:
            await self._subscribe_forever()
        finally:
            retry.cancel()

    async def _retry_pending(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.buffer.pending:
                await asyncio.to_thread(self.flush)

    async def _subscribe_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self._client() as client:
                    await client.subscribe(self.settings.mqtt_topic, qos=1)
                    self.counters.connections += 1
                    self.connected.set()
                    delay = 0.5
                    log.info("MQTT subscribed to %s on %s", self.settings.mqtt_topic, self.broker)
                    async for message in client.messages:
                        await self._receive(client, message)
            except aiomqtt.MqttError as error:
                self.connected.clear()
                note = f"MQTT broker {self.broker} unavailable: {error}; retrying in {delay:.1f} s"
                self.counters.errors.append(note)
                log.warning(note)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            finally:
                self.connected.clear()

    async def _receive(self, client: aiomqtt.Client, message: aiomqtt.Message) -> None:
        payload = message.payload
        raw = payload if isinstance(payload, bytes) else str(payload or "").encode()
        verdict = await asyncio.to_thread(self.handle, str(message.topic), raw)
        if self.buffer.pending:
            log.warning("MQTT: storage unavailable, %d readings waiting", self.buffer.pending)
        if verdict.rejections:
            await client.publish(
                ERRORS_TOPIC.format(meter=verdict.meter), verdict.error_payload(), qos=0
            )
