"""Alerting: how soon a new incident reaches a webhook, and what the rules cost.

    python bench/alerts.py            # 30 incidents; 10,000 meters for a simulated minute, 3 times
    python bench/alerts.py --quick    # 10 incidents; 10,000 meters for 45 simulated seconds, once
    python bench/alerts.py --part latency   # or: cost

**Latency.** The real server (``python -m energy_ui serve``, in memory: the demo streams and
analyses meanwhile, but does not retrain: see ``measure_latency``) with
``ENERGY_NOTIFY_URLS=json://127.0.0.1:PORT/hook`` pointing at a receiver in this process. Once
the demo has a model, each incident is two absurd readings of a meter never seen before,
POSTed one at a time to ``/api/v1/readings``; the second is the one that opens the incident
(``ENERGY_ALERT_OPEN_AFTER`` is 2). Latency = the receiver getting "Incident on <meter>" − the
POST of the opening reading answered (stored). Only the bench's meters count (the demo's own
incidents reach the receiver too). Same-run baselines: the ingest POST itself, and the channel
alone (``AppriseNotifier.send`` from this process to the same receiver).

**Rule cost.** ``AlertEngine`` with the rules ``serve`` runs by default (incidents, silent
meters, installation health), two limit rules beside them, over 10,000 meters sending one
scored reading a second, in batches of 100 (a gateway's request), ``check`` every 2 simulated
seconds: CPU seconds per simulated second = % of one core. Then the same through ``Alerting``
over ``MemoryAlertStore`` (events recorded, outbox, repeats checked), and that with the limits
out of reach (a quiet plant). Same-run baseline: the CPU spent building the readings, measured
around that step alone. For scale: ``Monitor.ingest`` (memory, a trained model) per reading
with and without alerting, at 1,000 meters.

**Recording on PostgreSQL** (``--part record``). ``Alerting`` over the PostgreSQL stores
(a scratch database of ``DATABASE_URL``'s server, default the local one), the silent-meter
rule after a fixed 30 s: ``--meters`` meters send one reading each (batches of 100, the
engine learns them), then ``check`` 60 s later finds every one silent and records the burst
(wall time: the alerting lock is held that long, and ingest waits on it); then every meter
sends again, in batches of 100, each batch resolving 100 alerts (wall time per batch, as an
ingest request waits for it). Same-run baseline: the same over ``MemoryAlertStore`` (the
rules and the policy without storage).

Prints tables, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import gc
import http.server
import json
import random
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import (
    bench_env,
    emit_json,
    free_port,
    median,
    percentile,
    print_table,
    running,
    serve_command,
    wait_until_answers,
)

from energy_adapters.memory import ManualClock
from energy_adapters.memory_alerts import MemoryAlertStore, MemoryFeedbackStore, MemoryMuteStore
from energy_core import Reading, Simulator
from energy_core.alerts import AlertEngine, AlertEvent, AlertRules
from energy_core.usecases.alerting import Alerting
from energy_ui.settings import Settings

TOKEN = "bench-alerts-token"
TARGET_P50_S = 1.0
TARGET_P95_S = 2.0
TARGET_CORE_PCT = 5.0
LIMITS = ["active_power > {high} for 30s", "power_factor < {low} for 15s"]
ABSURD = {
    "voltage": 950.0,
    "current": 4000.0,
    "active_power": 3000.0,
    "power_factor": 0.05,
    "frequency": 41.0,
    "motor_temperature": 240.0,
}
"""Within the catalogue's physical ranges (so stored), far from any meter's normal."""


# --- latency: served app → webhook ------------------------------------------------------
@dataclass
class Receiver:
    """A local JSON webhook: the arrival time (``time.monotonic``) and body of each POST."""

    posts: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0

    def add(self, body: dict[str, Any]) -> None:
        at = time.monotonic()
        with self.arrived:
            self.posts.append((at, body))
            self.arrived.notify_all()

    def wait_for_title(self, needle: str, timeout: float) -> float | None:
        """When a POST whose title holds ``needle`` arrived (``None``: not within
        ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for at, body in self.posts:
                    if needle in str(body.get("title", "")):
                        return at
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.arrived.wait(left)


def serve_receiver(receiver: Receiver) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.add(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.port = int(server.server_address[1])
    threading.Thread(target=server.serve_forever, name="receiver", daemon=True).start()
    return server


def post_reading(base: str, meter: str, at: datetime) -> tuple[float, dict[str, Any]]:
    """POST one absurd reading of ``meter`` at ``at``; (``time.monotonic`` when the answer
    was read, the answer)."""
    body = json.dumps([{"meter_id": meter, "timestamp": at.isoformat(), **ABSURD}]).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/readings",
        data=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        payload = json.loads(answer.read())
    return time.monotonic(), payload


def wait_for_model(base: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=5) as answer:
                if json.loads(answer.read()).get("model_version") is not None:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the demo trained no model within {timeout:.0f} s")


def channel_baseline(receiver: Receiver, count: int) -> list[float]:
    """Seconds from ``AppriseNotifier.send`` called in this process to the receiver's
    arrival, ``count`` times: the channel's own share."""
    from energy_adapters.notify import AppriseNotifier
    from energy_core.alerts.delivery import Notification
    from energy_core.alerts.model import Severity

    notifier = AppriseNotifier(f"json://127.0.0.1:{receiver.port}/direct")
    latencies = []
    for index in range(count):
        needle = f"direct-{index:03d}"
        started = time.monotonic()
        notifier.send(Notification(title=f"Probe {needle}", body="-", severity=Severity.WARNING))
        arrived = receiver.wait_for_title(needle, 10.0)
        if arrived is not None:
            latencies.append(arrived - started)
    return latencies


def measure_latency(incidents: int, history: int) -> dict[str, Any]:
    receiver = Receiver()
    hook = serve_receiver(receiver)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = bench_env(
        ENERGY_INGEST_TOKEN=TOKEN,
        ENERGY_NOTIFY_URLS=f"json://127.0.0.1:{receiver.port}/hook",
        ENERGY_DEMO_HISTORY=str(history),
        ENERGY_LANGUAGE="en",
        ENERGY_SEED="1",
        # No retraining meanwhile: a model retrained on the bench's own absurd readings
        # (1-2 % of a small store) stops flagging them, and no incident would open.
        ENERGY_TRAIN_INTERVAL_S="86400",
    )
    latencies: list[float] = []  # opening POST answered → notification received
    from_request: list[float] = []  # opening POST sent → notification received
    ingest: list[float] = []  # the opening POST's round trip
    missing: list[str] = []
    rng = random.Random(15)
    try:
        # In a folder of its own: no stray .env; NiceGUI's storage lands there.
        with tempfile.TemporaryDirectory() as workdir:
            log = Path(workdir) / "serve.log"
            with running(serve_command(port), cwd=Path(workdir), env=env, log=log) as process:
                started = time.monotonic()
                wait_until_answers(f"{base}/healthz", process=process, log=log, timeout=90)
                wait_for_model(base, 120)
                ready_s = time.monotonic() - started
                time.sleep(2.0)  # the demo's first analysis and drill start
                for index in range(incidents):
                    meter = f"bench-alert-{index:03d}"
                    now = datetime.now(UTC)
                    _, first = post_reading(base, meter, now - timedelta(seconds=1))
                    sent = time.monotonic()
                    answered, second = post_reading(base, meter, now)
                    if first["flagged"] != 1 or second["flagged"] != 1:
                        raise RuntimeError(
                            f"{meter}: the absurd readings were not flagged: {first}, {second}"
                        )
                    arrived = receiver.wait_for_title(f"Incident on {meter}", 15.0)
                    if arrived is None:
                        missing.append(meter)
                    else:
                        latencies.append(arrived - answered)
                        from_request.append(arrived - sent)
                    ingest.append(answered - sent)
                    time.sleep(rng.uniform(0.2, 1.2))  # any phase of the dispatcher's clock
                demo_incidents = sum(
                    1
                    for _, body in receiver.posts
                    if str(body.get("title", "")).startswith("Incident on meter")
                )
        channel = channel_baseline(receiver, max(10, incidents))
    finally:
        hook.shutdown()
        hook.server_close()
    if not latencies:
        raise RuntimeError(f"no incident notification arrived; missing: {missing}")
    return {
        "latencies": latencies,
        "from_request": from_request,
        "ingest": ingest,
        "channel": channel,
        "missing": missing,
        "ready_s": ready_s,
        "demo_incidents": demo_incidents,
        "received": len(receiver.posts),
    }


# --- rule cost: the engine over 10,000 meters -------------------------------------------
def value_profile() -> tuple[list[dict[str, float]], float, float]:
    """One simulated meter's values over 60 hours, a minute apart (a meter moving through
    its day second by second), and the limits' levels: active power's 80th percentile,
    power factor's 10th."""
    history = Simulator(meters=1, anomaly_ratio=0.0, seed=3).history(
        3_600, end=datetime(2026, 1, 3, tzinfo=UTC), cadence=timedelta(minutes=1)
    )
    pool = [dict(reading.values) for reading in history]
    power = sorted(values["active_power"] for values in pool)
    factor = sorted(values["power_factor"] for values in pool)
    return pool, power[int(0.8 * len(power))], factor[int(0.1 * len(factor))]


def out_of_reach(pool: list[dict[str, float]]) -> tuple[float, float]:
    """Limit levels no reading of ``pool`` reaches: the same rules on a quiet plant."""
    return (
        max(values["active_power"] for values in pool) + 1.0,
        min(values["power_factor"] for values in pool) - 0.05,
    )


@dataclass
class Fleet:
    """``meters`` meters sending one scored reading a second for ``seconds``: ~1 % flagged at
    random, 0.5 % of meters in a fault (90 % flagged) from 1/6 to 2/3 of the run, 5 % silent
    for the last 40 s (so that, at the product's least silence of 30 s, they open alerts)."""

    meters: int
    seconds: int
    pool: list[dict[str, float]]
    start: datetime
    seed: int = 0

    def __post_init__(self) -> None:
        import numpy as np

        self.ids = [f"m{index:05d}" for index in range(self.meters)]
        self.rng = np.random.default_rng(self.seed)
        self.faulty = set(range(0, self.meters, 200))
        self.silent = set(range(7, self.meters, 20))
        self.silent_from = max(10, self.seconds - 40)
        self.fault = range(self.seconds // 6, 2 * self.seconds // 3)

    def second(self, s: int) -> list[Reading]:
        """The readings of simulated second ``s``, in the order gateways would send them."""
        at = self.start + timedelta(seconds=s)
        draws = self.rng.random(self.meters)
        scores = self.rng.uniform(0.2, 0.9, self.meters)
        pool, size, ids = self.pool, len(self.pool), self.ids
        in_fault = s in self.fault
        readings = []
        for index in range(self.meters):
            if s >= self.silent_from and index in self.silent:
                continue
            flagged = bool(draws[index] < (0.9 if in_fault and index in self.faulty else 0.01))
            score = float(scores[index]) + (1.5 if flagged else 0.0)
            readings.append(
                Reading(
                    timestamp=at,
                    meter_id=ids[index],
                    values=pool[(index * 17 + s) % size],
                    score=score,
                    is_flagged=flagged,
                    top_variables=("voltage", "current") if flagged else (),
                )
            )
        return readings


@dataclass
class Cost:
    """CPU seconds over one simulated run."""

    seconds: int
    readings: int = 0
    build_s: float = 0.0
    observe_s: float = 0.0
    check_s: float = 0.0
    events: Counter[str] = field(default_factory=Counter)

    def count(self, events: list[AlertEvent]) -> None:
        self.events.update(f"{event.alert.kind} {event.kind}" for event in events)

    @property
    def rules_s(self) -> float:
        return self.observe_s + self.check_s

    def pct(self, cpu_s: float) -> float:
        """CPU seconds of the run as % of one core over the simulated time."""
        return 100.0 * cpu_s / self.seconds


def cpu() -> float:
    return time.process_time()


def run_rules(
    meters: int,
    seconds: int,
    rules: AlertRules,
    *,
    with_store: bool,
    pool: list[dict[str, float]],
    seed: int,
) -> Cost:
    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    fleet = Fleet(meters, seconds, pool, start, seed)
    clock = ManualClock(start)
    observe: Callable[[list[Reading]], list[AlertEvent]]
    check: Callable[[datetime], list[AlertEvent]]
    if with_store:
        from energy_core.usecases.alerting import AlertSettings

        alerting = Alerting(
            store=MemoryAlertStore(),
            mutes=MemoryMuteStore(),
            feedback=MemoryFeedbackStore(),
            clock=clock,
            settings=AlertSettings(rules=rules),
        )
        alerting.start()
        observe, check = alerting.observe, alerting.check
    else:
        engine = AlertEngine(rules)
        observe, check = engine.observe, engine.check
    cost = Cost(seconds)
    gc.collect()
    for s in range(seconds):
        t0 = cpu()
        readings = fleet.second(s)
        t1 = cpu()
        clock.advance(start + timedelta(seconds=s) - clock.now())
        for first in range(0, len(readings), 100):
            cost.count(observe(readings[first : first + 100]))
        t2 = cpu()
        if s % 2 == 1:
            cost.count(check(start + timedelta(seconds=s + 1)))
        t3 = cpu()
        cost.readings += len(readings)
        cost.build_s += t1 - t0
        cost.observe_s += t2 - t1
        cost.check_s += t3 - t2
    return cost


def ingest_share(meters: int, seconds: int, repeats: int) -> dict[str, float]:
    """µs of CPU per reading of ``Monitor.ingest`` (memory, the product's retention, a trained
    model, batches of 100), without and with alerting, alternated ``repeats`` times after a
    round that warms up (and makes the meters known); medians."""
    from energy_ui.bootstrap import bootstrap

    pool, _, _ = value_profile()
    apps = {}
    for alerts in (False, True):
        application = bootstrap(Settings(_env_file=None, seed=1, demo_history=0, alerts=alerts))
        application.monitor.generate_history(2_000)
        application.monitor.train()
        apps[alerts] = application
    figures: dict[bool, list[float]] = {False: [], True: []}
    ids = [f"r{index:04d}" for index in range(meters)]
    origin = datetime.now(UTC) - timedelta(hours=1)
    for repeat in range(repeats + 1):  # the first round warms up and is not counted
        for alerts in (False, True) if repeat % 2 else (True, False):
            monitor = apps[alerts].monitor
            spent = 0.0
            count = 0
            for s in range(repeat * seconds, (repeat + 1) * seconds):
                at = origin + timedelta(seconds=s)
                batch = [
                    Reading(at, ids[index], pool[(index * 17 + s) % len(pool)])
                    for index in range(meters)
                ]
                t0 = cpu()
                for first in range(0, len(batch), 100):
                    count += len(monitor.ingest(batch[first : first + 100]).stored)
                spent += cpu() - t0
            if repeat:
                figures[alerts].append(1e6 * spent / count)
    for application in apps.values():
        application.close()
    without, with_alerts = median(figures[False]), median(figures[True])
    return {
        "without_us": without,
        "with_us": with_alerts,
        "alerting_share_pct": 100.0 * (with_alerts - without) / with_alerts,
    }


def measure_cost(meters: int, seconds: int, repeats: int, ingest_meters: int) -> dict[str, Any]:
    pool, high, low = value_profile()
    limits = [text.format(high=f"{high:.2f}", low=f"{low:.3f}") for text in LIMITS]
    high, low = out_of_reach(pool)
    quiet = [text.format(high=f"{high:.2f}", low=f"{low:.3f}") for text in LIMITS]
    # The rules `serve` runs by default, plus the two limits.
    rules = {
        "engine": Settings(_env_file=None, alert_limits=limits).alert_settings().rules,
        "alerting": Settings(_env_file=None, alert_limits=limits).alert_settings().rules,
        "alerting_quiet": Settings(_env_file=None, alert_limits=quiet).alert_settings().rules,
    }
    runs: dict[str, list[Cost]] = {name: [] for name in rules}
    for repeat in range(repeats):
        for name, chosen in rules.items():
            runs[name].append(
                run_rules(
                    meters, seconds, chosen, with_store=name != "engine", pool=pool, seed=repeat
                )
            )
    result: dict[str, Any] = {"limits": limits, "runs": runs}
    result["ingest"] = ingest_share(ingest_meters, 10, 3) if ingest_meters else None
    return result


# --- recording on PostgreSQL ----------------------------------------------------------------
def record_run(meters: int, store: str, database_url: str | None) -> dict[str, float]:
    """Seconds the silent burst's ``check`` took and the median ms of a batch of 100
    meters coming back (100 alerts resolved), over ``store`` (``memory`` or ``postgres``)."""
    from energy_core.alerts import SilentMeterRule
    from energy_core.usecases.alerting import AlertSettings

    start = datetime(2026, 3, 2, 8, tzinfo=UTC)
    clock = ManualClock(start)
    closers: list[Callable[[], None]] = []
    if store == "postgres":
        from energy_adapters.postgres import build_stores, open_engine, upgrade

        assert database_url is not None
        upgrade(database_url)
        engine = open_engine(database_url)
        stores = build_stores(engine, owns_engine=False)
        closers += [stores.close, engine.dispose]
        alert_store, mutes, feedback = stores.alerts, stores.mutes, stores.feedback
    else:
        alert_store, mutes, feedback = (
            MemoryAlertStore(),
            MemoryMuteStore(),
            MemoryFeedbackStore(),
        )
    rules = AlertRules(
        incidents=None,
        silent=SilentMeterRule(multiple=None, after=timedelta(seconds=30)),
        health=None,
        detector=None,
    )
    alerting = Alerting(
        store=alert_store,
        mutes=mutes,
        feedback=feedback,
        clock=clock,
        settings=AlertSettings(rules=rules),
    )
    ids = [f"m{index:05d}" for index in range(meters)]
    values = {"voltage": 230.0, "current": 5.0}

    def send(at: datetime) -> list[float]:
        waits = []
        for first in range(0, meters, 100):
            batch = [Reading(at, meter, values) for meter in ids[first : first + 100]]
            began = time.perf_counter()
            alerting.observe(batch)
            waits.append(time.perf_counter() - began)
        return waits

    try:
        alerting.start()
        send(start)
        clock.advance(timedelta(seconds=60))
        began = time.perf_counter()
        events = alerting.check()
        burst_s = time.perf_counter() - began
        if len(events) != meters:
            raise RuntimeError(f"{len(events)} silent alerts for {meters} meters")
        back = send(start + timedelta(seconds=61))
        stored = len(alert_store.alerts(open_only=False, limit=meters + 10))
        if stored != meters or alert_store.open_alerts():
            raise RuntimeError(f"{stored} alerts stored, some still open")
    finally:
        for close in closers:
            close()
    return {
        "burst_s": burst_s,
        "batch_ms": 1000 * median(back),
        "batch_p99_ms": 1000 * percentile(back, 0.99),
    }


def measure_record(meters: int) -> dict[str, Any]:
    from common import scratch_database, server_url

    found = {"memory": record_run(meters, "memory", None)}
    with scratch_database(server_url(), "smartenergy_bench_alerts") as database_url:
        found["postgres"] = record_run(meters, "postgres", database_url)
    rows = [
        (
            name,
            f"{figures['burst_s']:.2f}",
            f"{1e6 * figures['burst_s'] / meters:.0f}",
            f"{figures['batch_ms']:.1f}",
            f"{figures['batch_p99_ms']:.1f}",
        )
        for name, figures in found.items()
    ]
    print_table(
        f"Recording alerts: {meters:,} meters silent at once (one check), then back in "
        "batches of 100 (100 alerts resolved per batch)",
        rows,
        ("store", "burst s", "µs per alert", "batch of 100 ms (p50)", "p99 ms"),
    )
    print()
    postgres = found["postgres"]
    return {
        "record_burst_s": round(postgres["burst_s"], 3),
        "record_burst_memory_s": round(found["memory"]["burst_s"], 3),
        "record_batch_ms": round(postgres["batch_ms"], 2),
        "record_batch_memory_ms": round(found["memory"]["batch_ms"], 2),
        "record_meters": meters,
    }


# --- report ---------------------------------------------------------------------------
def ms(values: list[float], fraction: float | None = None) -> str:
    if not values:
        return "-"
    value = median(values) if fraction is None else percentile(values, fraction)
    return f"{1000 * value:.1f}"


def report_latency(found: dict[str, Any]) -> dict[str, Any]:
    rows = []
    for name, values in (
        ("opening POST answered → webhook got 'Incident on <meter>'", found["latencies"]),
        ("… from the opening POST sent", found["from_request"]),
        ("baseline: the opening POST's round trip (ingest)", found["ingest"]),
        ("baseline: AppriseNotifier.send → webhook (channel alone)", found["channel"]),
    ):
        rows.append(
            (
                name,
                len(values),
                ms(values, 0.0),
                ms(values),
                ms(values, 0.95),
                ms(values, 1.0),
            )
        )
    print_table(
        f"Incident → webhook, served in memory (demo ready in {found['ready_s']:.1f} s; "
        f"{len(found['missing'])} incidents never notified; {found['demo_incidents']} of the "
        "demo's own incidents received meanwhile)",
        rows,
        ("ms", "n", "min", "p50", "p95", "max"),
    )
    print()
    latencies = found["latencies"]
    p50, p95 = median(latencies), percentile(latencies, 0.95)
    return {
        "incidents": len(latencies) + len(found["missing"]),
        "incidents_missing": len(found["missing"]),
        "latency_p50_s": round(p50, 4),
        "latency_p95_s": round(p95, 4),
        "latency_max_s": round(max(latencies), 4),
        "ingest_p50_ms": round(1000 * median(found["ingest"]), 2),
        "channel_p50_ms": round(1000 * median(found["channel"]), 2) if found["channel"] else None,
        "latency_target_met": p50 <= TARGET_P50_S and p95 <= TARGET_P95_S and not found["missing"],
    }


def report_cost(found: dict[str, Any], meters: int, seconds: int) -> dict[str, Any]:
    runs: dict[str, list[Cost]] = found["runs"]
    figures: dict[str, Any] = {}
    rows = []
    builds = [cost.build_s for costs in runs.values() for cost in costs]
    readings = runs["engine"][0].readings
    rows.append(
        (
            "baseline: building the readings",
            f"{median([c.pct(c.build_s) for costs in runs.values() for c in costs]):.2f}",
            f"{1e6 * median(builds) / readings:.2f}",
            "",
            "",
        )
    )
    for name, label in (
        ("engine", "AlertEngine: observe + check"),
        ("alerting", "Alerting over MemoryAlertStore"),
        ("alerting_quiet", "… the same, no meter over a limit"),
    ):
        costs = runs[name]
        pct = median([cost.pct(cost.rules_s) for cost in costs])
        figures[f"{name}_core_pct"] = round(pct, 3)
        figures[f"{name}_us_per_reading"] = round(
            1e6 * median([cost.rules_s for cost in costs]) / readings, 3
        )
        figures[f"{name}_check_ms"] = round(
            1000 * median([cost.check_s for cost in costs]) / (seconds // 2), 3
        )
        rows.append(
            (
                label,
                f"{pct:.2f}",
                f"{figures[f'{name}_us_per_reading']:.2f}",
                f"{figures[f'{name}_check_ms']:.2f}",
                str(int(median([sum(cost.events.values()) for cost in costs]))),
            )
        )
    figures["build_core_pct"] = round(
        median([c.pct(c.build_s) for costs in runs.values() for c in costs]), 3
    )
    kinds = runs["alerting"][0].events
    print_table(
        f"Rules over {meters:,} meters at 1 reading/s, {seconds} simulated s, batches of 100, "
        f"check every 2 s; limits: {'; '.join(found['limits'])} "
        f"({len(runs['engine'])} runs each, medians)",
        rows,
        ("CPU", "% of one core", "µs per reading", "ms per check", "events"),
    )
    print("events of one run: " + ", ".join(f"{name} {n}" for name, n in sorted(kinds.items())))
    print()
    ingest = found["ingest"]
    if ingest is not None:
        print_table(
            "For scale: Monitor.ingest in memory, trained model, batches of 100 (CPU per reading)",
            [
                ("without alerting", f"{ingest['without_us']:.1f}"),
                ("with alerting", f"{ingest['with_us']:.1f}"),
                ("alerting's share", f"{ingest['alerting_share_pct']:.1f} %"),
            ],
            ("Monitor.ingest", "µs per reading"),
        )
        print()
        figures["ingest_us_per_reading"] = round(ingest["without_us"], 2)
        figures["ingest_with_alerting_us_per_reading"] = round(ingest["with_us"], 2)
    figures["cost_target_met"] = figures["alerting_core_pct"] <= TARGET_CORE_PCT
    figures["meters"] = meters
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--part", choices=["both", "latency", "cost", "record"], default="both")
    parser.add_argument("--incidents", type=int, default=30)
    parser.add_argument("--history", type=int, default=2_000, help="readings the demo seeds")
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=60, help="simulated seconds per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--ingest-meters", type=int, default=None, help="Monitor.ingest for scale (0: skip)"
    )
    parser.add_argument("--quick", action="store_true", help="10 incidents, 45 s simulated once")
    options = parser.parse_args()
    if options.quick:
        options.incidents, options.seconds, options.repeats = 10, 45, 1
    if options.ingest_meters is None:
        options.ingest_meters = 300 if options.quick else 1_000
    figures: dict[str, Any] = {}
    if options.part in ("both", "latency"):
        figures.update(report_latency(measure_latency(options.incidents, options.history)))
    if options.part in ("both", "cost"):
        found = measure_cost(
            options.meters, options.seconds, options.repeats, options.ingest_meters
        )
        figures.update(report_cost(found, options.meters, options.seconds))
    if options.part == "record":
        figures.update(measure_record(options.meters))
    targets = [figures[key] for key in ("latency_target_met", "cost_target_met") if key in figures]
    if targets:
        figures["targets_met"] = all(targets)
    emit_json(figures)


if __name__ == "__main__":
    main()
