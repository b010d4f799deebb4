"""25 dashboards open at once on the live in-memory demo: event-loop lag, CPU and memory.

    python bench/clients.py            # 25 clients for 2 minutes
    python bench/clients.py --quick    # 25 clients for 30 s, under a minute in all
    python bench/clients.py --browser  # real Chromium tabs instead of light clients

The server runs in a process of its own, started by this script exactly as ``serve`` does
(the in-memory demo: 10,000 readings seeded, a trained model, a batch every
``--interval`` seconds — the demo's default pace is 1 s — analyses every 10 s), plus two
things that exist only in the bench: a probe task on the server's event loop that sleeps
50 ms again and again and records how late it wakes up (the loop lag: how long any page
or request waits for the loop), and ``GET /_bench/lag``, which hands the samples over.

Clients (default): light clients that do what a browser does over the network — load the
page (``GET /``: the server builds the whole dashboard for it), open its socket.io
websocket with the page's client id, receive every live update and acknowledge them every
3 s as NiceGUI's JavaScript does — but render nothing, so the machine's two cores are left
to the server. ``--browser`` opens real tabs instead (one headless Chromium, one page each).

Phases, measured in the same run: idle (the server streaming with no page open: the
baseline), then the clients connect, warm up, and stay for the measured window. Memory
growth compares the server's RSS at the end of the window with its RSS once every client
was connected and warm. Prints a table, then one JSON line: clients, loop_lag_p99_ms,
memory_growth_pct, cpu_pct (and more).
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

# Bench this checkout's sources, not whichever copy the environment has installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from common import (
    bench_env,
    cpu_seconds,
    emit_json,
    free_port,
    median,
    percentile,
    print_table,
    rss_mb,
    running,
    wait_until_answers,
)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PROBE_S = 0.05
LAG_TARGET_MS = 100.0
GROWTH_TARGET_PCT = 10.0


# --- the server process (``--child PORT``) ---------------------------------------------
def child(port: int) -> None:
    """``serve`` in memory, plus the loop-lag probe and ``GET /_bench/lag``."""
    from nicegui import app

    from energy_ui.dashboard.app import serve
    from energy_ui.settings import Settings

    samples: list[float] = []

    async def probe() -> None:
        # perf_counter, not loop.time(): uvloop's clock counts whole milliseconds.
        while True:
            started = time.perf_counter()
            await asyncio.sleep(PROBE_S)
            samples.append((time.perf_counter() - started - PROBE_S) * 1000)

    def start_probe() -> None:
        app.state.bench_probe = asyncio.get_running_loop().create_task(probe())

    @app.get("/_bench/lag", include_in_schema=False)
    def lag(reset: bool = False) -> dict[str, Any]:
        taken = list(samples)
        if reset:
            samples.clear()
        return {"samples_ms": taken}

    app.on_startup(start_probe)
    serve(Settings(), host="127.0.0.1", port=port)


@contextmanager
def server(interval: float) -> Iterator[tuple[str, int]]:
    """The server in a process of its own; yields (base URL, pid) once the demo has seeded,
    trained and analysed (its first analysis is stored)."""
    port = free_port()
    env = bench_env(None, ENERGY_STREAM_INTERVAL_S=str(interval), ENERGY_SEED="1")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(port)]
    with tempfile.TemporaryDirectory(prefix="smartenergy-clients-") as workdir:
        log = Path(workdir) / "server.log"
        with running(command, cwd=Path(workdir), env=env, log=log) as process:
            base = f"http://127.0.0.1:{port}"
            wait_until_answers(
                f"{base}/api/v1/metrics/latest", process=process, log=log, timeout=90
            )
            yield base, process.pid


# --- measuring the server from outside ---------------------------------------------------
async def lag_samples(base: str, *, reset: bool = True) -> list[float]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/_bench/lag", params={"reset": str(reset).lower()}) as answer,
    ):
        body = await answer.json()
    return [float(value) for value in body["samples_ms"]]


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    lag_ms: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    rss_mb: list[float] = field(default_factory=list)

    @property
    def cpu_pct(self) -> float:
        return 100 * self.cpu_s / self.seconds if self.seconds else 0.0


async def observe(base: str, pid: int, name: str, seconds: float) -> Phase:
    """Sample the server for ``seconds``: loop lag, CPU, RSS every second."""
    phase = Phase(name)
    await lag_samples(base)  # start the window afresh
    cpu_before, started = cpu_seconds(pid), time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        phase.rss_mb.append(rss_mb(pid))
        await asyncio.sleep(min(1.0, seconds - elapsed))
    phase.seconds = time.monotonic() - started
    phase.cpu_s = cpu_seconds(pid) - cpu_before
    phase.rss_mb.append(rss_mb(pid))
    phase.lag_ms = await lag_samples(base)
    return phase


# --- light clients -----------------------------------------------------------------------
QUERY = re.compile(r"query: (\{.*?\}),\s*\n")


@dataclass
class LightClient:
    """A page loaded over HTTP and its socket.io connection, as NiceGUI's JavaScript
    opens it (implicit handshake with the page's client id), acknowledging what it gets."""

    base: str
    messages: int = 0
    bytes: int = 0
    page_ms: float = 0.0
    connected: bool = False
    next_message_id: int = 0
    client_id: str = ""
    errors: list[str] = field(default_factory=list)
    socket: socketio.AsyncClient | None = None

    async def open(self, session: aiohttp.ClientSession) -> None:
        started = time.perf_counter()
        async with session.get(f"{self.base}/") as answer:
            html = await answer.text()
        self.page_ms = (time.perf_counter() - started) * 1000
        found = QUERY.search(html)
        if found is None:
            raise RuntimeError("no socket.io query in the page")
        query = ast.literal_eval(found.group(1))  # rendered as a Python dict
        self.client_id = str(query["client_id"])
        self.next_message_id = int(query["next_message_id"])
        parameters = {
            **{
                key: str(value).lower() if isinstance(value, bool) else value
                for key, value in query.items()
            },
            "document_id": uuid.uuid4().hex,
            "tab_id": uuid.uuid4().hex,
        }
        socket = socketio.AsyncClient(reconnection=False)

        @socket.on("*")
        async def any_event(event: str, data: Any = None) -> None:
            self.messages += 1
            self.bytes += len(json.dumps(data, default=str)) if data is not None else 0
            if isinstance(data, dict) and isinstance(data.get("_id"), int):
                self.next_message_id = max(self.next_message_id, data["_id"] + 1)

        address = f"{self.base}?{'&'.join(f'{k}={v}' for k, v in parameters.items())}"
        await socket.connect(
            address, socketio_path="/_nicegui_ws/socket.io", transports=["websocket"]
        )
        self.socket = socket
        self.connected = True

    async def acknowledge_forever(self) -> None:
        """What nicegui.js does every 3 s: tell the server which messages arrived."""
        acknowledged = -1
        while True:
            await asyncio.sleep(3.0)
            if self.socket is not None and self.next_message_id > acknowledged:
                acknowledged = self.next_message_id
                await self.socket.emit(
                    "ack", {"client_id": self.client_id, "next_message_id": acknowledged}
                )

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.disconnect()


# --- one run ---------------------------------------------------------------------------
@dataclass
class Result:
    idle: Phase
    busy: Phase
    warm_rss_mb: float
    end_rss_mb: float
    page_ms: list[float]
    messages_per_client_s: float
    connected: int

    @property
    def growth_pct(self) -> float:
        return 100 * (self.end_rss_mb - self.warm_rss_mb) / self.warm_rss_mb

    @property
    def late_slope_mb_per_min(self) -> float:
        """How fast RSS still grew in the second half of the window (least squares): near
        zero once pages and the demo's store have filled up, steady if something leaks."""
        samples = self.busy.rss_mb[len(self.busy.rss_mb) // 2 :]
        if len(samples) < 3:
            return 0.0
        step = self.busy.seconds / max(1, len(self.busy.rss_mb) - 1)
        times = [index * step for index in range(len(samples))]
        mean_t, mean_r = sum(times) / len(times), sum(samples) / len(samples)
        spread = sum((t - mean_t) ** 2 for t in times)
        slope = sum((t - mean_t) * (r - mean_r) for t, r in zip(times, samples, strict=True))
        return 60 * slope / spread


async def with_light_clients(base: str, pid: int, args: argparse.Namespace) -> Result:
    idle = await observe(base, pid, "idle (no page open)", args.idle)
    clients = [LightClient(base) for _ in range(args.clients)]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        for client in clients:  # one after another, as people open the dashboard
            await client.open(session)
    ackers = [asyncio.create_task(client.acknowledge_forever()) for client in clients]
    try:
        await asyncio.sleep(args.warmup)
        warm_rss = median([rss_mb(pid) for _ in range(3)])
        before = sum(client.messages for client in clients)
        busy = await observe(base, pid, f"{args.clients} clients, live", args.duration)
        received = sum(client.messages for client in clients) - before
    finally:
        for task in ackers:
            task.cancel()
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)
    return Result(
        idle=idle,
        busy=busy,
        warm_rss_mb=warm_rss,
        end_rss_mb=median(busy.rss_mb[-4:]),
        page_ms=[client.page_ms for client in clients],
        messages_per_client_s=received / len(clients) / busy.seconds,
        connected=sum(client.connected for client in clients),
    )


async def with_browser(base: str, pid: int, args: argparse.Namespace) -> Result:
    from playwright.async_api import async_playwright

    idle = await observe(base, pid, "idle (no page open)", args.idle)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page_ms: list[float] = []
        pages = []
        for _ in range(args.clients):
            page = await context.new_page()
            started = time.perf_counter()
            await page.goto(f"{base}/")
            await page.wait_for_selector(".se-latest-reading", timeout=60_000)
            page_ms.append((time.perf_counter() - started) * 1000)
            await page.evaluate(
                "window.__updates = 0; window.socket.onAny(() => window.__updates++)"
            )
            pages.append(page)
        await asyncio.sleep(args.warmup)
        warm_rss = median([rss_mb(pid) for _ in range(3)])
        counts = [await page.evaluate("window.__updates") for page in pages]
        busy = await observe(base, pid, f"{args.clients} Chromium tabs, live", args.duration)
        after = [await page.evaluate("window.__updates") for page in pages]
        await browser.close()
    received = sum(after) - sum(counts)
    return Result(
        idle=idle,
        busy=busy,
        warm_rss_mb=warm_rss,
        end_rss_mb=median(busy.rss_mb[-4:]),
        page_ms=page_ms,
        messages_per_client_s=received / len(pages) / busy.seconds,
        connected=len(pages),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="30 s instead of 2 minutes")
    parser.add_argument("--clients", type=int, default=25)
    parser.add_argument("--interval", type=float, default=1.0, help="demo batch every … s")
    parser.add_argument("--browser", action="store_true", help="real Chromium tabs")
    parser.add_argument("--duration", type=float, help="seconds measured (default 120, 30)")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    args.duration = args.duration or (30.0 if args.quick else 120.0)
    args.idle = 5.0 if args.quick else 15.0
    args.warmup = 5.0 if args.quick else 15.0

    with server(args.interval) as (base, pid):
        start_rss = rss_mb(pid)
        run = with_browser if args.browser else with_light_clients
        result = asyncio.run(run(base, pid, args))

    kind = "Chromium tabs" if args.browser else "light clients (page + socket.io, no rendering)"
    print(
        f"clients: {result.connected} {kind}; in-memory demo, a batch every {args.interval:g} s;"
        f" {args.duration:.0f} s measured after {args.warmup:.0f} s of warm-up;"
        f" probe: sleep {PROBE_S * 1000:.0f} ms, lateness recorded"
    )
    rows = []
    for phase in (result.idle, result.busy):
        rows.append(
            [
                phase.name,
                str(len(phase.lag_ms)),
                f"{median(phase.lag_ms):.1f}",
                f"{percentile(phase.lag_ms, 0.99):.1f}",
                f"{max(phase.lag_ms):.1f}",
                f"{phase.cpu_pct:.0f} %",
                f"{median(phase.rss_mb):.0f} MB",
            ]
        )
    print_table(
        "server event loop, CPU (% of one core) and memory",
        rows,
        ["phase", "samples", "lag p50 ms", "lag p99 ms", "lag max ms", "CPU", "RSS"],
    )
    lag_p99 = percentile(result.busy.lag_ms, 0.99)
    growth = result.growth_pct
    print()
    print_table(
        "clients and memory",
        [
            ["RSS at start (demo ready, no page)", f"{start_rss:.1f} MB"],
            ["RSS with every client connected and warm", f"{result.warm_rss_mb:.1f} MB"],
            ["RSS at the end (median of the last 4 s)", f"{result.end_rss_mb:.1f} MB"],
            [
                "RSS trend over the second half of the window",
                f"{result.late_slope_mb_per_min:+.1f} MB/min",
            ],
            [
                "page load (GET /), median / max",
                f"{median(result.page_ms):.0f} / {max(result.page_ms):.0f} ms",
            ],
            ["live messages per client per second", f"{result.messages_per_client_s:.2f}"],
        ],
        ["measure", "value"],
    )
    lag_met = lag_p99 <= LAG_TARGET_MS
    growth_met = growth <= GROWTH_TARGET_PCT
    print(
        f"\ntargets: loop lag p99 ≤ {LAG_TARGET_MS:.0f} ms: {lag_p99:.1f} ms"
        f" ({'met' if lag_met else 'MISSED'}); memory growth ≤ {GROWTH_TARGET_PCT:.0f} %:"
        f" {growth:+.2f} % ({'met' if growth_met else 'MISSED'})"
    )
    emit_json(
        {
            "clients": result.connected,
            "client_kind": "browser" if args.browser else "light",
            "loop_lag_p99_ms": round(lag_p99, 1),
            "loop_lag_p50_ms": round(median(result.busy.lag_ms), 1),
            "idle_loop_lag_p99_ms": round(percentile(result.idle.lag_ms, 0.99), 1),
            "memory_growth_pct": round(growth, 2),
            "rss_warm_mb": round(result.warm_rss_mb, 1),
            "rss_end_mb": round(result.end_rss_mb, 1),
            "rss_late_slope_mb_per_min": round(result.late_slope_mb_per_min, 2),
            "cpu_pct": round(result.busy.cpu_pct, 1),
            "idle_cpu_pct": round(result.idle.cpu_pct, 1),
            "messages_per_client_s": round(result.messages_per_client_s, 2),
            "duration_s": round(result.busy.seconds, 1),
            "targets_met": lag_met and growth_met,
        }
    )


if __name__ == "__main__":
    main()
