"""`smartenergy worker`: score and store what the gateways appended to the log.

Each worker owns a share of the log's partitions at a time (``energy_adapters.nats_log``:
a lease per partition in a NATS key-value bucket, kept by compare-and-set, lost when not
renewed within the lease time) and runs, for each partition it owns, one loop:

1. take the partition over: its consumer made anew (every message not acknowledged comes
   again, in order), the open alerts of its meters adopted from storage;
2. the batch the previous owner was storing, if it left one in flight, formed again exactly
   (same messages, same storage key); otherwise the next messages, up to a bound;
3. the batch written down as in flight, then stored through the one ingest use case
   (``Monitor.store_parsed``: scored with each meter's context, stored by COPY under a key
   naming the stream and the batch's sequences, retention, announcement, alert rules);
4. acknowledged after the commit. While the database is away the batch is tried again
   (nothing acknowledged, nothing fetched); the lease is checked before every attempt.

A worker that dies stops renewing: the others take its partitions once the leases expire
(``ENERGY_NATS_LEASE_S``, default 5 s, plus one renewal round), replay its batch in flight
(stored once: same key) and go on. Alerts of a meter run in its partition's owner only.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import math
import os
import re
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from energy_adapters.nats_log import (
    Batches,
    InFlight,
    Leases,
    LogConfig,
    PartitionFeed,
    connect,
    decode,
    ensure_layout,
    lease_state,
    open_bucket,
    partition_of,
    sequence,
    stream_identity,
    transient_errors,
)
from energy_core.ports import BatchRefusedError, IdempotencyConflictError
from energy_core.telemetry.readings import Reading
from energy_core.usecases.monitor import Monitor, RejectedBatchError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker batches and how often it renews."""

    max_messages: int = 500
    """Messages of one partition stored in one call (each holds a gateway's batch for the
    partition)."""
    max_readings: int = 5_000
    """…and at most this many readings (one message is taken whatever its size)."""
    fetch_wait_s: float = 0.25
    """How long an idle partition waits for a message before checking its lease again."""
    renew_every_s: float = 1.0
    """Leases renewed, heartbeat sent and partitions rebalanced this often."""
    retry_max_s: float = 5.0
    """The longest wait between attempts to store while the database is away."""


def default_worker_id() -> str:
    """``<host>-<pid>``, in the characters a key of the leases bucket may hold."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{socket.gethostname()}-{os.getpid()}")


class Worker:
    """One worker process's loop over its partitions (see the module's docstring)."""

    def __init__(
        self,
        monitor: Monitor,
        config: LogConfig,
        *,
        worker_id: str | None = None,
        options: WorkerOptions | None = None,
        retryable: tuple[type[BaseException], ...] = (ConnectionError,),
    ) -> None:
        self.monitor = monitor
        self.config = config
        self.worker_id = worker_id or default_worker_id()
        if not re.fullmatch(r"[A-Za-z0-9_-]+", self.worker_id):
            raise ValueError(f"worker id {self.worker_id!r}: letters, digits, '-' and '_' only")
        self.options = options or WorkerOptions()
        self.retryable = retryable
        """What storage raises while the database is away (the batch is tried again)."""
        self.stored = 0
        """Readings stored (or found stored, for a replayed batch) by this worker."""
        self.batches = 0
        self.replayed = 0
        """Batches in flight left by a previous owner, formed again and stored once."""
        self.dropped = 0
        """Readings the database refused for their content (logged): never blocking."""
        self._executor = ThreadPoolExecutor(
            max_workers=min(32, config.partitions + 2), thread_name_prefix="store"
        )
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._leaving: set[int] = set()
        self._stopping = False
        self._failing = False
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._leases: Leases | None = None
        self._in_flight: Batches | None = None
        self._identity = ""

    # --- the whole ----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set; then finish the batches under way, give the
        partitions up (others take them at once) and return."""
        client = await self._connect(stop)
        if client is None:
            return
        try:
            await self._open(client, stop)
            if stop.is_set():
                return
            await self._call(self._forget_every_meter, stop=stop)
            log.info(
                "worker %s: %d partitions on %s",
                self.worker_id,
                self.config.partitions,
                self.config.shown,
            )
            while not stop.is_set():
                await self._tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.options.renew_every_s)
        finally:
            await self._leave()
            with contextlib.suppress(Exception):
                await client.close()
            self._executor.shutdown(wait=False)

    async def _connect(self, stop: asyncio.Event) -> Client | None:
        delay = 0.25
        while not stop.is_set():
            try:
                return await connect(self.config, name=f"smartenergy-worker-{self.worker_id}")
            except transient_errors() as error:
                log.warning("NATS %s unavailable (%s); retrying", self.config.shown, error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            delay = min(delay * 2, 5.0)
        return None

    async def _open(self, client: Client, stop: asyncio.Event) -> None:
        js = client.jetstream(timeout=5)
        while not stop.is_set():
            try:
                info = await ensure_layout(js, self.config)
                leases = await open_bucket(
                    js,
                    self.config.leases_bucket,
                    ttl=self.config.lease_s,
                    replicas=self.config.replicas,
                )
                batches = await open_bucket(
                    js, self.config.batches_bucket, ttl=None, replicas=self.config.replicas
                )
                made = await js.stream_info(f"KV_{self.config.leases_bucket}")
            except transient_errors() as error:
                log.warning("NATS layout not ready (%s); retrying", error)
                await asyncio.sleep(1.0)
                continue
            self._client, self._js = client, js
            self._identity = stream_identity(info)
            ttl = made.config.max_age
            if ttl and abs(ttl - self.config.lease_s) > 0.001:
                # The bucket's TTL decides when a lease ends, whatever this process was told.
                log.warning(
                    "the leases bucket expires leases after %.1f s, not ENERGY_NATS_LEASE_S"
                    "=%.1f: using %.1f s",
                    ttl,
                    self.config.lease_s,
                    ttl,
                )
                self.config = dataclasses.replace(self.config, lease_s=ttl)
            self._leases = Leases(leases, self.config, self.worker_id)
            self._in_flight = Batches(batches)
            return

    def _forget_every_meter(self) -> None:
        """At start this worker owns no partition: it runs no meter's rules."""
        alerting = self.monitor.alerting
        if alerting is not None:
            alerting.start()
            alerting.release(lambda _meter: True)

    # --- leases: renew, rebalance --------------------------------------------------------------
    async def _tick(self) -> None:
        leases, js = self._leases, self._js
        assert leases is not None and js is not None
        try:
            await leases.heartbeat()
            for partition in leases.owned:
                if not await leases.renew(partition):
                    log.warning("worker %s lost partition %d", self.worker_id, partition)
                    self._leaving.add(partition)
            workers, held = await lease_state(leases.kv)
        except transient_errors() as error:
            if not self._failing:
                log.warning("NATS unavailable (%s): leases not renewed", error)
            self._failing = True
            return
        self._failing = False
        await self._settle_finished()
        workers.add(self.worker_id)
        share = math.ceil(self.config.partitions / len(workers))
        owned = set(leases.owned) | set(self._tasks)
        active = owned - self._leaving
        if len(active) > share:
            extra = sorted(active, key=self._preference, reverse=True)
            self._leaving.update(extra[: len(active) - share])
        elif len(active) < share:
            for partition in sorted(range(self.config.partitions), key=self._preference):
                if len(active) >= share:
                    break
                if partition in held or partition in owned:
                    continue
                try:
                    taken = await leases.acquire(partition)
                except transient_errors():
                    break
                if taken:
                    owned.add(partition)
                    active.add(partition)
                    self._tasks[partition] = asyncio.create_task(
                        self._serve(partition), name=f"partition-{partition}"
                    )

    def _preference(self, partition: int) -> int:
        """This worker's order of partitions: from an offset of its own, so that workers
        starting together reach for different ones first."""
        offset = partition_of(self.worker_id, self.config.partitions)
        return (partition - offset) % self.config.partitions

    async def _settle_finished(self) -> None:
        """Partitions whose loop ended (given up, lease lost or lapsed): leases released,
        their meters' rules forgotten."""
        leases = self._leases
        assert leases is not None
        for partition, task in list(self._tasks.items()):
            if not task.done():
                continue
            del self._tasks[partition]
            self._leaving.discard(partition)
            if not task.cancelled() and task.exception() is not None:
                log.error("partition %d stopped on an error", partition, exc_info=task.exception())
            if self._client is not None:
                with contextlib.suppress(Exception):
                    await self._client.flush(timeout=2)  # acknowledgements out first
            await leases.release(partition)
            await self._call(self._release_meters, partition)
            log.info("worker %s gave up partition %d", self.worker_id, partition)

    async def _leave(self) -> None:
        self._stopping = True
        self._leaving.update(self._tasks)
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=30)
        for task in self._tasks.values():
            task.cancel()
        if self._leases is not None:
            with contextlib.suppress(Exception):
                await self._settle_finished()
            await self._leases.leave()

    def _owns(self, partition: int) -> Callable[[str], bool]:
        partitions = self.config.partitions
        return lambda meter: partition_of(meter, partitions) == partition

    def _release_meters(self, partition: int) -> None:
        if self.monitor.alerting is not None:
            self.monitor.alerting.release(self._owns(partition))

    def _working(self, partition: int) -> bool:
        leases = self._leases
        assert leases is not None
        return partition not in self._leaving and leases.valid(partition)

    # --- one partition ------------------------------------------------------------------------
    async def _serve(self, partition: int) -> None:
        js, in_flight_store = self._js, self._in_flight
        assert js is not None and in_flight_store is not None
        feed = PartitionFeed(js, self.config, partition)
        try:
            await feed.take_over()
            adopted = 0
            if self.monitor.alerting is not None:
                adopted = await self._call(
                    self.monitor.alerting.adopt, self._owns(partition), partition=partition
                )
            in_flight = await in_flight_store.get(partition)
            log.info(
                "worker %s took partition %d (%d open alerts adopted%s)",
                self.worker_id,
                partition,
                adopted,
                f", batch {in_flight.first}-{in_flight.last} in flight" if in_flight else "",
            )
            await self._consume(partition, feed, in_flight)
        except transient_errors() as error:
            log.warning("partition %d: NATS unavailable (%s); giving it up", partition, error)
        finally:
            await feed.close()

    async def _consume(
        self, partition: int, feed: PartitionFeed, in_flight: InFlight | None
    ) -> None:
        options = self.options
        pending: list[Msg] = []
        done_up_to = 0
        while self._working(partition):
            if not pending:
                pending = await feed.fetch(options.max_messages, options.fetch_wait_s)
                # Sent again after they were acknowledged (an acknowledgement wait that ran
                # out while the database was away): acknowledged again, never stored twice.
                stale = [message for message in pending if sequence(message) <= done_up_to]
                for message in stale:
                    await message.ack()
                pending = pending[len(stale) :]
                if not pending:
                    continue
            first = sequence(pending[0])
            replay = False
            if in_flight is not None and first > in_flight.last:
                in_flight = None
            if in_flight is not None and first > in_flight.first:
                # Stored, and acknowledged in part when its owner died: the rest is too.
                done = [message for message in pending if sequence(message) <= in_flight.last]
                for message in done:
                    await message.ack()
                done_up_to, pending, in_flight = in_flight.last, pending[len(done) :], None
                continue
            if in_flight is not None:
                while sequence(pending[-1]) < in_flight.last and self._working(partition):
                    pending += await feed.fetch(
                        in_flight.last - sequence(pending[-1]), options.fetch_wait_s
                    )
                if sequence(pending[-1]) < in_flight.last:
                    return
                batch = [message for message in pending if sequence(message) <= in_flight.last]
                readings = [reading for message in batch for reading in decode(message.data)]
                replay = True
            else:
                batch, readings = self._next_batch(pending)
            span = InFlight(sequence(batch[0]), sequence(batch[-1]))
            if not replay and not await self._write_in_flight(partition, span):
                return
            key = f"nats:{self._identity}:{partition}:{span.first}-{span.last}"
            if not await self._store(partition, readings, key, batch):
                return
            for message in batch:
                await message.ack()
            self.batches += 1
            self.replayed += replay
            done_up_to, pending, in_flight = span.last, pending[len(batch) :], None

    def _next_batch(self, pending: list[Msg]) -> tuple[list[Msg], list[Reading]]:
        batch: list[Msg] = []
        readings: list[Reading] = []
        for message in pending[: self.options.max_messages]:
            decoded = decode(message.data)
            if batch and len(readings) + len(decoded) > self.options.max_readings:
                break
            batch.append(message)
            readings.extend(decoded)
        return batch, readings

    async def _write_in_flight(self, partition: int, span: InFlight) -> bool:
        store = self._in_flight
        assert store is not None
        while self._working(partition):
            try:
                await store.put(partition, span)
                return True
            except transient_errors() as error:
                log.warning("partition %d: NATS unavailable (%s)", partition, error)
                await asyncio.sleep(0.5)
        return False

    async def _store(
        self, partition: int, readings: list[Reading], key: str, batch: list[Msg]
    ) -> bool:
        """Store the batch (tried again while the database is away, the messages kept from
        redelivery meanwhile); ``False`` when the partition was lost before it was."""
        delay, failing, kept_at = 0.25, False, time.monotonic()
        while self._working(partition):
            try:
                report = await self._call(self.monitor.store_parsed, readings, key=key)
            except self.retryable as error:
                if not failing:
                    log.warning(
                        "partition %d: storage unavailable (%s); %d readings wait, unacknowledged",
                        partition,
                        error,
                        len(readings),
                    )
                failing = True
            except IdempotencyConflictError:
                log.error(
                    "partition %d: key %s held other readings; stored under a new key",
                    partition,
                    key,
                )
                key = f"{key}~"
                continue
            except (BatchRefusedError, RejectedBatchError) as error:
                await self._store_apart(partition, batch, key, str(error))
                return True
            except Exception:
                log.exception("partition %d: storing failed; trying again", partition)
                failing = True
            else:
                if failing:
                    log.info("partition %d: storage back; batch stored", partition)
                self.stored += len(report.stored)
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.options.retry_max_s)
            if time.monotonic() - kept_at > PartitionFeed.ACK_WAIT_S / 3:
                for message in batch:
                    await message.in_progress()
                kept_at = time.monotonic()
        return False

    async def _store_apart(self, partition: int, batch: list[Msg], key: str, reason: str) -> None:
        """A batch the database refused for its content: each message alone, so that only
        what is refused is left out (logged, counted), never blocking the partition."""
        log.error(
            "partition %d: batch refused (%s); storing its messages one by one", partition, reason
        )
        for message in batch:
            readings = decode(message.data)
            try:
                report = await self._call(
                    self.monitor.store_parsed, readings, key=f"{key}/{sequence(message)}"
                )
            except (BatchRefusedError, RejectedBatchError, IdempotencyConflictError) as error:
                self.dropped += len(readings)
                log.error(
                    "partition %d: message %d (%d readings) refused and dropped: %s",
                    partition,
                    sequence(message),
                    len(readings),
                    error,
                )
            else:
                self.stored += len(report.stored)

    # --- threads ---------------------------------------------------------------------------
    async def _call(
        self,
        function: Callable[..., T],
        *args: Any,
        stop: asyncio.Event | None = None,
        partition: int | None = None,
        **kwargs: Any,
    ) -> T:
        """``function`` in the storage threads; with ``stop`` or ``partition``, tried again
        while the database is away (until stopped or the partition lost)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(function, *args, **kwargs)
        if stop is None and partition is None:
            return await loop.run_in_executor(self._executor, call)
        while True:
            try:
                return await loop.run_in_executor(self._executor, call)
            except self.retryable as error:
                if (stop is not None and stop.is_set()) or (
                    partition is not None and not self._working(partition)
                ):
                    raise
                log.warning("storage unavailable (%s); trying again", error)
                await asyncio.sleep(1.0)

    def status(self) -> dict[str, Any]:
        leases = self._leases
        return {
            "worker": self.worker_id,
            "partitions": leases.owned if leases is not None else [],
            "stored": self.stored,
            "batches": self.batches,
            "replayed": self.replayed,
            "dropped": self.dropped,
        }
