"""Arrival → browser latency of live readings, in memory mode.

`python bench/live_latency.py [--readings 150] [--interval 0.1]`

Serves the dashboard in this process (no demo driver), opens it in headless Chromium, then
ingests readings one by one through ``Monitor.ingest`` and notes the wall-clock time of each
arrival. In the page, a MutationObserver on the status panel's "latest reading #id" text
notes when each id appears. Latency = appearance − arrival (same machine, same clock).

The same-run baseline is the server's share: arrival → the producer's ``LiveUpdate`` emit.
Prints a table, then one JSON line with ``memory_p50_ms`` and ``memory_p95_ms``
(``postgres_*`` stay null until the PostgreSQL adapters exist).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nicegui import app, core, ui

from energy_ui.bootstrap import bootstrap
from energy_ui.dashboard import create_app
from energy_ui.dashboard.live import LiveUpdate
from energy_ui.settings import Settings

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
OBSERVER = """
() => {
  window.__seen = [];
  const target = document.querySelector('.se-latest-reading');
  const note = () => {
    const match = (document.querySelector('.se-latest-reading')?.innerText ?? '').match(/#(\\d+)/);
    if (match) window.__seen.push([Number(match[1]), performance.timeOrigin + performance.now()]);
  };
  new MutationObserver(note).observe(target.parentElement,
    {childList: true, characterData: true, subtree: true});
}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def summary(name: str, values: list[float]) -> dict[str, Any]:
    return {
        "what": name,
        "n": len(values),
        "min": min(values),
        "p50": statistics.median(values),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values),
    }


def drive(url: str, application: Any, options: argparse.Namespace, result: dict[str, Any]) -> None:
    """Worker thread: browser + ingestion; fills ``result`` and stops the server."""
    from playwright.sync_api import sync_playwright

    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                time.sleep(0.1)
        monitor = application.monitor
        arrivals: dict[int, float] = {}
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                ],
            )
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(url)
            page.wait_for_selector(".se-latest-reading")
            if options.tab != "general":
                page.click(f"[data-tab={options.tab}]")
            page.wait_for_timeout(1000)  # first render done
            page.evaluate(OBSERVER)
            for _ in range(options.readings):
                batch = monitor.simulator.next_batch(1, at=monitor.clock.now())
                arrived = time.time() * 1000
                stored = monitor.ingest(batch).stored
                arrivals[stored[-1].id] = arrived
                time.sleep(options.interval)
            page.wait_for_timeout(1000)
            seen = page.evaluate("window.__seen")
            browser.close()
        first_seen: dict[int, float] = {}
        for reading_id, at in seen:
            first_seen.setdefault(int(reading_id), float(at))
        result["browser"] = [first_seen[i] - arrivals[i] for i in arrivals if i in first_seen]
        result["sent"] = len(arrivals)
        result["arrivals"] = arrivals
    except Exception as error:  # reported by the main thread
        result["error"] = repr(error)
    finally:
        assert core.loop is not None
        core.loop.call_soon_threadsafe(app.shutdown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readings", type=int, default=150)
    parser.add_argument("--interval", type=float, default=0.1, help="seconds between readings")
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--tab", default="general", help="tab open meanwhile (its charts update)")
    options = parser.parse_args()

    settings = Settings(_env_file=None, seed=1, demo_history=0)
    application = bootstrap(settings)
    application.monitor.generate_history(options.history)
    application.monitor.train()
    application.monitor.analyse()
    dashboard = create_app(application, demo=False)

    emitted: dict[int, float] = {}

    def on_update(update: LiveUpdate) -> None:
        now = time.time() * 1000
        for reading in update.readings:
            if reading.id is not None:
                emitted.setdefault(reading.id, now)

    dashboard.producer.updates.subscribe(on_update)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    result: dict[str, Any] = {}
    app.on_startup(
        lambda: threading.Thread(
            target=drive, args=(url, application, options, result), daemon=True
        ).start()
    )
    ui.run(port=port, reload=False, show=False, show_welcome_message=False, title="bench")

    if "error" in result:
        raise SystemExit(f"bench failed: {result['error']}")
    arrivals: dict[int, float] = result["arrivals"]
    server = [emitted[i] - arrivals[i] for i in arrivals if i in emitted]
    rows = [
        summary("arrival → producer emit (server, baseline)", server),
        summary("arrival → text in the browser (end to end)", result["browser"]),
    ]
    print(
        f"memory mode, {result['sent']} readings one every {options.interval * 1000:.0f} ms,"
        f" {options.history} stored, model trained; times in ms"
    )
    header = f"{'what':<46} {'n':>5} {'min':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row['what']:<46} {row['n']:>5} {row['min']:>8.1f} {row['p50']:>8.1f}"
            f" {row['p95']:>8.1f} {row['p99']:>8.1f} {row['max']:>8.1f}"
        )
    browser = rows[1]
    print(
        json.dumps(
            {
                "memory_p50_ms": round(browser["p50"], 1),
                "memory_p95_ms": round(browser["p95"], 1),
                "memory_observed": browser["n"],
                "memory_sent": result["sent"],
                "memory_server_p50_ms": round(rows[0]["p50"], 1),
                "postgres_p50_ms": None,
                "postgres_p95_ms": None,
            }
        )
    )


if __name__ == "__main__":
    main()
