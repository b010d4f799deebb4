"""A burst of QoS-1 MQTT messages against the MQTT subscriber: is every one stored?

    python bench/mqtt_burst.py              # 5,000 messages, subscriber on PostgreSQL
    python bench/mqtt_burst.py --memory     # the subscriber in memory instead
    python bench/mqtt_burst.py --messages 20000 --meters 100

One client publishes ``--messages`` messages of one reading each, QoS 1, as fast as it can
(every publish queued at once, no limit on unacknowledged ones), to the broker of ``--broker``
(default the local Mosquitto, default configuration) on topics of this run's own
(``burst-<id>/<meter>/readings``, ``--meters`` meters). The subscriber is a process of its
own: ``python -m energy_ui mqtt`` (exactly the command) on a scratch database of the server
named by ``DATABASE_URL`` (default the local one; the in-memory subscriber when none is
reachable or with ``--memory``), seeded with 10,000 readings and a trained model, so every
reading is validated, scored and stored as in production. The run waits until the stored
count has not moved for ``--quiet`` seconds, then counts: readings stored for the burst's
meters, (meter, timestamp) pairs stored twice, what the subscriber logged.

Prints a table, then one JSON line: sent, stored, lost, messages_per_s (and more).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

import aiomqtt
import paho.mqtt.client as mqtt

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import (
    SEEDED_READINGS,
    bench_env,
    emit_json,
    postgres_reachable,
    print_table,
    running,
    scratch_database,
    seed,
    server_url,
    stored_readings,
    stored_twice,
    value_pool,
)


# --- the subscriber -----------------------------------------------------------------------
@contextmanager
def subscriber(
    broker: str, topic: str, database_url: str | None, workdir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """The subscriber process; yields it and its log (its stderr, and its stdout on
    PostgreSQL: the in-memory subscriber reports its count on stdout)."""
    log = workdir / "subscriber.log"
    command = (
        [sys.executable, "-m", "energy_ui", "mqtt"]
        if database_url
        else [sys.executable, str(Path(__file__).resolve()), "--memory-subscriber"]
    )
    env = bench_env(
        database_url,
        ENERGY_MQTT_URL=broker,
        ENERGY_MQTT_TOPIC=topic,
        ENERGY_MAX_READINGS="1000000000",
        # A persistent session of this run's own that the broker forgets soon after.
        ENERGY_MQTT_SESSION_EXPIRY_S="120",
        # Its stop line in English, as the log filter of ``run`` knows it.
        ENERGY_LANGUAGE="en",
    )
    pipe = database_url is None
    with running(command, cwd=workdir, env=env, log=log, pipe_stdout=pipe) as process:
        yield process, log


def memory_subscriber() -> None:
    """The in-memory subscriber (``smartenergy mqtt`` needs a database): the same
    ``MqttIngestor`` on memory adapters; prints the readings stored beyond the seeded
    history, one JSON line every 0.1 s."""
    from energy_ui.bootstrap import bootstrap
    from energy_ui.mqtt import MqttIngestor
    from energy_ui.settings import Settings

    settings = Settings(_env_file=None)
    application = bootstrap(settings)
    monitor = application.monitor
    monitor.generate_history(SEEDED_READINGS)
    monitor.train()
    seeded = monitor.queries.count()
    ingestor = MqttIngestor(monitor, settings)

    async def report() -> None:
        while True:
            print(json.dumps({"stored": monitor.queries.count() - seeded}), flush=True)
            await asyncio.sleep(0.1)

    async def main() -> None:
        reporter = asyncio.create_task(report())
        try:
            await ingestor.run()
        finally:
            reporter.cancel()

    with suppress(KeyboardInterrupt):
        asyncio.run(main())


class MemoryCount:
    """Follows the in-memory subscriber's reports on its stdout."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.value = 0
        assert process.stdout is not None
        self._stdout = process.stdout
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        for line in self._stdout:
            try:
                self.value = int(json.loads(line)["stored"])
            except (ValueError, KeyError):
                continue

    def __call__(self) -> int:
        return self.value


def database_counter(database_url: str, prefix: str) -> tuple[Callable[[], int], Callable[[], int]]:
    """(readings stored for meters starting with ``prefix``, (meter, timestamp) pairs
    stored more than once), as functions."""
    from energy_adapters.postgres import open_engine

    engine = open_engine(database_url)
    return partial(stored_readings, engine, prefix), partial(stored_twice, engine, prefix)


# --- the publisher --------------------------------------------------------------------------
def burst_messages(prefix: str, meters: list[str], count: int) -> list[tuple[str, bytes]]:
    """``count`` (topic, payload) pairs of one reading each, round-robin over ``meters``,
    each meter's readings 1 s apart and ending before now."""
    pool = value_pool(2_000)
    start = datetime.now(UTC) - timedelta(seconds=count // len(meters) + 60)
    messages = []
    for index in range(count):
        meter = meters[index % len(meters)]
        moment = start + timedelta(seconds=index // len(meters))
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = f'{{"meter_id":"{meter}","timestamp":"{stamp}",{pool[index % len(pool)]}}}'
        messages.append((f"{prefix}/{meter}/readings", body.encode()))
    return messages


def publish_all(host: str, port: int, messages: list[tuple[str, bytes]]) -> float:
    """Publish every message at QoS 1 from one client, without waiting between them (no
    limit on unacknowledged messages); seconds until the broker acknowledged the last one.
    paho's own network thread: aiomqtt's per-call futures make a slower publisher."""
    identifier = f"burst-pub-{uuid.uuid4().hex}"
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=identifier)
    client.max_inflight_messages_set(0)
    client.connect(host, port)
    client.loop_start()
    try:
        started = time.perf_counter()
        sent = [client.publish(topic, payload, qos=1) for topic, payload in messages]
        for info in sent:
            info.wait_for_publish(60)
            if not info.is_published():
                raise RuntimeError(f"the broker did not acknowledge message {info.mid}")
        return time.perf_counter() - started
    finally:
        client.disconnect()
        client.loop_stop()


async def publish_one(host: str, port: int, topic: str, payload: bytes) -> None:
    async with aiomqtt.Client(host, port) as client:
        await client.publish(topic, payload, qos=1)


# --- one run ----------------------------------------------------------------------------
@dataclass
class Result:
    storage: str
    sent: int
    stored: int
    duplicates: int | None
    publish_s: float
    drain_s: float
    log_warnings: list[str]

    @property
    def lost(self) -> int:
        return self.sent - self.stored

    @property
    def messages_per_s(self) -> float:
        return self.stored / self.drain_s if self.drain_s else 0.0


def run(args: argparse.Namespace, database_url: str | None) -> Result:
    parts = urlsplit(args.broker)
    host, port = parts.hostname or "127.0.0.1", parts.port or 1883
    run_id = uuid.uuid4().hex[:6]
    prefix = f"burst{run_id}"
    topic = f"{prefix}/+/readings"
    with tempfile.TemporaryDirectory(prefix="smartenergy-mqtt-burst-") as workdir:
        with subscriber(args.broker, topic, database_url, Path(workdir)) as (process, log):
            if database_url:
                stored, duplicates = database_counter(database_url, prefix)
            else:
                stored, duplicates = MemoryCount(process), None  # type: ignore[assignment]

            # Ready: a probe reading on the burst's topics is stored (model loaded too).
            probe_topic, probe = burst_messages(prefix, [f"{prefix}-probe"], 1)[0]
            deadline = time.monotonic() + 120
            while stored() < 1:
                if process.poll() is not None:
                    raise RuntimeError(f"the subscriber exited: {log.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the subscriber stored nothing: {log.read_text()[-2000:]}")
                asyncio.run(publish_one(host, port, probe_topic, probe))
                time.sleep(1.0)
            baseline = stored()

            meters = [f"{prefix}-m{index:03d}" for index in range(args.meters)]
            messages = burst_messages(prefix, meters, args.messages)
            started = time.perf_counter()
            publish_s = publish_all(host, port, messages)
            # Until quiet: the count has not moved for --quiet seconds.
            last, last_change = stored() - baseline, time.perf_counter()
            while time.perf_counter() - last_change < args.quiet:
                time.sleep(0.1)
                now = stored() - baseline
                if now != last:
                    last, last_change = now, time.perf_counter()
                if last >= args.messages:
                    break
            drain_s = last_change - started
            twice = duplicates() if duplicates is not None else None
        # Everything the subscriber said but its start and stop lines: warnings, errors, drops.
        warnings = [
            line
            for line in log.read_text(errors="replace").splitlines()
            if line.strip() and "Ctrl-C" not in line and "interrupted" not in line
        ]
    return Result(
        storage="postgres" if database_url else "memory",
        sent=args.messages,
        stored=last,
        duplicates=twice,
        publish_s=publish_s,
        drain_s=drain_s,
        log_warnings=warnings,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5_000, help="messages in the burst")
    parser.add_argument("--meters", type=int, default=50, help="meters (topics) they spread over")
    parser.add_argument("--broker", default="mqtt://127.0.0.1:1883", help="mqtt://host:port")
    parser.add_argument("--memory", action="store_true", help="the subscriber in memory")
    parser.add_argument(
        "--quiet", type=float, default=5.0, help="seconds without a new stored reading = done"
    )
    parser.add_argument("--memory-subscriber", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_subscriber:
        memory_subscriber()
        return

    url = server_url()
    if not args.memory and not postgres_reachable(url):
        print(f"no PostgreSQL at {url}: the subscriber runs in memory", file=sys.stderr)
        args.memory = True
    if args.memory:
        result = run(args, None)
    else:
        with scratch_database(url, "smartenergy_bench_mqtt") as database_url:
            seed(database_url)
            result = run(args, database_url)

    print_table(
        f"mqtt_burst: {args.messages:,} QoS-1 messages of one reading, {args.meters} meters, "
        f"one publisher, broker {args.broker}",
        [
            [
                result.storage,
                f"{result.sent:,}",
                f"{result.stored:,}",
                f"{result.lost:,}",
                "—" if result.duplicates is None else str(result.duplicates),
                f"{result.sent / result.publish_s:,.0f}",
                f"{result.drain_s:.2f}",
                f"{result.messages_per_s:,.0f}",
            ]
        ],
        [
            "subscriber",
            "sent",
            "stored",
            "lost",
            "stored twice",
            "published msg/s",
            "until stored (s)",
            "stored msg/s",
        ],
    )
    if result.log_warnings:
        print(f"\nthe subscriber logged {len(result.log_warnings)} warnings/errors; the first:")
        for line in result.log_warnings[:5]:
            print(f"  {line[:200]}")
    print(f"\ntarget: 0 lost — {'met' if result.lost == 0 else 'MISSED'}")
    emit_json(
        {
            "subscriber": result.storage,
            "sent": result.sent,
            "stored": result.stored,
            "lost": result.lost,
            "duplicated": result.duplicates,
            "messages_per_s": round(result.messages_per_s, 1),
            "published_per_s": round(result.sent / result.publish_s, 1),
            "seconds_until_stored": round(result.drain_s, 3),
            "subscriber_warnings": len(result.log_warnings),
            "target_met": result.lost == 0,
        }
    )


if __name__ == "__main__":
    main()
