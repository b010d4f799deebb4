"""MQTT ingest: meters publish readings, we validate, score, store and push them live.

Payload: one reading or an array of readings in JSON, validated exactly like the HTTP API,
at most ``MAX_PAYLOAD_BYTES`` and nested at most ``MAX_DEPTH`` levels. The meter is the
topic's ``+`` segment (``smartenergy/<meter>/readings``): a reading without ``meter_id``
gets it, and a reading naming another meter is refused, so a broker's per-topic access
rules protect each meter's identity. A gateway's topic (``ENERGY_MQTT_GATEWAYS``) may
carry the meters its patterns allow instead.

Messages are handled in batches (up to ``BATCH_WINDOW_S`` after the first, or
``BATCH_READINGS`` readings) in one storage call off the event loop; a batch that storage
refuses for its content is split until only the refused readings are left out. Each
message gets its own verdict: a rejected one is counted, logged with its reason and
answered on ``smartenergy/<meter>/errors``. Nothing a message holds can stop the
subscriber.

Devices' own payloads: besides that topic the subscriber takes, by default, Tasmota's
``tele/+/SENSOR`` and Shelly Gen2's ``+/status/+`` and ``+/events/rpc``, and on request
emonhub's ``emon/+`` and ``emon/+/+`` and the topics of a mapping file
(``energy_core.telemetry.decoders``; settings ``ENERGY_MQTT_TASMOTA``…). Such a message is
decoded into readings of the device its topic names (``<device>``, ``<device>.L1``…), then
validated and stored like the others; one in no shape its format knows is rejected, naming
the topic and what was expected. emonhub's single values are joined per node
(``ASSEMBLY_WINDOW_S``) and their messages acknowledged once the joined readings are stored.

The session is persistent (MQTT 5, a stable client id, ``ENERGY_MQTT_SESSION_EXPIRY_S``),
subscribed at QoS 1, and a message is acknowledged only once its readings are stored or
held in the bounded retry buffer (database away), so the broker keeps what the subscriber
has not taken yet, also while it restarts. The subscriber reconnects by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import hashlib
import json
import logging
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from paho.mqtt.client import topic_matches_sub
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from energy_core import Monitor, RejectedBatchError, Rejection
from energy_core.ports import BatchRefusedError, IdempotencyConflictError
from energy_core.telemetry.decoders import DecodeError, EmonAssembler, Found
from energy_core.telemetry.decoders.emon import Assembled
from energy_core.telemetry.payload import MAX_DEPTH, PayloadError, decode_json
from energy_core.telemetry.readings import Origin, Reading
from energy_core.usecases.gateway import Ingest
from energy_core.usecases.retry_buffer import RetryBuffer
from energy_ui.bootstrap import unavailable_errors
from energy_ui.devices import device_registry, disabled_topics, load_mapping
from energy_ui.settings import Settings

log = logging.getLogger(__name__)

ERRORS_TOPIC = "smartenergy/{meter}/errors"
MAX_PAYLOAD_BYTES = 1024 * 1024
"""Largest message accepted (bytes); a larger one is rejected before it is parsed."""
MAX_READINGS_PER_MESSAGE = 10_000
"""Most readings one message may carry (as one HTTP request)."""
BATCH_WINDOW_S = 0.05
"""A batch closes this long after its first message…"""
BATCH_READINGS = 1_000
"""…or once it holds this many readings, whichever comes first."""
INTERNAL_ERROR = "internal error while handling this message; see the subscriber's log"
ASSEMBLY_WINDOW_S = 1.0
"""emonhub's single values of a node received within this many seconds form one reading."""


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
    """Messages received."""
    accepted: int = 0
    """Readings that passed validation and were handed to storage."""
    stored: int = 0
    """Readings storage confirmed."""
    refused: int = 0
    """Readings that passed validation but storage refused (``BatchRefusedError``…)."""
    rejected_messages: int = 0
    """Messages with at least one rejection."""
    failures: int = 0
    """Unexpected errors while handling a message (logged with their traceback)."""
    connections: int = 0
    batches: int = 0
    last_message_at: datetime | None = None
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=100))
    """The latest broker problems, newest last."""


def meter_from_topic(topic_filter: str, topic: str) -> str | None:
    """The topic segment where the filter has its first `+` (the meter id), if any."""
    wanted = topic_filter.split("/")
    levels = topic.split("/")
    for position, level in enumerate(wanted):
        if level == "+" and position < len(levels):
            return levels[position] or None
    return None


def default_client_id(settings: Settings) -> str:
    """A client id that stays the same across restarts of one deployment (so the broker
    resumes its session) and differs between databases or topic filters: ``smartenergy-``
    and 11 hex digits of a hash of both (never the database password)."""
    if settings.database_url:
        parts = urlsplit(settings.database_url)
        target = f"{parts.hostname}:{parts.port}{parts.path}"
    else:
        target = "memory"
    digest = hashlib.sha256(f"{target}|{settings.mqtt_topic}".encode()).hexdigest()
    return f"smartenergy-{digest[:11]}"


def tls_context(settings: Settings, broker: Broker) -> ssl.SSLContext | None:
    """The TLS context for ``mqtts://``: the system's CAs or ``ENERGY_MQTT_CA_FILE``, and
    the client certificate when one is set. ``ValueError`` naming the setting otherwise."""
    if not broker.tls:
        if settings.mqtt_cert_file or settings.mqtt_key_file:
            raise ValueError(
                "ENERGY_MQTT_CERT_FILE / ENERGY_MQTT_KEY_FILE need a TLS broker: "
                f"ENERGY_MQTT_URL={str(broker)!r} should start with mqtts://"
            )
        return None
    ca = settings.mqtt_ca_file
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca else None)
    except (OSError, ssl.SSLError) as error:
        raise ValueError(f"ENERGY_MQTT_CA_FILE={str(ca)!r}: cannot load: {error}") from None
    if settings.mqtt_key_file and not settings.mqtt_cert_file:
        raise ValueError("ENERGY_MQTT_KEY_FILE is set without ENERGY_MQTT_CERT_FILE")
    if settings.mqtt_cert_file:
        cert, key = settings.mqtt_cert_file, settings.mqtt_key_file
        try:
            context.load_cert_chain(str(cert), str(key) if key else None)
        except (OSError, ssl.SSLError) as error:
            raise ValueError(
                f"ENERGY_MQTT_CERT_FILE={str(cert)!r}"
                + (f", ENERGY_MQTT_KEY_FILE={str(key)!r}" if key else "")
                + f": cannot load: {error}"
            ) from None
    return context


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


@dataclass(eq=False)
class Incoming:
    """One message on its way through: its raw entries, then its readings and rejections."""

    topic: str
    meter: str
    mid: int = 0
    qos: int = 0
    entries: list[tuple[int, object]] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    indexes: list[int] = field(default_factory=list)
    """Each reading's index in the message."""
    rejections: list[Rejection] = field(default_factory=list)
    refused: int = 0
    held: bool = False
    """A single value held by the assembler: settled with the reading it ends up in."""
    joined: list[Incoming] = field(default_factory=list)
    """The held messages whose values this one carries: acknowledged with it."""
    origin: Origin = field(default_factory=lambda: Origin("mqtt"))
    """The format its payload was read in (SmartEnergy's own unless a device's topic)."""

    def refuse(self, index: int, field_name: str, value: object, reason: str) -> None:
        self.rejections.append(Rejection(index, field_name, value, reason))
        self.refused += 1

    def verdict(self) -> Verdict:
        ordered = sorted(self.rejections, key=lambda rejection: rejection.index)
        return Verdict(self.meter, len(self.readings) - self.refused, ordered)


class MqttIngestor:
    """Subscribes to the readings topic and ingests every valid reading through ``Monitor``."""

    def __init__(self, monitor: Monitor, settings: Settings, ingest: Ingest | None = None) -> None:
        self.monitor = monitor
        self.ingest: Ingest = ingest or monitor
        """Where valid readings go: the monitor, or a gateway's log (`smartenergy ingest`)."""
        self.settings = settings
        self.broker = Broker.from_settings(settings)
        self.tls = tls_context(settings, self.broker)
        self.client_id = settings.mqtt_client_id or default_client_id(settings)
        self.gateways = {
            topic_filter: tuple(patterns)
            for topic_filter, patterns in settings.mqtt_gateways.items()
        }
        mapping = load_mapping(settings)
        self.registry = device_registry(settings, mapping)
        self.assembler: EmonAssembler[Incoming] = self._new_assembler()
        self._assembled: deque[Incoming] = deque()
        self.counters = MqttCounters()
        self.buffer = RetryBuffer(settings.buffer_max_readings)
        self.connected = asyncio.Event()
        self.manual_ack = False
        self._owners: dict[int, tuple[Incoming, int]] = {}
        self._reported_drops = 0
        self._retryable = unavailable_errors()

    @property
    def topics(self) -> tuple[str, ...]:
        """Every topic filter subscribed to: SmartEnergy's own, then the devices' formats."""
        return tuple(dict.fromkeys((self.settings.mqtt_topic, *self.registry.topics)))

    def _new_assembler(self) -> EmonAssembler[Incoming]:
        return EmonAssembler(
            keys=self.registry.emon_keys, window=timedelta(seconds=ASSEMBLY_WINDOW_S)
        )

    # --- one message --------------------------------------------------------------------
    def handle(self, topic: str, payload: bytes) -> Verdict:
        """Validate and ingest one message (blocking: storage may be a database), with any
        emonhub reading it completed."""
        incoming = self.receive(topic, payload)
        self.store([incoming, *self.take_assembled()])
        return incoming.verdict()

    def receive(self, topic: str, payload: bytes, *, mid: int = 0, qos: int = 0) -> Incoming:
        """A message decoded into its entries (cheap: no validation yet). Never raises: any
        problem is a rejection of the message. A device's topic goes to its format's decoder;
        an emonhub single value is held (``Incoming.held``) until its node's reading is
        complete (``take_assembled``)."""
        self.counters.messages += 1
        self.counters.last_message_at = datetime.now(UTC)
        # A device format's topic first: its filters are specific, SmartEnergy's own may be
        # broad (site/#); any other topic is read as SmartEnergy's JSON.
        found = self.registry.find(topic)
        if found is not None:
            incoming = Incoming(
                topic=topic,
                meter=found.device,
                mid=mid,
                qos=qos,
                origin=Origin("mqtt", found.format.name),
            )
            try:
                self._decode_device(incoming, found, payload)
            except Exception:
                self._failed(incoming, topic)
            return incoming
        meter = meter_from_topic(self.settings.mqtt_topic, topic) or "unknown"
        incoming = Incoming(topic=topic, meter=meter, mid=mid, qos=qos)
        try:
            self._decode(incoming, payload)
        except Exception:
            self._failed(incoming, topic)
        return incoming

    def _decode_device(self, incoming: Incoming, found: Found, payload: bytes) -> None:
        """A device's own message decoded by its format into readings of that device."""
        try:
            decoded = decode_json(payload, max_bytes=MAX_PAYLOAD_BYTES, max_depth=MAX_DEPTH)
        except PayloadError as error:
            reason = f"{error}; {found.format.expects}"
            incoming.rejections.append(Rejection(0, "payload", None, reason))
            return
        received = self.monitor.clock.now()
        try:
            if found.format.assembles:
                node, key, value = found.value(decoded)
                incoming.meter = node
                incoming.held = True
                for group in self.assembler.add(node, key, value, received, incoming):
                    self._assembled.append(self._joined(group))
                return
            readings = found.decode(decoded, received)
        except DecodeError as error:
            incoming.held = False
            incoming.rejections.append(Rejection(0, "payload", None, str(error)))
            return
        if len(readings) > MAX_READINGS_PER_MESSAGE:
            reason = f"more than {MAX_READINGS_PER_MESSAGE} readings in one message"
            incoming.rejections.append(Rejection(0, "payload", None, reason))
            return
        incoming.entries.extend(enumerate(readings))

    def _joined(self, group: Assembled[Incoming]) -> Incoming:
        """A node's assembled values as one message to store, settling every message held."""
        first = group.tags[0]
        prefix = first.topic.rsplit("/", 2)[0]
        joined = Incoming(
            topic=f"{prefix}/{group.node}",
            meter=group.node,
            joined=group.tags,
            origin=first.origin,
        )
        joined.entries.extend(enumerate(group.readings))
        return joined

    def take_assembled(self, now: datetime | None = None) -> list[Incoming]:
        """The emonhub readings completed since the last call (a key repeated), and, given
        ``now``, those whose assembly window has passed by then."""
        if now is not None:
            self._assembled.extend(self._joined(group) for group in self.assembler.due(now))
        ready = list(self._assembled)
        self._assembled.clear()
        return ready

    def _decode(self, incoming: Incoming, payload: bytes) -> None:
        try:
            decoded = decode_json(payload, max_bytes=MAX_PAYLOAD_BYTES, max_depth=MAX_DEPTH)
        except PayloadError as error:
            incoming.rejections.append(Rejection(0, "payload", None, str(error)))
            return
        entries = decoded if isinstance(decoded, list) else [decoded]
        if len(entries) > MAX_READINGS_PER_MESSAGE:
            reason = f"more than {MAX_READINGS_PER_MESSAGE} readings in one message"
            incoming.rejections.append(Rejection(0, "payload", None, reason))
            return
        allowed = self._gateway_patterns(incoming.topic)
        for index, entry in enumerate(entries):
            problem = self._identity_problem(incoming.meter, allowed, entry)
            if problem is not None:
                named = entry.get("meter_id") if isinstance(entry, dict) else None
                shown = named if isinstance(named, str) and len(named) <= 80 else None
                incoming.rejections.append(Rejection(index, "meter_id", shown, problem))
            elif (
                isinstance(entry, dict) and "meter_id" not in entry and incoming.meter != "unknown"
            ):
                incoming.entries.append((index, {**entry, "meter_id": incoming.meter}))
            else:
                incoming.entries.append((index, entry))

    def _gateway_patterns(self, topic: str) -> tuple[str, ...] | None:
        """The meter-id patterns a gateway may carry on ``topic``; ``None``: not a gateway."""
        for topic_filter, patterns in self.gateways.items():
            if topic_matches_sub(topic_filter, topic):
                return patterns
        return None

    @staticmethod
    def _identity_problem(meter: str, allowed: tuple[str, ...] | None, entry: object) -> str | None:
        """Why ``entry`` may not be taken from this topic, or ``None``."""
        if not isinstance(entry, dict):
            return None  # validation says what is wrong with it
        named = entry.get("meter_id", meter)
        if allowed is not None:
            if isinstance(named, str) and any(fnmatch.fnmatchcase(named, p) for p in allowed):
                return None
            return (
                f"this gateway's topic may carry only meters matching {', '.join(allowed)}; "
                f"{_shown(named)} is not one of them"
            )
        if meter == "unknown" or named == meter:
            return None
        return (
            f"names meter {_shown(named)} but came on the topic of meter {meter!r}: a device "
            "publishes only its own readings (gateways: ENERGY_MQTT_GATEWAYS)"
        )

    def _failed(self, incoming: Incoming, topic: str) -> None:
        self.counters.failures += 1
        log.exception("MQTT %s: unexpected error while handling a message", topic)
        incoming.entries.clear()
        incoming.readings.clear()
        incoming.indexes.clear()
        incoming.refused = 0
        incoming.rejections.append(Rejection(0, "message", None, INTERNAL_ERROR))

    # --- a batch of messages (blocking) -------------------------------------------------
    def store(self, batch: Sequence[Incoming]) -> None:
        """Validate every message of ``batch``, then store their readings in one call (held
        in the retry buffer while the database is away). Records each message's verdict;
        never raises for what a message holds."""
        readings: list[Reading] = []
        owners: dict[int, tuple[Incoming, int]] = {}
        for incoming in batch:
            try:
                accepted, invalid = self.monitor.parse(incoming.entries, origin=incoming.origin)
            except Exception:
                self._failed(incoming, incoming.topic)
                continue
            incoming.rejections.extend(invalid)
            valid = {rejection.index for rejection in invalid}
            incoming.indexes = [index for index, _ in incoming.entries if index not in valid]
            incoming.readings = accepted
            for reading, index in zip(accepted, incoming.indexes, strict=True):
                owners[id(reading)] = (incoming, index)
            readings.extend(accepted)
        self.counters.accepted += len(readings)
        self.counters.batches += 1
        self._owners = owners
        try:
            if readings:
                self.buffer.add(readings)
            if readings or self.buffer.pending:
                self.flush()
        finally:
            self._owners = {}
        self._report_drops()
        for incoming in batch:
            if incoming.rejections:
                self.counters.rejected_messages += 1
                log.warning(
                    "MQTT %s: %d rejected: %s",
                    incoming.topic,
                    len(incoming.rejections),
                    "; ".join(map(str, incoming.rejections[:5])),
                )

    def flush(self) -> int:
        """Store what waits in the buffer; keeps it when the database is away."""
        return self.buffer.flush(self._write, self._retryable)

    def _write(self, readings: list[Reading], key: str, *, part: bool = False) -> None:
        """Store one buffered batch under its key; what storage refuses for its content is
        split off (by message, then by halves) and refused alone: only it fails. Each part
        has a key derived from the batch's, so a retry stores nothing twice. ``part``: a
        piece of a batch being split (its defect, if any, was logged with the batch)."""
        try:
            self.ingest.store_parsed(readings, key=key)
        except self._retryable:
            raise
        except RejectedBatchError as error:
            refused = {}
            for rejection in error.rejections:
                if 0 <= rejection.index < len(readings):
                    refused.setdefault(rejection.index, rejection)
            if not refused:
                self._split(readings, key, str(error))
                return
            for index, rejection in refused.items():
                self._refuse(readings[index], rejection.field, rejection.value, rejection.reason)
            rest = [reading for index, reading in enumerate(readings) if index not in refused]
            if rest:
                self._write(rest, f"{key}~", part=True)
            return
        except (BatchRefusedError, IdempotencyConflictError) as error:
            self._split(readings, key, str(error))
            return
        except Exception:
            if part:
                log.debug("MQTT: unexpected error storing part %s", key, exc_info=True)
            else:
                self.counters.failures += 1
                log.exception("MQTT: unexpected error while storing %d readings", len(readings))
            self._split(readings, key, INTERNAL_ERROR)
            return
        self.counters.stored += len(readings)

    def _split(self, readings: list[Reading], key: str, reason: str) -> None:
        if len(readings) == 1:
            self._refuse(readings[0], "reading", None, reason)
            return
        # By message first (readings of messages already answered: together), then halves.
        groups: dict[int, list[Reading]] = {}
        for reading in readings:
            owner = self._owners.get(id(reading))
            groups.setdefault(id(owner[0]) if owner else 0, []).append(reading)
        parts = list(groups.values())
        if len(parts) == 1:
            middle = len(readings) // 2
            parts = [readings[:middle], readings[middle:]]
        for number, piece in enumerate(parts):
            self._write(piece, f"{key}.{number}", part=True)

    def _refuse(self, reading: Reading, field_name: str, value: object, reason: str) -> None:
        self.counters.refused += 1
        owner = self._owners.get(id(reading))
        if owner is not None:
            incoming, index = owner
            incoming.refuse(index, field_name, value, reason)
        else:  # buffered in an earlier batch, its message long answered
            log.warning(
                "MQTT: storage refused a buffered reading of %s: %s", reading.meter_id, reason
            )

    def _report_drops(self) -> None:
        dropped = self.buffer.dropped
        if dropped > self._reported_drops:
            log.warning(
                "MQTT: retry buffer full (%d readings): dropped the %d oldest waiting readings "
                "(%d in all)",
                self.buffer.max_readings,
                dropped - self._reported_drops,
                dropped,
            )
            self._reported_drops = dropped

    # --- state for /healthz ----------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """This channel's state: ``up`` when connected to the broker, and its counters."""
        counters = self.counters
        return {
            "up": self.connected.is_set(),
            "connected": self.connected.is_set(),
            "broker": str(self.broker),
            "topic": self.settings.mqtt_topic,
            "last_message_at": counters.last_message_at,
            "messages": counters.messages,
            "accepted": counters.accepted,
            "stored": counters.stored,
            "rejected": counters.rejected_messages,
            "dropped": self.buffer.dropped,
            "pending": self.buffer.pending,
            "failures": counters.failures,
            "last_error": counters.errors[-1] if counters.errors else None,
        }

    # --- the subscriber ----------------------------------------------------------------------
    def _client(self) -> aiomqtt.Client:
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = self.settings.mqtt_session_expiry_s
        properties.ReceiveMaximum = self.settings.mqtt_receive_maximum
        client = aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=self.settings.mqtt_session_expiry_s == 0,
            properties=properties,
            tls_context=self.tls,
            timeout=10,
        )
        # aiomqtt 2.5 acknowledges a message as it arrives; its paho client can leave the
        # acknowledgement to us (aiomqtt issue 345), so that only stored or buffered
        # messages are acknowledged. Set before connecting: a resumed session's messages
        # arrive right after.
        paho = getattr(client, "_client", None)
        self.manual_ack = callable(getattr(paho, "manual_ack_set", None)) and callable(
            getattr(paho, "ack", None)
        )
        if self.manual_ack:
            paho.manual_ack_set(True)  # type: ignore[union-attr]
        else:
            log.warning("MQTT: this aiomqtt cannot delay acknowledgements; acking on receipt")
        return client

    def _ack(self, client: aiomqtt.Client, incoming: Incoming) -> None:
        if not self.manual_ack:
            return
        for message in (incoming, *incoming.joined):
            if message.qos > 0:
                client._client.ack(message.mid, message.qos)

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
                try:
                    await asyncio.to_thread(self.flush)
                except Exception:
                    self.counters.failures += 1
                    log.exception("MQTT: unexpected error while storing waiting readings")

    async def _subscribe_forever(self) -> None:
        delay = 0.5
        while True:
            try:
                async with self._client() as client:
                    # Values held before a lost connection were not acknowledged: the broker
                    # sends them again.
                    self.assembler = self._new_assembler()
                    self._assembled.clear()
                    for topic in self.topics:
                        await client.subscribe(topic, qos=1)
                    # A persistent session keeps subscriptions of formats since turned off.
                    for topic in disabled_topics(self.settings):
                        await client.unsubscribe(topic)
                    self.counters.connections += 1
                    self.connected.set()
                    delay = 0.5
                    log.info(
                        "MQTT subscribed to %s on %s as %s",
                        ", ".join(self.topics),
                        self.broker,
                        self.client_id,
                    )
                    await self._consume(client)
            except aiomqtt.MqttError as error:
                note = f"MQTT broker {self.broker} unavailable: {error}; retrying in {delay:.1f} s"
            except Exception as error:  # a defect, not a message: keep serving, say it loudly
                self.counters.failures += 1
                log.exception("MQTT: unexpected error in the subscriber")
                note = f"MQTT subscriber error: {error!r}; reconnecting in {delay:.1f} s"
            finally:
                self.connected.clear()
            self.counters.errors.append(note)
            log.warning(note)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _consume(self, client: aiomqtt.Client) -> None:
        """Receive messages while the previous batch is being stored: a batch closes
        ``BATCH_WINDOW_S`` after its first message or at ``BATCH_READINGS`` readings."""
        inbox = _Inbox()

        async def receive() -> None:
            async for message in client.messages:
                payload = message.payload
                raw = payload if isinstance(payload, bytes) else str(payload or "").encode()
                incoming = self.receive(str(message.topic), raw, mid=message.mid, qos=message.qos)
                for ready in (incoming, *self.take_assembled()):
                    if not ready.held:
                        inbox.put(ready)

        async def settle() -> None:
            while True:
                await self._settle(client, await inbox.next_batch())

        async def assemble() -> None:
            while True:
                await asyncio.sleep(ASSEMBLY_WINDOW_S / 4)
                for ready in self.take_assembled(self.monitor.clock.now()):
                    inbox.put(ready)

        # All run until the connection ends (or a defect): the first to end ends all.
        tasks = {
            asyncio.create_task(receive()),
            asyncio.create_task(settle()),
            asyncio.create_task(assemble()),
        }
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _settle(self, client: aiomqtt.Client, batch: list[Incoming]) -> None:
        """Store ``batch`` off the event loop, then acknowledge each message (in the order
        received) and answer the rejected ones on their errors topic."""
        # Shielded: a lost connection must not leave a write half-observed; the messages
        # then stay unacknowledged and the broker sends them again.
        try:
            await asyncio.shield(asyncio.to_thread(self.store, batch))
        except Exception:  # a defect: answer and acknowledge, never retry a poison batch
            for incoming in batch:
                self._failed(incoming, incoming.topic)
        if self.buffer.pending:
            log.warning("MQTT: storage unavailable, %d readings waiting", self.buffer.pending)
        for incoming in batch:
            self._ack(client, incoming)
        for incoming in batch:
            if incoming.rejections:
                verdict = incoming.verdict()
                await client.publish(
                    ERRORS_TOPIC.format(meter=verdict.meter), verdict.error_payload(), qos=0
                )


class _Inbox:
    """Messages received and not yet handled, in arrival order, handed out in batches."""

    def __init__(self) -> None:
        self._waiting: deque[tuple[float, Incoming]] = deque()
        self._readings = 0
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()

    @staticmethod
    def _weight(incoming: Incoming) -> int:
        return max(1, len(incoming.entries))

    def put(self, incoming: Incoming) -> None:
        self._waiting.append((asyncio.get_running_loop().time(), incoming))
        self._readings += self._weight(incoming)
        self._nonempty.set()
        if self._readings >= BATCH_READINGS:
            self._full.set()

    async def next_batch(self) -> list[Incoming]:
        """The next batch: waits for a first message, then until ``BATCH_WINDOW_S`` after
        it arrived or ``BATCH_READINGS`` readings wait, whichever comes first."""
        await self._nonempty.wait()
        left = self._waiting[0][0] + BATCH_WINDOW_S - asyncio.get_running_loop().time()
        if left > 0 and not self._full.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), left)
        batch: list[Incoming] = []
        taken = 0
        while self._waiting and (
            not batch or taken + self._weight(self._waiting[0][1]) <= BATCH_READINGS
        ):
            incoming = self._waiting.popleft()[1]
            batch.append(incoming)
            taken += self._weight(incoming)
        self._readings -= taken
        if not self._waiting:
            self._nonempty.clear()
        if self._readings < BATCH_READINGS:
            self._full.clear()
        return batch


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}…"
