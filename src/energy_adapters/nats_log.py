"""The reading log on NATS JetStream: partitions, publishing, leases and batches in flight.

Layout, every name under one prefix (``ENERGY_NATS_PREFIX``, default ``smartenergy``):

- the stream ``<prefix>-readings``, subjects ``<prefix>.readings.<p>`` for the partitions
  ``p`` = 0 … P-1, P = ``ENERGY_NATS_PARTITIONS`` (kept in the stream's metadata: every
  gateway and worker must agree). A meter's partition is a stable hash of its id
  (``partition_of``: CRC-32, the same in every process and every release). Work-queue
  retention (a message goes once a worker acknowledged it), bounded in bytes, refusing new
  messages when full (gateways answer 503: nothing accepted is ever dropped);
- one durable pull consumer per partition, ``partition-<p>``, pulled by that partition's
  owner only: a new owner deletes and creates it again, so every message not acknowledged
  comes to it at once, in order (a consumer left behind would keep the dead owner's
  messages until their acknowledgement wait ran out);
- the key-value bucket ``<prefix>-leases`` (TTL = the lease time): ``partition.<p>`` holds
  the owner of partition ``p``; ``worker.<id>`` says a worker is alive. A lease is taken by
  creating its key, kept by updating it at the revision last written (compare-and-set), and
  lost when the owner stops renewing: the server drops the key after the TTL;
- the key-value bucket ``<prefix>-batches``: ``partition.<p>`` holds the stream sequences
  of the batch the owner is storing (written before it stores). A new owner forms that same
  batch again first, under the same storage key, so a batch stored but not acknowledged
  when its worker died is stored once.

A batch of readings travels as one message per partition, JSON (``encode``/``decode``), its
``Nats-Msg-Id`` a digest of its content: a gateway that retries (after a timeout, or a
client retrying after a 503) appends nothing twice within the stream's duplicate window.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import threading
import time
import zlib
from collections.abc import Coroutine, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import nats
import nats.errors
import nats.js.errors
import orjson
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.kv import KeyValue

from energy_core.ports import LogUnavailableError
from energy_core.telemetry.readings import Origin, Reading

log = logging.getLogger(__name__)
T = TypeVar("T")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_TRANSIENT: tuple[type[BaseException], ...] = (
    nats.errors.Error,
    nats.js.errors.Error,
    asyncio.TimeoutError,
    TimeoutError,
    OSError,
)
"""What NATS raises while its servers are unreachable, slow or electing a leader."""


def partition_of(meter_id: str, partitions: int) -> int:
    """The partition of ``meter_id`` among ``partitions``: CRC-32 of its UTF-8 bytes, so
    the same in every process, machine and release (Python's ``hash`` is not)."""
    return zlib.crc32(meter_id.encode("utf-8", "surrogatepass")) % partitions


@dataclass(frozen=True, slots=True)
class LogConfig:
    """Where the log is and how it is laid out (``ENERGY_NATS_*``)."""

    url: str
    """One or more servers, comma-separated: nats://host:4222,nats://host2:4222."""
    prefix: str = "smartenergy"
    partitions: int = 16
    replicas: int = 1
    """Copies of the stream and buckets (3 on a 3-node cluster)."""
    max_bytes: int = 1 << 30
    """The stream's bound: past it, gateways answer 503 until workers catch up."""
    lease_s: float = 5.0
    """A worker that stops renewing loses its partitions after this (the leases' TTL)."""
    duplicate_window_s: float = 120.0
    publish_timeout_s: float = 2.0

    def __post_init__(self) -> None:
        if not 1 <= self.partitions <= 4096:
            raise ValueError(f"partitions={self.partitions}: must be 1 to 4096")
        if not self.prefix.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"prefix {self.prefix!r}: letters, digits, '-' and '_' only")

    @property
    def servers(self) -> list[str]:
        return [part.strip() for part in self.url.split(",") if part.strip()]

    @property
    def shown(self) -> str:
        """The servers without credentials, for messages and /healthz."""
        shown = []
        for server in self.servers:
            parts = urlsplit(server if "://" in server else f"nats://{server}")
            shown.append(f"{parts.scheme}://{parts.hostname}:{parts.port or 4222}")
        return ",".join(shown)

    @property
    def stream(self) -> str:
        return f"{self.prefix}-readings"

    @property
    def subjects(self) -> str:
        return f"{self.prefix}.readings.*"

    def subject(self, partition: int) -> str:
        return f"{self.prefix}.readings.{partition}"

    @property
    def leases_bucket(self) -> str:
        return f"{self.prefix}-leases"

    @property
    def batches_bucket(self) -> str:
        return f"{self.prefix}-batches"


# --- the messages --------------------------------------------------------------------------
def encode(readings: Sequence[Reading]) -> bytes:
    """Readings as one message: a JSON array of ``[meter, µs since the epoch, values,
    is_anomaly, anomaly_kind, channel, format]``."""
    rows = []
    for reading in readings:
        origin = reading.origin
        rows.append(
            [
                reading.meter_id,
                (reading.timestamp - _EPOCH) // _MICROSECOND,
                dict(reading.values),
                reading.is_anomaly,
                reading.anomaly_kind,
                None if origin is None else origin.channel,
                None if origin is None else origin.format,
            ]
        )
    return orjson.dumps(rows)


def decode(data: bytes) -> list[Reading]:
    """The readings of one message (``encode``)."""
    readings = []
    origins: dict[tuple[str, str], Origin] = {}
    for meter, micros, values, is_anomaly, kind, channel, payload_format in orjson.loads(data):
        origin = None
        if channel is not None:
            origin = origins.setdefault((channel, payload_format), Origin(channel, payload_format))
        readings.append(
            Reading(
                timestamp=_EPOCH + timedelta(microseconds=micros),
                meter_id=meter,
                values=values,
                is_anomaly=is_anomaly,
                anomaly_kind=kind,
                origin=origin,
            )
        )
    return readings


def by_partition(readings: Iterable[Reading], partitions: int) -> dict[int, list[Reading]]:
    """``readings`` grouped by their meter's partition, in their order within each."""
    groups: dict[int, list[Reading]] = {}
    for reading in readings:
        groups.setdefault(partition_of(reading.meter_id, partitions), []).append(reading)
    return groups


# --- connecting and the layout ------------------------------------------------------------------
async def connect(config: LogConfig, *, name: str = "smartenergy") -> Client:
    """A connection that reconnects by itself for ever; raises what NATS raises when no
    server answers now."""
    return await nats.connect(
        servers=config.servers,
        name=name,
        connect_timeout=2,
        reconnect_time_wait=0.5,
        max_reconnect_attempts=-1,
        allow_reconnect=True,
        ping_interval=5,
        max_outstanding_pings=2,
        error_cb=_log_error,
    )


async def _log_error(error: Exception) -> None:
    log.debug("NATS: %s", error)


class PartitionsMismatchError(ValueError):
    """The stream was made for another number of partitions than this process's."""


async def ensure_layout(js: JetStreamContext, config: LogConfig) -> api.StreamInfo:
    """The stream (created when missing; its partitions checked when present)."""
    try:
        info = await js.stream_info(config.stream)
    except nats.js.errors.NotFoundError:
        stream = api.StreamConfig(
            name=config.stream,
            description="SmartEnergy readings between gateways and workers",
            subjects=[config.subjects],
            retention=api.RetentionPolicy.WORK_QUEUE,
            discard=api.DiscardPolicy.NEW,
            storage=api.StorageType.FILE,
            max_bytes=config.max_bytes,
            num_replicas=config.replicas,
            duplicate_window=config.duplicate_window_s,
            metadata={"partitions": str(config.partitions)},
        )
        try:
            info = await js.add_stream(stream)
        except nats.js.errors.BadRequestError:
            info = await js.stream_info(config.stream)  # another process created it first
    made_for = (info.config.metadata or {}).get("partitions")
    if made_for is not None and int(made_for) != config.partitions:
        raise PartitionsMismatchError(
            f"the stream {config.stream} has {made_for} partitions, this process "
            f"ENERGY_NATS_PARTITIONS={config.partitions}: set the same everywhere"
        )
    return info


async def open_bucket(
    js: JetStreamContext, bucket: str, *, ttl: float | None, replicas: int
) -> KeyValue:
    """A key-value bucket, created when missing (on disk: a server's restart keeps it)."""
    try:
        return await js.key_value(bucket)
    except nats.js.errors.BucketNotFoundError:
        try:
            return await js.create_key_value(
                bucket=bucket,
                history=1,
                ttl=ttl,
                replicas=replicas,
                storage=api.StorageType.FILE,  # kept through a server's restart
            )
        except nats.js.errors.BadRequestError:
            return await js.key_value(bucket)


def stream_identity(info: api.StreamInfo) -> str:
    """The stream's name and creation instant: sequences restart with a new stream, so
    storage keys carry both."""
    created = info.created
    stamp = int(created.timestamp() * 1_000_000) if isinstance(created, datetime) else 0
    return f"{info.config.name}@{stamp}"


# --- the gateway side: appending from threads ----------------------------------------------------
class NatsReadingLog:
    """``ReadingLog`` on JetStream for callers in threads (the HTTP API's thread pool, the
    MQTT subscriber's storing thread): one connection served by an event loop of its own in
    a daemon thread. Connects in the background and again whenever the servers come back;
    while it cannot publish, ``append`` raises ``LogUnavailableError`` at once."""

    def __init__(self, config: LogConfig, *, name: str = "smartenergy-gateway") -> None:
        self.config = config
        self.name = name
        self.appended = 0
        """Readings the log acknowledged through this object."""
        self.failures = 0
        self.last_error: str | None = None
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = threading.Event()
        self._closing = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats", daemon=True)
        self._thread.start()
        self._connecting: Future[None] = asyncio.run_coroutine_threadsafe(
            self._connect_forever(), self._loop
        )

    # --- life ----------------------------------------------------------------------------
    async def _connect_forever(self) -> None:
        delay = 0.25
        while not self._closing:
            try:
                client = await connect(self.config, name=self.name)
                js = client.jetstream(timeout=self.config.publish_timeout_s)
                await ensure_layout(js, self.config)
            except PartitionsMismatchError as error:
                self.last_error = str(error)
                log.error("%s", error)
                return
            except _TRANSIENT as error:
                self.last_error = f"NATS {self.config.shown} unavailable: {error or type(error)}"
                log.warning("%s; retrying in %.1f s", self.last_error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._client, self._js = client, js
            self._ready.set()
            log.info("publishing readings to %s on %s", self.config.stream, self.config.shown)
            return

    def wait_ready(self, timeout: float) -> bool:
        """Whether the log became usable within ``timeout`` seconds."""
        return self._ready.wait(timeout)

    @property
    def connected(self) -> bool:
        client = self._client
        return self._ready.is_set() and client is not None and client.is_connected

    def close(self) -> None:
        self._closing = True
        self._connecting.cancel()
        client = self._client
        if client is not None:
            with contextlib.suppress(Exception):
                self._run(client.drain(), timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def _run(self, coroutine: Coroutine[Any, Any, T], *, timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    # --- ReadingLog ------------------------------------------------------------------------
    def append(self, readings: Sequence[Reading]) -> None:
        if not readings:
            return
        if not self.connected:
            self.failures += 1
            raise LogUnavailableError(
                self.last_error or f"the reading log at {self.config.shown} is unreachable"
            )
        groups = by_partition(readings, self.config.partitions)
        try:
            self._run(self._publish(groups), timeout=self.config.publish_timeout_s + 1)
        except LogUnavailableError:
            self.failures += 1
            raise
        except _TRANSIENT as error:
            self.failures += 1
            self.last_error = f"publishing to {self.config.shown} failed: {error or type(error)}"
            raise LogUnavailableError(self.last_error) from None
        self.appended += len(readings)

    async def _publish(self, groups: dict[int, list[Reading]]) -> None:
        js = self._js
        assert js is not None
        payloads = [(partition, encode(group)) for partition, group in groups.items()]
        answers = await asyncio.gather(
            *(
                js.publish(
                    self.config.subject(partition),
                    payload,
                    timeout=self.config.publish_timeout_s,
                    headers={"Nats-Msg-Id": hashlib.blake2b(payload, digest_size=16).hexdigest()},
                )
                for partition, payload in payloads
            ),
            return_exceptions=True,
        )
        for answer in answers:
            if isinstance(answer, nats.js.errors.APIError) and "maximum" in str(
                answer.description or ""
            ):
                self.last_error = f"the reading log is full ({answer.description})"
                raise LogUnavailableError(self.last_error)
            if isinstance(answer, BaseException):
                raise answer

    def status(self) -> dict[str, Any]:
        """This channel's state for ``/healthz``."""
        return {
            "up": self.connected,
            "connected": self.connected,
            "broker": self.config.shown,
            "topic": self.config.subjects,
            "accepted": self.appended,
            "stored": self.appended,
            "failures": self.failures,
            "last_error": self.last_error,
        }


# --- the worker side: leases, partitions, batches (asyncio) -----------------------------------
LEASE_MARGIN_S = 1.0
"""An owner stops working on a partition this long before its lease could have expired
on the server (its clock started when the renewal was sent, the server's later)."""


class Leases:
    """One worker's leases on partitions, in the ``<prefix>-leases`` bucket."""

    def __init__(self, kv: KeyValue, config: LogConfig, worker_id: str) -> None:
        self.kv = kv
        self.config = config
        self.worker_id = worker_id
        self._revisions: dict[int, int] = {}
        self._renewed_at: dict[int, float] = {}

    @staticmethod
    def partition_key(partition: int) -> str:
        return f"partition.{partition}"

    @property
    def worker_key(self) -> str:
        return f"worker.{self.worker_id}"

    @property
    def owned(self) -> list[int]:
        return sorted(self._revisions)

    def valid(self, partition: int) -> bool:
        """Whether this worker surely still holds ``partition`` (renewed recently enough)."""
        renewed = self._renewed_at.get(partition)
        limit = self.config.lease_s - LEASE_MARGIN_S
        return renewed is not None and time.monotonic() - renewed < limit

    def _value(self) -> bytes:
        return json.dumps({"owner": self.worker_id, "at": time.time()}).encode()

    async def heartbeat(self) -> None:
        await self.kv.put(self.worker_key, self._value())

    async def acquire(self, partition: int) -> bool:
        sent = time.monotonic()
        try:
            revision = await self.kv.create(self.partition_key(partition), self._value())
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        self._revisions[partition] = revision
        self._renewed_at[partition] = sent
        return True

    async def renew(self, partition: int) -> bool:
        """Keep ``partition``; ``False`` when another worker holds it now (it was lost)."""
        sent = time.monotonic()
        try:
            revision = await self.kv.update(
                self.partition_key(partition), self._value(), last=self._revisions[partition]
            )
        except nats.js.errors.KeyWrongLastSequenceError:
            self.forget(partition)
            return False
        self._revisions[partition] = revision
        self._renewed_at[partition] = sent
        return True

    async def release(self, partition: int) -> None:
        """Give ``partition`` up now (after its work stopped): another worker may take it."""
        revision = self._revisions.get(partition)
        self.forget(partition)
        if revision is not None:
            with contextlib.suppress(Exception):
                await self.kv.delete(self.partition_key(partition), last=revision)

    async def leave(self) -> None:
        with contextlib.suppress(Exception):
            await self.kv.delete(self.worker_key)

    def forget(self, partition: int) -> None:
        self._revisions.pop(partition, None)
        self._renewed_at.pop(partition, None)


async def lease_state(kv: KeyValue) -> tuple[set[str], set[int]]:
    """The workers alive and the partitions held now (keys given up are not: a deleted
    key's marker is skipped)."""
    try:
        keys = await kv.keys()
    except nats.js.errors.NoKeysError:
        keys = []
    workers: set[str] = set()
    held: set[int] = set()
    for key in keys:
        if key.startswith("worker."):
            workers.add(key.removeprefix("worker."))
        elif key.startswith("partition."):
            held.add(int(key.removeprefix("partition.")))
    return workers, held


async def lease_owners(kv: KeyValue, partitions: int) -> dict[int, str]:
    """Each held partition's owner (for tests, benchmarks and ``dev-cluster --status``)."""
    owners: dict[int, str] = {}
    for partition in range(partitions):
        try:
            entry = await kv.get(Leases.partition_key(partition))
        except nats.js.errors.KeyNotFoundError:
            continue
        if entry.value:
            owners[partition] = json.loads(entry.value)["owner"]
    return owners


@dataclass(frozen=True, slots=True)
class InFlight:
    """The batch an owner was storing: stream sequences ``first`` … ``last``."""

    first: int
    last: int


class Batches:
    """Batches in flight, per partition, in the ``<prefix>-batches`` bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv

    async def get(self, partition: int) -> InFlight | None:
        try:
            entry = await self.kv.get(f"partition.{partition}")
        except nats.js.errors.KeyNotFoundError:
            return None
        if not entry.value:
            return None
        first, last = json.loads(entry.value)
        return InFlight(int(first), int(last))

    async def put(self, partition: int, batch: InFlight) -> None:
        await self.kv.put(f"partition.{partition}", json.dumps([batch.first, batch.last]).encode())


class PartitionFeed:
    """The messages of one partition, for its owner: a durable pull consumer made anew
    when the partition is taken over (everything not acknowledged comes again, in order)."""

    ACK_WAIT_S = 60.0

    def __init__(self, js: JetStreamContext, config: LogConfig, partition: int) -> None:
        self.js = js
        self.config = config
        self.partition = partition
        self.durable = f"partition-{partition}"
        self._subscription: JetStreamContext.PullSubscription | None = None

    async def take_over(self) -> None:
        with contextlib.suppress(Exception):
            await self.js.delete_consumer(self.config.stream, self.durable)
        await self.js.add_consumer(
            self.config.stream,
            api.ConsumerConfig(
                durable_name=self.durable,
                filter_subject=self.config.subject(self.partition),
                deliver_policy=api.DeliverPolicy.ALL,
                ack_policy=api.AckPolicy.EXPLICIT,
                ack_wait=self.ACK_WAIT_S,
                max_ack_pending=20_000,
                max_deliver=-1,
            ),
        )
        self._subscription = await self.js.pull_subscribe_bind(
            self.durable, self.config.stream, pending_msgs_limit=-1, pending_bytes_limit=-1
        )

    async def fetch(self, most: int, timeout: float) -> list[Msg]:
        """Up to ``most`` messages, waiting at most ``timeout`` seconds for the first."""
        assert self._subscription is not None
        try:
            return await self._subscription.fetch(most, timeout=timeout)
        except (TimeoutError, nats.errors.TimeoutError):
            return []

    async def close(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()


def sequence(message: Msg) -> int:
    """A message's stream sequence."""
    return int(message.metadata.sequence.stream)


def transient_errors() -> tuple[type[BaseException], ...]:
    """What NATS raises while unreachable or busy: retry later."""
    return _TRANSIENT
